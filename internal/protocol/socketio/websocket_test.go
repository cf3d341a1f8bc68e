package socketio

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/testutil"
)

// Over WebSocket most events are written by the hub's fan-out itself; a
// client that stops reading fills its socket (partial writes, then the
// queue) and is closed as a slow consumer, while a reading client gets
// every event, in order, once.
func TestWebSocketReaderGetsEverythingWhileANonReaderIsDropped(t *testing.T) {
	lg := &memLog{}
	h := hub.New(hub.Options{Encoders: []hub.Encoder{Encode}, MaxQueueMessages: 512}, lg, nil)
	e := newEnvWithHub(t, lg, h, func(c *Config) { c.SendBuffer = 8 << 10 })

	reader, reply := connectWS(t, e, `{"token":"admin"}`)
	connectReply(t, reply)
	reader.send(`421["join-tenant",1]`)
	reader.expect(`431[{"ok":true,"room":"tenant-1"}]`)

	// The non-reader: a small receive buffer, and it never reads after joining.
	smallBufferMember(t, e)

	const n = 4000
	var got atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := int64(1); i <= n; i++ {
			reader.conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard
			_, msg, err := reader.conn.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			if want := `{"order_id":` + itoa(i) + `}`; !strings.Contains(string(msg), want) {
				t.Errorf("event %d: %s", i, msg)
			}
			got.Store(i)
		}
		done <- nil
	}()
	for i := int64(1); i <= n; i++ {
		// Keep the reader within its queue: only the non-reader overflows.
		testutil.Eventually(t, 10*time.Second, "the reader to keep within its queue", func() bool { return i-got.Load() <= 256 })
		e.publish(domain.EventOrderCreated, "tenant-1")
	}
	if err := <-done; err != nil {
		t.Fatalf("reader after %d events: %v", got.Load(), err)
	}
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		if n := h.Active(); n != 1 {
			return fmt.Errorf("%d hub clients, want the non-reader gone", n)
		}
		return nil
	})
}

// A WebSocket ping is answered by the writer, ahead of what it writes next.
func TestWebSocketPingIsAnswered(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial("EIO=4&transport=websocket")
	c.read() // open
	pongs := make(chan string, 1)
	c.conn.SetPongHandler(func(p string) error { pongs <- p; return nil })
	if err := c.conn.WriteControl(websocket.PingMessage, []byte("still there?"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.next()) // the pong is handled on the way
	select {
	case p := <-pongs:
		if p != "still there?" {
			t.Fatalf("pong %q", p)
		}
	default:
		t.Fatal("no pong before the CONNECT reply written after it")
	}
}

// A client that pings while the server cannot write to it (its buffers are
// full, a frame written only in part) gets its pong after the rest of that
// frame: the stream stays whole, every event arrives once and in order, and
// the latest ping is answered.
func TestWebSocketPongWaitsBehindAPartlyWrittenFrame(t *testing.T) {
	lg := &memLog{}
	h := hub.New(hub.Options{Encoders: []hub.Encoder{Encode}, MaxQueueMessages: 1 << 16, MaxQueueBytes: 1 << 30}, lg, nil)
	e := newEnvWithHub(t, lg, h, func(c *Config) { c.SendBuffer, c.WriteTimeout = 8<<10, 30*time.Second })
	c := smallBufferMember(t, e)
	conn := c.conn

	// Far more than the socket buffers hold: the fan-out's writes go
	// partial, then the rest queues behind a blocked writer.
	const n = 600
	for range n {
		e.publish(domain.EventOrderCreated, "tenant-1")
	}
	var last string
	conn.SetPongHandler(func(p string) error { last = p; return nil })
	for i := range 5 {
		if err := conn.WriteControl(websocket.PingMessage, []byte("ping-"+itoa(int64(i))), time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(1); i <= n; i++ {
		msg := c.next()
		if want := `{"order_id":` + itoa(i) + `}`; !strings.Contains(msg, want) {
			t.Fatalf("event %d: %q", i, msg)
		}
	}
	// The pong may trail the last event: one more round trip settles it.
	c.send(`421["join-tenant",1]`)
	c.expect(`431[{"ok":true,"room":"tenant-1"}]`)
	if last != "ping-4" {
		t.Fatalf("latest pong %q, want the answer to the latest ping (ping-4)", last)
	}
}

// smallBufferMember is a WebSocket client with a 4 KiB receive buffer,
// connected and in tenant-1: once it stops reading, the server's writes to
// it soon go partial.
func smallBufferMember(t *testing.T, e *env) *wsClient {
	t.Helper()
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(e.url("EIO=4&transport=websocket"), "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn}
	c.read()
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.next())
	c.send(`421["join-tenant",1]`)
	c.expect(`431[{"ok":true,"room":"tenant-1"}]`)
	return c
}
