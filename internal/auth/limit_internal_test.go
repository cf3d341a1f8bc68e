package auth

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestFailureTableIsBounded: addresses from an attacker with many of them
// cannot grow the failure table without bound.
func TestFailureTableIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	toks := NewTokens(nil, func() time.Time { return now }, nil)
	toks.maxTracked = 100
	for i := 0; i < toks.maxTracked+50; i++ {
		remote := "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
		if _, err := toks.Authenticate(context.Background(), "garbage", remote); err == nil {
			t.Fatal("garbage accepted")
		}
	}
	if n := len(toks.failures); n > toks.maxTracked {
		t.Fatalf("%d addresses tracked, bound %d", n, toks.maxTracked)
	}
	// Once they are idle again, they are forgotten and new ones counted.
	now = now.Add(time.Duration(toks.FailBurst) * toks.FailEvery)
	if _, err := toks.Authenticate(context.Background(), "garbage", "192.168.0.1"); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, ok := toks.failures["192.168.0.1"]; !ok || len(toks.failures) != 1 {
		t.Fatalf("after the idle sweep: %d tracked", len(toks.failures))
	}
}
