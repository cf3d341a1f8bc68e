package widgets

import (
	"testing"
	"unicode/utf8"
)

func TestSparkline(t *testing.T) {
	cases := []struct {
		values []int
		width  int
		want   string
	}{
		{[]int{0, 1, 2, 3, 4, 5, 6, 7, 8}, 9, " ▁▂▃▄▅▆▇█"},
		{[]int{1, 100}, 2, "▁█"},         // one event among a hundred still shows
		{[]int{3, 3}, 4, "  ██"},         // padded on the left, newest at the right
		{[]int{9, 9, 0, 2, 4}, 3, " ▄█"}, // only the last three, scaled among themselves
		{[]int{0, 0, 0}, 3, "   "},
		{nil, 2, "  "},
		{[]int{5}, 0, ""},
	}
	for _, c := range cases {
		got := Sparkline(c.values, c.width)
		if got != c.want {
			t.Errorf("Sparkline(%v, %d) = %q, want %q", c.values, c.width, got, c.want)
		}
		if n := utf8.RuneCountInString(got); n != c.width && c.width > 0 {
			t.Errorf("Sparkline(%v, %d) is %d cells wide", c.values, c.width, n)
		}
	}
}
