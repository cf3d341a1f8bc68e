// Package wsconn owns the server side of one WebSocket after the upgrade,
// for both socket protocols (native /ws and Socket.IO's WebSocket
// transport): when the socket may be written and by whom, write
// deadlines, pings and the read deadline they keep pushing out, the
// answers to the peer's pings, the close frame, and the reader that hands
// the protocol its messages.
//
// One writer at a time: a writer goroutine that runs only while there is
// something to write, or the hub's fan-out writing a live event straight
// to an idle socket (TryWrite). The protocols differ only in what they
// write (a Source) and what they make of what they read (a Handler).
package wsconn

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsframe"
)

// Config is what a protocol's connections share; a Conn keeps a pointer to
// it, so build it once per endpoint.
type Config struct {
	// WriteTimeout bounds every blocking write, the close frame included.
	WriteTimeout time.Duration
	// Text wraps each payload in a text frame (Socket.IO writes Engine.IO
	// packets, which its polling transport sends unframed). Without it the
	// payloads are whole frames already (native's encoder frames them).
	Text bool
	// ReadLimit bounds one message from the peer.
	ReadLimit int64
	// PingInterval, when set, pings the peer that often, and a peer that
	// sends nothing (a pong at least) for PingInterval + PongTimeout is
	// dropped. Zero leaves the heartbeat to the protocol.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// SendBuffer caps the kernel's send buffer of each socket, so that the
	// hub's bounded queue, not the kernel, absorbs a slow reader (and is
	// caught in time). Zero or negative: the kernel's autotuning.
	SendBuffer int
	// Gap renders the hub's replay-gap error (hub.Conn.GapFrame); nil
	// closes such a connection with hub.ReplayGap.
	Gap func(*hub.TooOldError) []byte
	// Group counts every goroutine a Conn runs (reader, writer), so that
	// the endpoint's shutdown can wait for them.
	Group *sync.WaitGroup
}

// Source is what a Conn writes: the protocol's frames, in order.
type Source interface {
	// Pull appends what is ready to write to dst. done reports that the
	// connection is over: once dst is written, the Conn sends a close
	// frame with reason and closes the socket.
	Pull(dst [][]byte) (_ [][]byte, done bool, reason hub.CloseReason)
	// Idle reports that nothing is left to write and that the next frame
	// will Wake the Conn (hub.Client.Idle); false makes the writer Pull
	// again.
	Idle() bool
	// WriteFailed ends the connection after a write failed (a timeout: the
	// peer stopped reading). The Conn closes the socket without a close
	// frame, which could land inside a frame cut short.
	WriteFailed(err error)
}

// Handler is what the protocol makes of what the peer sends. Its calls
// come from the connection's reader, one at a time.
type Handler interface {
	// Message handles one text or binary message; false ends reading.
	Message(op byte, payload []byte) bool
	// ReadEnded is told that reading has ended, and the protocol ends the
	// connection: err is wsframe.ErrTooLarge or wsframe.ErrProtocol when
	// the peer broke the read limit or RFC 6455; otherwise the peer sent
	// a close frame, went quiet or away, or Message said stop.
	ReadEnded(err error)
}

// Conn is one WebSocket's server side. It implements hub.Conn: a hub
// client's writer is the Conn's.
type Conn struct {
	// What a direct write reads comes first and together: a fan-out to
	// thousands of sockets finds each one's Conn out of the cache, and
	// every cache line it touches per delivery costs.
	mu      sync.Mutex
	started bool
	writing bool // the writer slot: a writer goroutine runs, or a direct write
	again   bool // something arrived while the slot was taken: look again
	closed  bool // the socket is closed or closing: nothing more goes out
	pingDue bool // a keepalive ping is due
	fd      int  // for TryWrite; -1: every frame goes through the writer (TLS)
	cfg     *Config
	partial []byte // the rest of a frame a direct write began: it goes out first
	pong    []byte // the answer to the peer's latest ping
	// readerGone: the reader has returned. lingering is made by a close
	// that waits for that (so the peer reads our close frame rather than
	// a reset), and closed by the reader; an open connection holds none.
	readerGone bool
	lingering  chan struct{}

	nc      net.Conn
	r       *wsframe.Reader
	src     Source
	h       Handler
	ping    *time.Timer
	readErr error // the reader's, for ReadEnded
}

var _ hub.Conn = (*Conn)(nil)

// New takes over nc after the upgrade. Until Start, the owner may run a
// handshake on it (ReadText, WriteText) and nothing else writes to it.
func New(nc net.Conn, cfg *Config) *Conn {
	if cfg.SendBuffer > 0 {
		if tc := edge.TCP(nc); tc != nil {
			_ = tc.SetWriteBuffer(cfg.SendBuffer)
		}
	}
	return &Conn{nc: nc, cfg: cfg, fd: socketFD(nc), r: wsframe.NewReader(nc, cfg.ReadLimit)}
}

// Start hands the connection to src and h: the reader runs from now on,
// and the writer whenever there is something to write (a Wake that came
// before Start starts it now). The caller's goroutine must be counted in
// Config.Group.
func (c *Conn) Start(src Source, h Handler) {
	c.src, c.h = src, h
	c.mu.Lock()
	c.started = true
	start := c.again && !c.closed
	if start {
		c.again = false
		c.writing = true
	}
	if c.cfg.PingInterval > 0 && !c.closed {
		c.ping = time.AfterFunc(c.cfg.PingInterval, c.keepalive)
	}
	c.mu.Unlock()
	if c.cfg.PingInterval > 0 {
		c.extend()
	} else {
		_ = c.nc.SetReadDeadline(time.Time{}) // a handshake's deadline ends with it
	}
	c.cfg.Group.Add(1)
	go c.read()
	if start {
		c.spawn()
	}
}

// Wake starts the writer, or makes a running one look again: the Source
// has something new. It is hub.Conn's, and the protocol's own.
func (c *Conn) Wake() {
	c.mu.Lock()
	start := c.claimLocked()
	c.mu.Unlock()
	if start {
		c.spawn()
	}
}

// claimLocked takes the writer slot, or flags its holder to look again;
// true means the caller starts a writer.
func (c *Conn) claimLocked() bool {
	switch {
	case c.closed:
		return false
	case !c.started || c.writing:
		c.again = true
		return false
	}
	c.writing = true
	return true
}

func (c *Conn) spawn() {
	c.cfg.Group.Add(1)
	go c.write()
}

// TryWrite is hub.Conn's direct write: when no writer runs and nothing
// waits, one non-blocking send(2) from the fan-out's goroutine. What the
// socket does not take of the frame is kept, to go out before anything
// else, and a writer is started for it.
func (c *Conn) TryWrite(frame []byte) (bool, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false, net.ErrClosed
	}
	if c.writing || !c.started || c.fd < 0 {
		c.mu.Unlock()
		return false, nil
	}
	// Held across the system call: closeSocket waits for it, so the
	// descriptor number cannot have gone to another connection meanwhile.
	var bp *[]byte
	b := frame
	if c.cfg.Text {
		bp = framePool.Get().(*[]byte)
		b = wsframe.AppendText((*bp)[:0], frame)
	}
	n, err := sendNow(c.fd, b)
	took := err == nil && n > 0
	start := took && n < len(b)
	if start {
		if bp != nil {
			c.partial = append([]byte(nil), b[n:]...)
		} else {
			c.partial = b[n:] // the hub's frames are shared and never change
		}
		c.writing = true
	}
	c.mu.Unlock()
	if bp != nil && cap(b) <= 64<<10 {
		*bp = b[:0]
		framePool.Put(bp)
	}
	if start {
		c.spawn()
	}
	return took, err
}

// framePool holds the buffers a direct write frames a text payload in.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// GapFrame is hub.Conn's, rendered by Config.Gap.
func (c *Conn) GapFrame(g *hub.TooOldError) []byte {
	if c.cfg.Gap == nil {
		return nil
	}
	return c.cfg.Gap(g)
}

// Close closes the socket now, without a close frame: for a connection
// given up before or during its handshake. Once started, a connection ends
// through its Source (done) and its close frame.
func (c *Conn) Close() { c.closeSocket() }

// Reject refuses a connection before Start: a close frame with reason,
// then the socket is closed.
func (c *Conn) Reject(reason hub.CloseReason) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.nc.Write(closeFrame(reason))
	c.closeSocket()
}

// ReadText waits, until deadline, for the peer's next text message, for a
// handshake before Start (Socket.IO's upgrade probe). It answers pings on
// the way, skips pongs and fails on any other frame.
func (c *Conn) ReadText(deadline time.Time) (string, error) {
	_ = c.nc.SetReadDeadline(deadline)
	for {
		op, p, err := c.r.Next()
		switch {
		case err == wsframe.ErrWait:
			if err := c.r.WaitReadable(); err != nil {
				return "", err
			}
			continue
		case err != nil:
			return "", err
		}
		switch op {
		case wsframe.OpText:
			return string(p), nil
		case wsframe.OpPing:
			// Nothing else writes before Start.
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			_, _ = c.nc.Write(wsframe.AppendControl(nil, wsframe.OpPong, p))
		case wsframe.OpPong:
		default:
			return "", errors.New("websocket: not a text message")
		}
	}
}

// WriteText writes payloads as text frames, for a handshake before Start.
func (c *Conn) WriteText(payloads ...[]byte) error {
	var b []byte
	for _, p := range payloads {
		b = wsframe.AppendText(b, p)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// closeSocket closes the socket once no direct write is in flight, and
// refuses every later one.
func (c *Conn) closeSocket() {
	c.mu.Lock()
	c.closed = true
	if c.ping != nil {
		c.ping.Stop()
	}
	c.mu.Unlock()
	_ = c.nc.Close()
}

// keepalive is the ping timer's: the ping goes out through the writer,
// like any frame, so the socket keeps a single writer.
func (c *Conn) keepalive() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.pingDue = true
	start := c.claimLocked()
	c.ping.Reset(c.cfg.PingInterval)
	c.mu.Unlock()
	if start {
		c.spawn()
	}
}

// queuePong hands the answer to a ping to the writer: only the holder of
// the writer slot writes, and a pong written by the reader could land
// inside a frame a direct write began. Only the latest ping needs an
// answer (RFC 6455 §5.5.3), so a peer that pings without reading holds one
// pong here, not a growing pile.
func (c *Conn) queuePong(payload []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.pong = wsframe.AppendControl(nil, wsframe.OpPong, payload)
	start := c.claimLocked()
	c.mu.Unlock()
	if start {
		c.spawn()
	}
}

// extend pushes the read deadline out: with keepalive on, the peer must
// send something (a pong at least) within a ping interval plus the pong
// timeout.
func (c *Conn) extend() {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.cfg.PingInterval + c.cfg.PongTimeout))
}

// read is the connection's reader goroutine. Between messages it parks,
// shallow and holding no buffer (wsframe.Reader.Serve), so thousands of
// idle connections cost little; the work happens in readAvailable.
func (c *Conn) read() {
	defer c.cfg.Group.Done()
	c.r.Serve(c.readAvailable)
	c.mu.Lock()
	c.readerGone = true
	if c.lingering != nil {
		close(c.lingering)
	}
	c.mu.Unlock()
	c.h.ReadEnded(c.readErr)
}

// readAvailable handles every complete message the socket has; false ends
// reading.
func (c *Conn) readAvailable() bool {
	for {
		op, data, err := c.r.Next()
		switch {
		case err == wsframe.ErrWait:
			return true
		case err != nil:
			c.readErr = err
			return false
		}
		if c.cfg.PingInterval > 0 {
			c.extend()
		}
		switch op {
		case wsframe.OpClose:
			return false // the writer answers with the protocol's close frame
		case wsframe.OpPing:
			c.queuePong(data)
		case wsframe.OpPong:
		default:
			if !c.h.Message(op, data) {
				return false
			}
		}
	}
}

var pingFrame = []byte{0x80 | wsframe.OpPing, 0} // no payload

// scratch is a writer's reusable slices; writers come and go with traffic,
// so they borrow these rather than allocate them each time (or keep them
// on every idle connection).
type scratch struct {
	frames [][]byte
	bufs   net.Buffers
	hdrs   []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// write is the connection's only writer while it runs: what the Source has
// (coalesced with any pending control frame into one writev), until the
// Source is idle, then it ends; Wake starts it again when more arrives.
// When the Source is done it writes the close frame and closes the socket.
func (c *Conn) write() {
	defer c.cfg.Group.Done()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	for {
		c.mu.Lock()
		c.again = false
		partial, pong, ping := c.partial, c.pong, c.pingDue
		c.partial, c.pong, c.pingDue = nil, nil, false
		c.mu.Unlock()

		frames, done, reason := c.src.Pull(sc.frames[:0])
		sc.frames = frames
		// The rest of a partly written frame first: nothing may come
		// between its bytes.
		bufs := sc.bufs[:0]
		if partial != nil {
			bufs = append(bufs, partial)
		}
		if pong != nil {
			bufs = append(bufs, pong)
		}
		if ping {
			bufs = append(bufs, pingFrame)
		}
		bufs = c.appendFrames(sc, bufs, frames)
		sc.bufs = bufs
		wrote := len(bufs) > 0
		if wrote {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			_, err := bufs.WriteTo(c.nc) // consumes its copy of the slice header
			clear(frames)
			clear(sc.bufs[:cap(sc.bufs)])
			if err != nil {
				c.src.WriteFailed(err)
				c.closeSocket() // the writer slot stays taken: nothing more goes out
				return
			}
		}
		if done {
			c.finish(reason)
			return
		}
		if wrote || !c.src.Idle() {
			continue
		}
		// Direct writes bypass Go's poller and its deadlines; a handshake
		// without Start writes with one: leave none armed.
		_ = c.nc.SetWriteDeadline(time.Time{})
		c.mu.Lock()
		if c.again || c.partial != nil || c.pong != nil || c.pingDue {
			c.mu.Unlock()
			continue
		}
		c.writing = false
		c.mu.Unlock()
		return
	}
}

// appendFrames appends frames to bufs as they go on the wire: as they are,
// or each behind its text frame header (the payloads are not copied).
func (c *Conn) appendFrames(sc *scratch, bufs net.Buffers, frames [][]byte) net.Buffers {
	if !c.cfg.Text {
		return append(bufs, frames...)
	}
	sc.hdrs = sc.hdrs[:0]
	for _, f := range frames {
		sc.hdrs = wsframe.AppendTextHeader(sc.hdrs, len(f))
	}
	off := 0
	for _, f := range frames {
		n := wsframe.TextHeaderLen(len(f))
		bufs = append(bufs, sc.hdrs[off:off+n], f)
		off += n
	}
	return bufs
}

// finish writes the close frame and closes the socket, on the writer.
func (c *Conn) finish(reason hub.CloseReason) {
	// A slow consumer's socket buffers are full: its close frame waits
	// behind what it has not read yet, so give it the full write timeout
	// (this goroutine has nothing else to do).
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	_, _ = c.nc.Write(closeFrame(reason))
	// Give the peer a moment to answer the close before the TCP
	// connection goes, so it reads our code rather than a reset.
	c.mu.Lock()
	wait := !c.readerGone
	if wait {
		c.lingering = make(chan struct{})
	}
	c.mu.Unlock()
	if wait {
		t := time.NewTimer(time.Second)
		select {
		case <-c.lingering:
		case <-t.C:
		}
		t.Stop()
	}
	c.closeSocket()
}

// closeFrame renders reason; the codes RFC 6455 forbids on the wire (none,
// 1006 "abnormal closure") are sent as 1011, an internal error.
func closeFrame(reason hub.CloseReason) []byte {
	code := reason.Code
	if code == 0 || code == 1006 {
		code = 1011
	}
	return wsframe.Close(code, reason.Text)
}
