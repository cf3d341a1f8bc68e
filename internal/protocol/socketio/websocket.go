package socketio

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/hub"
)

// serveWebSocket runs the WebSocket transport: a new session when sess is
// nil, else the upgrade of a polling session (probe, upgrade, then the
// polling side is released with a noop). Each connection has one reader
// and one writer goroutine.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, sess *session) {
	if sess != nil {
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
		return // the upgrader has answered
	}
	conn.SetReadLimit(int64(s.cfg.MaxPayload))
	if sess == nil {
		sess = newSession(s, r, transportWebSocket)
		if !s.addSession(sess) {
			s.mu.Lock()
			reason := hub.TryAgainLater
			if s.closed {
				reason = closeShutdown
			}
			s.mu.Unlock()
			s.closeConn(conn, reason)
			return
		}
		conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if err := conn.WriteMessage(websocket.TextMessage, s.openPacket(sess.id)); err != nil {
			sess.closeWith(closeTransport, nil, false)
			conn.Close()
			return
		}
		sess.startHeartbeat()
		go sess.writeLoop(conn)
		go sess.readLoop(conn)
		return
	}
	// The handler returns so that net/http releases the request and its
	// connection buffers: an idle socket holds only gorilla's small ones.
	go func() {
		if s.probe(conn, sess) {
			go sess.writeLoop(conn)
			sess.readLoop(conn)
		}
	}()
}

// probe runs the client's upgrade handshake on conn: "2probe" → "3probe",
// then "5". Meanwhile the polling GET is released with a noop so that the
// client can pause polling. It reports whether sess now runs on conn.
func (s *Server) probe(conn *websocket.Conn, sess *session) bool {
	deadline := time.Now().Add(s.cfg.PingTimeout)
	conn.SetReadDeadline(deadline)
	fail := func() bool {
		sess.mu.Lock()
		sess.upgrading = false
		sess.mu.Unlock()
		conn.Close()
		return false
	}
	mt, msg, err := conn.ReadMessage()
	if err != nil || mt != websocket.TextMessage || string(msg) != "2probe" {
		return fail()
	}
	sess.mu.Lock()
	if sess.closed || sess.upgrading || sess.transport != transportPolling {
		sess.mu.Unlock()
		conn.Close()
		return false
	}
	sess.upgrading = true
	if sess.getCancel != nil {
		sess.getCancel()
	}
	sess.mu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, []byte("3probe")); err != nil {
		return fail()
	}
	for {
		mt, msg, err = conn.ReadMessage()
		if err != nil || mt != websocket.TextMessage {
			return fail()
		}
		switch string(msg) {
		case "5":
			sess.mu.Lock()
			if sess.closed {
				sess.mu.Unlock()
				conn.Close()
				return false
			}
			sess.transport = transportWebSocket
			sess.upgrading = false
			if sess.getCancel != nil {
				sess.getCancel()
			}
			sess.mu.Unlock()
			conn.SetReadDeadline(time.Time{})
			s.lg.Debug("upgraded to websocket", "sid", sess.id)
			return true
		case "6": // noop while the client pauses polling
		default:
			return fail()
		}
	}
}

// readLoop handles the client's packets until the connection fails.
func (sess *session) readLoop(conn *websocket.Conn) {
	ctx := context.Background()
	for {
		mt, msg, err := conn.ReadMessage()
		if err != nil {
			if websocket.IsCloseError(err, websocket.CloseMessageTooBig) || err == websocket.ErrReadLimit {
				sess.closeWith(closeTooLarge, nil, true)
			} else {
				sess.closeWith(closeByClient, nil, true)
			}
			return
		}
		if mt == websocket.BinaryMessage {
			sess.handlePacket(ctx, enginePacket{Type: eioMessage, Data: string(msg), Binary: true})
			continue
		}
		p, err := decodeEnginePacket(string(msg))
		if err != nil {
			sess.closeWith(closeParseError, nil, true)
			return
		}
		sess.handlePacket(ctx, p)
		if sess.isClosed() {
			return
		}
	}
}

// writeLoop is the connection's single writer: it drains the session and
// closes the connection when the session ends.
func (sess *session) writeLoop(conn *websocket.Conn) {
	sess.pullMu.Lock()
	defer sess.pullMu.Unlock()
	srv := sess.srv
	frames := make([][]byte, 0, 8)
	for {
		var err error
		frames, err = sess.pull(context.Background(), frames[:0])
		for _, f := range frames {
			conn.SetWriteDeadline(time.Now().Add(srv.cfg.WriteTimeout))
			if werr := conn.WriteMessage(websocket.TextMessage, f); werr != nil {
				sess.closeWith(closeTransport, nil, true)
				conn.Close()
				return
			}
		}
		clear(frames)
		if err == errSessionClosed {
			sess.mu.Lock()
			reason := sess.reason
			sess.mu.Unlock()
			srv.closeConn(conn, reason)
			return
		}
		if err != nil {
			srv.lg.Error("reading events for a websocket client", "sid", sess.id, "err", err)
			sess.closeWith(closeTransport, nil, true)
		}
	}
}

func (s *Server) closeConn(conn *websocket.Conn, reason hub.CloseReason) {
	code, text := reason.Code, reason.Text
	if code == websocket.CloseAbnormalClosure || code == 0 {
		code = websocket.CloseInternalServerErr
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	conn.Close()
}
