package hub_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/testutil"
)

// sharedLog is a log several nodes commit to: events appended here and
// not published stand for another node's commits.
type sharedLog struct {
	fanoutLog
	mu     sync.Mutex
	events []domain.Event // ascending ids, possibly with holes
	pruned int64
	reads  atomic.Int64
	heads  atomic.Int64 // LastEventID calls: the hub reads the head as it starts
}

func (l *sharedLog) add(evs ...domain.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		i := len(l.events)
		for i > 0 && l.events[i-1].ID > e.ID {
			i--
		}
		l.events = append(l.events, domain.Event{})
		copy(l.events[i+1:], l.events[i:])
		l.events[i] = e
	}
}

func (l *sharedLog) ReadLog(_ context.Context, after int64, limit int) ([]domain.Event, error) {
	l.reads.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []domain.Event
	for _, e := range l.events {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *sharedLog) LastEventID(context.Context) (int64, error) {
	defer l.heads.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return 0, nil
	}
	return l.events[len(l.events)-1].ID, nil
}

func (l *sharedLog) Horizon(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pruned, nil
}

type holeCounter struct {
	nopCounters
	holes atomic.Int64
}

func (h *holeCounter) LogHole() { h.holes.Add(1) }

type nopCounters struct{}

func (nopCounters) Delivered(int)         {}
func (nopCounters) SlowConsumerClosed()   {}
func (nopCounters) EventPublished(string) {}
func (nopCounters) Joined()               {}

func followHub(t *testing.T, log *sharedLog, m hub.Metrics) *hub.Hub {
	t.Helper()
	return followHubPolling(t, log, m, time.Hour)
}

// followHubPolling starts a hub following log and returns once it has
// read the log's head (what was there before it is not delivered).
func followHubPolling(t *testing.T, log *sharedLog, m hub.Metrics, poll time.Duration) *hub.Hub {
	t.Helper()
	enc := &countingEncoder{}
	h := hub.New(hub.Options{Encoders: []hub.Encoder{enc.encode}, Follow: log, PollInterval: poll, Metrics: m}, log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); <-h.Done() })
	testutil.Eventually(t, 5*time.Second, "the hub to read the log's head", func() bool { return log.heads.Load() > 0 })
	return h
}

func joined(t *testing.T, h *hub.Hub, room string) *hub.Client {
	t.Helper()
	c := hub.NewPullClient(nil)
	if err := h.Register(c, []string{room}, -1, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFollowDeliversOtherNodesCommitsInOrder(t *testing.T) {
	log := &sharedLog{}
	log.add(ev(1, "tenant-1"), ev(2, "tenant-1"))
	h := followHub(t, log, nil)
	testutil.Eventually(t, 5*time.Second, "the hub to start at the log's head", func() bool { return h.LastPublished() == 2 })
	c := joined(t, h, "tenant-1")
	// Another node commits 3 and 4; this node commits 5 and publishes it
	// before the hub has read the others: 3, 4, 5, each once, in order.
	log.add(ev(3, "tenant-1"), ev(4, "tenant-2"), ev(5, "tenant-1"))
	h.Publish([]domain.Event{ev(5, "tenant-1")})
	log.add(ev(6, "tenant-1"))
	h.Changed()
	if got, want := collect(t, c, 3), []string{"3", "5", "6"}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A local commit already read from the log is not delivered again.
	h.Publish([]domain.Event{ev(6, "tenant-1")})
	log.add(ev(7, "tenant-1"))
	h.Publish([]domain.Event{ev(7, "tenant-1")})
	if got := collect(t, c, 1); got[0] != "7" {
		t.Fatalf("after a repeated publish got %v, want 7", got)
	}
}

func TestFollowWaitsAtAHoleAndSaysSo(t *testing.T) {
	log := &sharedLog{}
	m := &holeCounter{}
	h := followHub(t, log, m)
	c := joined(t, h, "tenant-1")
	log.add(ev(1, "tenant-1"), ev(3, "tenant-1")) // 2 is not visible yet
	h.Changed()
	if got := collect(t, c, 1); got[0] != "1" {
		t.Fatalf("got %v", got)
	}
	testutil.Eventually(t, 5*time.Second, "the hole to be counted", func() bool { return m.holes.Load() > 0 })
	if h.LastPublished() != 1 {
		t.Fatalf("the hub passed over the hole: last published %d", h.LastPublished())
	}
	log.add(ev(2, "tenant-1")) // the slow transaction commits: no wake-up needed
	if got, want := collect(t, c, 2), []string{"2", "3"}; !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestFollowPollsWithoutWakeUps(t *testing.T) {
	log := &sharedLog{}
	h := followHubPolling(t, log, nil, 20*time.Millisecond)
	c := joined(t, h, "tenant-1")
	log.add(ev(1, "tenant-1")) // a commit whose NOTIFY was lost
	if got := collect(t, c, 1); got[0] != "1" {
		t.Fatalf("got %v", got)
	}
}

func TestFollowStepsOverWhatRetentionPruned(t *testing.T) {
	log := &sharedLog{}
	h := followHub(t, log, nil)
	c := joined(t, h, "tenant-1")
	log.add(ev(8, "tenant-1"))
	log.mu.Lock()
	log.pruned = 7
	log.mu.Unlock()
	h.Changed()
	if got := collect(t, c, 1); got[0] != "8" {
		t.Fatalf("got %v", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
