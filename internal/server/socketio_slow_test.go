package server_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/server"
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
	u, _ := url.Parse(s.URL)
	d := websocket.Dialer{NetDialContext: durSmallBufferDialer().DialContext, HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial("ws://"+u.Host+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() string {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard
		_, m, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(m)
	}
	if m := read(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	send := func(pkt string) {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(pkt)); err != nil {
			t.Fatal(err)
		}
	}
	send(`40`)
	if m := read(); !strings.HasPrefix(m, "40{") {
		t.Fatalf("connect reply %q", m)
	}
	send(`421["join-tenant",` + strconv.FormatInt(tenants[0], 10) + `]`)
	if m := read(); !strings.HasPrefix(m, "431[") {
		t.Fatalf("join ack %q", m)
	}
	room := domain.TenantRoom(tenants[0])
	if n := s.Hub.RoomSize(room); n != 1 {
		t.Fatalf("room size %d", n)
	}
	// The client reads no more; orders keep coming until it is dropped.
	// With Socket.IO's own defaults (128 KiB, 10 s) that takes over 10 s;
	// with the server's settings well under 5.
	deadline := time.Now().Add(5 * time.Second)
	for s.Hub.RoomSize(room) == 1 {
		if time.Now().After(deadline) {
			t.Fatal("the non-reading Socket.IO client was not dropped within 5 s: the server's write timeout did not reach Socket.IO")
		}
		for range 20 {
			createOrder(t, s, tenants[0])
		}
	}
}
