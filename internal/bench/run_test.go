package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/testutil"
)

// fakeServer is a tiny in-test stand-in for posd and the Node reference: the
// tenant and order endpoints, native /ws and a minimal Socket.IO endpoint,
// routing order:created to tenant-N and display. It can misbehave on purpose
// so the bench's accounting is checked end to end.
type fakeServer struct {
	t     *testing.T
	token string

	// Faults, by order id: deliver twice to one client, deliver to a client
	// outside the tenant, skip one client.
	dupOrder, misrouteOrder, skipOrder int64

	wantJoins int // order creation waits until this many room joins landed

	mu       sync.Mutex
	joins    int
	conns    []*fakeConn
	tenants  int64
	orders   int64
	upgrader websocket.Upgrader
}

type fakeConn struct {
	mu     sync.Mutex
	ws     *websocket.Conn
	sio    bool
	rooms  map[string]bool
	closed bool
}

func (c *fakeConn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		_ = c.ws.WriteMessage(websocket.TextMessage, b)
	}
}

func newFakeServer(t *testing.T) *fakeServer {
	return &fakeServer{t: t, token: "sekret"}
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/tenants" && r.Method == http.MethodPost:
		if !f.authorized(r) {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		var in struct{ Name, Code string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" || in.Code == "" {
			http.Error(w, `{"error":{"code":"bad_request"}}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.tenants++
		id := f.tenants + 100 // ids unlike indexes, to catch mix-ups
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%d,"name":%q,"code":%q}`, id, in.Name, in.Code)
	case r.URL.Path == "/api/tenants" && r.Method == http.MethodGet:
		// A fresh server: no stalls yet, so --setup creates its own.
		_, _ = w.Write([]byte(`{"tenants":[]}`))
	case r.URL.Path == "/api/orders" && r.Method == http.MethodPost:
		if !f.authorized(r) {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		f.createOrder(w, r)
	case r.URL.Path == "/metrics":
		self := SelfSample()
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\nprocess_resident_memory_bytes %d\n",
			self.CPU.Seconds(), self.RSSKiB*1024)
	case r.URL.Path == "/ws":
		f.serveNative(w, r)
	case r.URL.Path == "/socket.io/":
		f.serveSIO(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) authorized(r *http.Request) bool {
	return r.Header.Get("Authorization") == "Bearer "+f.token
}

func (f *fakeServer) createOrder(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TenantID     int64  `json:"tenant_id"`
		CustomerName string `json:"customer_name"`
		Items        []struct {
			Name      string `json:"name"`
			Quantity  int    `json:"quantity"`
			UnitPrice int64  `json:"unit_price"`
		} `json:"items"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.TenantID <= 100 || len(in.Items) != 1 {
		http.Error(w, `{"error":{"code":"bad_request"}}`, http.StatusBadRequest)
		return
	}
	// Orders wait for the sockets to join, as a real server's would
	// reach only the sockets already in their rooms; past the wait they
	// go anyway, and the run's own checks tell what was missed.
	testutil.Await(10*time.Second, testutil.Poll, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.joins >= f.wantJoins
	})
	f.mu.Lock()
	f.orders++
	id := f.orders
	dup, misroute, skip := id == f.dupOrder, id == f.misrouteOrder, id == f.skipOrder
	conns := append([]*fakeConn(nil), f.conns...)
	f.mu.Unlock()

	room := "tenant-" + strconv.FormatInt(in.TenantID, 10)
	env := fmt.Sprintf(`{"id":%d,"type":"order_created","timestamp":"2025-02-03T10:00:00Z","data":{"order_id":%d,"order_number":"T-%03d","customer_name":%q,"total_amount":15000,"items_count":1,"status":"pending"}}`,
		id+5000, id, id, in.CustomerName)
	native := []byte(`{"op":"event","event":"order:created","payload":` + env + `}`)
	sio := []byte(`42["order:created",` + env + `]`)
	frame := func(c *fakeConn) []byte {
		if c.sio {
			return sio
		}
		return native
	}
	skipped, misrouted := false, false
	for _, c := range conns {
		c.mu.Lock()
		in := c.rooms[room] || c.rooms["display"]
		c.mu.Unlock()
		switch {
		case in && skip && !skipped:
			skipped = true
		case in:
			c.send(frame(c))
			if dup {
				c.send(frame(c))
				dup = false // once
			}
		case misroute && !misrouted:
			misrouted = true
			c.send(frame(c))
		}
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"id":%d,"tenant_id":%d,"customer_name":%q}`, id, in.TenantID, in.CustomerName)
}

func (f *fakeServer) register(c *fakeConn, rooms ...string) {
	c.mu.Lock()
	for _, r := range rooms {
		c.rooms[r] = true
	}
	c.mu.Unlock()
	f.mu.Lock()
	f.joins += len(rooms)
	f.mu.Unlock()
}

func (f *fakeServer) serveNative(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("token") != f.token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	ws, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, rooms: map[string]bool{}}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	rooms := strings.Split(r.URL.Query().Get("rooms"), ",")
	f.register(c, rooms...)
	for _, room := range rooms {
		c.send([]byte(`{"op":"joined","room":"` + room + `"}`))
	}
	f.readUntilClosed(c, nil)
}

func (f *fakeServer) serveSIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" || q.Get("transport") != "websocket" {
		http.Error(w, "bad transport", http.StatusBadRequest)
		return
	}
	ws, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &fakeConn{ws: ws, sio: true, rooms: map[string]bool{}}
	c.send([]byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	_, b, err := ws.ReadMessage()
	if err != nil {
		ws.Close()
		return
	}
	if !bytes.Equal(b, []byte(`40{"token":"`+f.token+`"}`)) {
		c.send([]byte(`44{"message":"unauthorized"}`))
		ws.Close()
		return
	}
	c.send([]byte(`2`)) // a ping before the connect ack: the client must answer it
	c.send([]byte(`40{"sid":"n1"}`))
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	f.readUntilClosed(c, func(b []byte) {
		switch {
		case bytes.HasPrefix(b, []byte(`42["join-tenant",`)):
			id := strings.TrimSuffix(strings.TrimPrefix(string(b), `42["join-tenant",`), "]")
			f.register(c, "tenant-"+id)
		case string(b) == `42["join-display"]`:
			f.register(c, "display")
		case string(b) == "3": // pong
		default:
			f.t.Errorf("fake socket.io: unexpected packet %q", b)
		}
	})
}

func (f *fakeServer) readUntilClosed(c *fakeConn, handle func([]byte)) {
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.ws.Close()
	}()
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if handle != nil {
			handle(b)
		}
	}
}

func (f *fakeServer) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.ws.Close()
	}
}

func runFake(t *testing.T, f *fakeServer, cfg Config) *Result {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		f.closeAll()
		srv.Close()
	})
	cfg.Server = srv.URL
	cfg.Token = f.token
	cfg.Setup = true
	var progress bytes.Buffer
	cfg.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	var sum bytes.Buffer
	if err := WriteSummary(&sum, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("summary:\n%s", sum.String())
	return res
}

// readerCase is one way the bench reads its sockets.
type readerCase struct {
	name     string
	reader   string
	interval time.Duration
}

var readers = []readerCase{
	{"epoll-woken", ReaderEpoll, 0},
	{"epoll-tick", ReaderEpoll, 500 * time.Microsecond},
	{"gorilla", ReaderGorilla, 0},
}

func TestRunNative(t *testing.T) {
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) { testRunNative(t, r) })
	}
}

func testRunNative(t *testing.T, reader readerCase) {
	f := newFakeServer(t)
	cfg := Config{
		Reader: reader.reader, PollInterval: reader.interval, Proto: ProtoNative, Clients: 40, Tenants: 4, DisplayShare: 0.1,
		Rate: 400, Duration: 100 * time.Millisecond, Workers: 4,
		Settle: time.Millisecond, Drain: 10 * time.Second,
	}
	f.wantJoins = cfg.Clients + 4 // every client's tenant room, and 4 display joins
	res := runFake(t, f, cfg)
	d := res.Deliveries
	// 40 orders; each reaches its tenant's 10 clients plus the 3 display
	// clients of the other tenants.
	if res.Orders.OK != 40 || res.FanoutPerOrder != 13 {
		t.Errorf("orders %d, fan-out %.1f; want 40 and 13", res.Orders.OK, res.FanoutPerOrder)
	}
	if d.Expected != 40*13 || d.Received != d.Expected || d.Matched != d.Expected {
		t.Errorf("expected %d received %d matched %d; want %d each", d.Expected, d.Received, d.Matched, 40*13)
	}
	if !res.Lossless() || !d.Drained || d.Disconnects != 0 || d.ErrorFrames != 0 {
		t.Errorf("not lossless: %+v", d)
	}
	if res.LatencyMS.Count != d.Matched {
		t.Errorf("latency samples %d, want %d", res.LatencyMS.Count, d.Matched)
	}
	if d.OtherFrames != 44 { // the joined acknowledgements
		t.Errorf("other frames %d, want 44", d.OtherFrames)
	}
	if res.Process == nil || res.Process.Source != "metrics" || res.Process.RSSConnectedKiB <= 0 {
		t.Errorf("server figures from /metrics: %+v", res.Process)
	}
	// How the bench read bears on the server's figures: the summary says.
	var sum bytes.Buffer
	if err := WriteSummary(&sum, res); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"epoll-woken": "woken by every frame", "epoll-tick": "500 µs tick", "gorilla": "gorilla reader"}[reader.name]
	if !strings.Contains(sum.String(), want) {
		t.Errorf("summary does not say %q:\n%s", want, sum.String())
	}
}

// Two nodes of one cluster (one fake behind two listeners): the clients
// and orders go to both, nothing is lost, and each node's figures come
// with the deliveries its own clients received, adding up to the run's.
func TestRunAcrossNodes(t *testing.T) {
	f := newFakeServer(t)
	var servers []string
	for range 2 {
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		servers = append(servers, srv.URL)
	}
	t.Cleanup(f.closeAll)
	cfg := Config{
		Servers: servers, Token: f.token, Setup: true, Proto: ProtoNative, Clients: 40, Tenants: 4, DisplayShare: 0.1,
		Rate: 400, Duration: 100 * time.Millisecond, Workers: 4, Settle: time.Millisecond, Drain: 10 * time.Second,
	}
	f.wantJoins = cfg.Clients + 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries
	if res.Orders.OK != 40 || d.Expected != 40*13 || !res.Lossless() || !d.Drained {
		t.Fatalf("orders %d, deliveries %+v: want 40 orders, %d deliveries, all of them", res.Orders.OK, d, 40*13)
	}
	if res.Server != strings.Join(servers, ",") || len(res.Nodes) != 2 {
		t.Fatalf("server %q, %d nodes; want both nodes reported", res.Server, len(res.Nodes))
	}
	var sum int64
	for i, n := range res.Nodes {
		if n.Node != servers[i] || n.Source != "metrics" || n.Deliveries == 0 || n.RSSConnectedKiB <= 0 {
			t.Errorf("node %d: %+v", i, n)
		}
		sum += n.Deliveries
	}
	if sum != d.Received || res.Process == nil || res.Process.Deliveries != d.Received {
		t.Errorf("nodes' deliveries add up to %d, the run's total %+v; want %d", sum, res.Process, d.Received)
	}
}

func TestRunSocketIOFaults(t *testing.T) {
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) { testRunSocketIOFaults(t, r) })
	}
}

func testRunSocketIOFaults(t *testing.T, reader readerCase) {
	f := newFakeServer(t)
	f.dupOrder, f.misrouteOrder, f.skipOrder = 3, 5, 7
	cfg := Config{
		Reader: reader.reader, PollInterval: reader.interval, Proto: ProtoSocketIO, Clients: 40, Tenants: 4, DisplayShare: 0.1,
		Rate: 400, Duration: 100 * time.Millisecond, Workers: 4,
		Settle: time.Millisecond, Drain: 10 * time.Second, ServerPID: selfPID(),
		// Every delivery the fake sends: 40×13 expected − 1 skipped + 1 duplicate + 1 misrouted.
		drainAt: 40*13 + 1,
	}
	f.wantJoins = cfg.Clients + 4
	res := runFake(t, f, cfg)
	d := res.Deliveries
	if d.Expected != 40*13 {
		t.Errorf("expected %d, want %d", d.Expected, 40*13)
	}
	if d.Duplicated != 1 || d.Misrouted != 1 || d.Missing != 1 || d.Unmatched != 0 {
		t.Errorf("duplicated %d misrouted %d missing %d unmatched %d; want 1 1 1 0", d.Duplicated, d.Misrouted, d.Missing, d.Unmatched)
	}
	if d.Received != d.Expected+1 { // −1 skipped, +1 duplicate, +1 misrouted
		t.Errorf("received %d, want %d", d.Received, d.Expected+1)
	}
	if res.Lossless() || d.Drained {
		t.Errorf("a run with faults reported lossless=%v drained=%v", res.Lossless(), d.Drained)
	}
	if res.Process == nil || res.Process.PID != selfPID() || res.Process.Source != "proc" {
		t.Errorf("server process stats missing: %+v", res.Process)
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"missing":1`, `"duplicated":1`, `"misrouted":1`, `"p99_9":`, `"cpu_us_per_delivery":`} {
		if !bytes.Contains(js, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, js)
		}
	}
}

func TestRunRefusedToken(t *testing.T) {
	for _, r := range readers {
		t.Run(r.name, func(t *testing.T) { testRunRefusedToken(t, r) })
	}
}

func testRunRefusedToken(t *testing.T, reader readerCase) {
	f := newFakeServer(t)
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := Run(context.Background(), Config{
		Reader: reader.reader, PollInterval: reader.interval, Server: srv.URL, Token: "wrong", Proto: ProtoSocketIO, Clients: 2, Tenants: 1,
		Rate: 10, Duration: time.Second, TenantIDs: []int64{101},
	})
	if err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("err = %v, want a refused connect", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Proto: "mqtt", Clients: 1, Tenants: 1, Rate: 1, Duration: time.Second},
		{Clients: 0, Tenants: 1, Rate: 1, Duration: time.Second},
		{Clients: 1, Tenants: 1, DisplayShare: 2, Rate: 1, Duration: time.Second},
		{Clients: 1, Tenants: 1, Rate: 0, Duration: time.Second},
		{Clients: 1, Tenants: 2, Rate: 1, Duration: time.Second, TenantIDs: []int64{1}},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func selfPID() int { return os.Getpid() }

func TestParseProcessMetrics(t *testing.T) {
	body := []byte("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
		"# TYPE process_cpu_seconds_total counter\n" +
		"process_cpu_seconds_total 12.34\n" +
		"process_resident_memory_bytes 1.796096e+07\n" +
		"process_virtual_memory_bytes 1e+09\n")
	s, err := parseProcessMetrics(body)
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 12340*time.Millisecond || s.RSSKiB != 17540 {
		t.Errorf("got %v and %d KiB, want 12.34s and 17540 KiB", s.CPU, s.RSSKiB)
	}
	if _, err := parseProcessMetrics([]byte("go_goroutines 3\n")); err == nil {
		t.Error("metrics without process series: no error")
	}
}
