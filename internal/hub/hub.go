// Package hub routes committed events to connections: rooms, once-only
// delivery, per-connection bounded queues and resume from the event log.
//
// The hub knows no wire protocol and no HTTP. Transports (native WebSocket,
// Socket.IO) register an Encoder per protocol; each event is encoded once per
// protocol at fan-out and the same bytes are queued to every receiver.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/domain"
)

// Encoder renders an event for one wire protocol, appending to dst.
type Encoder func(dst []byte, ev *domain.Event) []byte

// Protocol indexes the encoders a hub was built with.
type Protocol int

// Log is the event log as the hub reads it for replay.
type Log interface {
	// ReadEvents returns up to limit events with id > after that go to any of
	// rooms or to every connection, in id order.
	ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error)
	// Horizon is the highest id that may have been pruned: a replay from
	// since < Horizon could miss events.
	Horizon(ctx context.Context) (int64, error)
}

// Defaults of the bounds posd serve has flags for.
const (
	// DefaultMaxConnections is the socket cap when none is set.
	DefaultMaxConnections = 50_000
	// DefaultMaxQueueMessages and DefaultMaxQueueBytes bound one
	// connection's queue before it is closed as a slow consumer.
	DefaultMaxQueueMessages = 4096
	DefaultMaxQueueBytes    = 4 << 20
	DefaultMaxRoomsPerConn  = 64
)

// Options bound what one connection and the whole hub may hold.
type Options struct {
	MaxQueueMessages int // per connection; over it the connection is a slow consumer
	MaxQueueBytes    int // per connection, counting queued payload bytes
	MaxRoomsPerConn  int
	MaxConnections   int
	ReplayPageSize   int
	Encoders         []Encoder // by Protocol
	Metrics          Metrics
	// Follow is the log to follow (nil: deliver only what Publish hands
	// over); PollInterval is how often it is read even when nobody said it
	// grew (default 1 s), so a lost wake-up costs latency, never an event.
	Follow       CommittedLog
	PollInterval time.Duration
	// Advanced, when set, is told the id of the newest event handed to
	// connections each time it moves on, from the run goroutine: it must
	// not block. Webhook workers wake on it rather than poll the log.
	Advanced func(last int64)
}

func (o *Options) defaults() {
	if o.MaxQueueMessages <= 0 {
		o.MaxQueueMessages = DefaultMaxQueueMessages
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if o.MaxRoomsPerConn <= 0 {
		o.MaxRoomsPerConn = DefaultMaxRoomsPerConn
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.ReplayPageSize <= 0 {
		o.ReplayPageSize = 500
	}
	if o.Metrics == nil {
		o.Metrics = nopMetrics{}
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
}

// Metrics receives the hub's counters; the server wires Prometheus in.
type Metrics interface {
	Delivered(n int)
	SlowConsumerClosed()
	EventPublished(name string)
	Joined()
}

type nopMetrics struct{}

func (nopMetrics) Delivered(int)         {}
func (nopMetrics) SlowConsumerClosed()   {}
func (nopMetrics) EventPublished(string) {}
func (nopMetrics) Joined()               {}

// Errors a transport turns into a refusal.
var (
	ErrTooManyConnections = errors.New("too many connections")
	ErrTooManyRooms       = errors.New("too many rooms on this connection")
	ErrClosed             = errors.New("connection closed")
)

// Hub is safe for concurrent use. Membership is owned by mu; delivery order is
// owned by the single run goroutine that drains the inbox.
type Hub struct {
	opts Options
	log  Log
	lg   *slog.Logger

	mu      sync.RWMutex
	clients map[*Client]struct{}
	rooms   map[string]map[*Client]struct{}

	inboxMu sync.Mutex
	inbox   []domain.Event
	wake    chan struct{}

	remote    atomic.Bool            // the log may hold commits Publish did not hand over
	follow    *follower              // owned by the run goroutine; nil without Options.Follow
	published atomic.Int64           // id of the last event fanned out
	targets   []*Client              // reused by fanout
	seen      []map[*Client]struct{} // reused by fanout
	done      chan struct{}
}

// New builds a hub; call Run to start delivering.
func New(opts Options, log Log, lg *slog.Logger) *Hub {
	opts.defaults()
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	var f *follower
	if opts.Follow != nil {
		f = &follower{log: opts.Follow}
	}
	return &Hub{
		follow:  f,
		opts:    opts,
		log:     log,
		lg:      lg,
		clients: make(map[*Client]struct{}),
		rooms:   make(map[string]map[*Client]struct{}),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
}

// Publish hands committed events to the hub. It never blocks on connections;
// callers must publish in commit (id) order, which the store guarantees by
// publishing under its writer lock.
func (h *Hub) Publish(events []domain.Event) {
	if len(events) == 0 {
		return
	}
	h.inboxMu.Lock()
	h.inbox = append(h.inbox, events...)
	h.inboxMu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run delivers events until ctx ends, then closes every connection with
// GoingAway. It owns the delivery order: local commits from Publish and,
// when following a log, other processes' commits read from it, each id
// once and in id order.
func (h *Hub) Run(ctx context.Context) {
	defer close(h.done)
	var poll <-chan time.Time
	var retry *time.Timer
	if f := h.follow; f != nil {
		head, err := f.log.LastEventID(ctx)
		if err != nil {
			h.lg.Error("reading the event log's head; following from the start of what it holds", "err", err)
		}
		f.cursor = head
		h.published.Store(head)
		if h.opts.Advanced != nil {
			h.opts.Advanced(head)
		}
		t := time.NewTicker(h.opts.PollInterval)
		defer t.Stop()
		poll = t.C
		retry = time.NewTimer(time.Hour)
		retry.Stop()
		defer retry.Stop()
	}
	var retryC <-chan time.Time
	if retry != nil {
		retryC = retry.C
	}
	var batch []domain.Event
	for {
		select {
		case <-ctx.Done():
			h.closeAll(GoingAway)
			return
		case <-h.wake:
		case <-poll:
			h.remote.Store(true)
		case <-retryC:
			h.remote.Store(true)
		}
		h.inboxMu.Lock()
		batch, h.inbox = h.inbox, batch[:0]
		h.inboxMu.Unlock()
		before := h.published.Load()
		again := h.accept(ctx, batch)
		clear(batch)
		if h.follow != nil && h.remote.Swap(false) {
			again = h.catchUp(ctx, 0) || again
		}
		if last := h.published.Load(); last != before && h.opts.Advanced != nil {
			h.opts.Advanced(last)
		}
		if again {
			d := holeRetry
			if h.follow.readFailed {
				d, h.follow.readFailed = h.opts.PollInterval, false
			}
			retry.Reset(d)
		}
	}
}

// Done is closed when Run has returned.
func (h *Hub) Done() <-chan struct{} { return h.done }

// LastPublished is the id of the newest event handed to connections.
func (h *Hub) LastPublished() int64 { return h.published.Load() }

func (h *Hub) fanout(ev *domain.Event) {
	msg := &Message{ID: ev.ID, frames: make([][]byte, len(h.opts.Encoders))}
	for p, enc := range h.opts.Encoders {
		msg.frames[p] = enc(nil, ev)
	}
	h.opts.Metrics.EventPublished(ev.Name)
	// Collect the receivers under the membership lock, deliver outside it:
	// a delivery may write to a socket (Conn.TryWrite), and nothing waits
	// on a socket while holding the rooms.
	targets := h.targets[:0]
	h.mu.RLock()
	if slices.Contains(ev.Rooms, domain.RoomAll) {
		for c := range h.clients {
			targets = append(targets, c)
		}
	} else {
		// A client in several of the event's rooms gets it once. The check
		// looks in the earlier rooms' sets rather than at the client, whose
		// memory the delivery below then touches for the first time: with
		// thousands of clients, each touch is a cache miss.
		seen := h.seen[:0]
		for _, room := range ev.Rooms {
			members := h.rooms[room]
		member:
			for c := range members {
				for _, earlier := range seen {
					if _, dup := earlier[c]; dup {
						continue member
					}
				}
				targets = append(targets, c)
			}
			seen = append(seen, members)
		}
		clear(seen)
		h.seen = seen[:0]
	}
	h.mu.RUnlock()
	delivered := 0
	for i, c := range targets {
		switch c.enqueue(msg) {
		case pushed:
			delivered++
		case overflow:
			h.opts.Metrics.SlowConsumerClosed()
			h.lg.Warn("closing slow consumer", "queue_limit", h.opts.MaxQueueMessages)
			c.Close(SlowConsumer)
		}
		targets[i] = nil
	}
	h.targets = targets[:0]
	h.published.Store(ev.ID)
	h.opts.Metrics.Delivered(delivered)
}

// Register adds c with its first rooms, and writes head (the transport's
// greeting, or nil) before anything else: before the first replayed event,
// before any live one. since >= 0 asks for a replay of every event after
// since in those rooms before live delivery; the hand-over is gap-free
// because c receives live events from this moment on and the replay skips
// nothing that the log holds.
func (h *Hub) Register(c *Client, rooms []string, since int64, head []byte) error {
	if len(rooms) > h.opts.MaxRoomsPerConn {
		return ErrTooManyRooms
	}
	c.hub = h
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.clients) >= h.opts.MaxConnections {
		return ErrTooManyConnections
	}
	h.clients[c] = struct{}{}
	for _, r := range rooms {
		h.joinLocked(c, r)
	}
	if since >= 0 {
		c.startReplay(since, head)
	} else if head != nil {
		c.push(item{data: head}) // under h.mu: no event can reach c before it
	}
	return nil
}

// unregister removes c from every room (Client.Close calls it). It is
// idempotent.
func (h *Hub) unregister(c *Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	for r := range c.rooms {
		h.leaveLocked(c, r)
	}
}

// Join adds c to room. Joining a room twice is not an error.
func (h *Hub) Join(c *Client, room string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return ErrClosed
	}
	if _, ok := c.rooms[room]; ok {
		return nil
	}
	if len(c.rooms) >= h.opts.MaxRoomsPerConn {
		return ErrTooManyRooms
	}
	h.joinLocked(c, room)
	return nil
}

// Leave removes c from room.
func (h *Hub) Leave(c *Client, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := c.rooms[room]; ok {
		h.leaveLocked(c, room)
	}
}

func (h *Hub) joinLocked(c *Client, room string) {
	if c.rooms == nil {
		c.rooms = make(map[string]struct{}, 2)
	}
	if _, ok := c.rooms[room]; ok {
		return
	}
	c.rooms[room] = struct{}{}
	h.opts.Metrics.Joined()
	set := h.rooms[room]
	if set == nil {
		set = make(map[*Client]struct{})
		h.rooms[room] = set
	}
	set[c] = struct{}{}
}

func (h *Hub) leaveLocked(c *Client, room string) {
	delete(c.rooms, room)
	if set := h.rooms[room]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.rooms, room)
		}
	}
}

// Rooms returns c's rooms.
func (h *Hub) Rooms(c *Client) []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	return out
}

// Active is the number of registered connections.
func (h *Hub) Active() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// RoomSizes returns the number of connections in every non-empty room.
func (h *Hub) RoomSizes() map[string]int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make(map[string]int, len(h.rooms))
	for r, set := range h.rooms {
		out[r] = len(set)
	}
	return out
}

// QueueDepth reports the frames waiting in all queues and in the fullest
// one. It visits every connection: for scrapes, not hot paths.
func (h *Hub) QueueDepth() (total, max int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		n := c.queued()
		total += n
		if n > max {
			max = n
		}
	}
	return total, max
}

// DisconnectRoom closes every connection in room and reports how many.
func (h *Hub) DisconnectRoom(room string) int {
	h.mu.RLock()
	victims := make([]*Client, 0, len(h.rooms[room]))
	for c := range h.rooms[room] {
		victims = append(victims, c)
	}
	h.mu.RUnlock()
	for _, c := range victims {
		c.Close(Kicked)
	}
	return len(victims)
}

// CloseWhere closes every connection for which match is true (used to cut
// the connections of a revoked token) and reports how many.
func (h *Hub) CloseWhere(match func(*Client) bool, reason CloseReason) int {
	h.mu.RLock()
	var victims []*Client
	for c := range h.clients {
		if match(c) {
			victims = append(victims, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range victims {
		c.Close(reason)
	}
	return len(victims)
}

// closeAll closes every connection with reason.
func (h *Hub) closeAll(reason CloseReason) {
	h.CloseWhere(func(*Client) bool { return true }, reason)
}

// RoomHorizonLog is a Log that records retention's horizon per room (the
// store does): a connection whose rooms kept their events (keep-per-room)
// can then resume from below the global horizon.
type RoomHorizonLog interface {
	// HorizonFor is the highest pruned id among events addressed to any of
	// rooms or to every connection; rooms nil means all events.
	HorizonFor(ctx context.Context, rooms []string) (int64, error)
}

// horizon is the log's horizon for a connection in rooms (nil: all).
func (h *Hub) horizon(ctx context.Context, rooms []string) (int64, error) {
	if rl, ok := h.log.(RoomHorizonLog); ok && rooms != nil {
		return rl.HorizonFor(ctx, rooms)
	}
	return h.log.Horizon(ctx)
}

// CheckSinceRooms reports whether a replay from since is complete for a
// connection in rooms (nil: every room): it returns a *TooOldError naming
// the oldest id still available when it is not. Only what retention deleted
// from those rooms (and from events to everyone) counts.
func (h *Hub) CheckSinceRooms(ctx context.Context, since int64, rooms []string) error {
	if since < 0 {
		return nil
	}
	horizon, err := h.horizon(ctx, rooms)
	if err != nil {
		return err
	}
	if since < horizon {
		return &TooOldError{Since: since, Oldest: horizon + 1}
	}
	// A since beyond the newest event means the log is not the one the
	// client read (a database restored from a backup, or one that lost its
	// last commits to a power cut): replaying "after since" would silently
	// skip every event until the ids catch up.
	if hl, ok := h.log.(headLog); ok && since > 0 {
		head, err := hl.LastEventID(ctx)
		if err != nil {
			return err
		}
		if since > head {
			return &TooOldError{Since: since, Oldest: horizon + 1, Ahead: true, Head: head}
		}
	}
	return nil
}

// headLog is a Log that knows its newest id (the store does).
type headLog interface {
	LastEventID(ctx context.Context) (int64, error)
}

// TooOldError says a replay from Since cannot be complete: the log was
// pruned past Since, or (Ahead) it does not reach Since at all.
type TooOldError struct {
	Since, Oldest int64
	Ahead         bool
	Head          int64 // the log's newest id, when Ahead
}

func (e *TooOldError) Error() string {
	if e.Ahead {
		return "event " + itoa(e.Since) + " is newer than the log's newest (" + itoa(e.Head) + "): the server's log was reset or restored; reload state and resume from its last id"
	}
	return "events after " + itoa(e.Since) + " are no longer all in the log; oldest available id is " + itoa(e.Oldest) + ": reload state and resume from its last id"
}
