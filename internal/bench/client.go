package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Protocols the bench speaks.
const (
	ProtoNative   = "native"
	ProtoSocketIO = "socketio"
)

// Small buffers: one frame of an order event is ~300 bytes, and the client
// sends only a few short frames, so the write buffer is pooled.
const (
	readBufferSize  = 2048
	writeBufferSize = 512
	initialFrameBuf = 512
	maxFrame        = 1 << 20
)

var writePool = &sync.Pool{}

// client is one bench connection and its reader.
type client struct {
	idx    int32
	node   int             // index of the server it is connected to, in Config.Servers
	conn   *websocket.Conn // --reader gorilla
	ws     *wsConn         // --reader epoll
	sink   sink[delivery]
	buf    []byte
	other  int64 // frames not accounted (joined, other events, pings); reader-owned
	errors int64 // error frames or unparsable order events; reader-owned
	gone   bool  // the poller dropped it; poller-owned
}

// dialer is shared by all clients.
func newDialer() *websocket.Dialer {
	return &websocket.Dialer{
		Proxy:            nil,
		HandshakeTimeout: 15 * time.Second,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  writePool,
	}
}

// wsURL turns the server's http(s) base URL into the ws(s) URL of path with query q.
func wsURL(server, path string, q url.Values) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("parse server URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: scheme must be http or https", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// msgConn is what the Socket.IO connect exchange needs from a connection.
type msgConn interface {
	readMessage(deadline time.Time) ([]byte, error)
	writeText(b []byte) error
}

type gorillaConn struct{ *websocket.Conn }

func (g gorillaConn) readMessage(deadline time.Time) ([]byte, error) {
	_ = g.SetReadDeadline(deadline)
	defer g.SetReadDeadline(time.Time{})
	_, b, err := g.ReadMessage()
	return b, err
}

func (g gorillaConn) writeText(b []byte) error { return g.WriteMessage(websocket.TextMessage, b) }

func (c *wsConn) writeText(b []byte) error { return c.write(opText, b) }

func nativeQuery(token string, rooms []string) url.Values {
	q := url.Values{}
	if token != "" {
		q.Set("token", token)
	}
	q.Set("rooms", strings.Join(rooms, ","))
	return q
}

var sioQuery = url.Values{"EIO": {"4"}, "transport": {"websocket"}}

// dialGorilla opens a WebSocket with gorilla/websocket (the --reader
// gorilla path: a goroutine per connection).
func dialGorilla(ctx context.Context, d *websocket.Dialer, server, path string, q url.Values) (*websocket.Conn, error) {
	u, err := wsURL(server, path, q)
	if err != nil {
		return nil, err
	}
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, dialError(err, resp)
	}
	return conn, nil
}

// sioHandshake speaks Engine.IO v4 over a WebSocket from the start (no
// polling): it waits for the open packet, connects the main namespace with
// auth {token}, waits for the server's CONNECT and emits the join events.
func sioHandshake(ctx context.Context, mc msgConn, token string, tenantID int64, display bool) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(15 * time.Second)
	}
	read := func() (sioPacket, error) {
		b, err := mc.readMessage(deadline)
		if err != nil {
			return sioPacket{}, err
		}
		p, ok := parseSIO(b)
		if !ok {
			return p, fmt.Errorf("malformed packet %.60q", b)
		}
		return p, nil
	}
	p, err := read()
	if err != nil {
		return fmt.Errorf("engine.io open: %w", err)
	}
	if p.eio != eioOpen {
		return fmt.Errorf("engine.io open: unexpected packet type %q", p.eio)
	}
	connect := []byte("40")
	if token != "" {
		auth, _ := json.Marshal(struct {
			Token string `json:"token"`
		}{token})
		connect = append(connect, auth...)
	}
	if err := mc.writeText(connect); err != nil {
		return fmt.Errorf("socket.io connect: %w", err)
	}
	for {
		p, err := read()
		if err != nil {
			return fmt.Errorf("socket.io connect: %w", err)
		}
		switch {
		case p.eio == eioPing:
			if err := mc.writeText([]byte{eioPong}); err != nil {
				return err
			}
			continue
		case p.eio == eioMessage && p.sio == sioConnect:
		case p.eio == eioMessage && p.sio == sioConnectError:
			return fmt.Errorf("socket.io connect refused: %s", p.data)
		case p.eio == eioClose:
			return errors.New("socket.io connect: server closed the session")
		default:
			continue // noop or an early event; nothing is joined yet
		}
		break
	}
	join := strconv.AppendInt([]byte(`42["join-tenant",`), tenantID, 10)
	join = append(join, ']')
	if err := mc.writeText(join); err != nil {
		return fmt.Errorf("socket.io join-tenant: %w", err)
	}
	if display {
		if err := mc.writeText([]byte(`42["join-display"]`)); err != nil {
			return fmt.Errorf("socket.io join-display: %w", err)
		}
	}
	return nil
}

func dialError(err error, resp *http.Response) error {
	if resp == nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	resp.Body.Close()
	return fmt.Errorf("%w: HTTP %d %s", err, resp.StatusCode, strings.TrimSpace(string(body)))
}

// readLoop reads frames until the connection ends (the gorilla reader: one
// goroutine per connection), returning the error that ended it.
func (c *client) readLoop(proto string, now func() int64) error {
	c.conn.SetReadLimit(maxFrame)
	if c.buf == nil {
		c.buf = make([]byte, initialFrameBuf)
	}
	for {
		_, r, err := c.conn.NextReader()
		if err != nil {
			return err
		}
		b, err := readFrame(r, &c.buf)
		if err != nil {
			return err
		}
		reply, err := c.onMessage(proto, b, now())
		if reply != nil {
			if err := c.conn.WriteMessage(websocket.TextMessage, reply); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
	}
}

// connect opens the client's connection and joins its rooms.
func (c *client) connect(ctx context.Context, cfg *Config, server string, d *websocket.Dialer, tenantID int64, display bool, now func() int64) error {
	path, q := "/socket.io/", sioQuery
	if cfg.Proto == ProtoNative {
		rooms := []string{"tenant-" + strconv.FormatInt(tenantID, 10)}
		if display {
			rooms = append(rooms, "display")
		}
		path, q = "/ws", nativeQuery(cfg.Token, rooms)
	}
	var mc msgConn
	if cfg.Reader == ReaderGorilla {
		conn, err := dialGorilla(ctx, d, server, path, q)
		if err != nil {
			return err
		}
		c.conn, mc = conn, gorillaConn{conn}
	} else {
		ws, err := dialWS(ctx, server, path, q)
		if err != nil {
			return err
		}
		c.ws, mc = ws, ws
	}
	if cfg.Proto == ProtoSocketIO {
		if err := sioHandshake(ctx, mc, cfg.Token, tenantID, display); err != nil {
			if c.ws != nil {
				c.ws.close()
			} else {
				c.conn.Close()
			}
			return err
		}
	}
	if c.ws != nil && len(c.ws.rbuf) > 0 {
		// Frames that came with the handshake: account them now, before the
		// poller owns the connection.
		at := now()
		err := c.ws.feed(nil, func(m []byte) error {
			reply, err := c.onMessage(cfg.Proto, m, at)
			if reply != nil {
				if werr := c.ws.writeText(reply); werr != nil {
					return werr
				}
			}
			return err
		})
		if err != nil {
			c.ws.close()
			return err
		}
	}
	return nil
}

var pong = []byte{eioPong}

// onMessage accounts one whole message received at `at`. reply is what
// the protocol wants sent back (an Engine.IO pong); err ends the connection.
func (c *client) onMessage(proto string, b []byte, at int64) (reply []byte, err error) {
	var kind frameKind
	var id int64
	if proto == ProtoSocketIO {
		p, ok := parseSIO(b)
		switch {
		case !ok:
			kind = frameError
		case p.eio == eioPing:
			reply = pong
		case p.eio == eioClose:
			return nil, errors.New("engine.io close packet")
		case p.eio == eioMessage && p.sio == sioEvent:
			kind, id = parseSIOEvent(p)
		case p.eio == eioMessage && p.sio == sioDisconnect:
			return nil, errors.New("socket.io disconnect packet")
		}
	} else {
		kind, id = parseNative(b)
	}
	switch kind {
	case frameCreated:
		c.sink.put(delivery{order: id, at: at, client: c.idx})
	case frameError:
		c.errors++
	default:
		c.other++
	}
	return reply, nil
}

// readFrame reads a whole message into *buf, growing it when needed.
func readFrame(r io.Reader, buf *[]byte) ([]byte, error) {
	b := *buf
	n := 0
	for {
		if n == len(b) {
			nb := make([]byte, 2*len(b))
			copy(nb, b)
			b = nb
			*buf = b
		}
		m, err := r.Read(b[n:])
		n += m
		if err == io.EOF {
			return b[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
}
