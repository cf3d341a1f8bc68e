package socketio

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsframe"
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
	// From here on the socket is framed by wsframe: gorilla's Conn and its
	// buffers are garbage once this returns, and the reader parks shallow
	// with no buffer while the client is quiet.
	ws := &wsConn{nc: conn.NetConn(), r: wsframe.NewReader(conn.NetConn(), int64(s.cfg.MaxPayload))}
	if sess == nil {
		sess = newSession(s, r, transportWebSocket)
		if !s.addSession(sess) {
			s.mu.Lock()
			reason := hub.TryAgainLater
			if s.closed {
				reason = closeShutdown
			}
			s.mu.Unlock()
			s.closeConn(ws, reason)
			return
		}
		if err := ws.write(s.cfg.WriteTimeout, [][]byte{s.openPacket(sess.id)}); err != nil {
			sess.closeWith(closeTransport, nil, false)
			ws.nc.Close()
			return
		}
		sess.startHeartbeat()
		go sess.writeLoop(ws)
		go sess.readLoop(ws)
		return
	}
	// The handler returns so that net/http releases the request and its
	// connection buffers.
	go func() {
		if s.probe(ws, sess) {
			go sess.writeLoop(ws)
			sess.readLoop(ws)
		}
	}()
}

// wsConn is a session's WebSocket after the upgrade.
type wsConn struct {
	nc   net.Conn
	r    *wsframe.Reader
	hdrs []byte      // writer-owned: frame headers of one batch
	bufs net.Buffers // writer-owned
}

// write sends frames (Engine.IO packets) as text frames in one writev.
func (ws *wsConn) write(timeout time.Duration, frames [][]byte) error {
	ws.hdrs = ws.hdrs[:0]
	for _, f := range frames {
		ws.hdrs = wsframe.AppendTextHeader(ws.hdrs, len(f))
	}
	// Headers and payloads interleaved, the payloads not copied.
	ws.bufs = ws.bufs[:0]
	off := 0
	for _, f := range frames {
		n := wsframe.TextHeaderLen(len(f))
		ws.bufs = append(ws.bufs, ws.hdrs[off:off+n], f)
		off += n
	}
	_ = ws.nc.SetWriteDeadline(time.Now().Add(timeout))
	bufs := ws.bufs
	_, err := bufs.WriteTo(ws.nc)
	clear(ws.bufs[:cap(ws.bufs)])
	return err
}

// readText waits for the next text message (the upgrade probe), answering
// pings on the way.
func (ws *wsConn) readText() (string, error) {
	for {
		op, p, err := ws.r.Next()
		switch {
		case err == wsframe.ErrWait:
			if err := ws.r.WaitReadable(); err != nil {
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
			_, _ = ws.nc.Write(wsframe.AppendControl(nil, wsframe.OpPong, p))
		case wsframe.OpPong:
		default:
			return "", errors.New("websocket: not a text message")
		}
	}
}

// probe runs the client's upgrade handshake on ws: "2probe" → "3probe",
// then "5". Meanwhile the polling GET is released with a noop so that the
// client can pause polling. It reports whether sess now runs on ws.
func (s *Server) probe(ws *wsConn, sess *session) bool {
	deadline := time.Now().Add(s.cfg.PingTimeout)
	_ = ws.nc.SetReadDeadline(deadline)
	fail := func() bool {
		sess.mu.Lock()
		sess.upgrading = false
		sess.mu.Unlock()
		ws.nc.Close()
		return false
	}
	msg, err := ws.readText()
	if err != nil || msg != "2probe" {
		return fail()
	}
	sess.mu.Lock()
	if sess.closed || sess.upgrading || sess.transport != transportPolling {
		sess.mu.Unlock()
		ws.nc.Close()
		return false
	}
	sess.upgrading = true
	if sess.getCancel != nil {
		sess.getCancel()
	}
	sess.mu.Unlock()
	if err := ws.write(s.cfg.WriteTimeout, [][]byte{[]byte("3probe")}); err != nil {
		return fail()
	}
	for {
		msg, err = ws.readText()
		if err != nil {
			return fail()
		}
		switch msg {
		case "5":
			sess.mu.Lock()
			if sess.closed {
				sess.mu.Unlock()
				ws.nc.Close()
				return false
			}
			sess.transport = transportWebSocket
			sess.upgrading = false
			if sess.getCancel != nil {
				sess.getCancel()
			}
			sess.mu.Unlock()
			_ = ws.nc.SetReadDeadline(time.Time{})
			s.lg.Debug("upgraded to websocket", "sid", sess.id)
			return true
		case "6": // noop while the client pauses polling
		default:
			return fail()
		}
	}
}

// readLoop handles the client's packets until the connection fails. It
// parks in WaitReadable between messages (see wsframe.Reader).
func (sess *session) readLoop(ws *wsConn) {
	// What the probe's reads left buffered goes first.
	for sess.readAvailable(ws) && ws.r.WaitReadable() == nil {
	}
	sess.closeWith(closeByClient, nil, true) // no-op when already closed
}

// readAvailable handles every complete message the socket has; false ends
// the connection.
func (sess *session) readAvailable(ws *wsConn) bool {
	ctx := context.Background()
	for {
		op, msg, err := ws.r.Next()
		switch {
		case err == wsframe.ErrWait:
			return true
		case errors.Is(err, wsframe.ErrTooLarge):
			sess.closeWith(closeTooLarge, nil, true)
			return false
		case errors.Is(err, wsframe.ErrProtocol):
			sess.closeWith(closeParseError, nil, true)
			return false
		case err != nil:
			return false
		}
		switch op {
		case wsframe.OpClose:
			return false
		case wsframe.OpPing:
			// Whole small writes do not interleave with the writer's.
			_, _ = ws.nc.Write(wsframe.AppendControl(nil, wsframe.OpPong, msg))
			continue
		case wsframe.OpPong:
			continue
		case wsframe.OpBinary:
			sess.handlePacket(ctx, enginePacket{Type: eioMessage, Data: string(msg), Binary: true})
			continue
		}
		p, err := decodeEnginePacket(string(msg))
		if err != nil {
			sess.closeWith(closeParseError, nil, true)
			return false
		}
		sess.handlePacket(ctx, p)
		if sess.isClosed() {
			return false
		}
	}
}

// writeLoop is the connection's single writer: it drains the session,
// writing what is waiting in one writev, and closes the connection when
// the session ends.
func (sess *session) writeLoop(ws *wsConn) {
	sess.pullMu.Lock()
	defer sess.pullMu.Unlock()
	srv := sess.srv
	frames := make([][]byte, 0, 8)
	for {
		var err error
		frames, err = sess.pull(context.Background(), frames[:0])
		if len(frames) > 0 {
			if werr := ws.write(srv.cfg.WriteTimeout, frames); werr != nil {
				sess.closeWith(closeTransport, nil, true)
				ws.nc.Close()
				return
			}
		}
		clear(frames)
		if err == errSessionClosed {
			sess.mu.Lock()
			reason := sess.reason
			sess.mu.Unlock()
			srv.closeConn(ws, reason)
			return
		}
		if err != nil {
			srv.lg.Error("reading events for a websocket client", "sid", sess.id, "err", err)
			sess.closeWith(closeTransport, nil, true)
		}
	}
}

func (s *Server) closeConn(ws *wsConn, reason hub.CloseReason) {
	code, text := reason.Code, reason.Text
	if code == websocket.CloseAbnormalClosure || code == 0 {
		code = websocket.CloseInternalServerErr
	}
	_ = ws.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = ws.nc.Write(wsframe.Close(code, text))
	ws.nc.Close()
}
