package hub

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// CloseReason is why the hub ended a connection; transports map it onto their
// close frames (WebSocket close code and text, Socket.IO disconnect).
type CloseReason struct {
	Code int
	Text string
}

// Close reasons. Codes 4000–4999 are the WebSocket private range; the README
// documents each.
var (
	GoingAway       = CloseReason{1001, "going away"}
	PolicyViolation = CloseReason{1008, "policy violation"}
	TryAgainLater   = CloseReason{1013, "too many connections"}
	SlowConsumer    = CloseReason{4008, "slow consumer"}
	ReplayGap       = CloseReason{4009, "events were pruned: reload state"}
	Kicked          = CloseReason{4002, "disconnected by admin"}
	Revoked         = CloseReason{4001, "token revoked"}
)

// Message is one event encoded for every protocol; all receivers share it.
type Message struct {
	ID     int64
	frames [][]byte
}

type item struct {
	id   int64 // 0: a control frame for this connection only
	data []byte
}

// Client is the hub's side of one connection. The hub's run goroutine and
// the transport's reader produce frames; the transport's writer consumes
// them, started by Conn.Wake only while there is something to write, and
// the fan-out itself writes a live event to an idle socket (Conn.TryWrite).
type Client struct {
	// The fields every delivery reads come first (the first 112 bytes), so
	// that a fan-out to thousands of clients, whose system calls evict them
	// from the cache between two events, brings in as few cache lines per
	// client as it can.
	hub       *Hub
	proto     Protocol
	conn      Conn
	mu        sync.Mutex
	closed    bool
	writing   bool // the writer slot is taken: a direct write, or a writer woken and not yet idle
	replaying bool
	lagged    bool  // live events were dropped during replay: read them from the log
	lastID    int64 // newest event id handed to the writer
	bytes     int
	queue     []item
	head      []byte // written before the replay's first event (a resume ack)

	tag   any                 // the transport's own data (e.g. the principal), for CloseWhere
	rooms map[string]struct{} // owned by hub.mu

	epoch     uint64 // counts replays started: a page read for an older one is stale
	reason    CloseReason
	closeOnce sync.Once
}

// Conn is what the hub asks of a client's transport: the one owner of the
// connection's writes. Wake and TryWrite are called without the client's
// lock held.
type Conn interface {
	// Wake starts the transport's writer: frames, a replay or a close
	// arrived and no writer runs. The writer drains with Poll and ends
	// when Idle says so; an idle connection holds no writer goroutine.
	Wake()
	// TryWrite writes a live event straight to the socket from the
	// fan-out when nothing else waits: no queue, no goroutine wake-up, one
	// system call. It must never block. took reports that the transport
	// owns the frame now (written, or its unwritten rest kept to go out
	// before anything else); false means nothing was written and the hub
	// queues it for the writer. An error means the peer is gone.
	TryWrite(frame []byte) (took bool, err error)
	// GapFrame renders the error a client gets when its replay finds the
	// log pruned past its cursor; the client then continues live only. A
	// nil frame closes the connection with ReplayGap instead.
	GapFrame(*TooOldError) []byte
}

// NewClient makes a client speaking proto over conn; tag is the
// transport's own data, for Tag. Register it with Hub.Register.
func NewClient(proto Protocol, conn Conn, tag any) *Client {
	return &Client{proto: proto, conn: conn, tag: tag}
}

// Tag is the data the transport gave NewClient.
func (c *Client) Tag() any { return c.tag }

// Reason is why the client was closed (zero while open).
func (c *Client) Reason() CloseReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Send queues a frame for this connection alone (acks, errors, joined).
// It reports false when the client is closed or overflowing.
func (c *Client) Send(data []byte) bool {
	switch c.push(item{data: data}) {
	case pushed:
		return true
	case overflow:
		c.hub.opts.Metrics.SlowConsumerClosed()
		c.Close(SlowConsumer)
	}
	return false
}

type pushResult int

const (
	pushed pushResult = iota
	dropped
	overflow // the caller must close c as a slow consumer, outside hub.mu
)

func (c *Client) enqueue(m *Message) pushResult {
	return c.push(item{id: m.ID, data: m.frames[c.proto]})
}

func (c *Client) push(it item) pushResult {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return dropped
	}
	opts := &c.hub.opts
	if len(c.queue) >= opts.MaxQueueMessages || c.bytes+len(it.data) > opts.MaxQueueBytes {
		if c.replaying && it.id != 0 {
			// The writer is still reading the log; whatever we drop now is in
			// the log too, so it reads on instead of losing anything.
			c.dropEventsLocked()
			c.lagged = true
			c.mu.Unlock()
			return pushed
		}
		c.mu.Unlock()
		return overflow
	}
	if it.id != 0 && !c.writing && !c.replaying && len(c.queue) == 0 && c.head == nil {
		if it.id <= c.lastID {
			// A replay from the log already wrote it (the log is read
			// before the hub fans a commit out): never twice.
			c.mu.Unlock()
			return pushed
		}
		return c.writeDirect(it) // unlocks
	}
	c.queue = append(c.queue, it)
	c.bytes += len(it.data)
	start := c.wakeLocked()
	c.mu.Unlock()
	c.kick(start)
	return pushed
}

// writeDirect writes it to the socket now; c.mu is held on entry and
// released. It claims the writer slot for the duration of the system call
// (so every later frame queues behind it, in order), writes without holding
// the lock, then wakes a writer if anything arrived meanwhile.
func (c *Client) writeDirect(it item) pushResult {
	c.writing = true
	prev := c.lastID
	c.lastID = it.id
	c.mu.Unlock()
	took, err := c.conn.TryWrite(it.data)
	c.mu.Lock()
	if err != nil {
		c.writing = false
		c.mu.Unlock()
		c.Close(GoingAway) // the peer is gone; the writer sends what close it can
		return pushed
	}
	if !took {
		// Nothing went out: the event is queued like any other, first (what
		// queued meanwhile is newer), and keeps its id, so a resume that
		// came meanwhile replays it instead of sending it twice.
		if c.lastID == it.id {
			c.lastID = prev
		}
		if !c.replaying {
			c.queue = append(c.queue, item{})
			copy(c.queue[1:], c.queue)
			c.queue[0] = it
			c.bytes += len(it.data)
		}
		c.mu.Unlock()
		c.conn.Wake() // the slot is still ours: pass it on
		return pushed
	}
	c.writing = false
	start := false
	if len(c.queue) > 0 || c.closed || c.replaying {
		start = c.wakeLocked()
	}
	c.mu.Unlock()
	c.kick(start)
	return pushed
}

// wakeLocked claims the writer slot; kick then wakes the writer.
func (c *Client) wakeLocked() bool {
	if c.writing {
		return false
	}
	c.writing = true
	return true
}

func (c *Client) kick(start bool) {
	if start {
		c.conn.Wake()
	}
}

// Idle ends a writer: it reports true, and releases the writer slot, when
// there is nothing left to write; the next frame wakes a new writer. It
// reports false while the writer must call Poll again.
func (c *Client) Idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.queue) > 0 || c.replaying || c.head != nil {
		return false
	}
	c.writing = false
	return true
}

func (c *Client) dropEventsLocked() {
	kept := c.queue[:0]
	c.bytes = 0
	for _, it := range c.queue {
		if it.id == 0 {
			kept = append(kept, it)
			c.bytes += len(it.data)
		}
	}
	clear(c.queue[len(kept):])
	c.queue = kept
}

// CloseSlow closes c as a slow consumer for its transport (a write that timed
// out) and counts it like a queue overflow.
func (c *Client) CloseSlow() {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if !closed && c.hub != nil {
		c.hub.opts.Metrics.SlowConsumerClosed()
	}
	c.Close(SlowConsumer)
}

// Close ends the client with reason; the transport's Poll returns ErrClosed
// and it then closes the socket. The first reason wins.
func (c *Client) Close(reason CloseReason) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.reason = reason
		clear(c.queue)
		c.queue = c.queue[:0]
		c.bytes = 0
		start := c.wakeLocked() // the writer sends the close frame
		c.mu.Unlock()
		c.kick(start)
		if c.hub != nil {
			c.hub.unregister(c)
		}
	})
}

func (c *Client) startReplay(since int64, head []byte) {
	c.mu.Lock()
	c.replaying = true
	c.head = head
	c.lagged = false
	c.lastID = since
	c.epoch++
	c.dropEventsLocked()
	start := c.wakeLocked()
	c.mu.Unlock()
	c.kick(start)
}

// Resume replays every event after since in c's rooms, then continues
// live, and writes head (the transport's acknowledgement) before the first
// replayed event. Frames written before head may still carry
// events of the old cursor; every event after head has id > since, in order,
// once. That is the boundary a client needs to resume a live connection
// without seeing an event twice.
func (c *Client) Resume(since int64, head []byte) { c.startReplay(since, head) }

func (c *Client) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Poll appends whatever is ready to write, in order, without waiting for
// live events (it does read the log while replaying): replayed events from
// the log first, then live ones, never an event id twice or out of order.
// It returns ErrClosed once the client is closed.
func (c *Client) Poll(ctx context.Context, dst [][]byte) ([][]byte, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return dst, ErrClosed
		}
		if c.replaying {
			if c.head != nil {
				dst = append(dst, c.head)
				c.head = nil
			}
			after, epoch := c.lastID, c.epoch
			c.mu.Unlock()
			n := len(dst)
			var err error
			var moved bool
			dst, moved, err = c.replayPage(ctx, after, epoch, dst)
			if errors.Is(err, errReplayGap) {
				c.Close(ReplayGap)
				return dst, ErrClosed
			}
			if err != nil || len(dst) > n {
				return dst, err
			}
			if moved {
				continue
			}
			c.mu.Lock()
			if c.lagged {
				c.lagged = false
				c.mu.Unlock()
				continue
			}
			// Caught up with the log: from here on the queue holds every
			// newer event (skip-by-id drops what the log already gave us).
			c.replaying = false
		}
		for i := range c.queue {
			it := c.queue[i]
			if it.id != 0 {
				if it.id <= c.lastID {
					continue
				}
				c.lastID = it.id
			}
			dst = append(dst, it.data)
		}
		clear(c.queue)
		c.queue = c.queue[:0]
		c.bytes = 0
		c.mu.Unlock()
		return dst, nil
	}
}

// replayPage reads one page of the log after the cursor. moved reports that
// a Resume came meanwhile, so the page was discarded (even when it asked for
// the same cursor: its head must be written before the page).
func (c *Client) replayPage(ctx context.Context, after int64, epoch uint64, dst [][]byte) (_ [][]byte, moved bool, err error) {
	h := c.hub
	rooms := h.Rooms(c)
	events, err := h.log.ReadEvents(ctx, after, rooms, h.opts.ReplayPageSize)
	if err != nil {
		return dst, false, err
	}
	// Retention may have pruned past the cursor after CheckSince said yes
	// (or between two pages): read after the page, the horizon tells.
	horizon, err := h.horizon(ctx, rooms)
	if err != nil {
		return dst, false, err
	}
	enc := h.opts.Encoders[c.proto]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return dst, false, ErrClosed
	}
	if c.epoch != epoch {
		return dst, true, nil
	}
	if after < horizon {
		gap := &TooOldError{Since: after, Oldest: horizon + 1}
		// Never a silent gap: tell the client, then carry on live only.
		// Live only from here, as for a connection that asked too late:
		// the client reloads its state, which holds what was published.
		c.replaying = false
		c.lagged = false
		c.lastID = max(after, h.LastPublished())
		f := c.conn.GapFrame(gap)
		if f == nil {
			return dst, false, errReplayGap
		}
		return append(dst, f), false, nil
	}
	if len(events) == 0 {
		return dst, false, nil
	}
	for i := range events {
		dst = append(dst, enc(nil, &events[i]))
	}
	c.lastID = events[len(events)-1].ID
	h.opts.Metrics.Delivered(len(events))
	return dst, false, nil
}

var errReplayGap = errors.New("replay gap")

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
