package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/protocol/native"
)

// ConnState is the state of a stream's connection, for a console's badge.
type ConnState int

const (
	Connecting   ConnState = iota // first connection not yet made
	Live                          // connected: what the console shows is current
	Reconnecting                  // connection lost, retrying
	Offline                       // lost for longer than OfflineAfter (still retrying unless Fatal)
)

func (s ConnState) String() string {
	switch s {
	case Connecting:
		return "CONNECTING"
	case Live:
		return "LIVE"
	case Reconnecting:
		return "RECONNECTING"
	case Offline:
		return "OFFLINE"
	}
	return "ConnState(" + strconv.Itoa(int(s)) + ")"
}

// State is a change of connection state.
type State struct {
	Conn    ConnState
	Attempt int       // Reconnecting/Offline: the number of the next connection attempt
	Since   time.Time // Live: when it went live; Reconnecting/Offline: when the connection was lost
	Err     error     // why the connection was lost or the last attempt failed
	Fatal   bool      // the stream gave up (token revoked, handshake refused with a 4xx); no more updates follow
	// CloseCode is the server's WebSocket close code when it closed the
	// connection (1001 going away, 4008 slow consumer, 4001 revoked, ...).
	CloseCode int
}

// Gap reports that the server no longer holds every event after the stream's
// last id. The consumer must reload its state from the API and call
// Stream.Reset with the reloaded last_event_id; the stream stays disconnected
// until then. A consumer that only logs events may Reset(OldestID-1).
type Gap struct {
	Since    int64 // the id the stream asked to resume from
	OldestID int64 // the oldest id the server still has
	Message  string
}

// Notice is a non-event frame: a joined/left confirmation or an error frame
// (e.g. a refused join).
type Notice struct {
	Op      string // "joined", "left" or "error"
	Room    string
	Code    string
	Message string
}

// Update is one item of a stream: exactly one field is set.
type Update struct {
	Event  *Event
	State  *State
	Gap    *Gap
	Notice *Notice
}

// StreamOptions configure Subscribe. Zero values take the defaults.
type StreamOptions struct {
	Rooms        []string      // rooms joined at connect
	Since        int64         // last event id already seen (e.g. OrderList.LastEventID)
	MinBackoff   time.Duration // first retry delay (default 250 ms)
	MaxBackoff   time.Duration // cap on the retry delay (default 10 s)
	OfflineAfter time.Duration // Reconnecting turns Offline after this long (default 30 s)
	IdleTimeout  time.Duration // no frame (nor pong) for this long: the connection is dead (default 60 s)
	DialTimeout  time.Duration // default 10 s
	Buffer       int           // updates buffered for the consumer (default 256)
	Now          func() time.Time
}

func (o *StreamOptions) defaults() {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.OfflineAfter <= 0 {
		o.OfflineAfter = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stream follows the native /ws endpoint: it reconnects by itself with
// capped, jittered exponential backoff and resumes from the last event id it
// delivered, so its consumer sees every event of its rooms once, in id order.
type Stream struct {
	c    *Client
	opts StreamOptions
	out  chan Update
	ctrl chan ctrl

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	last  int64
	rooms []string

	paused bool // after a gap, until Reset
}

type ctrl struct {
	op    string // join, leave, reset
	room  string
	since int64
}

// Subscribe starts a stream. Read Updates until it is closed (after Close,
// ctx's end or a fatal refusal).
func (c *Client) Subscribe(ctx context.Context, opts StreamOptions) *Stream {
	opts.defaults()
	ctx, cancel := context.WithCancel(ctx)
	s := &Stream{
		c: c, opts: opts,
		out:    make(chan Update, opts.Buffer),
		ctrl:   make(chan ctrl, 64),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		last:   opts.Since,
		rooms:  append([]string(nil), opts.Rooms...),
	}
	go s.run()
	return s
}

// Updates delivers events, state changes, gaps and notices, in order.
func (s *Stream) Updates() <-chan Update { return s.out }

// LastID is the id of the last event delivered (or the Reset/Since value).
func (s *Stream) LastID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Rooms returns the rooms the stream joins on every connection.
func (s *Stream) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rooms...)
}

// Join adds a room, now and on every later connection.
func (s *Stream) Join(room string) { s.send(ctrl{op: "join", room: room}) }

// Leave drops a room.
func (s *Stream) Leave(room string) { s.send(ctrl{op: "leave", room: room}) }

// Reset continues the stream after since: call it after reloading state from
// the API (with OrderList.LastEventID), in particular after a Gap.
func (s *Stream) Reset(since int64) { s.send(ctrl{op: "reset", since: since}) }

func (s *Stream) send(c ctrl) {
	select {
	case s.ctrl <- c:
	case <-s.done:
	}
}

// Close ends the stream and waits for it to stop.
func (s *Stream) Close() {
	s.cancel()
	<-s.done
}

// Done is closed once the stream has stopped.
func (s *Stream) Done() <-chan struct{} { return s.done }

var errGap = errors.New("gap")

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

func (s *Stream) run() {
	defer close(s.done)
	defer close(s.out)
	if !s.deliver(Update{State: &State{Conn: Connecting}}) {
		return
	}
	attempt := 0
	var lostAt time.Time
	var lastErr error
	var lastCode int
	for {
		if s.paused {
			if !s.waitReset() {
				return
			}
		}
		if attempt > 0 {
			if !s.sleep(s.backoff(attempt)) {
				return
			}
			if s.paused { // a gap cannot arrive while sleeping, but keep the loop honest
				continue
			}
		}
		conn, err := s.dial()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			var fe *fatalError
			if errors.As(err, &fe) {
				s.deliver(Update{State: &State{Conn: Offline, Err: fe.err, Fatal: true, Since: s.lostOrNow(lostAt)}})
				return
			}
			if lostAt.IsZero() {
				lostAt = s.opts.Now()
			}
			attempt++
			lastErr, lastCode = err, 0
			if !s.deliver(Update{State: s.retryState(attempt, lostAt, lastErr, lastCode)}) {
				return
			}
			continue
		}
		attempt, lostAt = 0, time.Time{}
		if !s.deliver(Update{State: &State{Conn: Live, Since: s.opts.Now()}}) {
			conn.Close()
			return
		}
		err = s.serve(conn)
		if s.ctx.Err() != nil {
			return
		}
		lostAt = s.opts.Now()
		attempt = 1
		lastErr, lastCode = err, closeCode(err)
		if lastCode == 4001 {
			s.deliver(Update{State: &State{Conn: Offline, Err: err, Fatal: true, Since: lostAt, CloseCode: lastCode}})
			return
		}
		if errors.Is(err, errGap) {
			attempt = 0 // reconnect as soon as the consumer has reloaded
		}
		if !s.deliver(Update{State: s.retryState(max(attempt, 1), lostAt, lastErr, lastCode)}) {
			return
		}
	}
}

func (s *Stream) lostOrNow(t time.Time) time.Time {
	if t.IsZero() {
		return s.opts.Now()
	}
	return t
}

func (s *Stream) retryState(attempt int, lostAt time.Time, err error, code int) *State {
	st := &State{Conn: Reconnecting, Attempt: attempt, Since: lostAt, Err: err, CloseCode: code}
	if s.opts.Now().Sub(lostAt) >= s.opts.OfflineAfter {
		st.Conn = Offline
	}
	return st
}

// backoff is the delay before attempt n (n ≥ 1): MinBackoff·2^(n-1), capped,
// with jitter in [d/2, d).
func (s *Stream) backoff(n int) time.Duration {
	d := s.opts.MinBackoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}

// sleep waits d while applying control requests; false when the stream ends.
func (s *Stream) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case c := <-s.ctrl:
			s.apply(c, nil)
		case <-s.ctx.Done():
			return false
		}
	}
}

func (s *Stream) waitReset() bool {
	for s.paused {
		select {
		case c := <-s.ctrl:
			s.apply(c, nil)
		case <-s.ctx.Done():
			return false
		}
	}
	return true
}

// apply performs a control request; conn is the live connection or nil.
func (s *Stream) apply(c ctrl, conn *websocket.Conn) error {
	s.mu.Lock()
	switch c.op {
	case "join":
		found := false
		for _, r := range s.rooms {
			found = found || r == c.room
		}
		if !found {
			s.rooms = append(s.rooms, c.room)
		}
	case "leave":
		kept := s.rooms[:0]
		for _, r := range s.rooms {
			if r != c.room {
				kept = append(kept, r)
			}
		}
		s.rooms = kept
	case "reset":
		s.last = c.since
		s.paused = false
	}
	s.mu.Unlock()
	if conn == nil {
		return nil
	}
	var frame native.ClientOp
	switch c.op {
	case "join", "leave":
		frame = native.ClientOp{Op: c.op, Room: c.room}
	case "reset":
		since := c.since
		frame = native.ClientOp{Op: "resume", Since: &since}
	}
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return conn.WriteJSON(frame)
}

func (s *Stream) wsURL() string {
	u := *s.c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path = s.c.base.Path + "/ws"
	q := url.Values{}
	s.mu.Lock()
	if len(s.rooms) > 0 {
		q.Set("rooms", strings.Join(s.rooms, ","))
	}
	q.Set("since", strconv.FormatInt(s.last, 10))
	s.mu.Unlock()
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Stream) dial() (*websocket.Conn, error) {
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: s.opts.DialTimeout,
		TLSClientConfig:  s.c.tls,
	}
	h := http.Header{}
	h.Set("User-Agent", s.c.ua)
	if s.c.token != "" {
		h.Set("Authorization", "Bearer "+s.c.token)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.DialTimeout)
	defer cancel()
	conn, resp, err := d.DialContext(ctx, s.wsURL(), h)
	if err != nil {
		if resp != nil {
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			apiErr := decodeError(resp.StatusCode, raw)
			// A refusal of the request itself (bad token, forbidden room, bad
			// since) does not mend by retrying; overload and rate limits do.
			if resp.StatusCode >= 400 && resp.StatusCode < 500 &&
				resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
				return nil, &fatalError{apiErr}
			}
			return nil, apiErr
		}
		return nil, &UnreachableError{Server: s.c.base.String(), Err: err}
	}
	conn.SetReadLimit(16 << 20)
	return conn, nil
}

type frame struct {
	data []byte
	err  error
}

// serve runs one connection until it ends and returns why.
func (s *Stream) serve(conn *websocket.Conn) error {
	defer conn.Close()
	idle := s.opts.IdleTimeout
	extend := func() { conn.SetReadDeadline(time.Now().Add(idle)) }
	extend()
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error { extend(); return nil })

	frames := make(chan frame)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err == nil {
				extend()
			}
			select {
			case frames <- frame{data, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()

	ping := time.NewTicker(idle / 3)
	defer ping.Stop()
	for {
		select {
		case f := <-frames:
			if f.err != nil {
				return f.err
			}
			if err := s.handle(f.data, conn); err != nil {
				return err
			}
		case c := <-s.ctrl:
			if err := s.apply(c, conn); err != nil {
				return err
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				return err
			}
		case <-s.ctx.Done():
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			return s.ctx.Err()
		}
	}
}

func (s *Stream) handle(data []byte, conn *websocket.Conn) error {
	var f native.ServerFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil // not ours to judge; the server speaks JSON
	}
	switch f.Op {
	case "event":
		var env Envelope
		if err := json.Unmarshal(f.Payload, &env); err != nil {
			return nil
		}
		ev := &Event{Name: f.Event, Payload: env}
		s.deliverEvent(ev, conn)
	case "joined", "left":
		s.deliverOn(Update{Notice: &Notice{Op: f.Op, Room: f.Room}}, conn)
	case "error":
		if f.Code == "gap" {
			s.mu.Lock()
			since := s.last
			s.paused = true
			s.mu.Unlock()
			s.deliver(Update{Gap: &Gap{Since: since, OldestID: f.OldestID, Message: f.Message}})
			return errGap
		}
		s.deliverOn(Update{Notice: &Notice{Op: "error", Code: f.Code, Message: f.Message, Room: f.Room}}, conn)
	}
	return nil
}

// deliverEvent hands ev on unless its id is not newer than the last one
// delivered; a Reset arriving while waiting is applied first.
func (s *Stream) deliverEvent(ev *Event, conn *websocket.Conn) {
	id := ev.ID()
	for {
		s.mu.Lock()
		if id <= s.last {
			s.mu.Unlock()
			return
		}
		prev := s.last
		s.last = id // before the hand-over, so LastID never lags what the consumer has
		s.mu.Unlock()
		select {
		case s.out <- Update{Event: ev}:
			return
		case c := <-s.ctrl:
			s.mu.Lock()
			if s.last == id {
				s.last = prev // not delivered yet
			}
			s.mu.Unlock()
			s.apply(c, conn)
		case <-s.ctx.Done():
			return
		}
	}
}

// deliver hands u to the consumer; false when the stream ends first.
func (s *Stream) deliver(u Update) bool { return s.deliverOn(u, nil) }

// deliverOn is deliver while conn is live: control requests go out on it.
func (s *Stream) deliverOn(u Update, conn *websocket.Conn) bool {
	for {
		select {
		case s.out <- u:
			return true
		case c := <-s.ctrl:
			s.apply(c, conn)
		case <-s.ctx.Done():
			return false
		}
	}
}

func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// CloseText explains a close code for a status line.
func CloseText(code int) string {
	switch code {
	case 1000:
		return "closed"
	case 1001:
		return "server going away"
	case 1006:
		return "connection dropped"
	case 1008:
		return "policy violation"
	case 1013:
		return "server busy"
	case 4001:
		return "token revoked"
	case 4002:
		return "disconnected by admin"
	case 4008:
		return "slow consumer"
	}
	return fmt.Sprintf("close %d", code)
}
