package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

// fakeLog is an in-memory event log. Its hook runs inside ReadEvents, after
// the page has been read: the place where a real log's writers commit while
// a replay is in progress.
type fakeLog struct {
	mu      sync.Mutex
	events  []domain.Event
	horizon int64
	reads   int
	hook    func(n int) // n: the 1-based number of this ReadEvents call
}

func (l *fakeLog) ReadEvents(_ context.Context, after int64, rooms []string, limit int) ([]domain.Event, error) {
	l.mu.Lock()
	var out []domain.Event
	for _, ev := range l.events {
		if ev.ID <= after || ev.ID <= l.horizon {
			continue
		}
		if rooms == nil || slices.ContainsFunc(ev.Rooms, func(r string) bool { return r == domain.RoomAll || slices.Contains(rooms, r) }) {
			out = append(out, ev)
			if len(out) == limit {
				break
			}
		}
	}
	l.reads++
	n, hook := l.reads, l.hook
	l.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return out, nil
}

func (l *fakeLog) Horizon(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.horizon, nil
}

// commit appends n events to rooms and publishes them, as the store does
// under its writer lock.
func (l *fakeLog) commit(h *Hub, n int, rooms ...string) []int64 {
	l.mu.Lock()
	var evs []domain.Event
	for range n {
		id := int64(len(l.events) + 1)
		ev := domain.Event{ID: id, Name: "order:created", Type: "order_created", Rooms: rooms}
		l.events = append(l.events, ev)
		evs = append(evs, ev)
	}
	l.mu.Unlock()
	h.Publish(evs) // outside l.mu: hooks commit from inside ReadEvents
	ids := make([]int64, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func (l *fakeLog) setHook(f func(int)) {
	l.mu.Lock()
	l.hook = f
	l.mu.Unlock()
}

// testEncoder renders an event as its decimal id.
func testEncoder(dst []byte, ev *domain.Event) []byte { return strconv.AppendInt(dst, ev.ID, 10) }

func newTestHub(t *testing.T, opts Options) (*Hub, *fakeLog) {
	t.Helper()
	opts.Encoders = []Encoder{testEncoder}
	l := &fakeLog{}
	h := New(opts, l, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	t.Cleanup(func() { cancel(); <-h.Done() })
	return h, l
}

// collect reads frames from c until it has seen an event with id last (or a
// frame it cannot parse as an id, which it keeps as text), failing after a
// generous timeout.
func collect(t *testing.T, c *Client, last int64) (ids []int64, other []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var frames [][]byte
	for {
		var err error
		frames, err = pull(ctx, c, frames[:0])
		for _, f := range frames {
			id, perr := strconv.ParseInt(string(f), 10, 64)
			if perr != nil {
				other = append(other, string(f))
				continue
			}
			ids = append(ids, id)
		}
		if len(ids) > 0 && ids[len(ids)-1] >= last {
			return ids, other
		}
		if err != nil {
			t.Fatalf("after %d events (want up to %d): %v", len(ids), last, err)
		}
	}
}

func seq(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// Events committed while the replay pages through the log reach the client
// exactly once, in order: some through the log, some through the queue.
func TestReplayHandOverWithCommitsDuringReplay(t *testing.T) {
	h, l := newTestHub(t, Options{ReplayPageSize: 7})
	l.commit(h, 100, "tenant-1")
	testutil.Eventually(t, 20*time.Second, "initial fan-out", func() bool { return h.LastPublished() == 100 })

	// Every page read commits 5 more events, until 300 exist.
	l.setHook(func(int) {
		l.mu.Lock()
		n := len(l.events)
		l.mu.Unlock()
		if n < 300 {
			l.commit(h, 5, "tenant-1")
		}
	})
	c := newPullClient(nil)
	if err := h.Register(c, []string{"tenant-1"}, 40, nil); err != nil {
		t.Fatal(err)
	}
	ids, _ := collect(t, c, 300)
	if want := seq(41, 300); !slices.Equal(ids, want) {
		t.Fatalf("got %d events %v...; want 41..300 once each in order", len(ids), ids[:min(len(ids), 20)])
	}
	// And live afterwards, still once.
	l.setHook(nil)
	l.commit(h, 3, "tenant-1", "display")
	ids, _ = collect(t, c, 303)
	if want := seq(301, 303); !slices.Equal(ids, want) {
		t.Fatalf("live after replay: %v, want %v", ids, want)
	}
}

// Events fanned out while the replay reads, including ones that go to
// several of the client's rooms and to everyone, arrive once.
func TestReplayConcurrentWriterOnceInOrder(t *testing.T) {
	h, l := newTestHub(t, Options{ReplayPageSize: 3})
	l.commit(h, 50, "tenant-1", "display")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rooms := [][]string{{"tenant-1"}, {"tenant-2"}, {"display", "tenant-1"}, {domain.RoomAll}, {"kasir-1", "display"}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l.commit(h, 1+i%3, rooms[i%len(rooms)]...)
			if i%10 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	var want []int64
	c := newPullClient(nil)
	if err := h.Register(c, []string{"tenant-1", "display"}, 10, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "2,000 events", func() bool { return h.LastPublished() >= 2000 })
	close(stop)
	wg.Wait()
	l.mu.Lock()
	for _, ev := range l.events {
		if ev.ID > 10 && slices.ContainsFunc(ev.Rooms, func(r string) bool { return r != "tenant-2" && r != "kasir-1" }) {
			want = append(want, ev.ID)
		}
	}
	l.mu.Unlock()
	ids, _ := collect(t, c, want[len(want)-1])
	if !slices.Equal(ids, want) {
		t.Fatalf("got %d events, want %d (first difference at %d)", len(ids), len(want), firstDiff(ids, want))
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A queue that overflows during the replay is not a slow consumer: the hub
// drops the queued events, marks the client lagged and the replay reads them
// from the log instead.
func TestReplayOverflowSetsLaggedAndRereads(t *testing.T) {
	h, l := newTestHub(t, Options{ReplayPageSize: 10, MaxQueueMessages: 4})
	l.commit(h, 20, "tenant-1")
	testutil.Eventually(t, 20*time.Second, "initial fan-out", func() bool { return h.LastPublished() == 20 })
	c := newPullClient(nil)
	var sawLagged bool
	l.setHook(func(n int) {
		if n != 1 {
			return
		}
		// 50 live events while the first page is being read: the queue
		// (4 messages) overflows many times over.
		l.commit(h, 50, "tenant-1")
		testutil.Eventually(t, 20*time.Second, "fan-out during replay", func() bool { return h.LastPublished() == 70 })
		c.mu.Lock()
		sawLagged = c.lagged
		c.mu.Unlock()
	})
	if err := h.Register(c, []string{"tenant-1"}, 0, nil); err != nil {
		t.Fatal(err)
	}
	ids, _ := collect(t, c, 70)
	if !sawLagged {
		t.Error("queue overflow during replay did not mark the client lagged")
	}
	if want := seq(1, 70); !slices.Equal(ids, want) {
		t.Fatalf("got %v, want 1..70 once each", ids)
	}
	if r := c.Reason(); r != (CloseReason{}) {
		t.Fatalf("client closed (%v): overflow during replay must not count as slow", r)
	}
	// A client stays in replay until the log has nothing more for it (a
	// writer that stops polling mid-replay costs no memory: the log holds
	// its backlog). One more poll finds the log drained and goes live.
	if frames, err := c.Poll(context.Background(), nil); err != nil || len(frames) != 0 {
		t.Fatalf("poll after the replay: %q, %v", frames, err)
	}
	c.mu.Lock()
	replaying := c.replaying
	c.mu.Unlock()
	if replaying {
		t.Fatal("still replaying with the log drained")
	}
	// Live, the same overflow is a slow consumer.
	l.commit(h, 10, "tenant-1")
	waitClosed(t, c)
	if got := c.Reason(); got != SlowConsumer {
		t.Fatalf("reason %v, want %v", got, SlowConsumer)
	}
	// Close sets the reason before it unregisters the client: wait for that.
	testutil.Eventually(t, 20*time.Second, "the slow consumer to be unregistered", func() bool {
		return h.Active() == 0 && h.RoomSizes()["tenant-1"] == 0
	})
}

// Resume moves the cursor of a live connection, back or forth, and the head
// frame precedes the replay.
func TestResumeMovesCursor(t *testing.T) {
	h, l := newTestHub(t, Options{ReplayPageSize: 4})
	c := newPullClient(nil)
	if err := h.Register(c, []string{"tenant-1"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	l.commit(h, 20, "tenant-1")
	ids, _ := collect(t, c, 20)
	if !slices.Equal(ids, seq(1, 20)) {
		t.Fatalf("live: %v", ids)
	}

	c.Resume(5, []byte("resumed 5"))
	ids, other := collect(t, c, 20)
	if !slices.Equal(ids, seq(6, 20)) || !slices.Equal(other, []string{"resumed 5"}) {
		t.Fatalf("after Resume(5): events %v, other %v", ids, other)
	}

	// Forward: events up to 25 are skipped on request.
	l.commit(h, 10, "tenant-1") // 21..30, queued
	c.Resume(25, nil)
	ids, _ = collect(t, c, 30)
	if !slices.Equal(ids, seq(26, 30)) {
		t.Fatalf("after Resume(25): %v", ids)
	}

	// Resume while a replay page is being read: the stale page is dropped
	// and the replay restarts from the new cursor.
	l.setHook(func(n int) {
		l.setHook(nil)
		c.Resume(2, nil)
	})
	c.Resume(10, nil)
	ids, _ = collect(t, c, 30)
	if !slices.Equal(ids, seq(3, 30)) {
		t.Fatalf("Resume during a page read: %v, want 3..30", ids)
	}
}

// The head frame of Resume comes before any replayed event, even with
// events queued before the resume.
func TestResumeHeadPrecedesReplay(t *testing.T) {
	h, l := newTestHub(t, Options{ReplayPageSize: 2})
	c := newPullClient(nil)
	if err := h.Register(c, []string{"tenant-1"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	l.commit(h, 6, "tenant-1")
	testutil.Eventually(t, 20*time.Second, "fan-out", func() bool { return h.LastPublished() == 6 })
	c.Resume(3, []byte("ack"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	frames, err := pull(ctx, c, nil)
	if err != nil || len(frames) == 0 || string(frames[0]) != "ack" {
		t.Fatalf("first frames %q (%v), want the ack first", frames, err)
	}
	ids, _ := collect(t, c, 6)
	for _, f := range frames[1:] {
		id, _ := strconv.ParseInt(string(f), 10, 64)
		ids = append([]int64{id}, ids...)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, seq(4, 6)) {
		t.Fatalf("events after the ack: %v, want 4..6", ids)
	}
}

// Retention that prunes past the cursor after the replay started is never a
// silent gap: the transport's gap frame, or a close with ReplayGap.
func TestReplayDetectsPruneDuringReplay(t *testing.T) {
	for _, withFrame := range []bool{true, false} {
		t.Run(fmt.Sprintf("gapframe=%v", withFrame), func(t *testing.T) {
			h, l := newTestHub(t, Options{ReplayPageSize: 5})
			l.commit(h, 40, "tenant-1")
			testutil.Eventually(t, 20*time.Second, "fan-out", func() bool { return h.LastPublished() == 40 })
			var gap func(*TooOldError) []byte
			if withFrame {
				gap = func(g *TooOldError) []byte { return []byte(fmt.Sprintf("gap oldest=%d", g.Oldest)) }
			}
			c := newPullClient(gap)
			if err := h.CheckSinceRooms(context.Background(), 0, nil); err != nil {
				t.Fatal(err)
			}
			// Retention runs after CheckSince said yes, during the first page.
			l.setHook(func(n int) {
				if n == 1 {
					l.mu.Lock()
					l.horizon = 20
					l.mu.Unlock()
				}
			})
			if err := h.Register(c, []string{"tenant-1"}, 0, nil); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []string
			var err error
			for err == nil && !slices.Contains(got, "gap oldest=21") {
				var frames [][]byte
				frames, err = pull(ctx, c, nil)
				for _, f := range frames {
					got = append(got, string(f))
				}
			}
			if withFrame {
				if err != nil || !slices.Contains(got, "gap oldest=21") {
					t.Fatalf("frames %q, err %v: want the gap frame", got, err)
				}
				if len(got) > 1 && got[len(got)-1] != "gap oldest=21" {
					t.Fatalf("frames after the gap: %q", got)
				}
				// Live delivery goes on.
				l.setHook(nil)
				l.commit(h, 1, "tenant-1")
				ids, _ := collect(t, c, 41)
				if !slices.Equal(ids, []int64{41}) {
					t.Fatalf("live after gap: %v", ids)
				}
				return
			}
			if !errors.Is(err, ErrClosed) || c.Reason() != ReplayGap {
				t.Fatalf("err %v reason %v, want closed with %v", err, c.Reason(), ReplayGap)
			}
		})
	}
}

// Caps: rooms per connection and total connections.
func TestRegisterCaps(t *testing.T) {
	h, _ := newTestHub(t, Options{MaxRoomsPerConn: 2, MaxConnections: 2})
	if err := h.Register(newPullClient(nil), []string{"a", "b", "c"}, -1, nil); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("3 rooms: %v", err)
	}
	a, b := newPullClient(nil), newPullClient(nil)
	if err := h.Register(a, []string{"a", "b"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Join(a, "c"); !errors.Is(err, ErrTooManyRooms) {
		t.Fatalf("join beyond cap: %v", err)
	}
	if err := h.Join(a, "a"); err != nil {
		t.Fatalf("re-join: %v", err)
	}
	if err := h.Register(b, nil, -1, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.Register(newPullClient(nil), nil, -1, nil); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("third connection: %v", err)
	}
	a.Close(GoingAway)
	if err := h.Register(newPullClient(nil), nil, -1, nil); err != nil {
		t.Fatalf("after a close: %v", err)
	}
}

// A resume to the very cursor a page is being read from still discards the
// page: its head must precede every event of the new replay (the resume
// test lost an event this way when the page went out before the ack).
func TestResumeSameCursorDuringPageRead(t *testing.T) {
	h, l := newTestHub(t, Options{ReplayPageSize: 4})
	l.commit(h, 10, "tenant-1")
	testutil.Eventually(t, 20*time.Second, "fan-out", func() bool { return h.LastPublished() == 10 })
	c := newPullClient(nil)
	l.setHook(func(n int) {
		if n == 1 {
			c.Resume(0, []byte("ack"))
		}
	})
	if err := h.Register(c, []string{"tenant-1"}, 0, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var first []string
	for !slices.Contains(first, "10") {
		frames, err := pull(ctx, c, nil)
		if err != nil {
			t.Fatalf("%q: %v", first, err)
		}
		for _, f := range frames {
			first = append(first, string(f))
		}
	}
	if want := []string{"ack", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}; !slices.Equal(first, want) {
		t.Fatalf("frames %q, want %q", first, want)
	}
	l.setHook(func(n int) {
		l.setHook(nil)
		c.Resume(10, []byte("ack2"))
	})
	c.Resume(10, nil)
	l.commit(h, 2, "tenant-1")
	var got []string
	for len(got) < 3 {
		frames, err := pull(ctx, c, nil)
		if err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		for _, f := range frames {
			got = append(got, string(f))
		}
	}
	if !slices.Equal(got, []string{"ack2", "11", "12"}) {
		t.Fatalf("frames %q, want the ack before 11, 12", got)
	}
}

// headFakeLog also knows its newest id, as the store does.
type headFakeLog struct{ *fakeLog }

func (l headFakeLog) LastEventID(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.events)), nil
}

// A since beyond the newest event (a restored or reset database) is a gap
// too: replaying "after since" would skip every event until ids catch up.
func TestCheckSinceAheadOfTheLog(t *testing.T) {
	l := &fakeLog{}
	h := New(Options{Encoders: []Encoder{testEncoder}}, headFakeLog{l}, nil)
	l.events = append(l.events, domain.Event{ID: 1}, domain.Event{ID: 2}, domain.Event{ID: 3})
	for since, ahead := range map[int64]bool{-1: false, 0: false, 2: false, 3: false, 4: true, 1000: true} {
		err := h.CheckSinceRooms(context.Background(), since, nil)
		var gap *TooOldError
		if got := errors.As(err, &gap) && gap.Ahead; got != ahead {
			t.Errorf("since %d: %v, want ahead=%v", since, err, ahead)
		}
		if ahead && (gap.Head != 3 || gap.Oldest != 1) {
			t.Errorf("since %d: %+v", since, gap)
		}
	}
	// A log that cannot tell its head is trusted as before.
	h2 := New(Options{Encoders: []Encoder{testEncoder}}, l, nil)
	if err := h2.CheckSinceRooms(context.Background(), 1000, nil); err != nil {
		t.Fatalf("plain log: %v", err)
	}
}

// The byte bound closes a consumer whose few frames are large, before the
// message bound would.
func TestQueueBytesBound(t *testing.T) {
	h, l := newTestHub(t, Options{MaxQueueMessages: 1000, MaxQueueBytes: 64})
	c := newPullClient(nil)
	if err := h.Register(c, []string{"tenant-1"}, -1, nil); err != nil {
		t.Fatal(err)
	}
	// Ids 1..9 render as one byte, 10.. as two: 40 events are ~70 bytes.
	l.commit(h, 40, "tenant-1")
	waitClosed(t, c)
	if c.Reason() != SlowConsumer {
		t.Fatalf("reason %v", c.Reason())
	}
}
