package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// wsConn is the bench's own minimal WebSocket client (RFC 6455, client
// side, no extensions). It exists for one reason: CPU. A goroutine per
// connection blocked in net.Conn.Read costs two read() calls per frame (the
// frame, then EAGAIN before parking) plus a scheduler round trip; reading
// the raw descriptor when an epoll set says it is ready costs one. The
// bench shares a 2-core machine with the server it measures, so that
// difference is a visible share of a core at 30,000 deliveries/s.
//
// The handshake and the Socket.IO connect exchange use blocking reads on
// the net.Conn; after that the connection is handed to a poller.
type wsConn struct {
	nc net.Conn // *net.TCPConn outside tests; nil once detached
	fd int
	// detached: the poller owns fd outright (see poller.detach); nc is
	// closed and writes and close go to fd.
	detached bool
	rbuf     []byte // bytes read but not yet parsed (a partial frame)
	frag     []byte // a fragmented message being assembled
	fop      byte   // opcode of the fragmented message
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket opcodes.
const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

var errIncomplete = errors.New("incomplete frame")

// dialWS opens a WebSocket to server (http or ws URL) at path?q.
func dialWS(ctx context.Context, server, path string, q url.Values) (*wsConn, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("parse server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "ws" {
		return nil, fmt.Errorf("server URL %q: the epoll reader speaks plain http/ws only (use --reader gorilla for https)", server)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	tc := nc.(*net.TCPConn)
	fail := func(err error) (*wsConn, error) {
		tc.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	left, err := wsHandshake(tc, u, path, q)
	if err != nil {
		return fail(err)
	}
	c := &wsConn{nc: tc}
	if len(left) > 0 {
		c.rbuf = append([]byte(nil), left...)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return fail(err)
	}
	_ = raw.Control(func(fd uintptr) { c.fd = int(fd) })
	_ = tc.SetDeadline(time.Time{})
	return c, nil
}

// wsHandshake asks conn's server to upgrade u's path + path?q and checks
// its answer. It returns what came after the response's header: frames the
// server wrote at once, before this client's first read.
func wsHandshake(conn net.Conn, u *url.URL, path string, q url.Values) ([]byte, error) {
	var keyRaw [16]byte
	_, _ = rand.Read(keyRaw[:])
	key := base64.StdEncoding.EncodeToString(keyRaw[:])
	target := strings.TrimSuffix(u.Path, "/") + path
	if enc := q.Encode(); enc != "" {
		target += "?" + enc
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	buf, end, err := readHead(conn)
	if err != nil {
		return nil, err
	}
	status, rest, _ := strings.Cut(string(buf[:end]), "\r\n")
	if f := strings.Fields(status); len(f) < 2 || f[1] != "101" {
		return nil, fmt.Errorf("websocket: bad handshake: %s %s", strings.TrimSpace(status), strings.TrimSpace(string(truncate(buf[end:], 200))))
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	want := base64.StdEncoding.EncodeToString(sum[:])
	for _, line := range strings.Split(rest, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Sec-WebSocket-Accept") && strings.TrimSpace(v) == want {
			return buf[end:], nil
		}
	}
	return nil, errors.New("websocket: bad handshake: Sec-WebSocket-Accept missing or wrong")
}

// readHead reads r up to the end of an HTTP response header, of at most
// 16 KiB; the header is buf[:end], what followed it buf[end:].
func readHead(r io.Reader) (buf []byte, end int, err error) {
	buf = make([]byte, 0, 1024)
	for {
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			return buf, i + 4, nil
		}
		if len(buf) >= 16<<10 {
			return nil, 0, errors.New("websocket handshake: response header too large")
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return nil, 0, fmt.Errorf("websocket handshake: %w", err)
		}
	}
}

// parseFrame parses one frame at the start of b. size is the bytes it
// takes; errIncomplete when b holds only part of it. A masked payload (a
// server must not mask, but be lenient) is unmasked in place.
func parseFrame(b []byte) (fin bool, op byte, payload []byte, size int, err error) {
	if len(b) < 2 {
		return false, 0, nil, 0, errIncomplete
	}
	fin = b[0]&0x80 != 0
	op = b[0] & 0x0f
	masked := b[1]&0x80 != 0
	n := uint64(b[1] & 0x7f)
	h := 2
	switch n {
	case 126:
		if len(b) < 4 {
			return false, 0, nil, 0, errIncomplete
		}
		n, h = uint64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, nil, 0, errIncomplete
		}
		n, h = binary.BigEndian.Uint64(b[2:10]), 10
	}
	if n > maxFrame {
		return false, 0, nil, 0, fmt.Errorf("websocket: frame of %d bytes exceeds %d", n, maxFrame)
	}
	var mask []byte
	if masked {
		if len(b) < h+4 {
			return false, 0, nil, 0, errIncomplete
		}
		mask = b[h : h+4]
		h += 4
	}
	if len(b) < h+int(n) {
		return false, 0, nil, 0, errIncomplete
	}
	payload = b[h : h+int(n)]
	if masked {
		for i := range payload {
			payload[i] ^= mask[i&3]
		}
	}
	return fin, op, payload, h + int(n), nil
}

// appendFrame appends a masked client frame.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n < 1<<16:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range dst[start:] {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// write sends one frame. It is called by one goroutine at a time (the
// setup goroutine, then the poller).
func (c *wsConn) write(op byte, payload []byte) error {
	var stack [128]byte
	frame := appendFrame(stack[:0], op, payload)
	if c.detached {
		return rawWrite(c.fd, frame)
	}
	_, err := c.nc.Write(frame)
	return err
}

// feed parses the frames in data (prefixed by what is left from the last
// call) and hands each complete message to onMessage; it answers pings and
// reports a close frame as io.EOF-like error. data may be reused by the
// caller afterwards: a partial frame is copied into c.rbuf.
func (c *wsConn) feed(data []byte, onMessage func([]byte) error) error {
	fromRbuf := len(c.rbuf) > 0
	if fromRbuf {
		c.rbuf = append(c.rbuf, data...)
		data = c.rbuf
	}
	for len(data) > 0 {
		fin, op, payload, size, err := parseFrame(data)
		if err == errIncomplete {
			break
		}
		if err != nil {
			return err
		}
		data = data[size:]
		switch op {
		case opText, opBin:
			if fin {
				if err := onMessage(payload); err != nil {
					return err
				}
			} else {
				c.fop, c.frag = op, append(c.frag[:0], payload...)
			}
		case opCont:
			c.frag = append(c.frag, payload...)
			if len(c.frag) > maxFrame {
				return errors.New("websocket: fragmented message too large")
			}
			if fin {
				err := onMessage(c.frag)
				c.frag = c.frag[:0]
				if err != nil {
					return err
				}
			}
		case opPing:
			if err := c.write(opPong, payload); err != nil {
				return err
			}
		case opPong:
		case opClose:
			code := 1005
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			_ = c.write(opClose, payload[:min(len(payload), 2)])
			return fmt.Errorf("websocket: closed by the server (%d %s)", code, truncate(payload[min(len(payload), 2):], 100))
		default:
			return fmt.Errorf("websocket: unknown opcode %d", op)
		}
	}
	// Keep the partial frame, if any, at the start of rbuf.
	switch {
	case len(data) == 0:
		c.rbuf = c.rbuf[:0]
	case fromRbuf: // data is a suffix of rbuf: move it to the front
		c.rbuf = c.rbuf[:copy(c.rbuf, data)]
	default:
		c.rbuf = append(c.rbuf[:0], data...)
	}
	return nil
}

// readMessage blocks until one whole message arrived (setup phase only).
func (c *wsConn) readMessage(deadline time.Time) ([]byte, error) {
	_ = c.nc.SetReadDeadline(deadline)
	defer c.nc.SetReadDeadline(time.Time{})
	var got []byte
	take := func(b []byte) error {
		if got != nil {
			return errStop
		}
		got = append([]byte(nil), b...)
		return errStop
	}
	buf := make([]byte, 2048)
	for {
		// Parse one message out of rbuf, leaving what follows it in rbuf.
		if len(c.rbuf) > 0 {
			rest := c.rbuf
			c.rbuf = nil
			if err := c.feedOne(rest, take); err != nil && err != errStop {
				return nil, err
			}
			if got != nil {
				return got, nil
			}
		}
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.rbuf = append(c.rbuf, buf[:n]...)
		}
		if err != nil {
			return nil, err
		}
	}
}

var errStop = errors.New("stop")

// feedOne is feed that stops after the first message and keeps the rest.
func (c *wsConn) feedOne(data []byte, onMessage func([]byte) error) error {
	for len(data) > 0 {
		_, op, payload, size, err := parseFrame(data)
		if err == errIncomplete {
			break
		}
		if err != nil {
			return err
		}
		frame := data[:size]
		data = data[size:]
		if op == opText || op == opBin {
			err := onMessage(payload)
			c.rbuf = append(c.rbuf[:0], data...)
			return err
		}
		// Control frames and fragments during setup: let feed handle them.
		if err := c.feed(frame, onMessage); err != nil {
			c.rbuf = append(c.rbuf[:0], data...)
			return err
		}
	}
	c.rbuf = append(c.rbuf[:0], data...)
	return nil
}

func (c *wsConn) close() error {
	if c.detached {
		return rawClose(c.fd)
	}
	return c.nc.Close()
}
