package widgets

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/posd/posd/internal/client"
)

func TestRupiah(t *testing.T) {
	for n, want := range map[int64]string{0: "Rp 0", 500: "Rp 500", 1500: "Rp 1.500", 50000: "Rp 50.000", 1234567: "Rp 1.234.567", -10000: "-Rp 10.000"} {
		if got := Rupiah(n); got != want {
			t.Errorf("Rupiah(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]int64{"50000": 50000, "50.000": 50000, "Rp 100.000": 100000, " 7 ": 7} {
		if got, ok := ParseAmount(in); !ok || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "abc", "-5", "1,5"} {
		if _, ok := ParseAmount(in); ok {
			t.Errorf("ParseAmount(%q) accepted", in)
		}
	}
}

func TestBadge(t *testing.T) {
	lipgloss.SetColorProfile(termenv.Ascii)
	since := time.Date(2026, 1, 2, 10, 0, 5, 0, time.Local)
	now := since.Add(time.Minute)
	cases := []struct {
		conn Conn
		want string
	}{
		{Conn{}, "CONNECTING"},
		{Conn{Set: true, State: client.State{Conn: client.Live}}, "● LIVE"},
		{Conn{Set: true, State: client.State{Conn: client.Reconnecting, Attempt: 3, Since: since}}, "RECONNECTING (attempt 3, since 10:00:05)"},
		{Conn{Set: true, State: client.State{Conn: client.Offline, Attempt: 9, Since: since}}, "OFFLINE since 10:00:05, retrying"},
		{Conn{Set: true, State: client.State{Conn: client.Offline, Fatal: true, Err: errors.New("x")}}, "○ OFFLINE"},
	}
	for _, c := range cases {
		if got := c.conn.Badge(now); !strings.Contains(got, c.want) {
			t.Errorf("badge %q, want it to contain %q", got, c.want)
		}
	}
	if p := (Conn{Set: true, State: client.State{Conn: client.Reconnecting, Since: since, CloseCode: 1001}}).Problem(); !strings.Contains(p, "server going away") {
		t.Errorf("problem %q", p)
	}
}

func TestLayoutHelpers(t *testing.T) {
	if got := Elapsed(65 * time.Second); got != "1:05" {
		t.Errorf("Elapsed = %q", got)
	}
	if got := Elapsed(3723 * time.Second); got != "1:02:03" {
		t.Errorf("Elapsed = %q", got)
	}
	if got := Truncate("Nasi Goreng Spesial", 8); got != "Nasi Go…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Spread("a", "b", 5); got != "a   b" {
		t.Errorf("Spread = %q", got)
	}
	if got := FitLines("a\nb\nc", 2); got != "a\nb" {
		t.Errorf("FitLines = %q", got)
	}
}
