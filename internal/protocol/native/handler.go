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

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsconn"
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
	wg       sync.WaitGroup // every connection's goroutines: Wait
	ws       wsconn.Config
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
	h.ws = wsconn.Config{
		WriteTimeout: cfg.WriteTimeout, ReadLimit: cfg.ReadLimit, SendBuffer: cfg.SendBuffer,
		PingInterval: cfg.PingInterval, PongTimeout: cfg.PongTimeout,
		Gap:   func(gap *hub.TooOldError) []byte { return errorFrame("gap", gap.Error(), gap.Oldest) },
		Group: &h.wg,
	}
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
	// From here on the socket is read and written without gorilla's Conn
	// (wsconn): it and its buffers are garbage once this returns.
	ws := wsconn.New(conn.NetConn(), &h.ws)
	c := hub.NewClient(h.cfg.Proto, ws, p)
	// The greeting goes first, before any replayed or live event: the gap
	// error when since is too old, then ready.
	var head []byte
	if gap != nil {
		head = errorFrame("gap", gap.Error(), gap.Oldest)
	}
	head = append(head, readyFrame(rooms, h.cfg.Hub.LastPublished(), since >= 0)...)
	if err := h.cfg.Hub.Register(c, rooms, since, head); err != nil {
		reason := hub.TryAgainLater
		if errors.Is(err, hub.ErrTooManyRooms) {
			reason = hub.PolicyViolation
		}
		ws.Reject(hub.CloseReason{Code: reason.Code, Text: err.Error()})
		return
	}
	// A revocation between Authenticate and Register did not see this
	// connection in the hub: look again now that it is there.
	if err := auth.Recheck(r.Context(), h.cfg.Auth, p); err != nil {
		reason := hub.Revoked
		if domain.ErrorCode(err) != domain.CodeUnauthorized {
			reason = hub.TryAgainLater // fail closed; the client retries
		}
		c.Close(reason)
	}
	// The reader gets a goroutine of its own and this handler returns: the
	// HTTP server's goroutine, its grown stack and its 4 KiB buffers are not
	// kept alive for the life of every idle socket. The writer runs only
	// while there is something to write, and most events need none: the
	// fan-out writes them straight to the idle socket.
	s := &session{h: h, c: c, p: p}
	ws.Start(s, s)
}

// session is one connection's protocol state: what its writer sends (the
// hub client's frames) and what its reader does with the client's ops.
type session struct {
	h          *Handler
	c          *hub.Client
	p          auth.Principal
	errorsSent int // owned by the reader
}

// Pull is wsconn.Source's: the hub client's frames, then its close.
func (s *session) Pull(dst [][]byte) ([][]byte, bool, hub.CloseReason) {
	dst, err := s.c.Poll(context.Background(), dst)
	switch {
	case err == nil:
		return dst, false, hub.CloseReason{}
	case !errors.Is(err, hub.ErrClosed): // the log could not be read
		s.h.log.Error("replay failed", "err", err)
		s.c.Close(hub.TryAgainLater)
	}
	return dst, true, s.c.Reason()
}

// Idle is wsconn.Source's.
func (s *session) Idle() bool { return s.c.Idle() }

// WriteFailed is wsconn.Source's: a peer that took nothing for a whole
// write timeout is a slow consumer (the same 4008 as a queue overflow,
// though its close frame cannot get through); anything else means the
// connection is gone.
func (s *session) WriteFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.c.CloseSlow()
		return
	}
	s.c.Close(hub.GoingAway)
}

// ReadEnded is wsconn.Handler's: the writer then sends the close frame.
func (s *session) ReadEnded(err error) {
	switch {
	case errors.Is(err, wsframe.ErrTooLarge):
		s.c.Close(hub.CloseReason{Code: websocket.CloseMessageTooBig, Text: "frame too large"})
	case errors.Is(err, wsframe.ErrProtocol):
		s.c.Close(hub.CloseReason{Code: websocket.CloseProtocolError, Text: "websocket protocol error"})
	default:
		s.c.Close(hub.GoingAway) // a no-op when the hub closed it first
	}
}

// Message is wsconn.Handler's: one client message.
func (s *session) Message(op byte, data []byte) bool {
	if op == wsframe.OpBinary {
		return s.refuse(domain.Errorf(domain.CodeInvalid, "binary frames are not accepted; send JSON text frames"))
	}
	return s.handle(data)
}

// refuse answers a bad frame with an error; too many end the connection.
func (s *session) refuse(err error) bool {
	s.errorsSent++
	if s.errorsSent > s.h.cfg.MaxErrors {
		s.c.Close(hub.PolicyViolation)
		return false
	}
	s.c.Send(errorFrame(string(domain.ErrorCode(err)), domain.ErrorMessage(err), 0))
	return true
}

// handle runs one client op.
func (s *session) handle(data []byte) bool {
	h, c := s.h, s.c
	op, err := DecodeOp(data)
	if err != nil {
		return s.refuse(err)
	}
	switch op.Op {
	case "join":
		room, err := auth.CheckJoin(s.p, op.Room)
		if err == nil {
			if err = h.cfg.Hub.Join(c, room); errors.Is(err, hub.ErrTooManyRooms) {
				err = domain.Errorf(domain.CodeInvalid, "too many rooms on this connection")
			}
		}
		if err != nil {
			return s.refuse(err)
		}
		c.Send(joinedFrame("joined", room))
	case "leave":
		room, err := domain.ParseRoom(op.Room)
		if err != nil {
			return s.refuse(err)
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
		c.Resume(*op.Since, resumedFrame(*op.Since))
	case "ping":
		c.Send(appPongFrame)
	}
	return true
}

var appPongFrame = appendFrame(nil, []byte(`{"op":"pong"}`))
