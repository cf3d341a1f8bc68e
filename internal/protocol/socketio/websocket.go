package socketio

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsconn"
	"github.com/posd/posd/internal/protocol/wsframe"
)

// serveWebSocket runs the WebSocket transport: a new session when sess is
// nil, else the upgrade of a polling session (probe, upgrade, then the
// polling side is released with a noop). After the upgrade the socket is
// a wsconn.Conn: its reader hands the session the client's packets
// (Message), and its writer, running only while there is something to
// write, takes the session's packets (Pull).
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, sess *session) {
	// Counted from the start: once the upgrade hijacks the connection,
	// http.Server.Shutdown stops waiting for this handler, and Wait must
	// not begin at zero while it goes on to start the socket's goroutines.
	s.wg.Add(1)
	defer s.wg.Done()
	fresh := sess == nil
	if fresh {
		// The session takes its slot before the upgrade, so that a refusal
		// costs an HTTP answer, not an upgraded connection.
		sess = newSession(s, r, transportWebSocket)
		if e := s.addSession(sess); e != nil {
			s.refuse(w, r, e)
			return
		}
	} else {
		sess.mu.Lock()
		ok := sess.transport == transportPolling && !sess.upgrading && !sess.closed
		sess.mu.Unlock()
		if !ok {
			writeEngineError(w, errBadRequest)
			return
		}
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		if fresh {
			sess.closeWith(closeTransport, nil, false)
		}
		return // the upgrader has answered
	}
	// From here on the socket is wsconn's: gorilla's Conn and its buffers
	// are garbage once this returns, and the reader parks shallow with no
	// buffer while the client is quiet.
	ws := wsconn.New(conn.NetConn(), &s.ws)
	if fresh {
		// The open packet goes first: queued before the writer can run,
		// whatever comes meanwhile (a close at shutdown, say) is written
		// after it, not lost for want of a writer.
		sess.mu.Lock()
		sess.queue = append([][]byte{s.openPacket(sess.id, transportWebSocket)}, sess.queue...)
		sess.mu.Unlock()
		sess.ws.Store(ws)
		ws.Start(sess, sess)
		ws.Wake()
		sess.start()
		return
	}
	// The handler returns so that net/http releases the request and its
	// connection buffers.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if s.probe(ws, sess) {
			ws.Start(sess, sess)
			sess.wake() // what queued during the switch goes out now
		}
	}()
}

// probe runs the client's upgrade handshake on ws: "2probe" → "3probe",
// then "5". Meanwhile the polling GET is released with a noop so that the
// client can pause polling. It reports whether sess now runs on ws.
func (s *Server) probe(ws *wsconn.Conn, sess *session) bool {
	deadline := time.Now().Add(s.cfg.PingTimeout)
	fail := func() bool {
		sess.mu.Lock()
		sess.upgrading = false
		sess.mu.Unlock()
		ws.Close()
		return false
	}
	msg, err := ws.ReadText(deadline)
	if err != nil || msg != "2probe" {
		return fail()
	}
	sess.mu.Lock()
	if sess.closed || sess.upgrading || sess.transport != transportPolling {
		sess.mu.Unlock()
		ws.Close()
		return false
	}
	sess.upgrading = true
	if sess.getCancel != nil {
		sess.getCancel()
	}
	sess.mu.Unlock()
	if err := ws.WriteText([]byte("3probe")); err != nil {
		return fail()
	}
	for {
		msg, err = ws.ReadText(deadline)
		if err != nil {
			return fail()
		}
		switch msg {
		case "5":
			sess.mu.Lock()
			if sess.closed {
				sess.mu.Unlock()
				ws.Close()
				return false
			}
			sess.transport = transportWebSocket
			sess.ws.Store(ws)
			sess.upgrading = false
			if sess.getCancel != nil {
				sess.getCancel()
			}
			sess.mu.Unlock()
			s.lg.Debug("upgraded to websocket", "sid", sess.id)
			return true
		case "6": // noop while the client pauses polling
		default:
			return fail()
		}
	}
}

// Message is wsconn.Handler's: one message from the client's WebSocket.
func (s *session) Message(op byte, msg []byte) bool {
	ctx := context.Background()
	if op == wsframe.OpBinary {
		s.handlePacket(ctx, enginePacket{Type: eioMessage, Data: string(msg), Binary: true})
		return true
	}
	p, err := decodeEnginePacket(string(msg))
	if err != nil {
		s.closeWith(closeParseError, nil, true)
		return false
	}
	s.handlePacket(ctx, p)
	return !s.isClosed()
}

// ReadEnded is wsconn.Handler's: the client's WebSocket is done reading.
func (s *session) ReadEnded(err error) {
	switch {
	case errors.Is(err, wsframe.ErrTooLarge):
		s.closeWith(closeTooLarge, nil, true)
	case errors.Is(err, wsframe.ErrProtocol):
		s.closeWith(closeParseError, nil, true)
	default:
		s.closeWith(closeByClient, nil, true) // a no-op when already closed
	}
}

// Pull is wsconn.Source's: the session's own packets, then the hub
// client's frames; once the session is closed, its last packets and done.
func (s *session) Pull(dst [][]byte) ([][]byte, bool, hub.CloseReason) {
	// A polling GET released for the upgrade takes what it takes first.
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	for {
		s.mu.Lock()
		sock, closed, reason := s.sock, s.closed, s.reason
		dst = s.takeQueueLocked(dst)
		s.mu.Unlock()
		if closed || sock == nil {
			return dst, closed, reason
		}
		var err error
		dst, err = sock.client.Poll(context.Background(), dst)
		switch {
		case errors.Is(err, hub.ErrClosed):
			s.hubClosed(sock)
			continue // the session's last packets, if it closed
		case err != nil:
			s.srv.lg.Error("reading events for a websocket client", "sid", s.id, "err", err)
			s.closeWith(closeTransport, nil, true)
			continue
		}
		return dst, false, hub.CloseReason{}
	}
}

// Idle is wsconn.Source's: nothing in the session's queue nor the hub
// client's, which wakes the writer again when it has more.
func (s *session) Idle() bool {
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	s.mu.Lock()
	sock, pending := s.sock, len(s.queue) > 0 || s.closed
	s.mu.Unlock()
	return !pending && (sock == nil || sock.client.Idle())
}

// WriteFailed is wsconn.Source's: a write that timed out means a client
// that stopped reading.
func (s *session) WriteFailed(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if sock := s.socket(); sock != nil {
			sock.client.CloseSlow()
		}
	}
	s.closeWith(closeTransport, nil, true)
}

// TryWrite is hub.Conn's: the fan-out writes a live event straight to the
// session's WebSocket when nothing else waits (wsconn.Conn.TryWrite). On
// polling it takes nothing: the hub queues the event and wakes the GET.
func (s *session) TryWrite(pkt []byte) (bool, error) {
	if ws := s.ws.Load(); ws != nil {
		return ws.TryWrite(pkt)
	}
	return false, nil
}

// Wake is hub.Conn's (see wake).
func (s *session) Wake() { s.wake() }

// GapFrame is hub.Conn's: a socket whose recovery finds the log pruned
// is closed (hub.ReplayGap); socket.io-client reconnects without it.
func (s *session) GapFrame(*hub.TooOldError) []byte { return nil }
