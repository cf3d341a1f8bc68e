package auth_test

import (
	"net/http/httptest"
	"testing"

	"github.com/posd/posd/internal/auth"
)

func TestOriginPolicy(t *testing.T) {
	p := auth.NewOriginPolicy([]string{"http://Good.Example/", " https://pos.example:8443 ", "*", "", "null"})
	tests := []struct {
		origin, host string
		listed, ok   bool
	}{
		{"", "10.0.0.5:5000", false, true}, // not a browser
		{"http://good.example", "10.0.0.5:5000", true, true},
		{"HTTP://GOOD.EXAMPLE", "10.0.0.5:5000", true, true},
		{"https://pos.example:8443", "10.0.0.5:5000", true, true},
		{"https://pos.example", "10.0.0.5:5000", false, false},
		{"http://good.example:80", "10.0.0.5:5000", false, false},
		{"https://good.example", "10.0.0.5:5000", false, false},
		{"http://good.example.evil.example", "10.0.0.5:5000", false, false},
		{"http://evil.example", "10.0.0.5:5000", false, false},
		{"*", "10.0.0.5:5000", false, false},
		{"null", "10.0.0.5:5000", false, false},
		// Same origin: a page the server served.
		{"http://10.0.0.5:5000", "10.0.0.5:5000", false, true},
		{"https://10.0.0.5:5000", "10.0.0.5:5000", false, true},
		{"http://posd.lan:5000", "posd.lan:5000", false, true},
		{"http://POSD.lan:5000", "posd.lan:5000", false, true},
		{"http://[::1]:5000", "[::1]:5000", false, true},
		{"http://10.0.0.5:5001", "10.0.0.5:5000", false, false},
		{"http://10.0.0.5:5000/board", "10.0.0.5:5000", false, false},
		{"http://user@10.0.0.5:5000", "10.0.0.5:5000", false, false},
		{"ftp://10.0.0.5:5000", "10.0.0.5:5000", false, false},
		{"http://10.0.0.5:5000", "", false, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := p.Listed(tt.origin); got != tt.listed {
			t.Errorf("Listed(%q) = %v, want %v", tt.origin, got, tt.listed)
		}
		if got := p.AllowRequest(r); got != tt.ok {
			t.Errorf("AllowRequest(Origin %q, Host %q) = %v, want %v", tt.origin, tt.host, got, tt.ok)
		}
	}
	// With the rebinding guard (auth off), same-origin counts only for
	// IP addresses and localhost; listed origins are unaffected.
	p.GuardRebinding(true)
	for _, tt := range []struct {
		origin, host string
		ok           bool
	}{
		{"http://10.0.0.5:5000", "10.0.0.5:5000", true},
		{"http://[::1]:5000", "[::1]:5000", true},
		{"http://localhost:5000", "localhost:5000", true},
		{"http://rebind.example:5000", "rebind.example:5000", false},
		{"http://good.example", "rebind.example:5000", true},
		{"", "rebind.example:5000", true},
	} {
		r := httptest.NewRequest("GET", "/ws", nil)
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := p.AllowRequest(r); got != tt.ok {
			t.Errorf("guarded AllowRequest(Origin %q, Host %q) = %v, want %v", tt.origin, tt.host, got, tt.ok)
		}
	}
	empty := auth.NewOriginPolicy(nil)
	if !empty.Allow("") || empty.Allow("http://good.example") || empty.Listed("") {
		t.Error("empty policy")
	}
}
