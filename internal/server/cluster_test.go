package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/store/postgres/pgtest"
)

// clusterNode is one posd serve process of a cluster.
type clusterNode struct {
	t    *testing.T
	port int
	dsn  string
	dir  string
	args []string // more flags for posd serve
	proc *attackProc
}

// start runs the node (again) on its port and waits for /healthz.
func (n *clusterNode) start() {
	t := n.t
	t.Helper()
	p := &attackProc{
		Addr:   "127.0.0.1:" + strconv.Itoa(n.port),
		stderr: &testutil.Buffer{},
		exited: make(chan struct{}),
	}
	p.Base = "http://" + p.Addr
	p.cmd = exec.Command(attackBinary(t), "serve", "--addr", p.Addr, "--db", n.dsn, "--auth=off", "--log-level", "warn",
		"--max-conns-per-addr", "5000", "--max-prelogin-per-addr", "5000")
	p.cmd.Args = append(p.cmd.Args, n.args...)
	p.cmd.Env = posdEnv()
	p.cmd.Dir = n.dir
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	n.proc = p
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("node %d stderr:\n%s", n.port, tail(p.stderr.String(), 3000))
		}
	})
	if !testutil.Await(30*time.Second, 50*time.Millisecond, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("node %d exited: %v\n%s", n.port, p.err, p.stderr)
		default:
		}
		resp, err := http.Get(p.Base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("node %d did not answer /healthz\n%s", n.port, p.stderr)
	}
}

func (n *clusterNode) kill() {
	_ = n.proc.cmd.Process.Kill()
	<-n.proc.exited
}

// startCluster starts n nodes named node0, node1, … on one fresh
// PostgreSQL schema, all at once. Each node's connections carry the
// application name posd-cluster-<port>, so a test can act on one node's
// connections and no other test's.
func startCluster(t *testing.T, n int) []*clusterNode {
	t.Helper()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	var nodes []*clusterNode
	for i := range n {
		port := testutil.FreePort(t)
		app := fmt.Sprintf("posd-cluster-%d", port)
		nodes = append(nodes, &clusterNode{t: t, port: port, dsn: pgtest.WithParam(t, dsn, "application_name", app), dir: dir,
			args: []string{"--node-id", fmt.Sprintf("node%d", i)}})
	}
	var wg sync.WaitGroup
	for _, c := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); c.start() }()
	}
	wg.Wait()
	return nodes
}

// roundRobin is a load balancer with no stickiness: each request, and
// each WebSocket upgrade, goes to the next node; a node that refuses the
// connection is skipped, as a load balancer's health check would.
func roundRobin(t *testing.T, nodes []*clusterNode) *httptest.Server {
	var next atomic.Int64
	proxies := make([]*httputil.ReverseProxy, len(nodes))
	for i, n := range nodes {
		u, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(n.port))
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			w.Header().Set("X-Proxy-Error", "1")
			w.WriteHeader(http.StatusBadGateway)
		}
		proxies[i] = rp
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range len(nodes) {
			i := int(next.Add(1)) % len(nodes)
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(nodes[i].port), time.Second)
			if err != nil {
				continue
			}
			c.Close()
			proxies[i].ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Three nodes share one PostgreSQL database behind a round-robin proxy.
// Native clients, each reconnecting through the proxy with its last id,
// follow their rooms while orders go in through whichever node the proxy
// picks; one node is killed with SIGKILL mid-run and started again. Every
// client gets every event of its rooms exactly once, in id order, and
// every acknowledged write is in the log.
func TestClusterThreeNodesOneStream(t *testing.T) {
	// Three nodes starting at once: migrations run under a lock.
	nodes := startCluster(t, 3)
	lb := roundRobin(t, nodes)
	api, err := client.New(client.Config{Server: lb.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const tenants = 3
	for i := 1; i <= tenants; i++ {
		if err := postJSON(ctx, lb.URL+"/api/tenants", map[string]any{"name": fmt.Sprintf("Stall %d", i), "code": fmt.Sprintf("T%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Followers: one per tenant room and one on the display room.
	type follower struct {
		rooms []string
		mu    sync.Mutex
		ids   []int64
		bad   string
	}
	var followers []*follower
	for i := 1; i <= tenants; i++ {
		followers = append(followers, &follower{rooms: []string{"tenant-" + strconv.Itoa(i)}})
	}
	followers = append(followers, &follower{rooms: []string{"display"}}, &follower{rooms: []string{"display"}})
	for _, f := range followers {
		s := api.Subscribe(ctx, client.StreamOptions{Rooms: f.rooms, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
		t.Cleanup(s.Close)
		go func() {
			for u := range s.Updates() {
				if u.Event == nil {
					continue
				}
				f.mu.Lock()
				id := u.Event.ID()
				if n := len(f.ids); n > 0 && id <= f.ids[n-1] {
					f.bad = fmt.Sprintf("id %d after %d", id, f.ids[n-1])
				}
				f.ids = append(f.ids, id)
				f.mu.Unlock()
			}
		}()
	}
	// The real socket.io-client through the same balancer: one on
	// long-polling only (its requests land on every node, which forward
	// them to the session's owner) and one that upgrades to WebSocket.
	sioClients := []*sioClusterClient{startSIOClient(t, lb.URL, 1, "polling"), startSIOClient(t, lb.URL, 1, "default")}
	time.Sleep(300 * time.Millisecond) // the followers are connected

	// Writers: orders at about 30/s in all, each retried with its
	// Idempotency-Key until a node answers.
	var acked sync.Map // order id -> true
	var writes atomic.Int64
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				body := map[string]any{"tenant_id": 1 + (w+i)%tenants, "customer_name": "Budi",
					"items": []map[string]any{{"name": "Soto", "quantity": 1, "unit_price": 20000}}}
				var out struct{ ID int64 }
				for attempt := 0; attempt < 50; attempt++ {
					err := postJSONKey(ctx, lb.URL+"/api/orders", key, body, &out)
					if err == nil {
						acked.Store(out.ID, true)
						writes.Add(1)
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	// The node holding the polling client's Engine.IO session (its sid
	// names it) is the one to kill: that client must recover elsewhere.
	victim := sioClients[0].owner(t, nodes)
	other := nodes[(slices.Index(nodes, victim)+1)%len(nodes)]
	// Another node loses its LISTEN connection: it reconnects, and
	// meanwhile its poll of the log loses nothing.
	terminateListen(t, ctx, fmt.Sprintf("posd-cluster-%d", other.port))
	time.Sleep(2 * time.Second)
	victim.kill() // SIGKILL: its clients reconnect through the proxy
	time.Sleep(3 * time.Second)
	victim.start()
	time.Sleep(4 * time.Second)
	close(stop)
	writers.Wait()
	if writes.Load() < 50 {
		t.Fatalf("only %d orders were acknowledged", writes.Load())
	}

	// What the log says each room received, read through the proxy.
	want := func(room string) []int64 {
		var ids []int64
		for _, e := range logEvents(t, ctx, lb.URL, room) {
			ids = append(ids, e.ID)
		}
		return ids
	}
	for _, f := range followers {
		expect := want(f.rooms[0])
		var got []int64
		if !testutil.Await(20*time.Second, 100*time.Millisecond, func() bool {
			f.mu.Lock()
			got = slices.Clone(f.ids)
			bad := f.bad
			f.mu.Unlock()
			if bad != "" {
				t.Fatalf("%v: out of order or repeated: %s", f.rooms, bad)
			}
			return slices.Equal(got, expect)
		}) {
			i := firstDifference(got, expect)
			t.Fatalf("%v: got %d events, the log has %d for it; first difference at %d: got %v, log %v", f.rooms, len(got), len(expect), i, got[i:min(i+5, len(got))], expect[i:min(i+5, len(expect))])
		}
	}
	// The Socket.IO clients got tenant 1's orders once, in order, across
	// the kill (recovered, not restarted).
	var created1 []int64
	for _, e := range logEvents(t, ctx, lb.URL, "tenant-1") {
		if e.Type == "order_created" {
			created1 = append(created1, e.ID)
		}
	}
	for _, c := range sioClients {
		got := c.finish(t, len(created1))
		if !slices.Equal(got.IDs, created1) {
			i := firstDifference(got.IDs, created1)
			t.Fatalf("socket.io-client (%s): %d order:created of tenant 1, the log has %d; first difference at %d (connects %d, recovered %v); its log:\n%s",
				c.mode, len(got.IDs), len(created1), i, got.Connects, got.Recovered, tail(c.errb.String(), 3000))
		}
		for _, r := range got.Recovered[1:] {
			if !r {
				t.Fatalf("socket.io-client (%s) reconnected without recovery: %v", c.mode, got.Recovered)
			}
		}
		t.Logf("socket.io-client (%s): %d orders once and in order; connects %d, recovered %v, transport %s", c.mode, len(got.IDs), got.Connects, got.Recovered, got.Transport)
	}

	// Every acknowledged order has its order:created event.
	created := map[int64]bool{}
	for _, e := range logEvents(t, ctx, lb.URL, "") {
		if e.Type == "order_created" {
			var d struct {
				OrderID int64 `json:"order_id"`
			}
			_ = json.Unmarshal(e.Data, &d)
			created[d.OrderID] = true
		}
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if !created[k.(int64)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged orders have no order:created event", missing)
	}
	// Every node has delivered the whole log: /healthz shows no lag.
	for _, n := range nodes {
		var h struct {
			Log struct{ Head, Delivered, Lag int64 }
		}
		if !testutil.Await(10*time.Second, 100*time.Millisecond, func() bool {
			if err := getJSON(ctx, n.proc.Base+"/healthz", &h); err != nil {
				t.Fatal(err)
			}
			return h.Log.Head > 0 && h.Log.Lag == 0
		}) {
			t.Fatalf("node %d: /healthz log %+v, want lag 0", n.port, h.Log)
		}
	}
	t.Logf("%d orders through 3 nodes, one killed and restarted; %d followers each got their rooms' events once, in order", writes.Load(), len(followers))
}

// logEntry is an event's envelope as /api/events gives it.
type logEntry struct {
	ID   int64           `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// logEvents reads the whole log of room ("": every room) from base's
// /api/events, page by page.
func logEvents(t *testing.T, ctx context.Context, base, room string) []logEntry {
	t.Helper()
	var out []logEntry
	since := int64(0)
	for {
		var page struct {
			Events []struct {
				Payload logEntry `json:"payload"`
			} `json:"events"`
			NextSince int64 `json:"next_since"`
		}
		q := fmt.Sprintf("%s/api/events?since=%d&limit=1000", base, since)
		if room != "" {
			q += "&room=" + room
		}
		if err := getJSON(ctx, q, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			return out
		}
		for _, e := range page.Events {
			out = append(out, e.Payload)
		}
		since = page.NextSince
	}
}

// terminateListen ends the LISTEN connection of the node whose
// connections are named app (pg_terminate_backend).
func terminateListen(t *testing.T, ctx context.Context, app string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query ILIKE 'LISTEN%'`, app).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d LISTEN connections of %s, want 1", n, app)
	}
}

// sioClusterClient is compat/socketio/cluster-client.mjs: the real
// socket.io-client from npm, run by node.
type sioClusterClient struct {
	mode    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	errb    *testutil.Buffer
	seen    atomic.Int64 // events printed so far
	summary chan string  // the last line
	mu      sync.Mutex
	sid     string // the Engine.IO session id of its latest connection
}

// owner is the node holding the client's current session.
func (c *sioClusterClient) owner(t *testing.T, nodes []*clusterNode) *clusterNode {
	t.Helper()
	c.mu.Lock()
	sid := c.sid
	c.mu.Unlock()
	for i, n := range nodes {
		if strings.HasPrefix(sid, fmt.Sprintf("node%d.", i)) {
			return n
		}
	}
	t.Fatalf("socket.io-client (%s): sid %q names no node", c.mode, sid)
	return nil
}

type sioClusterResult struct {
	IDs       []int64 `json:"ids"`
	Recovered []bool  `json:"recovered"`
	Connects  int     `json:"connects"`
	Transport string  `json:"transport"`
}

// startSIOClient runs the node client against url in tenant's room. It
// needs node and compat/socketio's node_modules (npm ci there): without
// them it skips, or under CI=true fails.
func startSIOClient(t *testing.T, url string, tenant int, mode string) *sioClusterClient {
	t.Helper()
	dir, _ := filepath.Abs("../../compat/socketio")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client")); err != nil || serr != nil {
		msg := "node or compat/socketio/node_modules is missing (run npm ci in compat/socketio): the Socket.IO part of the cluster test cannot run"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := &sioClusterClient{mode: mode, errb: &testutil.Buffer{}, summary: make(chan string, 1)}
	c.cmd = exec.Command(node, filepath.Join(dir, "cluster-client.mjs"), url, strconv.Itoa(tenant), mode)
	c.cmd.Dir = dir
	c.cmd.Stderr = c.errb
	c.stdin, _ = c.cmd.StdinPipe()
	stdout, _ := c.cmd.StdoutPipe()
	out := bufio.NewReader(stdout)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("socket.io-client (%s) did not start: %q %v\n%s", mode, line, err, c.errb)
	}
	go func() {
		for {
			line, err := out.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "event ") {
				c.seen.Add(1)
				continue
			}
			if sid, ok := strings.CutPrefix(line, "sid "); ok {
				c.mu.Lock()
				c.sid = strings.TrimSpace(sid)
				c.mu.Unlock()
				continue
			}
			c.summary <- line
			return
		}
	}()
	return c
}

// finish waits until the client has seen want events (or 20 s), then
// stops it and returns what it saw.
func (c *sioClusterClient) finish(t *testing.T, want int) sioClusterResult {
	t.Helper()
	// Short of want, the summary below tells what it missed.
	testutil.Await(20*time.Second, 50*time.Millisecond, func() bool { return c.seen.Load() >= int64(want) })
	c.stdin.Close()
	select {
	case line := <-c.summary:
		var r sioClusterResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("socket.io-client (%s) printed %q: %v", c.mode, line, err)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("socket.io-client (%s) printed no summary\n%s", c.mode, c.errb)
	}
	return sioClusterResult{}
}

func firstDifference(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func postJSON(ctx context.Context, url string, body, out any) error {
	return postJSONKey(ctx, url, "", body, out)
}

func postJSONKey(ctx context.Context, url, key string, body, out any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
