package server_test

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/testutil"
)

// The server's --ws-send-buffer and --ws-write-timeout reach Socket.IO's
// WebSocket too: a Socket.IO client that stops reading is dropped once its
// small socket buffers are full and a write has waited the (short) write
// timeout, long before its large hub queue would overflow.
func TestSocketIOWebSocketHonoursWriteTimeout(t *testing.T) {
	s := durStart(t, func(c *server.Config) {
		c.WSSendBuffer = 8 << 10
		c.WSWriteTimeout = 200 * time.Millisecond
		c.Hub.MaxQueueMessages = 1 << 20
		c.Hub.MaxQueueBytes = 1 << 30
	})
	tenants, _ := durSeed(t, s, 1, 0)
	d := &websocket.Dialer{NetDialContext: durSmallBufferDialer().DialContext, HandshakeTimeout: 10 * time.Second}
	c := sioDialWith(t, s, d)
	c.connect("")
	c.joinTenant(tenants[0])
	room := domain.TenantRoom(tenants[0])
	if n := s.Hub.RoomSizes()[room]; n != 1 {
		t.Fatalf("room size %d", n)
	}
	// The client reads no more; orders keep coming until it is dropped.
	// With Socket.IO's own defaults (128 KiB, 10 s) that takes over 10 s;
	// with the server's settings well under 5.
	// The orders are the wait's pace: no pause between checks.
	if !testutil.Await(5*time.Second, 0, func() bool {
		if s.Hub.RoomSizes()[room] != 1 {
			return true
		}
		for range 20 {
			createOrder(t, s, tenants[0])
		}
		return false
	}) {
		t.Fatal("the non-reading Socket.IO client was not dropped within 5 s: the server's write timeout did not reach Socket.IO")
	}
}
