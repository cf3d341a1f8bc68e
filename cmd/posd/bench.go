package main

import (
	"encoding/json"
	"errors"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/bench"
)

func newBenchCmd() *cobra.Command {
	cfg := bench.Config{}
	var opts clientOptions
	var cpuProfile string
	var servers serverList
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a server: many socket clients, orders at a fixed rate, delivery latency and cost",
		Long: `bench opens --clients WebSocket clients (native /ws or Socket.IO v4) spread over
--tenants tenant rooms, with --display-share of them also in the display room,
then creates orders through POST /api/orders at --rate for --duration on an
open-loop schedule. Every order:created delivery is matched to its order:
latency runs from the order's scheduled request start to the receipt, and
missing, duplicated and misrouted deliveries are counted.

--server may name several nodes sharing one database (comma-separated or
repeated): clients are spread round-robin over them, and so are the orders;
with one --server-pid per node the CPU per delivery is reported per node (its
CPU over the deliveries to its own clients) and in all.

With --server-pid (a server on this machine), the server's CPU time and RSS are
read from /proc before and after: CPU per delivery and RSS per connection.
Without it they come from the server's /metrics (process_cpu_seconds_total,
process_resident_memory_bytes) when it exports them, as posd does.
Start the server fresh for each run so RSS per connection is meaningful.

The token (--token, POSD_TOKEN, or the token file of a server on this machine)
goes as a Bearer header to the API, as ?token= to /ws and as the Socket.IO
CONNECT auth {token}.

Example (server on core 0, bench on core 1):
  taskset -c 1 posd bench --proto socketio --server http://127.0.0.1:5055 \
    --clients 2000 --tenants 10 --display-share 0.05 --rate 100 --duration 20s \
    --setup --server-pid $(pgrep -n node)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.ca != "" {
				return errors.New("bench: --ca is not supported: bench a server over plain http on this machine")
			}
			if len(servers.urls) == 0 {
				return errors.New("bench: --server names no server")
			}
			cfg.Servers = servers.urls
			// The implicit admin token file goes only to servers on this
			// machine: resolve it against a remote one if any is named.
			opts.server = servers.urls[0]
			for _, u := range servers.urls {
				if !localServer(u) {
					opts.server = u
					break
				}
			}
			cfg.Token = opts.resolveToken()
			asJSON := opts.json
			cfg.Progress = cmd.ErrOrStderr()
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			res, err := bench.Run(cmd.Context(), cfg)
			if res == nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if e := enc.Encode(res); e != nil {
					return e
				}
			} else if e := bench.WriteSummary(cmd.OutOrStdout(), res); e != nil {
				return e
			}
			if err != nil {
				return err
			}
			if !res.Lossless() {
				return errors.New("bench: deliveries were lost, duplicated or misrouted, or requests failed (see above)")
			}
			return nil
		},
	}
	opts.register(cmd, false)
	f := cmd.Flags()
	// --server takes several nodes of one cluster here: comma-separated or
	// repeated.
	servers.urls = []string{opts.server}
	sf := f.Lookup("server")
	sf.Value = &servers
	sf.Usage = "posd server URL, or several nodes sharing one database (comma-separated or repeated: clients and orders go round-robin over them) (env POSD_SERVER)"
	_ = f.MarkHidden("ca") // the bench speaks plain http only
	f.StringVar(&cfg.Proto, "proto", bench.ProtoNative, "socket protocol: native or socketio")
	f.IntVar(&cfg.Clients, "clients", 1000, "WebSocket clients to open")
	f.IntVar(&cfg.Tenants, "tenants", 10, "tenant rooms to spread the clients over")
	f.Float64Var(&cfg.DisplayShare, "display-share", 0.05, "share of clients also in the display room (0..1)")
	f.BoolVar(&cfg.Setup, "setup", false, "use the bench stalls BX1..BXN, creating those missing (otherwise tenants 1..N must exist); refuses a server holding other stalls unless --yes")
	f.BoolVar(&cfg.Yes, "yes", false, "with --setup: write into the server even if it holds stalls that are not the bench's")
	f.Int64SliceVar(&cfg.TenantIDs, "tenant-ids", nil, "ids of existing tenants to use instead of 1..N")
	f.Float64Var(&cfg.Rate, "rate", 100, "orders per second")
	f.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long to create orders")
	f.IntVar(&cfg.Workers, "workers", bench.DefaultWorkers, "concurrent HTTP requests (keep-alive connections)")
	f.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", bench.DefaultConnectConcurrency, "connections opened in parallel")
	f.StringVar(&cfg.Reader, "reader", bench.ReaderEpoll, "how the bench reads its sockets: epoll (its own client, one reader for all, least CPU) or gorilla (gorilla/websocket, a goroutine per connection)")
	f.DurationVar(&cfg.PollInterval, "poll-interval", 500*time.Microsecond, "epoll reader: read ready sockets on this tick instead of being woken by every frame (so on loopback the server's writes pay no wake-up of the bench; receipts are seen up to this late); 0 to be woken")
	f.IntSliceVar(&cfg.ServerPIDs, "server-pid", nil, "pid of the server process on this machine, for its CPU and RSS; with several --server, one pid per server in the same order, comma-separated (default: the servers' /metrics, when they have process_* series)")
	f.BoolVar(&cfg.NoMetrics, "no-server-metrics", false, "without --server-pid, do not read the server's CPU and RSS from its /metrics")
	f.DurationVar(&cfg.Settle, "settle", time.Second, "pause after connecting before the first order (lets joins land)")
	f.DurationVar(&cfg.Drain, "drain", bench.DefaultDrain, "most to wait for outstanding deliveries after the last order")
	f.StringVar(&cfg.WatchDB, "watch-db", "", "a server's SQLite file on this machine: sample its -wal and sizes every 100 ms during the run and report the WAL's largest size and the disk used (db + wal + shm)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the bench itself to this file")
	f.BoolVar(&opts.json, "json", false, "print the result as JSON on stdout (progress stays on stderr)")
	return cmd
}

// serverList is --server for the bench: one URL or several, comma-separated
// or repeated. The first one given replaces the default.
type serverList struct {
	urls []string
	set  bool
}

func (s *serverList) Set(v string) error {
	if !s.set {
		s.urls, s.set = nil, true
	}
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			s.urls = append(s.urls, u)
		}
	}
	return nil
}

func (s *serverList) String() string { return strings.Join(s.urls, ",") }
func (s *serverList) Type() string   { return "urls" }
