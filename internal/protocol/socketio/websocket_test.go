package socketio

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
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
	defer conn.Close()
	stalled := &wsClient{t: t, conn: conn}
	stalled.read()
	stalled.send(`40{"token":"admin"}`)
	connectReply(t, stalled.next())
	stalled.send(`421["join-tenant",1]`)
	stalled.expect(`431[{"ok":true,"room":"tenant-1"}]`)

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
		for i-got.Load() > 256 {
			time.Sleep(time.Millisecond)
		}
		e.publish(domain.EventOrderCreated, "tenant-1")
	}
	if err := <-done; err != nil {
		t.Fatalf("reader after %d events: %v", got.Load(), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.Active() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d hub clients, want the non-reader gone", h.Active())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
