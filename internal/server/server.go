// Package server assembles posd serve: store, hub, service, API and the
// socket protocols, with one Run that tests and the command share.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/api"
	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/board"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/protocol/native"
	"github.com/posd/posd/internal/protocol/socketio"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/internal/webhook"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/backend"
)

// Defaults of the settings posd serve has flags for that belong to the
// server itself; the other flags take theirs from the package they set.
const (
	DefaultAddr        = "127.0.0.1:5000"
	DefaultDBPath      = "posd.db"
	DefaultRetention   = 24 * time.Hour
	DefaultKeepPerRoom = 1000

	// DefaultTokenFile is where the first admin token goes for the
	// default database, and for any PostgreSQL one: where client commands
	// run in the same directory look for it.
	DefaultTokenFile = DefaultDBPath + tokenSuffix
	tokenSuffix      = ".token" // a SQLite file's token file is the file's name + this
)

// Config is everything posd serve can be told.
type Config struct {
	Addr   string // host:port; default 127.0.0.1:5000
	DBPath string // a SQLite file or a postgres:// URL; default ./posd.db
	// NodeID names this process among the nodes sharing a database
	// (default: random, new at every start); Advertise is the address the
	// other nodes reach it at (default: the listen address).
	NodeID      string
	Advertise   string
	TokenFile   string // default DBPath + ".token"; for PostgreSQL ./posd.db.token
	CORSOrigins []string
	AuthOff     bool
	TLSCert     string
	TLSKey      string
	Synchronous string // SQLite synchronous pragma: NORMAL (default) or FULL
	WALLimit    int64  // WAL bytes before the store restarts it; default sqlite.DefaultWALLimit

	// Failed authentications allowed per remote address: a burst of
	// AuthFailBurst (default 10), then one per AuthFailEvery (default 6 s).
	AuthFailBurst int
	AuthFailEvery time.Duration
	// ExpiryCheckEvery is how often connections whose token has expired,
	// or was revoked straight in the database (posd token revoke --db),
	// are closed (default 10 s).
	ExpiryCheckEvery time.Duration

	Retention      time.Duration // default 24h
	KeepPerRoom    int           // default 1000
	PruneEvery     time.Duration // default 1m
	IdempotencyTTL time.Duration // default 24h
	MaxBodyBytes   int64         // default 1 MiB
	// Limits caps prices, quantities, order totals and payments (zero
	// fields: domain's defaults).
	Limits domain.Limits

	Hub hub.Options
	// PingInterval and PongTimeout are the heartbeat of both /ws and
	// Socket.IO (zero: native.DefaultPingInterval, DefaultPongTimeout).
	PingInterval time.Duration
	PongTimeout  time.Duration
	WSReadLimit  int64
	// WSWriteTimeout bounds one socket write (default 10 s); a peer that
	// takes nothing for that long is closed as a slow consumer.
	WSWriteTimeout time.Duration
	// WSSendBuffer caps each socket's kernel send buffer (default 128 KiB).
	WSSendBuffer int
	// SIOConnectTimeout closes a Socket.IO session that has no connected
	// socket for this long; SIOMaxPreloginPerAddr caps such sessions per
	// address (socketio.Config's defaults when zero).
	SIOConnectTimeout     time.Duration
	SIOMaxPreloginPerAddr int

	// Edge caps what one client address may hold before it has logged in
	// (connections, request bodies in flight) and names the proxies whose
	// X-Forwarded-For is believed.
	Edge edge.Config
	// MaxHeaderBytes caps a request's header block (default 32 KiB).
	MaxHeaderBytes int

	// Webhooks is where webhooks may go (serve --allow-private,
	// --allow-http); WebhookTuning, for tests, sets the rest of the
	// dispatcher's configuration (its zero value: the defaults).
	Webhooks      webhook.Policy
	WebhookTuning webhook.Config
	// Location is the zone of the food court's local days, which the
	// reports count in (nil: UTC).
	Location *time.Location

	Pprof  bool // serve /debug/pprof (admin token required)
	Logger *slog.Logger
	Now    func() time.Time
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.DBPath == "" {
		c.DBPath = DefaultDBPath
	}
	if c.TokenFile == "" {
		c.TokenFile = c.DBPath + tokenSuffix
		if backend.IsPostgres(c.DBPath) {
			c.TokenFile = DefaultTokenFile
		}
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.KeepPerRoom <= 0 {
		c.KeepPerRoom = DefaultKeepPerRoom
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = time.Minute
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 24 * time.Hour
	}
	if c.ExpiryCheckEvery <= 0 {
		c.ExpiryCheckEvery = 10 * time.Second
	}
	if c.NodeID == "" {
		c.NodeID = newNodeID()
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = api.DefaultMaxBodyBytes
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = edge.DefaultMaxHeaderBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// newNodeID is 8 random characters of lower-case base32: short enough to
// prefix every Engine.IO session id with, so any node can tell whose a
// session is.
func newNodeID() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// NodeID names this node.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// AdvertiseAddr is the host:port other nodes reach this one at: --advertise,
// else the bound address (with 127.0.0.1 for an unspecified host).
func (s *Server) AdvertiseAddr() string {
	if s.cfg.Advertise != "" {
		return s.cfg.Advertise
	}
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return s.Addr()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// APIReserve is how many connections the socket cap leaves below the
// connection cap, so that the API, /healthz and the board still answer
// when sockets are at their cap.
const APIReserve = 512

// Protocol indexes of the hub's encoders.
const (
	ProtoNative hub.Protocol = iota
	ProtoSocketIO
	numProtocols
)

// Server is a running posd.
type Server struct {
	cfg     Config
	log     *slog.Logger
	Store   store.Store
	Hub     *hub.Hub
	Service *service.Service
	Tokens  *auth.Tokens
	edge    *edge.Edge
	native  *native.Handler
	sio     *socketio.Server
	http    *http.Server
	ln      net.Listener
	handler http.Handler
	// AdminToken is set when this start created the first admin token.
	AdminToken string
	// clustered: the database may be shared with other nodes (PostgreSQL),
	// so this node heartbeats and counts the others.
	clustered bool
	startedAt time.Time
	webhooks  *webhook.Dispatcher
}

// SingleNodeOwner holds the webhook leases of a server alone on its
// (SQLite) database, whatever its node id.
const SingleNodeOwner = "local"

// HeartbeatEvery is how often a node on a shared database records its
// figures in the node registry; store.NodeLiveFor is several of these.
const HeartbeatEvery = 2 * time.Second

// New opens the database and builds every part; Listen and Run start it.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.defaults()
	s := &Server{cfg: cfg, log: cfg.Logger, clustered: backend.IsPostgres(cfg.DBPath), startedAt: cfg.Now()}
	// The store exists before the hub it feeds, and PostgreSQL's listener
	// may report a change at once: the hub is published to it atomically.
	var hubp atomic.Pointer[hub.Hub]
	var ready atomic.Bool
	st, err := backend.Open(ctx, cfg.DBPath, store.Options{
		Synchronous: cfg.Synchronous,
		Now:         cfg.Now,
		Committed: func(evs []domain.Event) {
			if h := hubp.Load(); h != nil {
				h.Publish(evs)
			}
		},
		Changed: func() {
			if h := hubp.Load(); h != nil {
				h.Changed()
			}
		},
		Command: func(cmd store.Command) {
			if ready.Load() {
				s.command(cmd)
			}
		},
		WALLimit: cfg.WALLimit,
		Logger:   cfg.Logger.With("component", "store"),
	})
	if err != nil {
		return nil, err
	}
	s.Store = st
	ecfg := cfg.Edge
	ecfg.Logger = cfg.Logger.With("component", "edge")
	ecfg.Now = cfg.Now
	// A body of unknown length reserves the most any route takes: the
	// API's limit or a Socket.IO POST's.
	ecfg.MaxBodyBytes = max(cfg.MaxBodyBytes, socketio.DefaultMaxPayload)
	s.edge = edge.New(ecfg)
	// Every socket holds a descriptor: the socket cap stays below the
	// connection cap by APIReserve, whatever --max-connections asks.
	if cfg.Hub.MaxConnections <= 0 {
		cfg.Hub.MaxConnections = hub.DefaultMaxConnections
	}
	if room := max(s.edge.Limits().MaxConns-APIReserve, 16); cfg.Hub.MaxConnections > room {
		// Worth a warning only when an operator asked for more; the
		// default fits itself to the machine every start.
		log := cfg.Logger.Info
		if cfg.Hub.MaxConnections != hub.DefaultMaxConnections {
			log = cfg.Logger.Warn
		}
		log("socket cap lowered to fit the file descriptor limit (ulimit -n), keeping room for the API",
			"max_connections", cfg.Hub.MaxConnections, "now", room, "fd_limit", edge.FDLimit())
		cfg.Hub.MaxConnections = room
	}
	s.cfg.Hub.MaxConnections = cfg.Hub.MaxConnections
	m := metrics.New()
	// Webhooks follow the log beside the hub: woken as it moves on, each
	// endpoint delivered from its own cursor by whichever node holds it.
	wcfg := cfg.WebhookTuning
	wcfg.Store, wcfg.Client, wcfg.NodeID, wcfg.Metrics, wcfg.Now = st, webhook.NewClient(cfg.Webhooks), cfg.NodeID, m, cfg.Now
	if !s.clustered {
		// One process owns a SQLite file: a restart after a crash takes
		// its endpoints back at once instead of waiting out the dead
		// process's leases (its node id was random).
		wcfg.NodeID = SingleNodeOwner
	}
	wcfg.Logger = cfg.Logger.With("component", "webhook")
	wcfg.Alert = func(ctx context.Context, msg string) {
		if _, err := s.Service.Alert(ctx, auth.Principal{Role: auth.RoleAdmin}, "error", shortAlert(msg)); err != nil {
			cfg.Logger.Error("alerting that a webhook endpoint was disabled", "err", err)
		}
	}
	s.webhooks = webhook.New(wcfg)
	m.SetWebhooks(s.webhooks.Lags)
	hopts := cfg.Hub
	hopts.Advanced = s.webhooks.Advanced
	hopts.Metrics = m
	hopts.Encoders = make([]hub.Encoder, numProtocols)
	hopts.Encoders[ProtoNative] = native.Encode
	hopts.Encoders[ProtoSocketIO] = socketio.Encode
	// The hub follows the committed log: this process's commits arrive
	// through Publish, anything else is read from the log.
	hopts.Follow = st
	h := hub.New(hopts, st, cfg.Logger.With("component", "hub"))
	hubp.Store(h)
	s.Hub = h
	m.SetLive(h)
	m.SetLag(func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		head, delivered, err := s.LogPosition(ctx)
		if err != nil {
			return -1
		}
		return float64(max(head-delivered, 0))
	})
	s.Service, err = service.NewWithConfig(st, service.Config{Logger: cfg.Logger.With("component", "service"), Limits: cfg.Limits, Location: cfg.Location, Now: cfg.Now,
		Webhooks: service.Webhooks{Store: st, Delivery: webhookDelivery{s}}})
	if err != nil {
		st.Close()
		return nil, err
	}

	var authn auth.Authenticator = auth.Open{}
	s.Tokens = auth.NewTokens(st, cfg.Now, func(id int64) {
		n := h.CloseWhere(func(c *hub.Client) bool {
			p, ok := c.Tag().(auth.Principal)
			return ok && p.TokenID == id
		}, hub.Revoked)
		cfg.Logger.Info("token revoked", "token_id", id, "connections_closed", n)
		// The other nodes close theirs now, not at their next sweep.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := st.Broadcast(ctx, store.Command{Kind: store.CmdCloseToken, From: cfg.NodeID, TokenID: id}); err != nil {
			cfg.Logger.Warn("token revocation not sent to the other nodes; their sweep closes its connections", "token_id", id, "err", err)
		}
	})
	if cfg.AuthFailBurst > 0 {
		s.Tokens.FailBurst = cfg.AuthFailBurst
	}
	if cfg.AuthFailEvery > 0 {
		s.Tokens.FailEvery = cfg.AuthFailEvery
	}
	if !cfg.AuthOff {
		authn = s.Tokens
		if err := s.ensureAdminToken(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	origins := auth.NewOriginPolicy(cfg.CORSOrigins)
	origins.GuardRebinding(cfg.AuthOff)
	apiLog := cfg.Logger.With("component", "api")
	// A store that can tell a full disk makes /healthz say so.
	var storage api.Storage
	if fs, ok := st.(api.Storage); ok {
		storage = fs
	}
	a := api.New(api.Config{
		Service: s.Service, Replays: st, Hub: h, Auth: authn, Tokens: s.Tokens, Origins: origins,
		AuthOff: cfg.AuthOff, MaxBodyBytes: cfg.MaxBodyBytes, Logger: apiLog, Observer: m, SlowCloses: m, Storage: storage, Lag: s, Cluster: s,
	})
	s.native = native.New(native.Config{
		Hub: h, Proto: ProtoNative, Auth: authn, Origins: origins,
		ReadLimit: cfg.WSReadLimit, PingInterval: cfg.PingInterval, PongTimeout: cfg.PongTimeout, WriteTimeout: cfg.WSWriteTimeout, SendBuffer: cfg.WSSendBuffer,
		OnError: a.WriteError, Logger: cfg.Logger.With("component", "ws"),
	})
	// A request for a Socket.IO session another node holds is forwarded
	// there, signed with the database's cluster secret.
	secret, err := st.ClusterSecret(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	// Other nodes' addresses come from the node registry in the
	// database (on SQLite there are none: nothing is forwarded).
	var peers socketio.Peers = st
	s.sio = socketio.NewServer(socketio.Config{
		Hub: h, Proto: ProtoSocketIO, Auth: authn, Origins: origins,
		WriteTimeout: cfg.WSWriteTimeout, SendBuffer: cfg.WSSendBuffer,
		PingInterval: cfg.PingInterval, PingTimeout: cfg.PongTimeout,
		// Every Engine.IO session holds a socket or a pending request,
		// logged in or not: the same cap as the hub's connections.
		MaxSessions:    cfg.Hub.MaxConnections,
		ConnectTimeout: cfg.SIOConnectTimeout, MaxPreloginPerAddr: cfg.SIOMaxPreloginPerAddr,
		// Recovery records live in the database: a client recovers on any
		// node, after any node's death or restart.
		Records: recoveryRecords{st}, NodeID: cfg.NodeID, Peers: peers, ForwardSecret: secret,
		Logger: cfg.Logger, Now: cfg.Now,
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", s.sio) // Socket.IO v4 clients (docs/protocol.md)
	mux.Handle("/api/", a)
	mux.Handle("/healthz", a)
	mux.Handle("/ws", s.native)
	// Metrics carry no order data, only counts: scrapers need no token.
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle(board.Prefix+"/", board.Handler()) // the pickup board; /board redirects here
	if cfg.Pprof {
		mux.Handle("/debug/pprof/", a.AdminOnly(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", a.AdminOnly(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", a.AdminOnly(http.HandlerFunc(pprof.Trace)))
	}
	s.handler = s.edge.Handler(mux, a.WriteError)
	ready.Store(true)
	return s, nil
}

// ensureAdminToken creates the first admin token on a fresh database and
// writes it, readable only by its owner, beside the database.
func (s *Server) ensureAdminToken(ctx context.Context) error {
	n, err := s.Store.CountTokens(ctx)
	if err != nil {
		return fmt.Errorf("count tokens: %w", err)
	}
	if n > 0 {
		if _, err := os.Stat(s.cfg.TokenFile); err != nil {
			s.log.Warn("admin token file is missing; issue a new admin token with: posd token create --role admin --db " + backend.Redact(s.cfg.DBPath))
		}
		return nil
	}
	tok, err := s.Tokens.Create(ctx, auth.TokenSpec{Role: auth.RoleAdmin, Label: "first admin (created by posd serve)"})
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	if err := WriteTokenFile(s.cfg.TokenFile, tok.Token); err != nil {
		return err
	}
	s.AdminToken = tok.Token
	s.log.Info("created the admin token", "file", s.cfg.TokenFile)
	return nil
}

// WriteTokenFile writes a token to path with mode 0600. It writes a new
// file (created 0600 from the start) and renames it over path, so a
// pre-existing file or symlink at path is replaced, never written through.
func WriteTokenFile(path, token string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write token file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write token file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

// LogPosition is the log's head and the last id this node handed to its
// connections: a node that silently stopped delivering shows a growing
// difference in /healthz and /metrics.
func (s *Server) LogPosition(ctx context.Context) (head, delivered int64, err error) {
	delivered = s.Hub.LastPublished()
	head, err = s.Store.LastEventID(ctx)
	return head, delivered, err
}

// DBPath is the database the server opened (a SQLite file or a
// PostgreSQL URL).
func (s *Server) DBPath() string { return s.cfg.DBPath }

// TokenFile is where the admin token is written.
func (s *Server) TokenFile() string { return s.cfg.TokenFile }

// Handler is the server's HTTP handler (for tests that bring their own listener).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the address; Addr reports it (useful with port 0).
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = s.edge.Listener(ln, s.cfg.TLSCert == "")
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr
	}
	return s.ln.Addr().String()
}

// URL is the base URL clients use.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.Addr()
}

// Run serves until ctx ends, then shuts down gracefully: stop accepting,
// finish in-flight requests, close sockets with 1001 going away, close the
// database. It listens first if Listen was not called.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	hubCtx, stopHub := context.WithCancel(context.Background())
	go s.Hub.Run(hubCtx)
	// Registered before it serves, so that the others count it at once.
	s.heartbeat(ctx)
	whCtx, stopWebhooks := context.WithCancel(context.Background())
	whDone := make(chan struct{})
	go func() {
		defer close(whDone)
		s.webhooks.Run(whCtx)
	}()
	bgCtx, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		s.maintain(bgCtx)
	}()

	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.http.RegisterOnShutdown(s.sio.Close) // releases pending long-polls so Shutdown need not wait for them
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.cfg.TLSCert != "" {
			s.http.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			err = s.http.ServeTLS(s.ln, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			err = s.http.Serve(s.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	if s.cfg.AuthOff {
		s.log.Warn("AUTHENTICATION IS OFF (--auth=off): anyone who can reach " + s.URL() + " can read and change everything. Use only on a trusted LAN.")
	}
	s.log.Info("posd listening", "addr", s.Addr(), "url", s.URL(), "db", backend.Redact(s.cfg.DBPath))

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.http.Shutdown(shutCtx) // in-flight requests finish; their events are published
	s.sio.Close()                // again, and waited for (it writes the recovery records): Shutdown runs its hooks in the background
	stopWebhooks()               // each worker records its cursor; the leases are released for another node
	<-whDone
	stopHub() // every socket gets 1001 going away
	<-s.Hub.Done()
	waitOrTimeout(s.native.Wait, 3*time.Second) // every /ws close frame written, every reader returned
	waitOrTimeout(s.sio.Wait, 3*time.Second)    // the same for Socket.IO's WebSockets
	stopBG()
	<-bgDone
	if s.clustered {
		rmCtx, cancelRm := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.Store.RemoveNode(rmCtx, s.cfg.NodeID); err != nil {
			s.log.Warn("leaving the node registry; the others stop counting this node within "+store.NodeLiveFor.String(), "err", err)
		}
		cancelRm()
	}
	if err := s.Store.Close(); err != nil && serveErr == nil {
		serveErr = fmt.Errorf("close database: %w", err)
	}
	s.log.Info("stopped")
	return serveErr
}

func waitOrTimeout(wait func(), d time.Duration) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// maintain prunes the event log and old idempotency keys in the
// background, closes connections whose token has expired, and heartbeats.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(s.cfg.PruneEvery)
	defer t.Stop()
	exp := time.NewTicker(s.cfg.ExpiryCheckEvery)
	defer exp.Stop()
	beat := time.NewTicker(HeartbeatEvery)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			s.heartbeat(ctx)
		case <-t.C:
			s.Prune(ctx)
		case <-exp.C:
			s.CloseExpired()
			s.CloseRevoked(ctx)
		}
	}
}

// TokenExpired closes a connection whose token expired while it was open.
var TokenExpired = hub.CloseReason{Code: hub.Revoked.Code, Text: "token expired"}

// CloseRevoked closes every connection whose token is revoked in the
// database (a revocation through the API closes them at once; this catches
// posd token revoke --db) and reports how many.
func (s *Server) CloseRevoked(ctx context.Context) int {
	rows, err := s.Tokens.List(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("read tokens for the revocation sweep", "err", err)
		}
		return 0
	}
	revoked := map[int64]bool{}
	for _, r := range rows {
		if r.RevokedAt != nil {
			revoked[r.ID] = true
		}
	}
	if len(revoked) == 0 {
		return 0
	}
	n := s.Hub.CloseWhere(func(c *hub.Client) bool {
		p, ok := c.Tag().(auth.Principal)
		return ok && revoked[p.TokenID]
	}, hub.Revoked)
	if n > 0 {
		s.log.Info("closed connections of revoked tokens", "connections", n)
	}
	return n
}

// CloseExpired closes every connection whose token has expired by now and
// reports how many.
func (s *Server) CloseExpired() int {
	now := s.cfg.Now()
	n := s.Hub.CloseWhere(func(c *hub.Client) bool {
		p, ok := c.Tag().(auth.Principal)
		return ok && !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt)
	}, TokenExpired)
	if n > 0 {
		s.log.Info("closed connections of expired tokens", "connections", n)
	}
	return n
}

// Prune runs one retention pass.
func (s *Server) Prune(ctx context.Context) {
	now := s.cfg.Now()
	n, err := s.Store.Prune(ctx, now.Add(-s.cfg.Retention), s.cfg.KeepPerRoom)
	if err != nil && ctx.Err() == nil {
		s.log.Error("prune event log", "err", err)
	} else if n > 0 {
		s.log.Info("pruned event log", "events", n)
	}
	if _, err := s.Store.PruneIdempotency(ctx, now.Add(-s.cfg.IdempotencyTTL)); err != nil && ctx.Err() == nil {
		s.log.Error("prune idempotency keys", "err", err)
	}
	if _, err := s.Store.PruneRecovery(ctx, now); err != nil && ctx.Err() == nil {
		s.log.Error("prune Socket.IO recovery records", "err", err)
	}
}

// recoveryRecords keeps socketio's recovery records in the store.
type recoveryRecords struct{ st store.Store }

func (r recoveryRecords) PutRecovery(ctx context.Context, rec socketio.Record) error {
	return r.st.PutRecovery(ctx, store.RecoverySession(rec))
}

func (r recoveryRecords) UpdateRecovery(ctx context.Context, pid string, gen int64, rooms []string, expires time.Time) error {
	return r.st.UpdateRecovery(ctx, pid, gen, rooms, expires)
}

func (r recoveryRecords) DeleteRecovery(ctx context.Context, pid string, gen int64) error {
	return r.st.DeleteRecovery(ctx, pid, gen)
}

func (r recoveryRecords) ClaimRecovery(ctx context.Context, pid string, tokenID int64, now time.Time) (*socketio.Record, error) {
	rec, err := r.st.ClaimRecovery(ctx, pid, tokenID, now)
	if rec == nil || err != nil {
		return nil, err
	}
	out := socketio.Record(*rec)
	return &out, nil
}

func (r recoveryRecords) TouchRecovery(ctx context.Context, owner string, pids []string, expires time.Time) error {
	return r.st.TouchRecovery(ctx, owner, pids, expires)
}

// self is this node's figures now.
func (s *Server) self() store.NodeInfo {
	return store.NodeInfo{
		ID: s.cfg.NodeID, Addr: s.AdvertiseAddr(), StartedAt: s.startedAt, HeartbeatAt: s.cfg.Now(),
		Connections: s.Hub.Active(), Rooms: s.Hub.RoomSizes(), Delivered: s.Hub.LastPublished(),
	}
}

// heartbeat records this node's figures in the node registry, on a shared
// database only: alone on a SQLite file there is no one to tell.
func (s *Server) heartbeat(ctx context.Context) {
	if !s.clustered {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, HeartbeatEvery)
	defer cancel()
	if err := s.Store.Heartbeat(ctx, s.self()); err != nil && ctx.Err() == nil {
		s.log.Warn("heartbeat not recorded; the other nodes stop counting this one after "+store.NodeLiveFor.String(), "err", err)
	}
}

// Nodes lists the nodes sharing the database, this one with its live
// figures (whatever its last heartbeat said); alone on SQLite, this one.
func (s *Server) Nodes(ctx context.Context) ([]api.NodeView, error) {
	me := api.NodeView{NodeInfo: s.self(), Live: true, Self: true}
	if !s.clustered {
		return []api.NodeView{me}, nil
	}
	rows, err := s.Store.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := []api.NodeView{me}
	for _, n := range rows {
		if n.ID != me.ID {
			out = append(out, api.NodeView{NodeInfo: n, Live: n.Live(now)})
		}
	}
	return out, nil
}

// Broadcast tells the other nodes to carry out cmd on their connections.
func (s *Server) Broadcast(ctx context.Context, cmd store.Command) error {
	return s.Store.Broadcast(ctx, cmd)
}

// command carries out another node's command on this node's connections.
// It is called on the store's listener goroutine, which must keep
// reading: closing sockets only queues their close frames.
func (s *Server) command(cmd store.Command) {
	if cmd.From == s.cfg.NodeID {
		return // carried out when it was sent
	}
	switch cmd.Kind {
	case store.CmdCloseRoom:
		n := s.Hub.DisconnectRoom(cmd.Room)
		s.log.Info("room disconnected by another node", "room", cmd.Room, "from", cmd.From, "connections", n)
	case store.CmdCloseToken:
		n := s.Hub.CloseWhere(func(c *hub.Client) bool {
			p, ok := c.Tag().(auth.Principal)
			return ok && p.TokenID == cmd.TokenID
		}, hub.Revoked)
		s.log.Info("token revoked by another node", "token_id", cmd.TokenID, "from", cmd.From, "connections_closed", n)
	case store.CmdWebhooks:
		s.webhooks.Kick()
	default:
		s.log.Warn("unknown command from another node ignored", "kind", cmd.Kind, "from", cmd.From)
	}
}

// webhookDelivery is the service's way to webhook delivery on this node.
type webhookDelivery struct{ s *Server }

func (w webhookDelivery) CheckURL(ctx context.Context, raw string) error {
	return w.s.webhooks.CheckURL(ctx, raw)
}

func (w webhookDelivery) NewSecret() string { return w.s.webhooks.NewSecret() }

func (w webhookDelivery) Ping(ctx context.Context, hook store.Webhook) store.WebhookDelivery {
	return w.s.webhooks.Ping(ctx, hook)
}

// Changed makes this node claim at once, and tells the others: whichever
// node holds a changed endpoint restarts its worker now, not at its next
// lease renewal.
func (w webhookDelivery) Changed() {
	w.s.webhooks.Kick()
	if !w.s.clustered {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.s.Store.Broadcast(ctx, store.Command{Kind: store.CmdWebhooks, From: w.s.cfg.NodeID}); err != nil {
		w.s.log.Warn("webhook change not sent to the other nodes; they take it up at their next claim", "err", err)
	}
}

// shortAlert keeps an alert within domain.MaxAlertLen.
func shortAlert(msg string) string {
	if len(msg) <= domain.MaxAlertLen {
		return msg
	}
	return strings.ToValidUTF8(msg[:domain.MaxAlertLen-3], "") + "..."
}
