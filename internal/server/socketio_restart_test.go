package server_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// sioConn is a raw Socket.IO v4 client over a WebSocket.
type sioConn struct {
	t    *testing.T
	conn *websocket.Conn
}

func sioDial(t *testing.T, s *servertest.Server) *sioConn {
	t.Helper()
	return sioDialWith(t, s, websocket.DefaultDialer)
}

// sioDialWith is sioDial through d (a small receive buffer, say).
func sioDialWith(t *testing.T, s *servertest.Server, d *websocket.Dialer) *sioConn {
	t.Helper()
	return sioDialURL(t, s.URL, d)
}

// sioDialURL opens a Socket.IO WebSocket session on the server at base.
func sioDialURL(t *testing.T, base string, d *websocket.Dialer) *sioConn {
	t.Helper()
	u, _ := url.Parse(base)
	conn, _, err := d.Dial("ws://"+u.Host+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &sioConn{t: t, conn: conn}
	if m := c.next(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	return c
}

func (c *sioConn) send(pkt string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(pkt)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next packet other than a heartbeat.
func (c *sioConn) next() string {
	c.t.Helper()
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard
		_, m, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if string(m) == "2" {
			c.send("3")
			continue
		}
		return string(m)
	}
}

// connect sends CONNECT with data and returns the session's pid.
func (c *sioConn) connect(data string) string {
	c.t.Helper()
	c.send("40" + data)
	m := c.next()
	var reply struct{ SID, PID string }
	if !strings.HasPrefix(m, "40{") || json.Unmarshal([]byte(m[2:]), &reply) != nil || reply.PID == "" {
		c.t.Fatalf("CONNECT reply %q", m)
	}
	return reply.PID
}

// joinTenant joins the tenant's room and checks the acknowledgement.
func (c *sioConn) joinTenant(tenant int64) {
	c.t.Helper()
	c.send(`421["join-tenant",` + strconv.FormatInt(tenant, 10) + `]`)
	if m := c.next(); !strings.HasPrefix(m, "431[") {
		c.t.Fatalf("join ack %q", m)
	}
}

var sioOffset = regexp.MustCompile(`^42\["order:created",.*,"(\d+)"\]$`)

// orderCreated reads the next packet as an order:created event and returns
// its offset (the event id).
func (c *sioConn) orderCreated() int64 {
	c.t.Helper()
	m := c.next()
	sub := sioOffset.FindStringSubmatch(m)
	if sub == nil {
		c.t.Fatalf("packet %q, want an order:created event", m)
	}
	id, _ := strconv.ParseInt(sub[1], 10, 64)
	return id
}

// A graceful restart keeps Socket.IO's connection-state recovery: a client
// that comes back to the new process with its pid and offset keeps its
// session and rooms and gets what happened while it was away.
func TestSocketIORecoversAcrossAGracefulRestart(t *testing.T) {
	db := t.TempDir() + "/posd.db"
	s := durStart(t, func(c *server.Config) { c.DBPath = db })
	tenants, _ := durSeed(t, s, 1, 0)
	c := sioDial(t, s)
	pid := c.connect("")
	c.joinTenant(tenants[0])
	createOrder(t, s, tenants[0])
	offset := c.orderCreated()

	s.Stop(t) // graceful: the client's transport closes

	s2 := durStart(t, func(c *server.Config) { c.DBPath = db })
	createOrder(t, s2, tenants[0]) // while the client is away
	c2 := sioDial(t, s2)
	if got := c2.connect(`{"pid":"` + pid + `","offset":"` + strconv.FormatInt(offset, 10) + `"}`); got != pid {
		t.Fatalf("reconnected as pid %s, want the recovered %s", got, pid)
	}
	missed := c2.orderCreated()
	if missed != offset+1 {
		t.Fatalf("first event after recovery %d, want %d", missed, offset+1)
	}
	createOrder(t, s2, tenants[0])
	if live := c2.orderCreated(); live != missed+1 { // the room came back with the session
		t.Fatalf("live event %d, want %d", live, missed+1)
	}
}
