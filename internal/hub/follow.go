package hub

import (
	"context"
	"time"

	"github.com/posd/posd/internal/domain"
)

// CommittedLog is the whole event log as the hub follows it. Commits of
// this process arrive through Publish, in id order, with their events;
// commits of other processes sharing the database (other nodes) are only
// in the log, and the hub reads them from here when Changed or its poll
// says the log may have grown. Either way an event reaches the sockets
// only in id order, each id once: one path from a commit to a socket.
type CommittedLog interface {
	// ReadLog returns up to limit events with id > after, in id order,
	// every room, with Rooms filled.
	ReadLog(ctx context.Context, after int64, limit int) ([]domain.Event, error)
	// LastEventID is the newest committed id.
	LastEventID(ctx context.Context) (int64, error)
	// Horizon is the highest id retention may have deleted.
	Horizon(ctx context.Context) (int64, error)
}

// FollowMetrics receives the follower's news; Metrics implementations
// may also implement it.
type FollowMetrics interface {
	// LogHole counts a time the follower found an id missing from the
	// log above its cursor: it waits for it rather than pass over it.
	LogHole()
}

// followPage is how many events one read of the log takes.
const followPage = 1000

// holeRetry is how soon the follower looks again at an id it found
// missing. With ids assigned under the log lock at commit a hole cannot
// stay; if one ever does, the follower keeps saying so.
const holeRetry = 50 * time.Millisecond

// Changed tells the hub that the log may have grown by a commit it was
// not handed (another node's); safe from any goroutine, coalesced.
func (h *Hub) Changed() {
	h.remote.Store(true)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// follower is the run goroutine's view of the log: cursor is the last id
// fanned out; it is owned by that goroutine alone.
type follower struct {
	log      CommittedLog
	cursor   int64
	holeAt   int64 // the id last reported missing, so a lasting hole is logged once a second
	holeLogT time.Time
	// readErrLogT is when a failed read was last logged; readFailed makes
	// the next try wait a poll interval rather than a hole's retry.
	readErrLogT time.Time
	readFailed  bool
}

// accept fans out the locally committed batch, reading the log first
// for whatever other processes committed in between.
func (h *Hub) accept(ctx context.Context, batch []domain.Event) (retry bool) {
	f := h.follow
	for i := range batch {
		ev := &batch[i]
		if f == nil { // no log to follow (tests): take what Publish hands over
			h.fanout(ev)
			continue
		}
		if ev.ID <= f.cursor {
			continue // read from the log already
		}
		if ev.ID > f.cursor+1 {
			if retry = h.catchUp(ctx, ev.ID-1); retry || ev.ID != f.cursor+1 {
				// The ids in between are not readable yet: the log read
				// picks this one up too, in order.
				h.remote.Store(true)
				return true
			}
		}
		h.fanout(ev)
		f.cursor = ev.ID
	}
	return false
}

// catchUp reads the log after the cursor, up to upTo (0: its head), and
// fans out what it finds in id order. It reports whether it must look
// again soon: a hole, or a failed read.
func (h *Hub) catchUp(ctx context.Context, upTo int64) (retry bool) {
	f := h.follow
	for upTo == 0 || f.cursor < upTo {
		evs, err := f.log.ReadLog(ctx, f.cursor, followPage)
		if err != nil {
			// The database is away (a restart, a failover): sockets stay
			// open and the follower reads on where it stopped once it is
			// back. Said once a minute, not once per poll.
			if ctx.Err() == nil && time.Since(f.readErrLogT) >= time.Minute {
				f.readErrLogT = time.Now()
				h.lg.Error("reading the event log; delivery resumes from here when it can be read", "after", f.cursor, "err", err)
			}
			f.readFailed = true
			return true
		}
		if len(evs) == 0 {
			return upTo != 0 // the awaited ids are not visible yet
		}
		for i := range evs {
			ev := &evs[i]
			if upTo != 0 && ev.ID > upTo {
				return false
			}
			if ev.ID != f.cursor+1 && !h.prunedBelow(ctx, ev.ID) {
				h.reportHole(f.cursor+1, ev.ID)
				return true
			}
			h.fanout(ev)
			f.cursor = ev.ID
		}
		if len(evs) < followPage && upTo == 0 {
			return false
		}
	}
	return false
}

// prunedBelow reports whether the ids just below id were deleted by
// retention (a follower that fell that far behind can only skip them, and
// says so), rather than missing.
func (h *Hub) prunedBelow(ctx context.Context, id int64) bool {
	pruned, err := h.follow.log.Horizon(ctx)
	if err != nil || id-1 > pruned {
		return false
	}
	h.lg.Warn("the event log was pruned past this node's position: connections that resume from before it reload", "from", h.follow.cursor+1, "to", id-1)
	return true
}

func (h *Hub) reportHole(want, got int64) {
	f := h.follow
	if fm, ok := h.opts.Metrics.(FollowMetrics); ok {
		fm.LogHole()
	}
	if f.holeAt == want && time.Since(f.holeLogT) < time.Second {
		return
	}
	f.holeAt, f.holeLogT = want, time.Now()
	h.lg.Error("event log hole: an id is missing above this node's position; delivery waits for it", "missing", want, "next", got)
}
