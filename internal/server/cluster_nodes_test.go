package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/store/postgres/pgtest"
)

// Three posd serve processes on one PostgreSQL schema act as one: a
// socket in tenant-1 on node A and one on node B are counted through any
// node, a room disconnect sent to node C closes both (4002) within a few
// seconds, and /api/nodes lists the three with no lag once the writes are
// delivered.
func TestClusterActsAsOne(t *testing.T) {
	nodes := startCluster(t, 3)
	lb := roundRobin(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 { // events written through each node in turn
		if err := postJSON(ctx, lb.URL+"/api/alerts", map[string]any{"severity": "info", "message": "hello"}, nil); err != nil {
			t.Fatal(err)
		}
	}

	dial := func(n *clusterNode) *websocket.Conn {
		t.Helper()
		c, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+strconv.Itoa(n.port)+"/ws?rooms=tenant-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if f := servertest.Read(t, c, 5*time.Second); f.Op != "ready" {
			t.Fatalf("first frame %+v, want ready", f)
		}
		return c
	}
	a, b := dial(nodes[0]), dial(nodes[1])

	// Counted through any node once the heartbeats are in.
	for range 3 { // one answer from each node, round robin
		var conns struct{ Active, Nodes int }
		var room struct{ Clients, Nodes int }
		if !testutil.Await(10*time.Second, nodesPoll, func() bool {
			if getJSON(ctx, lb.URL+"/api/connections", &conns) != nil || getJSON(ctx, lb.URL+"/api/rooms/tenant-1", &room) != nil {
				return false
			}
			return conns.Active == 2 && conns.Nodes == 3 && room.Clients == 2 && room.Nodes == 3
		}) {
			t.Fatalf("both sockets not counted through the proxy: connections %+v, room %+v", conns, room)
		}
	}

	// The disconnect goes to node C, which holds neither socket.
	req, _ := http.NewRequestWithContext(ctx, "DELETE", "http://127.0.0.1:"+strconv.Itoa(nodes[2].port)+"/api/rooms/tenant-1/connections", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Disconnected int
		OtherNodes   int  `json:"other_nodes"`
		Told         bool `json:"other_nodes_told"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if resp.StatusCode != 200 || disc.Disconnected != 0 || disc.OtherNodes != 2 || !disc.Told {
		t.Fatalf("DELETE on node C: %s %+v", resp.Status, disc)
	}
	sent := time.Now()
	for name, c := range map[string]*websocket.Conn{"A": a, "B": b} {
		_ = c.SetReadDeadline(sent.Add(5 * time.Second))
		for {
			_, _, err := c.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, 4002) {
				t.Fatalf("socket on node %s: %v, want close 4002 within 5 s", name, err)
			}
			break
		}
	}
	t.Logf("sockets on nodes A and B closed %v after the DELETE on node C", time.Since(sent).Round(time.Millisecond))

	// Every node listed, live, caught up with the log.
	var list struct {
		Head  int64
		Nodes []struct {
			ID   string
			Addr string
			Lag  int64
			Live bool
		}
	}
	if !testutil.Await(10*time.Second, nodesPoll, func() bool {
		if getJSON(ctx, lb.URL+"/api/nodes", &list) != nil || len(list.Nodes) != 3 {
			return false
		}
		for _, n := range list.Nodes {
			if !n.Live || n.Lag != 0 {
				return false
			}
		}
		return list.Head > 0
	}) {
		t.Fatalf("want three live nodes with lag 0: /api/nodes %+v", list)
	}
	t.Logf("/api/nodes: %+v", list)
}

// Revoking a token on one node closes its sockets on another at once, not
// at that node's next revocation sweep (an hour away here).
func TestRevokeReachesOtherNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg := server.Config{DBPath: dsn, TokenFile: t.TempDir() + "/admin.token", ExpiryCheckEvery: time.Hour}
	first := servertest.Start(t, cfg)
	second := servertest.Start(t, cfg)
	var tok struct {
		ID    int64
		Token string
	}
	first.MustDo(t, 201, first.Admin, "POST", "/api/tokens", map[string]any{"role": "display", "display": true}, &tok)
	c := second.Dial(t, tok.Token, "")
	if f := servertest.Read(t, c, 5*time.Second); f.Op != "ready" {
		t.Fatalf("first frame %+v, want ready", f)
	}
	first.MustDo(t, 200, first.Admin, "DELETE", "/api/tokens/"+strconv.FormatInt(tok.ID, 10), nil, nil)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, 4001) {
			t.Fatalf("socket on the other node: %v, want close 4001 within 5 s", err)
		}
		break
	}
}
