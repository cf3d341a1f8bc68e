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
	"sync/atomic"
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
	conn   *websocket.Conn
	sink   sink[delivery]
	buf    []byte
	other  int64 // frames not accounted (joined, other events, pings); reader-owned
	errors int64 // error frames or unparsable order events; reader-owned
	joined int64 // native "joined" acknowledgements; reader-owned
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

// connectNative opens /ws joined to the client's rooms at connect time.
func connectNative(ctx context.Context, d *websocket.Dialer, server, token string, rooms []string) (*websocket.Conn, error) {
	q := url.Values{}
	if token != "" {
		q.Set("token", token)
	}
	q.Set("rooms", strings.Join(rooms, ","))
	u, err := wsURL(server, "/ws", q)
	if err != nil {
		return nil, err
	}
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, dialError(err, resp)
	}
	return conn, nil
}

// connectSocketIO speaks Engine.IO v4 over a WebSocket from the start (no
// polling), connects the main namespace with auth {token} and emits the
// join events. It returns once the server acknowledged the CONNECT.
func connectSocketIO(ctx context.Context, d *websocket.Dialer, server, token string, tenantID int64, display bool) (*websocket.Conn, error) {
	q := url.Values{"EIO": {"4"}, "transport": {"websocket"}}
	u, err := wsURL(server, "/socket.io/", q)
	if err != nil {
		return nil, err
	}
	conn, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, dialError(err, resp)
	}
	fail := func(err error) (*websocket.Conn, error) {
		conn.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	} else {
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	}
	// Engine.IO open packet.
	p, err := readSIO(conn)
	if err != nil {
		return fail(fmt.Errorf("engine.io open: %w", err))
	}
	if p.eio != eioOpen {
		return fail(fmt.Errorf("engine.io open: unexpected packet type %q", p.eio))
	}
	connect := []byte("40")
	if token != "" {
		auth, _ := json.Marshal(struct {
			Token string `json:"token"`
		}{token})
		connect = append(connect, auth...)
	}
	if err := conn.WriteMessage(websocket.TextMessage, connect); err != nil {
		return fail(fmt.Errorf("socket.io connect: %w", err))
	}
	for {
		p, err := readSIO(conn)
		if err != nil {
			return fail(fmt.Errorf("socket.io connect: %w", err))
		}
		switch {
		case p.eio == eioPing:
			if err := conn.WriteMessage(websocket.TextMessage, []byte{eioPong}); err != nil {
				return fail(err)
			}
			continue
		case p.eio == eioMessage && p.sio == sioConnect:
		case p.eio == eioMessage && p.sio == sioConnectError:
			return fail(fmt.Errorf("socket.io connect refused: %s", p.data))
		case p.eio == eioClose:
			return fail(errors.New("socket.io connect: server closed the session"))
		default:
			continue // noop or an early event; nothing is joined yet
		}
		break
	}
	_ = conn.SetReadDeadline(time.Time{})
	join := strconv.AppendInt([]byte(`42["join-tenant",`), tenantID, 10)
	join = append(join, ']')
	if err := conn.WriteMessage(websocket.TextMessage, join); err != nil {
		return fail(fmt.Errorf("socket.io join-tenant: %w", err))
	}
	if display {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`42["join-display"]`)); err != nil {
			return fail(fmt.Errorf("socket.io join-display: %w", err))
		}
	}
	return conn, nil
}

func readSIO(conn *websocket.Conn) (sioPacket, error) {
	_, b, err := conn.ReadMessage()
	if err != nil {
		return sioPacket{}, err
	}
	p, ok := parseSIO(b)
	if !ok {
		return p, fmt.Errorf("malformed packet %.60q", b)
	}
	return p, nil
}

func dialError(err error, resp *http.Response) error {
	if resp == nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	resp.Body.Close()
	return fmt.Errorf("%w: HTTP %d %s", err, resp.StatusCode, strings.TrimSpace(string(body)))
}

// readLoop reads frames until the connection ends, handing each
// order:created to the client's sink with its receipt time. It returns the
// error that ended it.
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
		at := now()
		var kind frameKind
		var id int64
		if proto == ProtoSocketIO {
			p, ok := parseSIO(b)
			switch {
			case !ok:
				kind = frameError
			case p.eio == eioPing:
				if err := c.conn.WriteMessage(websocket.TextMessage, []byte{eioPong}); err != nil {
					return err
				}
			case p.eio == eioClose:
				return errors.New("engine.io close packet")
			case p.eio == eioMessage && p.sio == sioEvent:
				kind, id = parseSIOEvent(p)
			case p.eio == eioMessage && p.sio == sioDisconnect:
				return errors.New("socket.io disconnect packet")
			}
		} else {
			kind, id = parseNative(b)
			if kind == frameOther && isJoined(b) {
				c.joined++
			}
		}
		switch kind {
		case frameCreated:
			c.sink.put(delivery{order: id, at: at, client: c.idx})
		case frameError:
			c.errors++
		default:
			c.other++
		}
	}
}

func isJoined(b []byte) bool {
	op, ok := stringField(b, keyOp)
	return ok && string(op) == "joined"
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

// counter is a tiny helper for counters shared by goroutines.
type counter = atomic.Int64
