// Package bench is the engine of `posd bench`: it opens many WebSocket
// clients (native /ws or Socket.IO v4) spread over tenant rooms and the
// display room, drives POST /api/orders at a fixed rate, matches every
// order:created delivery to its order and reports latency, loss and the CPU
// and memory the server (and the bench itself) spent.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gorilla/websocket"
)

// Config is one bench run.
type Config struct {
	Server string // http://host:port; with Servers, the first of them
	// Servers are several nodes of one cluster (sharing one database):
	// clients and order writes go round-robin over them. Empty: Server.
	Servers      []string
	Token        string
	Proto        string // ProtoNative or ProtoSocketIO
	Clients      int
	Tenants      int
	DisplayShare float64
	Setup        bool    // find or create the bench stalls BX1..BXn through the API
	Yes          bool    // with Setup: write even into a server holding other stalls
	TenantIDs    []int64 // without Setup: the tenants' ids (default 1..Tenants)
	Rate         float64 // orders per second
	Duration     time.Duration
	Workers      int // concurrent HTTP requests (keep-alive connections)

	ConnectConcurrency int
	Reader             string        // ReaderEpoll (default) or ReaderGorilla
	PollInterval       time.Duration // ReaderEpoll: read on this tick (0: be woken by every frame)
	ServerPID          int           // the server's pid for /proc accounting; 0: use its /metrics if it has them
	ServerPIDs         []int         // with several Servers: each one's pid, in the same order (ServerPID is then ignored)
	NoMetrics          bool          // without ServerPID, do not read the server's /metrics either
	Settle             time.Duration // after connecting, before the first order
	Drain              time.Duration // most to wait for deliveries after the last response
	WatchDB            string        // a SQLite file on this machine whose WAL and size to follow ("": none)

	Progress io.Writer // one line a second; nil for none

	// drainAt, for tests that inject losses: stop draining once this many
	// order:created deliveries (of any kind) have arrived.
	drainAt int64
}

// Defaults of the settings a zero Config leaves out (posd bench's flags
// take theirs from here).
const (
	DefaultWorkers            = 32
	DefaultConnectConcurrency = 64
	DefaultDrain              = 10 * time.Second
)

func (c *Config) defaults() {
	if len(c.Servers) == 0 && c.Server != "" {
		c.Servers = []string{c.Server}
	}
	if len(c.Servers) > 0 {
		c.Server = c.Servers[0]
	}
	if len(c.ServerPIDs) == 0 && c.ServerPID > 0 {
		c.ServerPIDs = []int{c.ServerPID}
	}
	if c.Proto == "" {
		c.Proto = ProtoNative
	}
	if c.Reader == "" {
		c.Reader = ReaderEpoll
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.ConnectConcurrency <= 0 {
		c.ConnectConcurrency = DefaultConnectConcurrency
	}
	if c.Settle < 0 {
		c.Settle = 0
	}
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
}

func (c *Config) validate() error {
	switch {
	case len(c.Servers) == 0:
		return errors.New("no server to bench")
	case len(c.ServerPIDs) > 0 && len(c.ServerPIDs) != len(c.Servers):
		return fmt.Errorf("%d server pids for %d servers: give one pid per server, in the same order", len(c.ServerPIDs), len(c.Servers))
	case c.Proto != ProtoNative && c.Proto != ProtoSocketIO:
		return fmt.Errorf("proto %q: want native or socketio", c.Proto)
	case c.Reader != ReaderEpoll && c.Reader != ReaderGorilla:
		return fmt.Errorf("reader %q: want epoll or gorilla", c.Reader)
	case c.PollInterval < 0 || c.PollInterval > 100*time.Millisecond:
		return errors.New("poll-interval must be between 0 and 100ms")
	case c.Clients < 1:
		return errors.New("clients must be at least 1")
	case c.Tenants < 1:
		return errors.New("tenants must be at least 1")
	case c.DisplayShare < 0 || c.DisplayShare > 1:
		return errors.New("display-share must be between 0 and 1")
	case c.Rate <= 0:
		return errors.New("rate must be positive")
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case !c.Setup && len(c.TenantIDs) != 0 && len(c.TenantIDs) != c.Tenants:
		return fmt.Errorf("%d tenant ids for %d tenants", len(c.TenantIDs), c.Tenants)
	}
	return nil
}

// Readers: how the bench reads its sockets.
const (
	ReaderEpoll   = "epoll"   // own WebSocket client, one goroutine reading every socket through epoll
	ReaderGorilla = "gorilla" // gorilla/websocket, a goroutine per connection
)

// Result is a run's outcome; every field is reported, none hidden.
type Result struct {
	StartedAt      string  `json:"started_at"` // RFC 3339 UTC
	LoadAvg        string  `json:"loadavg"`    // /proc/loadavg at the start: how busy the machine was
	Proto          string  `json:"proto"`
	Reader         string  `json:"reader"`
	PollIntervalUS int64   `json:"poll_interval_us"` // epoll reader's tick; 0: woken by each frame
	Server         string  `json:"server"`
	Clients        int     `json:"clients"`
	Tenants        int     `json:"tenants"`
	DisplayClients int     `json:"display_clients"`
	Rate           float64 `json:"rate"`
	DurationS      float64 `json:"duration_s"`
	FanoutPerOrder float64 `json:"fanout_per_order"`

	Connect    ConnectResult  `json:"connect"`
	Orders     OrdersResult   `json:"orders"`
	Deliveries DeliveryResult `json:"deliveries"`
	LatencyMS  Percentiles    `json:"latency_ms"`
	Process    *ServerResult  `json:"server_process,omitempty"` // with several servers: the nodes summed
	Nodes      []ServerResult `json:"server_nodes,omitempty"`   // with several servers: each node
	DB         *DBResult      `json:"database,omitempty"`
	Bench      BenchResult    `json:"bench_process"`
}

// ConnectResult describes the connection phase.
type ConnectResult struct {
	Connected int         `json:"connected"`
	Failed    int         `json:"failed"`
	FirstErr  string      `json:"first_error,omitempty"`
	Seconds   float64     `json:"seconds"`
	PerConnMS Percentiles `json:"per_connection_ms"`
	FDLimit   uint64      `json:"fd_limit"`
}

// OrdersResult describes the HTTP side.
type OrdersResult struct {
	Scheduled  int64          `json:"scheduled"`
	OK         int64          `json:"ok"`
	Failed     int64          `json:"failed"`
	Statuses   map[string]int `json:"failed_statuses,omitempty"`
	FirstErr   string         `json:"first_error,omitempty"`
	HTTPMS     Percentiles    `json:"http_ms"`
	MaxLagMS   float64        `json:"max_send_lag_ms"`
	AchievedPS float64        `json:"achieved_per_s"`
}

// DeliveryResult is the accounting of order:created deliveries.
type DeliveryResult struct {
	Expected    int64   `json:"expected"`
	Received    int64   `json:"received"`
	Matched     int64   `json:"matched"`
	Missing     int64   `json:"missing"`
	Duplicated  int64   `json:"duplicated"`
	Misrouted   int64   `json:"misrouted"`
	Unmatched   int64   `json:"unmatched"`
	ErrorFrames int64   `json:"error_frames"`
	OtherFrames int64   `json:"other_frames"`
	Disconnects int64   `json:"disconnects"`
	FirstDiscon string  `json:"first_disconnect,omitempty"`
	PerSecond   float64 `json:"per_second"`
	Drained     bool    `json:"drained"`
}

// Percentiles of a latency distribution, in ms.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Percentiles{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}

// ServerResult is the server process's cost, from /proc.
type ServerResult struct {
	Source           string  `json:"source"` // "proc" (--server-pid) or "metrics" (the server's /metrics)
	Node             string  `json:"node,omitempty"`
	Deliveries       int64   `json:"deliveries,omitempty"` // received by this node's clients (per node) or by all
	PID              int     `json:"pid,omitempty"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUUsPerDelivery float64 `json:"cpu_us_per_delivery"`
	CPUPercent       float64 `json:"cpu_percent"`
	RSSBeforeKiB     int64   `json:"rss_before_kib"`
	RSSConnectedKiB  int64   `json:"rss_connected_kib"`
	RSSEndKiB        int64   `json:"rss_end_kib"`
	RSSPerConnKiB    float64 `json:"rss_per_conn_kib"`
}

// BenchResult is the bench's own cost over the same window (getrusage).
type BenchResult struct {
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUUsPerDelivery float64 `json:"cpu_us_per_delivery"`
	RSSKiB           int64   `json:"rss_kib"`
}

// Run performs one bench run. ctx cancels it; whatever was measured until
// then is still reported. Its steps: setup (stalls, HTTP clients, the
// servers' first sample), connect the WebSocket clients, settle, load
// (drive the orders while collecting the deliveries, then drain), report.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	epoch := time.Now()
	r := &run{cfg: &cfg, now: func() int64 { return int64(time.Since(epoch)) }, res: newResult(&cfg, epoch)}
	defer r.closeAPIs()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	f, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	if r.res.Connect.Connected == 0 {
		f.close()
		return r.res, fmt.Errorf("no client could connect: %s", r.res.Connect.FirstErr)
	}
	if ctx.Err() != nil {
		f.close()
		return r.res, ctx.Err()
	}
	r.settle(ctx)
	m, err := r.load(ctx, f)
	if err != nil {
		return nil, err
	}
	r.report(m, f)
	return r.res, ctx.Err()
}

// run is one Run's state, shared by its steps.
type run struct {
	cfg       *Config
	now       func() int64 // since the run began: every timestamp the ledger compares
	res       *Result
	apis      []*api // one per server
	tenantIDs []int64
	layout    *Layout
	cost      *serverCost
}

func newResult(cfg *Config, epoch time.Time) *Result {
	return &Result{
		StartedAt: epoch.UTC().Format(time.RFC3339), LoadAvg: loadAvg(),
		Proto: cfg.Proto, Reader: cfg.Reader, PollIntervalUS: cfg.PollInterval.Microseconds(), Server: strings.Join(cfg.Servers, ","), Clients: cfg.Clients, Tenants: cfg.Tenants,
		Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(),
	}
}

// setup makes sure there are file descriptors for every client, opens the
// HTTP clients, finds the stalls and takes the servers' first sample.
func (r *run) setup(ctx context.Context) error {
	cfg := r.cfg
	limit, err := RaiseFileLimit(uint64(cfg.Clients + cfg.Workers + 256))
	if err != nil {
		return err
	}
	r.res.Connect.FDLimit = limit
	if limit < uint64(cfg.Clients+cfg.Workers+16) {
		return fmt.Errorf("file descriptor limit %d is too low for %d clients", limit, cfg.Clients)
	}
	// One HTTP client per node, each with the full worker count of
	// connections: the driver picks the node per order, not per worker.
	r.apis = make([]*api, len(cfg.Servers))
	for i, s := range cfg.Servers {
		r.apis[i] = newAPI(s, cfg.Token, cfg.Workers)
	}
	if r.tenantIDs, err = r.tenants(ctx); err != nil {
		return err
	}
	r.layout = NewLayout(cfg.Clients, cfg.Tenants, cfg.DisplayShare)
	r.res.DisplayClients = r.layout.DisplayClients()
	r.cost = newServerCost(ctx, cfg, r.apis)
	r.cost.before, err = r.cost.sample()
	return err
}

func (r *run) closeAPIs() {
	for _, a := range r.apis {
		if a != nil {
			a.close()
		}
	}
}

// tenants are the stalls' ids: found or created through the API with
// Setup, else as given, else 1..Tenants.
func (r *run) tenants(ctx context.Context) ([]int64, error) {
	cfg := r.cfg
	if cfg.Setup {
		return r.apis[0].setupTenants(ctx, cfg.Tenants, cfg.Yes)
	}
	ids := cfg.TenantIDs
	if len(ids) == 0 {
		for i := 1; i <= cfg.Tenants; i++ {
			ids = append(ids, int64(i))
		}
	}
	return ids, nil
}

// connect dials the clients, ConnectConcurrency at a time, and starts
// reading them; res.Connect gets the counts and timings. Its error is the
// poller's: a client that cannot connect is counted, not returned.
func (r *run) connect(ctx context.Context) (*fleet, error) {
	cfg := r.cfg
	f := &fleet{clients: make([]*client, cfg.Clients), live: make([]bool, cfg.Clients), plDone: make(chan struct{})}
	if cfg.Reader == ReaderEpoll {
		pl, err := newPoller(cfg.Clients, cfg.PollInterval, cfg.Proto, r.now, func(_ *client, err error) { f.lost(err) })
		if err != nil {
			return nil, err
		}
		f.pl = pl
		go func() {
			defer close(f.plDone)
			pl.run()
		}()
	} else {
		close(f.plDone)
	}
	res := &r.res.Connect
	hist := hdrhistogram.New(1, 120_000_000, 3)
	dialer := newDialer()
	var mu sync.Mutex
	t0 := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(cfg.ConnectConcurrency, cfg.Clients) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Clients || ctx.Err() != nil {
					return
				}
				start := time.Now()
				c, err := r.dial(ctx, f, dialer, i)
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				_ = hist.RecordValue(max(int64(time.Since(start)/time.Microsecond), 1))
				res.Connected++
				f.live[i] = true
				f.clients[i] = c
				mu.Unlock()
				f.read(c, cfg.Proto, r.now)
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(t0).Seconds()
	res.PerConnMS = percentiles(hist)
	return f, nil
}

// dial connects client i, to its server and in its rooms, and hands it to
// the poller if there is one.
func (r *run) dial(ctx context.Context, f *fleet, dialer *websocket.Dialer, i int) (*client, error) {
	cfg := r.cfg
	c := &client{idx: int32(i), node: spread(i, cfg.Tenants, len(cfg.Servers))}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	err := c.connect(dctx, cfg, cfg.Servers[c.node], dialer, r.tenantIDs[r.layout.Tenant(i)], r.layout.InDisplay(i), r.now)
	cancel()
	if err != nil {
		return nil, err
	}
	if f.pl != nil {
		if err := f.pl.add(c); err != nil {
			c.ws.close()
			return nil, err
		}
	}
	return c, nil
}

// settle says how the connecting went and leaves the server Settle to
// calm down before the first order.
func (r *run) settle(ctx context.Context) {
	if r.cfg.Progress != nil {
		c := r.res.Connect
		fmt.Fprintf(r.cfg.Progress, "connected %d/%d clients in %.2fs (%d failed); settling %s\n",
			c.Connected, r.cfg.Clients, c.Seconds, c.Failed, r.cfg.Settle)
	}
	sleepCtx(ctx, r.cfg.Settle)
}

// loaded is what the load step leaves for the report.
type loaded struct {
	drive             driveStats
	ledger            *Ledger
	stats             LedgerStats
	col               *collector
	runStart, sendEnd int64
	self1, self2      ProcSample
}

// load drives the orders at Rate for Duration while a collector matches
// every delivery to its order, then drains; it ends by closing f. Its
// error is the servers' sample failing before the first order.
func (r *run) load(ctx context.Context, f *fleet) (*loaded, error) {
	cfg := r.cfg
	ledger := NewLedger(r.layout, f.live)
	var perOrder float64
	for t := 0; t < cfg.Tenants; t++ {
		perOrder += float64(ledger.ExpectedPerOrder(t))
	}
	r.res.FanoutPerOrder = perOrder / float64(cfg.Tenants)

	var err error
	if r.cost.connected, err = r.cost.sample(); err != nil {
		f.close()
		return nil, err
	}
	m := &loaded{ledger: ledger, self1: SelfSample()}

	// Collect: one goroutine owns the ledger.
	orders := &sink[placed]{}
	m.col = &collector{ledger: ledger, clients: f.clients, orders: orders, perNode: make([]int64, len(cfg.Servers))}
	drv := &driver{apis: r.apis, tenantIDs: r.tenantIDs, rate: cfg.Rate, duration: cfg.Duration, workers: cfg.Workers, now: r.now, out: orders}
	colDone := make(chan struct{})
	stopCol := make(chan struct{})
	m.runStart = r.now()
	var dbw *dbWatch
	if cfg.WatchDB != "" {
		dbw = watchDB(cfg.WatchDB, DBWatchInterval)
	}
	go func() {
		defer close(colDone)
		m.col.loop(stopCol, cfg.Progress, drv, m.runStart, r.now)
	}()

	m.drive = drv.run(ctx)
	m.sendEnd = r.now()
	r.res.Deliveries.Drained = r.drain(ctx, m.col, m.drive.OK)

	if r.cost.end, err = r.cost.sample(); err != nil {
		r.cost.end = r.cost.connected
	}
	m.self2 = SelfSample()
	if dbw != nil {
		r.res.DB = dbw.stop()
	}
	close(stopCol)
	<-colDone
	f.close()
	m.stats = ledger.Close()
	return m, nil
}

// drain waits until every accepted order reached every expected client,
// or Drain passes; it reports whether they all did.
func (r *run) drain(ctx context.Context, col *collector, accepted int64) bool {
	deadline := time.Now().Add(r.cfg.Drain)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		s := col.snapshot()
		if s.orders == accepted && s.complete == s.orders && s.pending == 0 {
			return true
		}
		if r.cfg.drainAt > 0 && s.orders == accepted && s.pending == 0 && s.received >= r.cfg.drainAt {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// report fills the result from what the load left.
func (r *run) report(m *loaded, f *fleet) {
	res, ds, st := r.res, m.drive, m.stats
	res.Orders = OrdersResult{
		Scheduled: ds.Scheduled, OK: ds.OK, Failed: ds.Failed, FirstErr: ds.FirstErr,
		HTTPMS: percentiles(ds.HTTP), MaxLagMS: float64(ds.MaxLag) / 1e6,
	}
	if sec := float64(m.sendEnd-m.runStart) / 1e9; sec > 0 {
		res.Orders.AchievedPS = float64(ds.OK) / sec
	}
	if len(ds.Statuses) > 0 {
		res.Orders.Statuses = map[string]int{}
		for k, v := range ds.Statuses {
			res.Orders.Statuses[strconv.Itoa(k)] = int(v)
		}
	}
	d := &res.Deliveries
	d.Expected, d.Received, d.Matched = st.Expected, st.Received+st.Unmatched, st.Matched
	d.Missing, d.Duplicated, d.Misrouted, d.Unmatched = st.Missing, st.Duplicated, st.Misrouted, st.Unmatched
	for _, c := range f.clients {
		if c != nil {
			d.ErrorFrames += c.errors
			d.OtherFrames += c.other
		}
	}
	d.Disconnects = f.disconnects.Load()
	if v, ok := f.firstDiscon.Load().(string); ok {
		d.FirstDiscon = v
	}
	if span := float64(m.col.lastAt-m.runStart) / 1e9; span > 0 {
		d.PerSecond = float64(d.Received) / span
	}
	res.LatencyMS = percentiles(m.ledger.Latency())

	res.Bench.CPUSeconds = (m.self2.CPU - m.self1.CPU).Seconds()
	res.Bench.RSSKiB = m.self2.RSSKiB
	if d.Received > 0 {
		res.Bench.CPUUsPerDelivery = float64(m.self2.CPU-m.self1.CPU) / 1e3 / float64(d.Received)
	}
	r.cost.report(res, r.cfg, f, m.col.perNode, float64(r.now()-m.runStart)/1e9)
}

// fleet is the run's WebSocket clients and what reads them: the epoll
// poller, or a goroutine per client.
type fleet struct {
	clients []*client // nil where a client did not connect
	live    []bool
	pl      *poller // nil with ReaderGorilla
	plDone  chan struct{}
	readers sync.WaitGroup

	closing     atomic.Bool // set by close: what ends from then on was not lost
	disconnects atomic.Int64
	firstDiscon atomic.Value // string
}

// lost counts a connection that ended before the bench closed it.
func (f *fleet) lost(err error) {
	if !f.closing.Load() {
		f.disconnects.Add(1)
		f.firstDiscon.CompareAndSwap(nil, err.Error())
	}
}

// read starts c's own reader, unless the poller reads every socket.
func (f *fleet) read(c *client, proto string, now func() int64) {
	if f.pl != nil {
		return
	}
	f.readers.Add(1)
	go func() {
		defer f.readers.Done()
		f.lost(c.readLoop(proto, now))
	}()
}

// close ends every connection and waits for the readers to return.
func (f *fleet) close() {
	f.closing.Store(true)
	if f.pl != nil {
		_ = f.pl.close()
	}
	<-f.plDone
	for _, c := range f.clients {
		switch {
		case c == nil:
		case c.ws != nil:
			c.ws.close()
		default:
			c.conn.Close()
		}
	}
	f.readers.Wait()
}

// serverCost follows the servers' CPU and RSS: from /proc with
// --server-pid, else from their own /metrics when they export the
// standard process_* series (posd does; the Node reference does not, and
// then there are no server figures). One sampler per node; a sample is
// taken before connecting, before the first order and after the drain.
type serverCost struct {
	source                 string // "proc", "metrics", or "" for no figures
	samplers               []func() (ProcSample, error)
	before, connected, end []ProcSample
}

func newServerCost(ctx context.Context, cfg *Config, apis []*api) *serverCost {
	c := &serverCost{}
	switch {
	case len(cfg.ServerPIDs) > 0:
		c.source = "proc"
		for _, pid := range cfg.ServerPIDs {
			c.samplers = append(c.samplers, func() (ProcSample, error) { return SampleProc(pid) })
		}
	case !cfg.NoMetrics:
		for _, a := range apis {
			if _, err := a.metricsSample(ctx); err != nil {
				c.samplers = nil
				break
			}
			c.samplers = append(c.samplers, func() (ProcSample, error) { return a.metricsSample(ctx) })
		}
		if c.samplers != nil {
			c.source = "metrics"
		}
	}
	return c
}

// sample samples every server (nothing when there are no figures).
func (c *serverCost) sample() ([]ProcSample, error) {
	if c.samplers == nil {
		return nil, nil
	}
	out := make([]ProcSample, len(c.samplers))
	for i, f := range c.samplers {
		var err error
		if out[i], err = f(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// report puts the servers' figures in res: the one server's, or each
// node's and their sum. span is the seconds since the first order.
func (c *serverCost) report(res *Result, cfg *Config, f *fleet, perNode []int64, span float64) {
	if c.samplers == nil {
		return
	}
	received, connected := res.Deliveries.Received, int64(res.Connect.Connected)
	if len(c.samplers) == 1 {
		res.Process = serverResult(c.source, c.before[0], c.connected[0], c.end[0], received, connected, span)
		res.Process.Deliveries = 0 // the run's own count; kept out so one server's report reads as it always has
		if len(cfg.ServerPIDs) == 1 {
			res.Process.PID = cfg.ServerPIDs[0]
		}
		return
	}
	var sum [3]ProcSample
	perConn := make([]int64, len(cfg.Servers))
	for i, cl := range f.clients {
		if cl != nil && f.live[i] {
			perConn[cl.node]++
		}
	}
	for i := range c.samplers {
		nr := serverResult(c.source, c.before[i], c.connected[i], c.end[i], perNode[i], perConn[i], span)
		nr.Node = cfg.Servers[i]
		if len(cfg.ServerPIDs) > 0 {
			nr.PID = cfg.ServerPIDs[i]
		}
		res.Nodes = append(res.Nodes, *nr)
		for k, s := range [3]ProcSample{c.before[i], c.connected[i], c.end[i]} {
			sum[k].CPU += s.CPU
			sum[k].RSSKiB += s.RSSKiB
		}
	}
	res.Process = serverResult(c.source, sum[0], sum[1], sum[2], received, connected, span)
}

// serverResult is one process's (or the nodes' summed) cost between the
// samples taken before connecting (s0), before the first order (s1) and
// after the drain (s2), for deliveries received and conns connected.
func serverResult(source string, s0, s1, s2 ProcSample, deliveries, conns int64, span float64) *ServerResult {
	sr := &ServerResult{
		Source: source, CPUSeconds: (s2.CPU - s1.CPU).Seconds(),
		RSSBeforeKiB: s0.RSSKiB, RSSConnectedKiB: s1.RSSKiB, RSSEndKiB: s2.RSSKiB,
	}
	if deliveries > 0 {
		sr.CPUUsPerDelivery = float64(s2.CPU-s1.CPU) / 1e3 / float64(deliveries)
	}
	if span > 0 {
		sr.CPUPercent = 100 * sr.CPUSeconds / span
	}
	if conns > 0 {
		sr.RSSPerConnKiB = float64(s1.RSSKiB-s0.RSSKiB) / float64(conns)
	}
	sr.Deliveries = deliveries
	return sr
}

// spread is the server (of n) that client i, or order i, goes to. Client
// and order i belong to tenant i mod tenants; the k-th of a tenant goes to
// node (k + tenant) mod n, so each tenant's clients and orders go round
// robin over every node (a plain i mod n would pin tenants to nodes when
// tenants and n share a factor) and the nodes' shares differ by at most
// one per tenant.
func spread(i, tenants, n int) int { return (i/tenants + i%tenants) % n }

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// collector owns the ledger: every tick it takes what clients and HTTP
// workers left in their sinks and accounts it.
type collector struct {
	ledger  *Ledger
	clients []*client
	orders  *sink[placed]
	perNode []int64 // deliveries received by the clients of each server
	lastAt  int64   // latest receipt seen (collector-owned until loop returns)

	mu   sync.Mutex
	snap colSnap

	spareD []delivery
	spareO []placed
}

type colSnap struct {
	orders, complete, received int64
	pending                    int
	p99us                      int64
}

func (c *collector) snapshot() colSnap {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

func (c *collector) collect() {
	placedNow := c.orders.swap(c.spareO)
	for _, o := range placedNow {
		c.ledger.AddOrder(o.id, int(o.tenant), o.start)
	}
	c.spareO = placedNow
	for _, cl := range c.clients {
		if cl == nil {
			continue
		}
		ds := cl.sink.swap(c.spareD)
		c.perNode[cl.node] += int64(len(ds))
		for _, d := range ds {
			if d.at > c.lastAt {
				c.lastAt = d.at
			}
			c.ledger.AddDelivery(d)
		}
		c.spareD = ds
	}
	s := colSnap{
		orders: c.ledger.Stats.Orders, complete: c.ledger.Stats.Complete,
		received: c.ledger.Stats.Received, pending: c.ledger.PendingDeliveries(),
		p99us: c.ledger.Latency().ValueAtQuantile(99),
	}
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
}

func (c *collector) loop(stop <-chan struct{}, progress io.Writer, drv *driver, start int64, now func() int64) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPrint, lastRecv := start, int64(0)
	for {
		select {
		case <-stop:
			c.collect()
			return
		case <-tick.C:
		}
		c.collect()
		if t := now(); progress != nil && t-lastPrint >= int64(time.Second) {
			s := c.snapshot()
			recv := s.received + int64(s.pending)
			rate := float64(recv-lastRecv) / (float64(t-lastPrint) / 1e9)
			fmt.Fprintf(progress, "%5.1fs  sent %6d  delivered %9d  %8.0f/s  p99 %7.2f ms\n",
				float64(t-start)/1e9, drv.sent.Load(), recv, rate, float64(s.p99us)/1000)
			lastPrint, lastRecv = t, recv
		}
	}
}
