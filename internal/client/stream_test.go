package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/testutil"
)

// fakeHub is a tiny /ws server over an in-memory log: it replays what a
// connection missed, then sends live events, and can drop every connection.
type fakeHub struct {
	t        *testing.T
	mu       sync.Mutex
	events   []string // event i has id i+1
	oldest   int64    // ids below it are "pruned"
	conns    map[*websocket.Conn]struct{}
	wake     chan struct{}
	dials    int
	lastURL  string
	overlap  int64 // replay this many already-seen events again (a sloppy server)
	ops      []string
	refuse   int // answer this status to the handshake instead of upgrading
	upgrader websocket.Upgrader
}

func newFakeHub(t *testing.T) (*fakeHub, *httptest.Server) {
	h := &fakeHub{t: t, conns: map[*websocket.Conn]struct{}{}, wake: make(chan struct{})}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.closeAll(websocket.CloseGoingAway)
		srv.Close()
	})
	return h, srv
}

func (h *fakeHub) publish(n int) {
	h.mu.Lock()
	for range n {
		id := len(h.events) + 1
		env := fmt.Sprintf(`{"id":%d,"type":"order_created","timestamp":"2026-01-02T10:00:00Z","data":{"order_id":%d}}`, id, id)
		h.events = append(h.events, fmt.Sprintf(`{"op":"event","event":"order:created","payload":%s}`, env))
	}
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

// waitConn waits until a connection is registered.
func (h *fakeHub) waitConn() {
	h.t.Helper()
	testutil.Eventually(h.t, 20*time.Second, "a connection to be registered", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.conns) > 0
	})
}

// drop closes every connection: with a close frame of code, or abruptly when code is 0.
func (h *fakeHub) drop(code int) {
	h.waitConn()
	h.closeAll(code)
}

func (h *fakeHub) closeAll(code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if code != 0 {
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "test"), time.Now().Add(time.Second))
		}
		c.Close()
		delete(h.conns, c)
	}
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.dials++
	h.lastURL = r.URL.String()
	refuse := h.refuse
	h.mu.Unlock()
	if refuse != 0 {
		w.WriteHeader(refuse)
		fmt.Fprintf(w, `{"error":{"code":"unauthorized","message":"bad token"}}`)
		return
	}
	if r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.conns[conn] = struct{}{}
	if since+1 < h.oldest {
		oldest := h.oldest
		h.mu.Unlock()
		conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"op":"error","code":"gap","message":"too old","oldest_id":%d}`, oldest))
		return
	}
	next := max(since-h.overlap, 0)
	h.mu.Unlock()
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			// Kept as sent: the tests compare the bytes on the wire.
			h.mu.Lock()
			h.ops = append(h.ops, string(data))
			h.mu.Unlock()
		}
	}()
	for {
		h.mu.Lock()
		pending := h.events[next:]
		wake := h.wake
		_, open := h.conns[conn]
		h.mu.Unlock()
		if !open {
			return
		}
		for _, e := range pending {
			if conn.WriteMessage(websocket.TextMessage, []byte(e)) != nil {
				return
			}
		}
		next += int64(len(pending))
		select {
		case <-wake:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func newTestClient(t *testing.T, srv *httptest.Server) *Client {
	t.Helper()
	c, err := New(Config{Server: srv.URL, Token: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collect reads updates until cond holds, failing after a generous timeout.
func collect(t *testing.T, s *Stream, cond func(ids []int64, states []State) bool) ([]int64, []State) {
	t.Helper()
	var ids []int64
	var states []State
	deadline := time.After(20 * time.Second)
	for !cond(ids, states) {
		select {
		case u, ok := <-s.Updates():
			if !ok {
				return ids, states
			}
			switch {
			case u.Event != nil:
				ids = append(ids, u.Event.ID())
			case u.State != nil:
				states = append(states, *u.State)
			case u.Gap != nil:
				states = append(states, State{Conn: -1, Attempt: int(u.Gap.OldestID)})
			}
		case <-deadline:
			t.Fatalf("timed out; ids=%v states=%v", ids, states)
		}
	}
	return ids, states
}

func checkSequence(t *testing.T, ids []int64, from, to int64) {
	t.Helper()
	if int64(len(ids)) != to-from+1 {
		t.Fatalf("got %d events, want %d (%d..%d): %v", len(ids), to-from+1, from, to, ids)
	}
	for i, id := range ids {
		if id != from+int64(i) {
			t.Fatalf("event %d has id %d, want %d (duplicate or out of order): %v", i, id, from+int64(i), ids)
		}
	}
}

func fastOpts(o StreamOptions) StreamOptions {
	o.MinBackoff = 5 * time.Millisecond
	o.MaxBackoff = 40 * time.Millisecond
	return o
}

func TestStreamResumesAfterDropsWithoutGapOrDuplicate(t *testing.T) {
	h, srv := newFakeHub(t)
	h.overlap = 3 // the server repeats a few events on every resume: the client must drop them
	h.publish(10)
	c := newTestClient(t, srv)
	s := c.Subscribe(context.Background(), fastOpts(StreamOptions{Rooms: []string{"display", "kasir-1"}, Since: 4}))
	defer s.Close()

	var all []int64
	ids, states := collect(t, s, func(ids []int64, _ []State) bool { return len(ids) >= 6 })
	all = append(all, ids...)
	if states[0].Conn != Connecting || states[1].Conn != Live {
		t.Fatalf("states = %v, want Connecting then Live", states)
	}
	for round := range 5 {
		code := 0
		if round%2 == 1 {
			code = 4008 // slow consumer
		}
		h.drop(code)
		h.publish(7)
		ids, states = collect(t, s, func(ids []int64, st []State) bool {
			return len(ids) >= 7 && len(st) > 0 && st[len(st)-1].Conn == Live
		})
		all = append(all, ids...)
		if states[0].Conn != Reconnecting || states[0].Attempt != 1 || states[0].Since.IsZero() {
			t.Fatalf("round %d: first state %+v, want Reconnecting attempt 1 with a time", round, states[0])
		}
		if code != 0 && states[0].CloseCode != code {
			t.Fatalf("round %d: close code %d, want %d", round, states[0].CloseCode, code)
		}
	}
	checkSequence(t, all, 5, 45)
	if got := s.LastID(); got != 45 {
		t.Fatalf("LastID = %d, want 45", got)
	}
	h.mu.Lock()
	u := h.lastURL
	h.mu.Unlock()
	if want := "/ws?rooms=display%2Ckasir-1&since="; len(u) < len(want) || u[:len(want)] != want {
		t.Fatalf("dial URL %q", u)
	}
}

func TestStreamBacksOffWhileServerDown(t *testing.T) {
	h, srv := newFakeHub(t)
	h.publish(2)
	c := newTestClient(t, srv)
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := c.Subscribe(context.Background(), fastOpts(StreamOptions{OfflineAfter: time.Minute, Now: clock}))
	defer s.Close()
	collect(t, s, func(ids []int64, _ []State) bool { return len(ids) == 2 })

	h.mu.Lock()
	h.refuse = http.StatusServiceUnavailable
	h.mu.Unlock()
	h.drop(websocket.CloseGoingAway)
	_, states := collect(t, s, func(_ []int64, st []State) bool { return len(st) >= 4 })
	for i, st := range states {
		if st.Conn != Reconnecting || st.Attempt != i+1 {
			t.Fatalf("state %d = %+v, want Reconnecting attempt %d", i, st, i+1)
		}
		if !st.Since.Equal(now) {
			t.Fatalf("state %d since %v, want the time of the drop %v", i, st.Since, now)
		}
	}
	if states[0].CloseCode != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", states[0].CloseCode)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	_, states = collect(t, s, func(_ []int64, st []State) bool { return len(st) >= 1 })
	if states[0].Conn != Offline || states[0].Fatal {
		t.Fatalf("after two minutes: %+v, want Offline (still retrying)", states[0])
	}
	h.mu.Lock()
	h.refuse = 0
	h.mu.Unlock()
	h.publish(1)
	ids, _ := collect(t, s, func(ids []int64, st []State) bool { return len(ids) == 1 })
	checkSequence(t, ids, 3, 3)
}

func TestStreamGapWaitsForReset(t *testing.T) {
	h, srv := newFakeHub(t)
	h.publish(20)
	h.mu.Lock()
	h.oldest = 15
	h.mu.Unlock()
	c := newTestClient(t, srv)
	s := c.Subscribe(context.Background(), fastOpts(StreamOptions{Since: 3}))
	defer s.Close()
	var gap *Gap
	for gap == nil {
		select {
		case u := <-s.Updates():
			if u.Event != nil {
				t.Fatalf("event %d delivered across a gap", u.Event.ID())
			}
			gap = u.Gap
		case <-time.After(20 * time.Second):
			t.Fatal("no gap reported")
		}
	}
	if gap.OldestID != 15 || gap.Since != 3 {
		t.Fatalf("gap = %+v", gap)
	}
	// The consumer reloads: its state is as of event 18.
	s.Reset(18)
	ids, _ := collect(t, s, func(ids []int64, _ []State) bool { return len(ids) == 2 })
	checkSequence(t, ids, 19, 20)
}

func TestStreamFatalOnRefusedToken(t *testing.T) {
	h, srv := newFakeHub(t)
	h.refuse = http.StatusUnauthorized
	c := newTestClient(t, srv)
	s := c.Subscribe(context.Background(), fastOpts(StreamOptions{}))
	var last State
	for u := range s.Updates() {
		if u.State != nil {
			last = *u.State
		}
	}
	if last.Conn != Offline || !last.Fatal {
		t.Fatalf("last state %+v, want fatal Offline", last)
	}
	var ae *APIError
	if !asAPIError(last.Err, &ae) || ae.Status != 401 || ae.Message != "bad token" {
		t.Fatalf("err = %v", last.Err)
	}
}

func TestStreamFatalOnRevokedClose(t *testing.T) {
	h, srv := newFakeHub(t)
	c := newTestClient(t, srv)
	s := c.Subscribe(context.Background(), fastOpts(StreamOptions{}))
	collect(t, s, func(_ []int64, st []State) bool { return len(st) == 2 })
	h.drop(4001)
	var last State
	for u := range s.Updates() {
		if u.State != nil {
			last = *u.State
		}
	}
	if last.Conn != Offline || !last.Fatal || last.CloseCode != 4001 {
		t.Fatalf("last state %+v, want fatal Offline with 4001", last)
	}
}

func TestStreamJoinLeaveSendOps(t *testing.T) {
	h, srv := newFakeHub(t)
	c := newTestClient(t, srv)
	s := c.Subscribe(context.Background(), fastOpts(StreamOptions{Rooms: []string{"display"}}))
	defer s.Close()
	collect(t, s, func(_ []int64, st []State) bool { return len(st) == 2 })
	s.Join("kasir-2")
	s.Leave("display")
	s.Reset(0)
	var ops []string
	if !testutil.Await(20*time.Second, testutil.Poll, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		ops = append([]string(nil), h.ops...)
		return len(ops) == 3
	}) {
		t.Fatalf("ops = %v", ops)
	}
	want := []string{`{"op":"join","room":"kasir-2"}`, `{"op":"leave","room":"display"}`, `{"op":"resume","since":0}`}
	for i := range want {
		if ops[i] != want[i]+"\n" && ops[i] != want[i] {
			t.Fatalf("op %d = %q, want %q", i, ops[i], want[i])
		}
	}
	if got := s.Rooms(); len(got) != 1 || got[0] != "kasir-2" {
		t.Fatalf("rooms = %v", got)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	s := &Stream{opts: StreamOptions{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	for n := 1; n < 40; n++ {
		d := s.backoff(n)
		want := min(100*time.Millisecond<<min(n-1, 20), time.Second)
		if d < want/2 || d >= want {
			t.Fatalf("backoff(%d) = %v, want in [%v, %v)", n, d, want/2, want)
		}
	}
}
