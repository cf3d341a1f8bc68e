package store

import (
	"slices"
	"testing"
	"time"
)

func TestPrunePlan(t *testing.T) {
	cutoff := time.UnixMilli(1000)
	// tenant-1 keeps ids from 3 up; quiet has fewer events than it keeps.
	floor := map[string]int64{"tenant-1": 3, "quiet": 0, "display": 9}
	p := NewPrunePlan(floor, cutoff, 2, 0)
	for _, c := range []struct {
		id      int64
		rooms   string
		created int64
		goOn    bool
	}{
		{1, "tenant-1,display", 10, true}, // old, below both floors: goes
		{2, "quiet", 20, true},            // its room keeps everything
		{3, "tenant-1", 30, true},         // at its floor: kept
		{4, "tenant-2", 40, false},        // no floor: goes, and the batch is full
	} {
		if got := p.Consider(c.id, c.rooms, c.created); got != c.goOn {
			t.Fatalf("Consider(%d) = %v, want %v", c.id, got, c.goOn)
		}
	}
	if !slices.Equal(p.Victims, []int64{1, 4}) || p.Top != 4 || p.Next != 4 || !p.More() {
		t.Fatalf("victims %v top %d next %d more %v", p.Victims, p.Top, p.Next, p.More())
	}
	if p.RoomTop["display"] != 1 || p.RoomTop["tenant-2"] != 4 || p.RoomTop["tenant-1"] != 1 {
		t.Fatalf("room tops %v", p.RoomTop)
	}
	// A young event ends the walk: no more batches.
	p = NewPrunePlan(floor, cutoff, 10, 4)
	if p.Consider(5, "tenant-2", 1000) || p.More() || len(p.Victims) != 0 || p.Next != 4 {
		t.Fatalf("a young event: victims %v next %d more %v", p.Victims, p.Next, p.More())
	}
}
