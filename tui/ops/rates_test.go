package ops

import (
	"slices"
	"testing"
	"time"
)

func TestRates(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	r := newRates([]string{"a", "b"})
	r.add("a", t0)
	r.add("a", t0.Add(300*time.Millisecond))
	r.add("b", t0.Add(time.Second))
	r.add("a", t0.Add(3*time.Second))
	r.add("zzz", t0) // not a type the console shows
	now := t0.Add(3 * time.Second)
	if got, want := r.series("a", 5, now), []int{0, 2, 0, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("a = %v, want %v", got, want)
	}
	if got, want := r.series("b", 4, now), []int{0, 1, 0, 0}; !slices.Equal(got, want) {
		t.Fatalf("b = %v, want %v", got, want)
	}
	if got := r.perMinute("a", now); got != 3 {
		t.Fatalf("a per minute = %d, want 3", got)
	}
	// A minute later the first two have left the last minute; after a
	// silence longer than the ring, nothing is left.
	if got := r.perMinute("a", t0.Add(61*time.Second)); got != 1 {
		t.Fatalf("a per minute a minute on = %d, want 1", got)
	}
	later := t0.Add((rateWindow + 10) * time.Second)
	if got := r.series("a", rateWindow, later); slices.Max(got) != 0 {
		t.Fatalf("after a silence longer than the ring: %v", got)
	}
	// A clock stepping back counts into the newest second.
	r.add("b", later.Add(-5*time.Second))
	if got := r.series("b", 1, later); got[0] != 1 {
		t.Fatalf("an event from a clock that stepped back was lost: %v", got)
	}
}
