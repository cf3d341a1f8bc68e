package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // --tz works on machines without a zone database

	"github.com/spf13/cobra"

	"github.com/posd/posd/internal/api"
	"github.com/posd/posd/internal/demo"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/native"
	"github.com/posd/posd/internal/protocol/socketio"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/store/sqlite"
)

func newServeCmd() *cobra.Command {
	var cfg server.Config
	var authMode, logLevel, cors, proxies, tz string
	var withDemo bool
	var demoRate float64
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: HTTP API, WebSocket hub and event log (SQLite)",
		Long: `serve runs posd: the HTTP API, the native WebSocket (/ws), Socket.IO v4 (/socket.io/),
the pickup board (/board) and the event log, on one SQLite file.

On first start it creates an admin token and writes it to <db>.token (mode 0600);
client subcommands run in the same directory use it automatically.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lg, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			switch authMode {
			case "on":
			case "off":
				cfg.AuthOff = true
			default:
				return fmt.Errorf("--auth must be on or off, not %q", authMode)
			}
			if err := cfg.Limits.Validate(); err != nil {
				return fmt.Errorf("limits (--max-*): %w", err)
			}
			if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together")
			}
			if !cmd.Flags().Changed("addr") {
				if port := os.Getenv("PORT"); port != "" {
					cfg.Addr = "127.0.0.1:" + port
				}
			}
			for _, o := range strings.Split(cors, ",") {
				if o = strings.TrimSpace(o); o != "" {
					if o == "*" {
						return fmt.Errorf("--cors-origin: list exact origins (scheme://host:port); a wildcard is not allowed with credentials")
					}
					cfg.CORSOrigins = append(cfg.CORSOrigins, strings.TrimRight(o, "/"))
				}
			}
			if cfg.Edge.TrustedProxies, err = edge.ParsePrefixes(proxies); err != nil {
				return fmt.Errorf("--trusted-proxy: %w", err)
			}
			if cfg.Location, err = time.LoadLocation(tz); err != nil {
				return fmt.Errorf("--tz: unknown time zone %q (want a name such as Asia/Jakarta)", tz)
			}
			cfg.Logger = lg
			s, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if err := s.Listen(); err != nil {
				return err
			}
			if s.AdminToken != "" {
				// The token itself is not printed: a service's stderr ends up in
				// the system log, and tokens never appear in logs.
				fmt.Fprintf(cmd.ErrOrStderr(), "posd: created the admin token in %s (mode 0600); client subcommands run in that directory use it\n", s.TokenFile())
			}
			if withDemo {
				token := ""
				if !cfg.AuthOff {
					token = defaultToken(s.TokenFile())
					if s.AdminToken != "" {
						token = s.AdminToken
					}
				}
				go func() {
					err := demo.RunAt(cmd.Context(), s.URL(), token, demo.Options{Rate: demoRate, Logger: lg.With("component", "demo")})
					if err != nil {
						lg.Error("demo stopped", "err", err)
					}
				}()
				demoBanner(cmd.ErrOrStderr(), selfCommand(os.Args[0]), s.URL(), cfg.AuthOff)
			}
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", server.DefaultAddr, "listen address (env PORT sets the port on 127.0.0.1)")
	f.StringVar(&cfg.DBPath, "db", envOr("POSD_DB", server.DefaultDBPath), "SQLite database file, or a postgres:// URL to share one database among several nodes (env POSD_DB)")
	f.StringVar(&tz, "tz", envOr("TZ", "UTC"), "time zone of the food court's local days, which reports count in, e.g. Asia/Jakarta (env TZ)")
	f.StringVar(&cfg.NodeID, "node-id", "", "this node's name among nodes sharing a PostgreSQL database (default: random at each start)")
	f.StringVar(&cfg.Advertise, "advertise", "", "host:port the other nodes reach this one at (default: the listen address)")
	f.StringVar(&cfg.TokenFile, "token-file", "", "where to write the first admin token (default <db>.token)")
	f.StringVar(&cors, "cors-origin", os.Getenv("CORS_ORIGIN"), "comma-separated browser origins allowed to use the API and sockets (env CORS_ORIGIN)")
	f.StringVar(&authMode, "auth", "on", "on, or off for a trusted LAN only (everyone is admin)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate: serve HTTPS and WSS")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	f.StringVar(&logLevel, "log-level", envOr("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")
	f.StringVar(&cfg.Synchronous, "synchronous", sqlite.DefaultSynchronous, "SQLite synchronous: NORMAL survives a killed process; FULL also survives power loss")
	f.Int64Var(&cfg.WALLimit, "wal-limit", sqlite.DefaultWALLimit, "WAL bytes before the store restarts it, holding writers back a few ms (the file may pass it by about one checkpoint round of commits)")
	f.DurationVar(&cfg.Retention, "retention", server.DefaultRetention, "keep events this long (and always the last --keep-per-room of each room)")
	f.IntVar(&cfg.KeepPerRoom, "keep-per-room", server.DefaultKeepPerRoom, "events of each room always kept, however old")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body", api.DefaultMaxBodyBytes, "largest API request body in bytes")
	f.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", edge.DefaultMaxHeaderBytes, "largest request header block in bytes")
	f.StringVar(&proxies, "trusted-proxy", "", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client")
	f.IntVar(&cfg.Edge.ConnsPerAddr, "max-conns-per-addr", edge.DefaultConnsPerAddr, "TCP connections one client address (an IPv6 /64) may hold")
	f.Int64Var(&cfg.Edge.BodyBytesPerAddr, "body-bytes-per-addr", edge.DefaultBodyBytesPerAddr, "request body bytes one client address may have in flight")
	f.Int64Var(&cfg.Edge.BodyBytes, "body-bytes", edge.DefaultBodyBytes, "request body bytes in flight in all")
	f.DurationVar(&cfg.Edge.BodyTimeout, "body-timeout", edge.DefaultBodyTimeout, "a request body must arrive within this long of its headers")
	f.IntVar(&cfg.Hub.MaxQueueMessages, "queue-messages", hub.DefaultMaxQueueMessages, "frames queued for one connection before it is closed as a slow consumer")
	f.IntVar(&cfg.Hub.MaxQueueBytes, "queue-bytes", hub.DefaultMaxQueueBytes, "bytes queued for one connection before it is closed as a slow consumer")
	f.IntVar(&cfg.Hub.MaxRoomsPerConn, "max-rooms", hub.DefaultMaxRoomsPerConn, "rooms one connection may join")
	f.IntVar(&cfg.Hub.MaxConnections, "max-connections", hub.DefaultMaxConnections, "sockets the server accepts (/ws and Socket.IO; lowered to fit the file descriptor limit)")
	f.DurationVar(&cfg.PingInterval, "ping-interval", native.DefaultPingInterval, "how often sockets (/ws and Socket.IO) are pinged")
	f.DurationVar(&cfg.PongTimeout, "pong-timeout", native.DefaultPongTimeout, "how long a pinged socket has to answer")
	f.Int64Var(&cfg.WSReadLimit, "ws-read-limit", native.DefaultReadLimit, "largest frame a client may send")
	f.DurationVar(&cfg.WSWriteTimeout, "ws-write-timeout", native.DefaultWriteTimeout, "a socket that takes nothing for this long is closed as a slow consumer (4008)")
	f.IntVar(&cfg.WSSendBuffer, "ws-send-buffer", native.DefaultSendBuffer, "kernel send buffer of each socket in bytes (-1: the kernel's autotuning, up to 4 MiB per socket on Linux)")
	f.Int64Var(&cfg.Limits.MaxUnitPrice, "max-unit-price", domain.DefaultMaxUnitPrice, "largest unit price of an order item, in Rupiah")
	f.Int64Var(&cfg.Limits.MaxQuantity, "max-quantity", domain.DefaultMaxQuantity, "largest quantity on one line of an order")
	f.Int64Var(&cfg.Limits.MaxOrderTotal, "max-order-total", domain.DefaultMaxOrderTotal, "largest order total, in Rupiah")
	f.Int64Var(&cfg.Limits.MaxPayment, "max-payment", domain.DefaultMaxPayment, "largest amount tendered in one payment, in Rupiah (at least --max-order-total)")
	f.DurationVar(&cfg.SIOConnectTimeout, "connect-timeout", socketio.DefaultConnectTimeout, "a Socket.IO session that has not connected a socket by then is closed")
	f.IntVar(&cfg.SIOMaxPreloginPerAddr, "max-prelogin-per-addr", socketio.DefaultMaxPreloginPerAddr, "Socket.IO sessions one address may hold before they connect; more are refused with 429")
	f.BoolVar(&cfg.Webhooks.AllowPrivate, "allow-private", false, "let webhooks reach loopback, private, link-local and other non-public addresses (a trusted LAN)")
	f.BoolVar(&cfg.Webhooks.AllowHTTP, "allow-http", false, "let webhooks use plain http (https is required otherwise)")
	f.BoolVar(&cfg.Pprof, "pprof", false, "serve /debug/pprof (admin token required)")
	f.BoolVar(&withDemo, "demo", false, "also run posd demo against this server: a food court with live traffic")
	f.Float64Var(&demoRate, "demo-rate", demo.DefaultRate, "orders per minute for --demo")
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// selfCommand is how the user can run this program again from the same
// directory: what they typed, or "go run ./cmd/posd" when the binary is go
// run's temporary build (there is then no posd on the PATH to name).
func selfCommand(arg0 string) string {
	if strings.Contains(filepath.ToSlash(arg0), "/go-build") {
		return "go run ./cmd/posd"
	}
	if arg0 == "" {
		return "posd"
	}
	return arg0
}

// demoBanner tells the user how to watch the demo, in commands that work
// where they are.
func demoBanner(w io.Writer, self, url string, authOff bool) {
	board := url + "/board"
	if !authOff {
		board += "?token=$(" + self + " token create --role display --display)"
	}
	fmt.Fprintf(w, "posd: demo traffic is running. In more terminals here:\n  %s display\n  %s kasir --counter 1\n  %s ops\nand the pickup board at %s\n",
		self, self, self, board)
}
