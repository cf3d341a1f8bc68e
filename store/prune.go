package store

import (
	"context"
	"strings"
	"time"
)

// PrunePlan is retention's rule, the same on every backend: an event older
// than the cutoff goes, unless one of its rooms still keeps it (its floor,
// the id of the room's keepPerRoom-th newest event, is 0 or at most the
// event's id). A backend reads candidates in id order, hands each to
// Consider until it says stop, and deletes Victims; the walk stops at the
// first young event, so a prune never reads the whole log.
type PrunePlan struct {
	floor        map[string]int64
	old          int64 // the cutoff, unix ms
	batch, limit int
	scanned      int
	young        bool
	hold         int64 // nothing above it goes (an active webhook's cursor)
	held         bool

	Victims []int64          // ids to delete
	Top     int64            // the highest of them
	RoomTop map[string]int64 // per room, the highest id deleted
	Next    int64            // where the next batch starts (after this id)
}

// NewPrunePlan plans one batch of at most batch deletions among the
// events after id after; Limit is how many candidates to read for it.
func NewPrunePlan(floor map[string]int64, cutoff time.Time, batch int, after int64) *PrunePlan {
	return &PrunePlan{floor: floor, old: cutoff.UnixMilli(), batch: batch, limit: batch * 4, Next: after, RoomTop: map[string]int64{}}
}

// KeepAbove keeps every event after id: an active webhook endpoint has
// not delivered them yet. The walk stops there, as at a young event.
func (p *PrunePlan) KeepAbove(id int64) { p.hold, p.held = id, true }

// Limit is how many candidates the backend reads for this batch.
func (p *PrunePlan) Limit() int { return p.limit }

// Consider takes the next candidate (rooms comma-separated, as stored);
// false means stop reading.
func (p *PrunePlan) Consider(id int64, rooms string, createdMS int64) bool {
	if createdMS >= p.old || (p.held && id > p.hold) {
		p.young = true
		return false
	}
	p.Next, p.scanned = id, p.scanned+1
	names := strings.Split(rooms, ",")
	for _, r := range names {
		if f, ok := p.floor[r]; ok && (f == 0 || id >= f) {
			return len(p.Victims) < p.batch // kept
		}
	}
	p.Victims = append(p.Victims, id)
	p.Top = max(p.Top, id)
	for _, r := range names {
		p.RoomTop[r] = max(p.RoomTop[r], id)
	}
	return len(p.Victims) < p.batch
}

// More reports whether another batch may find something to delete.
func (p *PrunePlan) More() bool {
	return !p.young && (p.scanned == p.limit || len(p.Victims) == p.batch)
}

// PruneBatches runs step from the start of the log until it says there is
// no more, pausing between batches so writers get in, and adds up what
// the batches deleted.
func PruneBatches(ctx context.Context, step func(after int64) (n int, next int64, more bool, err error)) (int, error) {
	total := 0
	var after int64
	for {
		n, next, more, err := step(after)
		total += n
		if err != nil || !more {
			return total, err
		}
		after = next
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(5 * time.Millisecond): // let writers in
		}
	}
}
