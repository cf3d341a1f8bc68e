package socketio

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsconn"
)

type transportKind int

const (
	transportPolling transportKind = iota
	transportWebSocket
)

// Why a session ended, with the WebSocket close code its transport uses.
var (
	closeShutdown    = hub.CloseReason{Code: websocket.CloseGoingAway, Text: "server shutting down"}
	closeByClient    = hub.CloseReason{Code: websocket.CloseNormalClosure, Text: "transport close"}
	closePingTimeout = hub.CloseReason{Code: websocket.CloseNormalClosure, Text: "ping timeout"}
	closeParseError  = hub.CloseReason{Code: websocket.CloseProtocolError, Text: "parse error"}
	closeTransport   = hub.CloseReason{Code: websocket.CloseAbnormalClosure, Text: "transport error"}
	closeTooLarge    = hub.CloseReason{Code: websocket.CloseMessageTooBig, Text: "payload too large"}
	closeReplaced    = hub.CloseReason{Code: websocket.CloseNormalClosure, Text: "replaced by a newer connection"}
	// Pre-login limits (Config.ConnectTimeout and the MaxPrelogin* fields).
	closeConnectTimeout = hub.CloseReason{Code: websocket.CloseNormalClosure, Text: "connect timeout"}
	closeQueueFull      = hub.CloseReason{Code: websocket.ClosePolicyViolation, Text: "too much queued before connecting"}
	closeRefused        = hub.CloseReason{Code: websocket.ClosePolicyViolation, Text: "too many refused connects"}
	closePreloginFull   = hub.CloseReason{Code: websocket.ClosePolicyViolation, Text: "too many sessions from this address have not connected"}
)

var errSessionClosed = errors.New("engine.io session closed")

// session is one Engine.IO session and, once the client sent CONNECT, its
// Socket.IO socket.
type session struct {
	// The WebSocket, once it carries the session: it owns every write to
	// the socket (its writer Pulls from the session), and a live event that
	// finds nothing waiting is written by the hub's fan-out itself
	// (TryWrite), which reads this without taking mu. First: the one field
	// of the session a delivery reads.
	ws atomic.Pointer[wsconn.Conn]

	srv    *Server
	id     string
	remote string
	key    string // edge.AddrKey(remote): what the per-address limits count
	token  string // from the handshake's ?token= or Authorization header

	// Guarded by Server.mu: counted in Server.prelogin; taken out of it for
	// good as the session closes.
	prelogin, released bool

	pullMu sync.Mutex    // held by whoever consumes the session: the polling GET or the WebSocket writer
	notify chan struct{} // wakes a waiting polling GET

	mu         sync.Mutex
	transport  transportKind
	upgrading  bool            // a WebSocket probe succeeded; polls get noop
	queue      [][]byte        // packets not going through the hub client (before CONNECT, the open packet, the last ones)
	queueBytes int             // bytes in queue, bounded with it while no socket is connected
	refused    int             // CONNECTs refused so far
	sock       *socket         // nil until CONNECT succeeds
	connecting bool            // a CONNECT is being authenticated
	skipBinary int             // binary attachments still to swallow
	closed     bool            // no more packets are accepted
	reason     hub.CloseReason // why closed
	getActive  bool
	getCancel  context.CancelFunc
	postActive bool
	pingTimer  *time.Timer
	connTimer  *time.Timer // armed while no socket is connected
	pongTimer  *time.Timer // armed while a ping awaits its pong
}

func newSession(srv *Server, r *http.Request, t transportKind) *session {
	return &session{
		srv:       srv,
		id:        srv.newSID(),
		remote:    r.RemoteAddr,
		key:       edge.AddrKey(r.RemoteAddr),
		token:     auth.SocketToken(r),
		transport: t,
		notify:    make(chan struct{}, 1),
	}
}

// wake tells whoever writes the session that there is something to take:
// it starts the WebSocket's writer (or makes a running one look again), or
// wakes a waiting polling GET. It is also the hub client's Wake.
func (s *session) wake() {
	if ws := s.ws.Load(); ws != nil {
		ws.Wake()
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// send queues one encoded Engine.IO packet. Once a socket is attached the
// hub client's queue carries it, so it is ordered with events and bounded
// by the same slow-consumer policy. Before that the session's own queue
// carries it, bounded too: anyone may open a session and make it answer
// (refused CONNECTs) without ever reading, so an overflow closes it.
func (s *session) send(pkt []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if sock := s.sock; sock != nil {
		s.mu.Unlock()
		sock.client.Send(pkt)
		return
	}
	cfg := &s.srv.cfg
	if len(s.queue) >= cfg.MaxPreloginQueue || s.queueBytes+len(pkt) > cfg.MaxPreloginBytes {
		s.mu.Unlock()
		s.srv.lg.Debug("pre-login queue overflow", "sid", s.id)
		s.closeWith(closeQueueFull, nil, true)
		return
	}
	s.queue = append(s.queue, pkt)
	s.queueBytes += len(pkt)
	s.mu.Unlock()
	s.wake()
}

// takeQueueLocked moves the session's own queue to dst.
func (s *session) takeQueueLocked(dst [][]byte) [][]byte {
	dst = append(dst, s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	s.queueBytes = 0
	return dst
}

// pull blocks until there are packets to write and appends them to dst:
// first the session's own queue, then the hub client's frames. It returns
// errSessionClosed once the session is closed and its last packets taken.
// The polling GET uses it; the WebSocket's writer has Pull.
func (s *session) pull(ctx context.Context, dst [][]byte) ([][]byte, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			dst = s.takeQueueLocked(dst)
			s.mu.Unlock()
			return dst, nil
		}
		if s.closed {
			s.mu.Unlock()
			return dst, errSessionClosed
		}
		sock := s.sock
		s.mu.Unlock()
		if sock != nil {
			n := len(dst)
			var err error
			dst, err = sock.client.Poll(ctx, dst)
			if len(dst) > n {
				return dst, nil
			}
			if errors.Is(err, hub.ErrClosed) {
				s.hubClosed(sock)
				continue
			}
			if err != nil {
				return dst, err
			}
			if !sock.client.Idle() {
				continue // more arrived meanwhile
			}
			// Idle: the hub wakes us (Wake) when the next frame comes.
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return dst, ctx.Err()
		}
	}
}

// hubClosed ends the session after the hub closed sock's client (slow
// consumer, kicked, revoked, shutdown), unless the socket was already
// detached by the session itself.
func (s *session) hubClosed(sock *socket) {
	s.mu.Lock()
	current := s.sock == sock
	s.mu.Unlock()
	if !current {
		return
	}
	reason := sock.client.Reason()
	switch reason.Code {
	case hub.Revoked.Code, hub.Kicked.Code: // also token expiry, which reuses the revoked code
		// "io server disconnect": socket.io-client does not reconnect.
		s.closeWith(reason, [][]byte{eventPacket("error", errorBody{Code: "disconnected", Message: reason.Text}), disconnectPacket()}, false)
	case hub.SlowConsumer.Code:
		// A transport close: the client reconnects and recovers what it missed.
		s.closeWith(reason, [][]byte{eventPacket("error", errorBody{Code: "slow_consumer", Message: "too far behind: reconnect to resume"})}, true)
	default:
		s.closeWith(reason, nil, true)
	}
}

// closeWith ends the session: final packets are still delivered, the socket
// is detached and, when recoverable, remembered for connection-state
// recovery.
//
// On polling, what a GET gets follows the reference server: a GET waiting
// at that moment gets the final packets and a close packet, or a noop when
// the client itself sent the close; with no GET waiting, the session is
// forgotten at once (later requests get 400 "Session ID unknown") unless
// there are final packets to deliver or the server is shutting down, in
// which case the next GET gets them with the close packet.
func (s *session) closeWith(reason hub.CloseReason, final [][]byte, recoverable bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.reason = reason
	polling := s.transport == transportPolling
	keep := polling && (s.getActive || len(final) > 0 || reason == closeShutdown)
	switch {
	case polling && !keep:
		clear(s.queue)
		s.queue, s.queueBytes = nil, 0
	case polling && s.getActive && reason == closeByClient:
		s.queue = append(s.queue, final...)
		s.queue = append(s.queue, []byte{eioNoop})
	case polling:
		s.queue = append(s.queue, final...)
		s.queue = append(s.queue, []byte{eioClose})
	default:
		s.queue = append(s.queue, final...)
	}
	sock := s.sock
	s.sock = nil
	for _, t := range []*time.Timer{s.pingTimer, s.pongTimer, s.connTimer} {
		if t != nil {
			t.Stop()
		}
	}
	s.mu.Unlock()
	s.srv.release(s)
	s.wake()
	if sock != nil {
		s.srv.detach(sock, recoverable, false)
		sock.client.Close(hub.GoingAway)
	}
	if keep {
		// The waiting or next GET takes the last packets and forgets the
		// session; a client that never polls again is forgotten later.
		time.AfterFunc(s.srv.cfg.PingTimeout, func() { s.srv.forget(s) })
	} else {
		s.srv.forget(s)
	}
	s.srv.lg.Debug("session closed", "sid", s.id, "reason", reason.Text)
}

func (s *session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Heartbeat: the server pings every PingInterval and drops a client whose
// pong does not come within PingTimeout.

// start arms a new session's heartbeat and connect timeout.
func (s *session) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pingTimer != nil {
		return
	}
	s.pingTimer = time.AfterFunc(s.srv.cfg.PingInterval, s.ping)
	s.armConnectTimeoutLocked()
}

// armConnectTimeoutLocked closes the session if no socket connects within
// ConnectTimeout, as socket.io's connectTimeout does: answering pings alone
// must not keep a session, and its slot of the address's pre-login
// allowance, forever.
func (s *session) armConnectTimeoutLocked() {
	if s.connTimer == nil {
		s.connTimer = time.AfterFunc(s.srv.cfg.ConnectTimeout, s.connectTimedOut)
	} else {
		s.connTimer.Reset(s.srv.cfg.ConnectTimeout)
	}
}

func (s *session) connectTimedOut() {
	s.mu.Lock()
	idle := !s.closed && s.sock == nil
	s.mu.Unlock()
	if idle {
		s.srv.lg.Debug("connect timeout", "sid", s.id)
		s.closeWith(closeConnectTimeout, nil, true)
	}
}

func (s *session) ping() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.pongTimer == nil {
		s.pongTimer = time.AfterFunc(s.srv.cfg.PingTimeout, s.pingTimedOut)
	} else {
		s.pongTimer.Reset(s.srv.cfg.PingTimeout)
	}
	s.mu.Unlock()
	s.send([]byte{eioPing})
}

func (s *session) pingTimedOut() {
	s.srv.lg.Debug("ping timeout", "sid", s.id)
	s.closeWith(closePingTimeout, nil, true)
}

func (s *session) pong() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.pongTimer == nil {
		return
	}
	if s.pongTimer.Stop() {
		s.pingTimer.Reset(s.srv.cfg.PingInterval)
	}
}

// Long-polling transport.

// servePoll answers a GET: it blocks until there is something to send.
func (s *session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeEngineError(w, errBadRequest)
		return
	}
	if s.getActive {
		s.mu.Unlock()
		writeEngineError(w, errBadRequest)
		s.closeWith(closeParseError, nil, true) // "overlap from client"
		return
	}
	if s.upgrading && !s.closed {
		s.mu.Unlock()
		writeText(w, []byte{eioNoop})
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s.getActive = true
	s.getCancel = cancel
	s.mu.Unlock()

	s.pullMu.Lock()
	frames, err := s.pull(ctx, nil)
	s.pullMu.Unlock()

	s.mu.Lock()
	s.getActive = false
	s.getCancel = nil
	closed := s.closed
	s.mu.Unlock()

	switch {
	case len(frames) > 0:
		if closed {
			s.srv.forget(s) // before answering: the client's next request finds no session
		}
		writeText(w, appendPayload(nil, frames))
	case errors.Is(err, errSessionClosed):
		s.srv.forget(s)
		writeText(w, []byte{eioClose})
	case r.Context().Err() != nil:
		// The client went away; nothing was taken from the queue.
	case ctx.Err() != nil:
		writeText(w, []byte{eioNoop}) // released for an upgrade
	default:
		s.srv.lg.Error("reading events for a polling client", "sid", s.id, "err", err)
		s.closeWith(closeTransport, nil, true)
		writeText(w, []byte{eioClose})
	}
}

// serveData answers a POST: a batch of packets from the client.
func (s *session) serveData(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.transport != transportPolling {
		s.mu.Unlock()
		writeEngineError(w, errBadRequest)
		return
	}
	if s.postActive {
		s.mu.Unlock()
		writeEngineError(w, errBadRequest)
		s.closeWith(closeParseError, nil, true) // "data request overlap from client"
		return
	}
	s.postActive = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.postActive = false
		s.mu.Unlock()
	}()

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.srv.cfg.MaxPayload)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.Header().Set("Connection", "close")
			writeEngineError(w, engineError{3, "Payload too large", http.StatusRequestEntityTooLarge})
			s.closeWith(closeTooLarge, nil, true)
			return
		}
		s.closeWith(closeTransport, nil, true)
		writeEngineError(w, errBadRequest)
		return
	}
	err = eachPacket(string(body), func(p enginePacket) bool {
		s.handlePacket(r.Context(), p)
		return !s.isClosed() // what follows a close is not read
	})
	if err != nil {
		writeEngineError(w, errBadRequest)
		s.closeWith(closeParseError, nil, true)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok"))
}

// handlePacket acts on one Engine.IO packet from the client, whichever
// transport carried it.
func (s *session) handlePacket(ctx context.Context, p enginePacket) {
	if p.Binary {
		s.mu.Lock()
		expected := s.skipBinary > 0
		if expected {
			s.skipBinary--
		}
		s.mu.Unlock()
		if !expected {
			s.srv.lg.Debug("unexpected binary message", "sid", s.id)
			s.closeWith(closeParseError, nil, true)
		}
		return
	}
	switch p.Type {
	case eioPong:
		s.pong()
	case eioMessage:
		s.handleMessage(ctx, p.Data)
	case eioClose:
		s.closeWith(closeByClient, nil, true)
	case eioPing, eioNoop:
		// A v4 client pings only to probe a new transport; nothing to do.
	default: // open, upgrade: never sent on an established transport
		s.closeWith(closeParseError, nil, true)
	}
}

// socket is the attached Socket.IO socket, if any.
func (s *session) socket() *socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sock
}
