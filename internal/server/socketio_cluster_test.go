package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/testutil"
)

// eioPoller is a Socket.IO client on Engine.IO long-polling only, as a
// browser behind a proxy that blocks WebSockets: every request goes
// through base, a balancer with no stickiness.
type eioPoller struct {
	t    *testing.T
	base string
	hc   *http.Client
	ctx  context.Context // ends a pending poll when the test is done

	mu        sync.Mutex
	sid, pid  string
	offsets   []int64 // order:created offsets, as received
	recovered []bool  // per CONNECT after the first: was the socket recovered
}

func (c *eioPoller) url() string {
	return c.base + "/socket.io/?EIO=4&transport=polling&sid=" + c.sid
}

func (c *eioPoller) do(method, url, body string) (int, string, error) {
	req, _ := http.NewRequestWithContext(c.ctx, method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// open makes a session and connects the socket, recovering pid from
// offset when pid is set; it returns the packets that came with the reply.
func (c *eioPoller) open() ([]string, error) {
	status, body, err := c.do("GET", c.base+"/socket.io/?EIO=4&transport=polling", "")
	if err != nil || status != 200 || !strings.HasPrefix(body, "0{") {
		return nil, fmt.Errorf("handshake: %d %q %v", status, body, err)
	}
	var hs struct{ SID string }
	_ = json.Unmarshal([]byte(body[1:]), &hs)
	c.mu.Lock()
	c.sid = hs.SID
	connect := "40"
	if c.pid != "" {
		var last int64
		if n := len(c.offsets); n > 0 {
			last = c.offsets[n-1]
		}
		connect = fmt.Sprintf(`40{"pid":%q,"offset":"%d"}`, c.pid, last)
	}
	c.mu.Unlock()
	if status, body, err := c.do("POST", c.url(), connect); err != nil || status != 200 {
		return nil, fmt.Errorf("CONNECT: %d %q %v", status, body, err)
	}
	// Each poll is a long poll: it waits at the server, not here.
	var rest []string
	if testutil.Await(10*time.Second, 0, func() bool {
		var pkts []string
		if pkts, err = c.poll(); err != nil {
			return true
		}
		for i, p := range pkts {
			if !strings.HasPrefix(p, "40{") {
				continue
			}
			var reply struct{ PID string }
			_ = json.Unmarshal([]byte(p[2:]), &reply)
			c.mu.Lock()
			if c.pid != "" {
				c.recovered = append(c.recovered, reply.PID == c.pid)
			}
			c.pid = reply.PID
			c.mu.Unlock()
			rest = pkts[i+1:]
			return true
		}
		return false
	}) {
		return rest, err
	}
	return nil, fmt.Errorf("no CONNECT reply")
}

func (c *eioPoller) poll() ([]string, error) {
	status, body, err := c.do("GET", c.url(), "")
	if err != nil || status != 200 {
		return nil, fmt.Errorf("poll: %d %q %v", status, body, err)
	}
	pkts := strings.Split(body, "\x1e")
	for _, p := range pkts {
		switch {
		case p == "2":
			_, _, _ = c.do("POST", c.url(), "3")
		case p == "1":
			return nil, fmt.Errorf("closed by the server")
		}
	}
	return pkts, nil
}

func (c *eioPoller) take(pkts []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pkts {
		if m := sioOffset.FindStringSubmatch(p); m != nil {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			c.offsets = append(c.offsets, id)
		}
	}
}

// run polls until ctx ends, reconnecting (and asking to recover) after
// any failure, as socket.io-client does.
func (c *eioPoller) run(ctx context.Context) {
	for ctx.Err() == nil {
		pkts, err := c.poll()
		if err == nil {
			c.take(pkts)
			continue
		}
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			if pkts, err = c.open(); err == nil {
				c.take(pkts)
				break
			}
		}
	}
}

// Three nodes on PostgreSQL behind a round-robin balancer with no
// stickiness. A Socket.IO client on long-polling only connects and joins a
// stall's room through the balancer (its requests land on all three nodes;
// those not holding its session forward them to the one that does) and
// receives the stall's orders. The node holding its session is killed
// with SIGKILL: the client reconnects through the balancer to another
// node, is recovered (same pid) and gets every order it missed, once.
func TestSocketIOPollingAcrossNodesSurvivesSIGKILL(t *testing.T) {
	nodes := startCluster(t, 3)
	lb := roundRobin(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tenant struct{ ID int64 }
	if err := postJSON(ctx, lb.URL+"/api/tenants", map[string]any{"name": "Warung", "code": "T1"}, &tenant); err != nil {
		t.Fatal(err)
	}
	var orders []int64
	order := func() {
		t.Helper()
		body := map[string]any{"tenant_id": tenant.ID, "customer_name": "Budi",
			"items": []map[string]any{{"name": "Soto", "quantity": 1, "unit_price": 20000}}}
		var out struct{ ID int64 }
		for attempt := 0; ; attempt++ {
			err := postJSONKey(ctx, lb.URL+"/api/orders", fmt.Sprintf("o%d", len(orders)), body, &out)
			if err == nil {
				break
			}
			if attempt == 20 {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		orders = append(orders, out.ID)
	}

	runCtx, stop := context.WithCancel(ctx)
	c := &eioPoller{t: t, base: lb.URL, hc: &http.Client{Timeout: 40 * time.Second}, ctx: runCtx}
	pkts, err := c.open()
	if err != nil {
		t.Fatal(err)
	}
	c.take(pkts)
	owner := c.sid[:strings.Index(c.sid, ".")]
	if status, body, err := c.do("POST", c.url(), fmt.Sprintf(`42["join-tenant",%d]`, tenant.ID)); err != nil || status != 200 {
		t.Fatalf("join: %d %q %v", status, body, err)
	}
	done := make(chan struct{})
	go func() { defer close(done); c.run(runCtx) }()
	defer func() { stop(); <-done }()
	time.Sleep(200 * time.Millisecond) // the join is in
	received := func(n int) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, fmt.Sprintf("%d order:created events", n), func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return len(c.offsets) >= n
		})
	}
	for range 5 {
		order()
	}
	received(5)

	var killed *clusterNode
	for i, n := range nodes {
		if fmt.Sprintf("node%d", i) == owner {
			killed = n
		}
	}
	if killed == nil {
		t.Fatalf("sid %q names no node", c.sid)
	}
	killed.kill()
	for range 5 {
		order() // while the client is away
	}
	received(10)
	for range 3 {
		order()
	}
	received(13)
	time.Sleep(300 * time.Millisecond) // a duplicate would show by now
	stop()
	<-done

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recovered) == 0 {
		t.Fatal("the client never reconnected after its node was killed")
	}
	for i, ok := range c.recovered {
		if !ok {
			t.Fatalf("reconnection %d was not recovered (pid changed); reconnections: %v", i+1, c.recovered)
		}
	}
	if len(c.offsets) != len(orders) {
		t.Fatalf("received %d order:created events %v, want %d (one per order)", len(c.offsets), c.offsets, len(orders))
	}
	for i := 1; i < len(c.offsets); i++ {
		if c.offsets[i] <= c.offsets[i-1] {
			t.Fatalf("offsets out of order or repeated: %v", c.offsets)
		}
	}
	if !strings.HasPrefix(c.sid, "node") || strings.HasPrefix(c.sid, owner+".") {
		t.Fatalf("after the kill the session %q is still on the dead node %s", c.sid, owner)
	}
	t.Logf("polling through 3 nodes: session on %s, killed; %d reconnection(s), all recovered; %d events, each once", owner, len(c.recovered), len(c.offsets))
}
