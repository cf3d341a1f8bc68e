package native

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/edge"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsframe"
)

// Defaults of the limits posd serve has flags for; Socket.IO keeps the same
// values (socketio.Default*) so one flag means the same on both endpoints.
const (
	DefaultReadLimit    = 64 << 10
	DefaultPingInterval = 25 * time.Second
	DefaultPongTimeout  = 20 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultSendBuffer   = 128 << 10
)

// Config wires the /ws handler.
type Config struct {
	Hub     *hub.Hub
	Proto   hub.Protocol // the index Encode was registered at
	Auth    auth.Authenticator
	Origins *auth.OriginPolicy
	// ReadLimit bounds one client frame (default 64 KiB).
	ReadLimit int64
	// PingInterval is how often the server pings; a peer that has not
	// answered within PongTimeout after a ping is dropped (defaults 25 s, 20 s).
	PingInterval time.Duration
	PongTimeout  time.Duration
	WriteTimeout time.Duration
	// SendBuffer caps the kernel's send buffer of each socket (default
	// 128 KiB; Linux grows it up to 4 MiB otherwise). The hub's bounded queue
	// is then what absorbs a slow reader, so it is caught in time, and
	// memory stays bounded in the kernel too, not only in Go. Negative: leave
	// the kernel's autotuning alone.
	SendBuffer int
	// MaxErrors is how many refused frames a connection may send before it
	// is closed for policy violation (default 20).
	MaxErrors int
	// OnError writes an HTTP error before the upgrade (the API's error shape).
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	Logger  *slog.Logger
}

// Handler serves /ws.
type Handler struct {
	cfg      Config
	upgrader websocket.Upgrader
	log      *slog.Logger
	wg       sync.WaitGroup
}

// New builds the handler.
func New(cfg Config) *Handler {
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = DefaultPongTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.SendBuffer == 0 {
		cfg.SendBuffer = DefaultSendBuffer
	}
	if cfg.MaxErrors <= 0 {
		cfg.MaxErrors = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Origins == nil {
		cfg.Origins = auth.NewOriginPolicy(nil)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	h.upgrader = websocket.Upgrader{
		// Small read buffer and a shared write pool: an idle connection
		// holds no large buffers (events bypass gorilla's writer anyway).
		ReadBufferSize:  512,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     cfg.Origins.AllowRequest,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			h.fail(w, r, domain.Errorf(codeFor(status), "websocket upgrade refused: %v", reason))
		},
	}
	return h
}

func codeFor(status int) domain.Code {
	if status == http.StatusForbidden {
		return domain.CodeForbidden
	}
	return domain.CodeInvalid
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if h.cfg.OnError != nil {
		h.cfg.OnError(w, r, err)
		return
	}
	http.Error(w, domain.ErrorMessage(err), http.StatusBadRequest)
}

// Wait blocks until every connection's goroutines have finished (after the
// hub closed them on shutdown, their close frames have been written).
func (h *Handler) Wait() { h.wg.Wait() }

// ServeHTTP authenticates and checks everything it can before the upgrade,
// so a refused client gets a plain HTTP status it can read.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Counted from the start: once the upgrade hijacks the connection,
	// http.Server.Shutdown stops waiting for this handler, and Wait must
	// not begin at zero while it goes on to start the socket's goroutines.
	h.wg.Add(1)
	defer h.wg.Done()
	if !h.cfg.Origins.AllowRequest(r) {
		h.fail(w, r, domain.Errorf(domain.CodeForbidden, "origin %s is not allowed (see --cors-origin)", truncate(r.Header.Get("Origin"), 100)))
		return
	}
	p, err := h.cfg.Auth.Authenticate(r.Context(), auth.SocketToken(r), auth.RemoteHost(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	rooms := p.DefaultRooms()
	if q.Has("rooms") {
		rooms = nil
		for _, name := range strings.Split(q.Get("rooms"), ",") {
			if name == "" {
				continue
			}
			canon, err := auth.CheckJoin(p, name)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			rooms = append(rooms, canon)
		}
	}
	since := int64(-1)
	if s := q.Get("since"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			h.fail(w, r, domain.Errorf(domain.CodeInvalid, "since must be a non-negative event id, not %q", s))
			return
		}
		since = v
	}
	var gap *hub.TooOldError
	if err := h.cfg.Hub.CheckSinceRooms(r.Context(), since, rooms); errors.As(err, &gap) {
		since = -1 // live only; the client is told to reload below
	} else if err != nil {
		h.fail(w, r, err)
		return
	}

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	nc := conn.NetConn()
	if h.cfg.SendBuffer > 0 {
		if tc := edge.TCP(nc); tc != nil {
			_ = tc.SetWriteBuffer(h.cfg.SendBuffer)
		}
	}
	// Every close of nc from here on goes through direct (see Direct).
	direct := wsframe.NewDirect(nc)
	c := hub.NewClient(h.cfg.Proto)
	c.Tag = p
	// The writer runs only while there is something to write (see
	// flush): an idle socket costs its reader goroutine and little else.
	readerDone := make(chan struct{})
	c.OnWake = func() {
		h.wg.Add(1)
		go h.flush(nc, direct, c, readerDone)
	}
	// And most frames need no writer at all: the fan-out writes them
	// straight to the socket when nothing is queued before them.
	if direct.Enabled() {
		c.Direct = direct
	}
	c.GapFrame = func(gap *hub.TooOldError) []byte { return errorFrame("gap", gap.Error(), gap.Oldest) }
	// The greeting goes first, before any replayed or live event: the gap
	// error when since is too old, then ready.
	var head []byte
	if gap != nil {
		head = errorFrame("gap", gap.Error(), gap.Oldest)
	}
	head = append(head, readyFrame(rooms, h.cfg.Hub.LastPublished(), since >= 0)...)
	if err := h.cfg.Hub.RegisterWith(c, rooms, since, head); err != nil {
		reason := hub.TryAgainLater
		if errors.Is(err, hub.ErrTooManyRooms) {
			reason = hub.PolicyViolation
		}
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(reason.Code, err.Error()), time.Now().Add(time.Second))
		direct.Close()
		return
	}
	// From here on the socket is read and written without gorilla's Conn
	// (reader.go, flush): it and its buffers are garbage once this returns.
	// A revocation between Authenticate and Register did not see this
	// connection in the hub: look again now that it is there.
	if err := auth.Recheck(r.Context(), h.cfg.Auth, p); err != nil {
		reason := hub.Revoked
		if domain.ErrorCode(err) != domain.CodeUnauthorized {
			reason = hub.TryAgainLater // fail closed; the client retries
		}
		c.Close(reason)
	}
	h.schedulePing(c)
	// The reader gets a fresh goroutine and this handler returns: the HTTP
	// server's goroutine, its grown stack and its 4 KiB buffers are not
	// kept alive for the life of every idle socket.
	h.wg.Add(1)
	go h.read(nc, c, p, readerDone)
}

var pingFrame = []byte{0x89, 0} // a WebSocket ping with no payload

// schedulePing queues a ping every PingInterval until the client closes.
// Timers, not a goroutine per socket: the ping goes through the queue like
// any frame, so the socket keeps a single writer.
func (h *Handler) schedulePing(c *hub.Client) {
	var ping func()
	ping = func() {
		if c.Send(pingFrame) {
			time.AfterFunc(h.cfg.PingInterval, ping)
		}
	}
	time.AfterFunc(h.cfg.PingInterval, ping)
}

// read is the connection's reader goroutine. Between messages it parks,
// shallow and holding no buffer (wsframe.Reader), so thousands of idle
// connections cost little; the work happens in readAvailable.
func (h *Handler) read(nc net.Conn, c *hub.Client, p auth.Principal, done chan<- struct{}) {
	defer h.wg.Done()
	defer close(done)
	defer c.Close(hub.GoingAway) // no-op when the hub closed it first
	cr := &connReader{h: h, c: c, p: p, r: wsframe.NewReader(nc, h.cfg.ReadLimit), nc: nc}
	cr.extend()
	cr.r.Serve(cr.readAvailable)
}

// connReader is one connection's read side.
type connReader struct {
	h          *Handler
	c          *hub.Client
	p          auth.Principal
	r          *wsframe.Reader
	nc         net.Conn
	errorsSent int
}

// extend pushes the read deadline out: a peer must send something (a pong
// at least) within a ping interval plus the pong timeout.
func (cr *connReader) extend() {
	_ = cr.nc.SetReadDeadline(time.Now().Add(cr.h.cfg.PingInterval + cr.h.cfg.PongTimeout))
}

// readAvailable handles every complete message the socket has; false ends
// the connection.
func (cr *connReader) readAvailable() bool {
	for {
		op, data, err := cr.r.Next()
		switch {
		case err == wsframe.ErrWait:
			return true
		case errors.Is(err, wsframe.ErrTooLarge):
			cr.c.Close(hub.CloseReason{Code: websocket.CloseMessageTooBig, Text: "frame too large"})
			return false
		case errors.Is(err, wsframe.ErrProtocol):
			cr.c.Close(hub.CloseReason{Code: websocket.CloseProtocolError, Text: "websocket protocol error"})
			return false
		case err != nil:
			return false
		}
		cr.extend()
		switch op {
		case wsframe.OpClose:
			// The writer answers with our close frame (the deferred Close).
			return false
		case wsframe.OpPing:
			// Answering is the writer's job: only it writes to the socket.
			cr.c.Send(wsframe.AppendControl(nil, wsframe.OpPong, data))
		case wsframe.OpPong:
		case wsframe.OpBinary:
			if !cr.refuse(domain.Errorf(domain.CodeInvalid, "binary frames are not accepted; send JSON text frames")) {
				return false
			}
		case wsframe.OpText:
			if !cr.handle(data) {
				return false
			}
		}
	}
}

// refuse answers a bad frame with an error; too many end the connection.
func (cr *connReader) refuse(err error) bool {
	cr.errorsSent++
	if cr.errorsSent > cr.h.cfg.MaxErrors {
		cr.c.Close(hub.PolicyViolation)
		return false
	}
	cr.c.Send(errorFrame(string(domain.ErrorCode(err)), domain.ErrorMessage(err), 0))
	return true
}

// handle runs one client op.
func (cr *connReader) handle(data []byte) bool {
	h, c := cr.h, cr.c
	op, err := DecodeOp(data)
	if err != nil {
		return cr.refuse(err)
	}
	switch op.Op {
	case "join":
		room, err := auth.CheckJoin(cr.p, op.Room)
		if err == nil {
			if err = h.cfg.Hub.Join(c, room); errors.Is(err, hub.ErrTooManyRooms) {
				err = domain.Errorf(domain.CodeInvalid, "too many rooms on this connection")
			}
		}
		if err != nil {
			return cr.refuse(err)
		}
		c.Send(joinedFrame("joined", room))
	case "leave":
		room, err := domain.ParseRoom(op.Room)
		if err != nil {
			return cr.refuse(err)
		}
		h.cfg.Hub.Leave(c, room.String())
		c.Send(joinedFrame("left", room.String()))
	case "resume":
		var gap *hub.TooOldError
		if err := h.cfg.Hub.CheckSinceRooms(context.Background(), *op.Since, h.cfg.Hub.Rooms(c)); errors.As(err, &gap) {
			c.Send(errorFrame("gap", gap.Error(), gap.Oldest))
			return true
		} else if err != nil {
			c.Send(errorFrame(string(domain.CodeInternal), "cannot read the event log", 0))
			return true
		}
		// The ack precedes the replay: events after it are exactly those
		// after since, whatever was already on the wire before it.
		c.ResumeWith(*op.Since, resumedFrame(*op.Since))
	case "ping":
		c.Send(appPongFrame)
	}
	return true
}

var appPongFrame = appendFrame(nil, []byte(`{"op":"pong"}`))

// scratch is a writer's reusable slices; writers come and go with traffic,
// so they borrow these rather than allocate them each time.
type scratch struct {
	frames [][]byte
	bufs   net.Buffers
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// flush is the connection's only writer while it runs: it writes what is
// queued (coalesced into one writev) until the queue is empty, then ends;
// the hub starts it again when more arrives. When the hub ends the client
// it writes the close frame and closes the socket.
func (h *Handler) flush(nc net.Conn, direct *wsframe.Direct, c *hub.Client, readerDone <-chan struct{}) {
	defer h.wg.Done()
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	for {
		frames, err := c.Poll(context.Background(), sc.frames[:0])
		sc.frames = frames
		if len(frames) > 0 {
			_ = nc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
			sc.bufs = append(sc.bufs[:0], frames...)
			_, werr := sc.bufs.WriteTo(nc)
			clear(frames)
			clear(sc.bufs[:cap(sc.bufs)])
			if werr != nil {
				closeAfterWriteError(c, werr)
				continue // Poll now reports the close
			}
		}
		if err != nil {
			if !errors.Is(err, hub.ErrClosed) { // the log could not be read
				h.log.Error("replay failed", "err", err)
				c.Close(hub.TryAgainLater)
				continue
			}
			reason := c.Reason()
			// A slow consumer's socket buffers are full: its close frame
			// waits behind what it has not read yet, so give it the full
			// write timeout (this goroutine has nothing else to do).
			_ = nc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
			_, _ = nc.Write(wsframe.Close(reason.Code, reason.Text))
			// Give the peer a moment to answer the close before the TCP
			// connection goes, so it reads our code rather than a reset.
			select {
			case <-readerDone:
			case <-time.After(time.Second):
			}
			direct.Close()
			return
		}
		if len(frames) == 0 {
			// The direct path writes without a deadline: leave none armed
			// (it would fail those writes once it passes).
			_ = nc.SetWriteDeadline(time.Time{})
			if c.Idle() {
				return
			}
		}
	}
}

// closeAfterWriteError ends c after a failed write: a peer that took nothing
// for a whole write timeout is a slow consumer (the same 4008 as a queue
// overflow, though its close frame cannot get through either); anything
// else means the connection is gone.
func closeAfterWriteError(c *hub.Client, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.CloseSlow()
		return
	}
	c.Close(hub.GoingAway)
}
