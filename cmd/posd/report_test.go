package main

import "testing"

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]int64{"15": 1500, "0.7": 70, ".7": 70, "12.25": 1225, "100": 10000, "0": 0} {
		if got, err := parsePercent(in); err != nil || got != want {
			t.Errorf("parsePercent(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.234", "-1", "101", "x", "1.x", "."} {
		if got, err := parsePercent(in); err == nil {
			t.Errorf("parsePercent(%q) = %d; want an error", in, got)
		}
	}
}
