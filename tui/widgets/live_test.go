package widgets

import (
	"errors"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/posd/posd/internal/client"
)

type fakeStream struct {
	ch     chan client.Update
	resets []int64
	closed bool
}

func (s *fakeStream) Updates() <-chan client.Update { return s.ch }
func (s *fakeStream) Reset(since int64)             { s.resets = append(s.resets, since) }
func (s *fakeStream) Close()                        { s.closed = true }

type liveRig struct {
	l      *Live
	s      *fakeStream
	loads  int
	since  int64
	rooms  []string
	said   []string
	events []*client.Event
}

func newLiveRig(now time.Time) *liveRig {
	r := &liveRig{s: &fakeStream{ch: make(chan client.Update, 1)}}
	r.l = &Live{
		Load: func() tea.Cmd { r.loads++; return func() tea.Msg { return nil } },
		Subscribe: func(since int64, rooms []string) Stream {
			r.since, r.rooms = since, rooms
			return r.s
		},
		Rooms: []string{"display"},
		Now:   func() time.Time { return now },
	}
	return r
}

func (r *liveRig) update(msg tea.Msg) (tea.Cmd, bool) {
	return r.l.Update(msg,
		func(ev *client.Event) tea.Cmd { r.events = append(r.events, ev); return nil },
		func(s string, _ bool) { r.said = append(r.said, s) })
}

// start runs the first successful load through to a running stream.
func (r *liveRig) start(t *testing.T, since int64) {
	t.Helper()
	status, cmd := r.l.Done(since)
	if status != "" || cmd == nil {
		t.Fatalf("first Done: status %q, cmd %v", status, cmd)
	}
	if _, ok := r.update(cmd()); !ok || r.l.Stream() != r.s {
		t.Fatal("the subscribed stream was not taken")
	}
}

func TestLiveSubscribesWhereTheLoadEnded(t *testing.T) {
	r := newLiveRig(time.Now())
	if r.l.Loaded() || r.l.Stream() != nil {
		t.Fatal("loaded before any load")
	}
	r.start(t, 42)
	if !r.l.Loaded() || r.since != 42 || len(r.rooms) != 1 || r.rooms[0] != "display" {
		t.Fatalf("loaded %v, subscribed since %d rooms %v", r.l.Loaded(), r.since, r.rooms)
	}
	// A later load (not after a gap) must not subscribe a second time.
	if _, cmd := r.l.Done(50); cmd != nil {
		t.Fatal("a second Done subscribed again")
	}
}

func TestLiveFailedLoadsShowOnTheBadge(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	now := t0
	r := newLiveRig(t0)
	r.l.Now = func() time.Time { return now }
	why, cmd := r.l.Failed(errors.New("server unreachable"))
	if why != "server unreachable — retrying" || cmd == nil {
		t.Fatalf("first failure: %q, retry %v", why, cmd)
	}
	now = t0.Add(2 * time.Second)
	r.l.Failed(errors.New("server unreachable"))
	if st := r.l.Conn.State; st.Conn != client.Reconnecting || st.Attempt != 2 || !st.Since.Equal(t0) {
		t.Fatalf("after two failures: %+v, want Reconnecting attempt 2 since the first", st)
	}
	if cmd, ok := r.update(RetryLoadMsg{}); !ok || cmd == nil || r.loads != 1 {
		t.Fatalf("retry: ok %v, loads %d", ok, r.loads)
	}
	why, cmd = r.l.Failed(&client.APIError{Status: 403, Message: "forbidden"})
	if cmd != nil || why != "forbidden" || r.l.Conn.State.Conn != client.Offline || !r.l.Conn.State.Fatal {
		t.Fatalf("refused: %q, retry %v, conn %+v", why, cmd, r.l.Conn.State)
	}
}

func TestLiveReloadsOnAGapAndResumesThere(t *testing.T) {
	r := newLiveRig(time.Now())
	r.start(t, 10)
	if _, ok := r.update(UpdateMsg{Stream: r.s, Update: client.Update{Gap: &client.Gap{}}}); !ok {
		t.Fatal("gap not taken")
	}
	if r.loads != 1 || len(r.said) != 1 || r.said[0] != "event history too old to resume: reloading" {
		t.Fatalf("gap: loads %d, said %q", r.loads, r.said)
	}
	status, cmd := r.l.Done(99)
	if status != "reloaded after a gap in the event history" || cmd == nil {
		t.Fatalf("reload: %q, %v", status, cmd)
	}
	cmd()
	if len(r.s.resets) != 1 || r.s.resets[0] != 99 {
		t.Fatalf("resets %v, want [99]", r.s.resets)
	}
	if _, cmd := r.l.Done(120); cmd != nil {
		t.Fatal("a load after the reload reset the stream again")
	}
}

func TestLiveRoutesUpdates(t *testing.T) {
	r := newLiveRig(time.Now())
	r.start(t, 1)
	r.update(UpdateMsg{Stream: r.s, Update: client.Update{State: &client.State{Conn: client.Live}}})
	if !r.l.Conn.Live() {
		t.Fatalf("conn %+v, want live", r.l.Conn)
	}
	ev := &client.Event{Name: "order_created"}
	r.update(UpdateMsg{Stream: r.s, Update: client.Update{Event: ev}})
	if len(r.events) != 1 || r.events[0] != ev {
		t.Fatalf("events %v", r.events)
	}
	// An update from a stream this console no longer reads is dropped.
	other := &fakeStream{ch: make(chan client.Update)}
	if cmd, ok := r.update(UpdateMsg{Stream: other, Update: client.Update{Event: ev}}); !ok || cmd != nil || len(r.events) != 1 {
		t.Fatalf("stale stream: ok %v cmd %v events %d", ok, cmd, len(r.events))
	}
	if _, ok := r.update(tea.WindowSizeMsg{}); ok {
		t.Fatal("took a message that is not the cycle's")
	}
	r.l.Close()
	if !r.s.closed {
		t.Fatal("Close did not close the stream")
	}
}
