package server_test

import (
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// On SQLite the cluster is this node: the counts are its live figures and
// say one node, /api/nodes lists it alone with no lag, /healthz names it,
// and only an admin may list the nodes.
func TestNodesOnOneNode(t *testing.T) {
	s := servertest.Start(t, server.Config{NodeID: "solo0001"})
	s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Stall 1", "code": "T1"}, nil)
	dialReady(t, s, "tenant-1")
	dialReady(t, s, "tenant-1,display")

	var conns struct{ Active, Nodes int }
	s.MustDo(t, 200, s.Admin, "GET", "/api/connections", nil, &conns)
	if conns.Active != 2 || conns.Nodes != 1 {
		t.Fatalf("/api/connections %+v; want 2 active on 1 node", conns)
	}
	var rooms struct {
		Rooms map[string]int
		Nodes int
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/rooms", nil, &rooms)
	if rooms.Rooms["tenant-1"] != 2 || rooms.Rooms["display"] != 1 || rooms.Nodes != 1 {
		t.Fatalf("/api/rooms %+v", rooms)
	}
	var room struct {
		Clients, Nodes int
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/rooms/tenant-1", nil, &room)
	if room.Clients != 2 || room.Nodes != 1 {
		t.Fatalf("/api/rooms/tenant-1 %+v", room)
	}

	s.MustDo(t, 201, s.Admin, "POST", "/api/alerts", map[string]string{"severity": "info", "message": "hello"}, nil)
	var nodes struct {
		Head  int64
		Nodes []struct {
			ID          string
			Connections int
			Delivered   int64
			Lag         int64
			Live, Self  bool
		}
	}
	if !testutil.Await(10*time.Second, nodesPoll, func() bool {
		s.MustDo(t, 200, s.Admin, "GET", "/api/nodes", nil, &nodes)
		return len(nodes.Nodes) == 1 && nodes.Nodes[0].Lag == 0
	}) {
		t.Fatalf("the order was not delivered: /api/nodes %+v", nodes)
	}
	n := nodes.Nodes[0]
	if n.ID != "solo0001" || n.Connections != 2 || !n.Live || !n.Self || nodes.Head == 0 || n.Delivered != nodes.Head {
		t.Fatalf("/api/nodes %+v", nodes)
	}
	var h struct{ Node string }
	s.MustDo(t, 200, "", "GET", "/healthz", nil, &h)
	if h.Node != "solo0001" {
		t.Fatalf("/healthz node %q", h.Node)
	}

	var tok struct{ Token string }
	s.MustDo(t, 201, s.Admin, "POST", "/api/tokens", map[string]any{"role": "tenant", "tenant_id": 1}, &tok)
	s.MustDo(t, 403, tok.Token, "GET", "/api/nodes", nil, nil)

	var disc struct {
		Disconnected int
		OtherNodes   int `json:"other_nodes"`
	}
	s.MustDo(t, 200, s.Admin, "DELETE", "/api/rooms/tenant-1/connections", nil, &disc)
	if disc.Disconnected != 2 || disc.OtherNodes != 0 {
		t.Fatalf("room disconnect answered %+v", disc)
	}
}

// nodesPoll is how often a test asks the nodes for their view: a
// request each Poll would load the very nodes it waits for.
const nodesPoll = 50 * time.Millisecond
