package domain

import (
	"strings"
	"testing"
)

func TestPickupCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c := NewPickupCode()
		if len(c) != PickupCodeLen || strings.ContainsAny(c, "0O1IL") {
			t.Fatalf("pickup code %q: want %d characters without 0, O, 1, I or L", c, PickupCodeLen)
		}
		if n, ok := NormalizePickupCode(c); !ok || n != c {
			t.Fatalf("NormalizePickupCode(%q) = %q, %v", c, n, ok)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("2000 draws gave only %d distinct codes", len(seen))
	}
	for in, want := range map[string]string{"k7m-2pq": "K7M2PQ", " K7M 2PQ ": "K7M2PQ", "k7m2pq": "K7M2PQ"} {
		if got, ok := NormalizePickupCode(in); !ok || got != want {
			t.Errorf("NormalizePickupCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "K7M2P", "K7M2PQR", "K7M2P0", "K7M2PO", "K7M2P1", "K7M2PI", "K7M2PL", "K7M2P!", "K7M2PÄ"} {
		if got, ok := NormalizePickupCode(bad); ok {
			t.Errorf("NormalizePickupCode(%q) = %q, accepted", bad, got)
		}
	}
}
