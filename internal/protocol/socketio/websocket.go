package socketio

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/posd/posd/internal/edge"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsframe"
)

// serveWebSocket runs the WebSocket transport: a new session when sess is
// nil, else the upgrade of a polling session (probe, upgrade, then the
// polling side is released with a noop). Each connection has one reader
// and one writer goroutine.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, sess *session) {
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
	// From here on the socket is framed by wsframe: gorilla's Conn and its
	// buffers are garbage once this returns, and the reader parks shallow
	// with no buffer while the client is quiet.
	nc := conn.NetConn()
	if tc := edge.TCP(nc); tc != nil && s.cfg.SendBuffer > 0 {
		_ = tc.SetWriteBuffer(s.cfg.SendBuffer)
	}
	direct := wsframe.NewDirect(nc)
	ws := &wsConn{nc: nc, r: wsframe.NewReader(nc, int64(s.cfg.MaxPayload)), direct: direct}
	if fresh {
		// The open packet goes first: it is written holding the writer
		// slot, so whatever comes meanwhile (a close at shutdown, say)
		// waits for it and is then written, not lost for want of a writer.
		sess.mu.Lock()
		sess.ws = ws
		sess.writing = true
		sess.mu.Unlock()
		if err := ws.write(s.cfg.WriteTimeout, [][]byte{s.openPacket(sess.id, transportWebSocket)}); err != nil {
			sess.closeWith(closeTransport, nil, false)
			ws.direct.Close()
			return
		}
		sess.mu.Lock()
		more := sess.pendingLocked()
		sess.again = false
		sess.writing = more
		sess.mu.Unlock()
		if more {
			go sess.writeWS()
		}
		sess.start()
		go sess.readLoop(ws)
		return
	}
	// The handler returns so that net/http releases the request and its
	// connection buffers.
	go func() {
		if s.probe(ws, sess) {
			sess.wake() // what queued during the switch goes out now
			sess.readLoop(ws)
		}
	}()
}

// wsConn is a session's WebSocket after the upgrade.
type wsConn struct {
	nc     net.Conn
	r      *wsframe.Reader
	direct *wsframe.Direct // non-blocking writes (when Enabled); every close of nc goes through it
	hdrs   []byte          // writer-owned: frame headers of one batch
	bufs   net.Buffers     // writer-owned
}

// framePool holds the buffers a direct write frames its packet in.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// tryWrite frames pkt and writes it without blocking; rest is what the
// socket did not take (to be written before anything else).
func (ws *wsConn) tryWrite(pkt []byte) (rest []byte, err error) {
	bp := framePool.Get().(*[]byte)
	frame := wsframe.AppendText((*bp)[:0], pkt)
	n, err := ws.direct.TryWrite(frame)
	if err == nil && n < len(frame) {
		rest = append([]byte(nil), frame[n:]...)
	}
	if cap(frame) <= 64<<10 {
		*bp = frame[:0]
		framePool.Put(bp)
	}
	return rest, err
}

// writeRaw writes bytes that are already framed.
func (ws *wsConn) writeRaw(timeout time.Duration, b []byte) error {
	_ = ws.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := ws.nc.Write(b)
	return err
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
		ws.direct.Close()
		return false
	}
	msg, err := ws.readText()
	if err != nil || msg != "2probe" {
		return fail()
	}
	sess.mu.Lock()
	if sess.closed || sess.upgrading || sess.transport != transportPolling {
		sess.mu.Unlock()
		ws.direct.Close()
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
				ws.direct.Close()
				return false
			}
			sess.transport = transportWebSocket
			sess.ws = ws
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
	// Serve handles what the probe's reads left buffered first.
	ws.r.Serve(func() bool { return sess.readAvailable(ws) })
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
			sess.queuePong(msg)
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

// queuePong hands the answer to a ping to the writer. Only the holder of
// the writer slot writes to the socket: a pong written by the reader could
// land inside a frame the fan-out wrote only in part, or race a direct
// write that does not wait for Go's descriptor lock. Only the latest ping
// needs an answer (RFC 6455 §5.5.3), so a client that pings without
// reading holds one pong here, not a growing pile.
func (s *session) queuePong(payload []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wsPong = wsframe.AppendControl(nil, wsframe.OpPong, payload)
	start := s.claimWriterLocked()
	s.mu.Unlock()
	if start {
		go s.writeWS()
	}
}

// writeWS writes what waits for the session's WebSocket: a direct write's
// rest, a pong, the session's own packets, then the hub client's frames, batched
// into one writev, until nothing is left; then it ends (wake starts it
// again). When the session is over it closes the connection.
func (s *session) writeWS() {
	// A polling GET released for the upgrade finishes before this writes.
	s.pullMu.Lock()
	defer s.pullMu.Unlock()
	srv := s.srv
	var frames [][]byte
	for {
		s.mu.Lock()
		s.again = false
		ws, sock, closed := s.ws, s.sock, s.closed
		raw, pong := s.rawPending, s.wsPong
		s.rawPending, s.wsPong = nil, nil
		frames = s.takeQueueLocked(frames[:0])
		s.mu.Unlock()

		var err error
		if sock != nil {
			frames, err = sock.client.Poll(context.Background(), frames)
		}
		// The rest of a partly written frame first: nothing may come
		// between its bytes.
		if raw = append(raw, pong...); len(raw) > 0 {
			if werr := ws.writeRaw(srv.cfg.WriteTimeout, raw); werr != nil {
				s.writeFailed(ws, werr)
				return
			}
		}
		wrote := len(frames) > 0
		if wrote {
			if werr := ws.write(srv.cfg.WriteTimeout, frames); werr != nil {
				s.writeFailed(ws, werr)
				return
			}
			clear(frames)
		}
		switch {
		case errors.Is(err, hub.ErrClosed):
			s.hubClosed(sock)
			continue
		case err != nil:
			srv.lg.Error("reading events for a websocket client", "sid", s.id, "err", err)
			s.closeWith(closeTransport, nil, true)
			continue
		case wrote || len(raw) > 0:
			continue
		case closed:
			s.mu.Lock()
			reason := s.reason
			s.mu.Unlock()
			srv.closeConn(ws, reason) // the writer slot stays taken: nothing more goes out
			return
		}
		if sock != nil && !sock.client.Idle() {
			continue
		}
		// Direct writes carry no deadline: leave none armed to fail them.
		_ = ws.nc.SetWriteDeadline(time.Time{})
		s.mu.Lock()
		if s.pendingLocked() {
			s.mu.Unlock()
			continue
		}
		s.writing = false
		s.mu.Unlock()
		return
	}
}

// pendingLocked reports whether the socket's writer has work: something
// arrived while it (or a direct write) held the slot.
func (s *session) pendingLocked() bool {
	return s.again || len(s.queue) > 0 || len(s.rawPending) > 0 || len(s.wsPong) > 0 || s.closed
}

// writeFailed ends the session after a failed write; a write that timed
// out means a client that stopped reading.
func (s *session) writeFailed(ws *wsConn, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if sock := s.socket(); sock != nil {
			sock.client.CloseSlow()
		}
	}
	s.closeWith(closeTransport, nil, true)
	ws.direct.Close()
}

// TryWrite is the hub client's Direct: the fan-out writes a live event to the
// socket itself when the session has nothing else waiting and no writer
// runs, with one non-blocking write. Otherwise it takes nothing (0), and
// the hub queues the event and wakes writeWS, which keeps the order.
func (s *session) TryWrite(pkt []byte) (int, error) {
	s.mu.Lock()
	ws := s.ws
	if ws == nil || !ws.direct.Enabled() || s.writing || s.closed || s.sock == nil || len(s.queue) > 0 || len(s.wsPong) > 0 {
		s.mu.Unlock()
		return 0, nil
	}
	s.writing = true
	s.mu.Unlock()
	rest, err := ws.tryWrite(pkt)
	s.mu.Lock()
	s.rawPending = rest
	start := err == nil && s.pendingLocked()
	if start {
		s.again = false
	} else {
		s.writing = false
	}
	s.mu.Unlock()
	if start {
		go s.writeWS()
	}
	if err != nil {
		return 0, err // the hub closes the client; its writer closes the session
	}
	return len(pkt), nil
}

func (s *Server) closeConn(ws *wsConn, reason hub.CloseReason) {
	code, text := reason.Code, reason.Text
	if code == websocket.CloseAbnormalClosure || code == 0 {
		code = websocket.CloseInternalServerErr
	}
	_ = ws.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = ws.nc.Write(wsframe.Close(code, text))
	ws.direct.Close()
}
