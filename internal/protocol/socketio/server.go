// Package socketio serves posd's hub to unchanged socket.io-client v4 front
// ends: Engine.IO v4 (long-polling, WebSocket, upgrade, heartbeat) carrying
// Socket.IO v5 packets on the main namespace, with connection-state recovery
// backed by the event log.
//
// One Engine.IO session holds at most one Socket.IO socket ("/"); the socket
// is one hub.Client, whose hooks (hub.Conn) are the session's. Every byte a
// session sends is taken by one consumer at a time: the pending
// long-polling GET (session.pull), or its WebSocket's writer (session.Pull,
// a wsconn.Source), which wsconn runs as it does native's.
package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsconn"
)

// Defaults of the limits posd serve has flags for.
const (
	// DefaultConnectTimeout is socket.io's own connectTimeout: a session
	// that has not connected a socket by then is closed.
	DefaultConnectTimeout = 45 * time.Second
	// DefaultMaxPreloginPerAddr bounds the sessions one address may hold
	// before they log in: far more than one browser opens (one per tab),
	// far fewer than it takes to fill the server.
	DefaultMaxPreloginPerAddr = 32
	// DefaultMaxPayload is the largest message or POST body a client may send.
	DefaultMaxPayload = 1_000_000
	// DefaultPingInterval and DefaultPingTimeout are socket.io's own
	// heartbeat (and /ws's: posd serve's --ping-interval and --pong-timeout
	// set both endpoints).
	DefaultPingInterval = 25 * time.Second
	DefaultPingTimeout  = 20 * time.Second
	// DefaultWriteTimeout and DefaultSendBuffer match /ws's, for the same
	// reason: posd serve's --ws-write-timeout and --ws-send-buffer set both.
	DefaultWriteTimeout = 10 * time.Second
	DefaultSendBuffer   = 128 << 10
)

// Config wires a Server to the hub and the token check.
type Config struct {
	Hub     *hub.Hub
	Proto   hub.Protocol // index of Encode in the hub's Encoders
	Auth    auth.Authenticator
	Origins *auth.OriginPolicy // nil: only non-browser clients (no Origin header)

	PingInterval   time.Duration // default 25s
	PingTimeout    time.Duration // default 20s
	MaxPayload     int           // bytes per received message or POST body; default 1e6
	RecoveryWindow time.Duration // how long a lost socket's session is kept; default 2m
	// MaxRecoverable bounds the records of closed sockets this node keeps
	// claimable at once (default 100,000); its live sockets' records are
	// bounded by MaxSessions.
	MaxRecoverable int
	// Records keeps the recovery records where every node can claim them
	// (the database); nil keeps them in this process.
	Records Records
	// NodeID names this node among those sharing Records: it owns the
	// records of its live sockets, and starts the Engine.IO sid of each
	// session it holds.
	NodeID string
	// Peers finds the node a sid names, so that a request for a session
	// held elsewhere is forwarded there; ForwardSecret (shared by every
	// node) signs what is forwarded. nil or "": a single node.
	Peers         Peers
	ForwardSecret string
	// MaxSessions caps open Engine.IO sessions, connected or not, polling
	// or WebSocket; each holds a descriptor or a pending request, so posd
	// serve passes its --max-connections. Default 50,000, the hub's.
	MaxSessions int
	// A session without a connected socket (before its CONNECT succeeds, or
	// after its socket disconnected) is "pre-login": anyone can open one,
	// so what it may hold is bounded. ConnectTimeout closes it (default
	// DefaultConnectTimeout); MaxPreloginPerAddr caps them per address
	// (edge.AddrKey; default DefaultMaxPreloginPerAddr); its own queue holds
	// at most MaxPreloginQueue packets (default 16) and MaxPreloginBytes
	// (default 64 KiB), and it may be refused a CONNECT MaxRefusedConnects
	// times (default 5). Going over any of these closes the session.
	ConnectTimeout     time.Duration
	MaxPreloginPerAddr int
	MaxPreloginQueue   int
	MaxPreloginBytes   int
	MaxRefusedConnects int
	WriteTimeout       time.Duration // per WebSocket write; default 10s
	// SendBuffer caps each WebSocket's kernel send buffer (default 128 KiB;
	// negative: the kernel's autotuning), so a client that stops reading
	// fills its hub queue and is caught, as on /ws.
	SendBuffer  int
	AuthTimeout time.Duration // per token check; default 10s

	Logger *slog.Logger
	Now    func() time.Time
}

func (c *Config) defaults() {
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.RecoveryWindow <= 0 {
		c.RecoveryWindow = 2 * time.Minute
	}
	if c.MaxRecoverable <= 0 {
		c.MaxRecoverable = 100_000
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 50_000
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxPreloginPerAddr <= 0 {
		c.MaxPreloginPerAddr = DefaultMaxPreloginPerAddr
	}
	if c.MaxPreloginQueue <= 0 {
		c.MaxPreloginQueue = 16
	}
	if c.MaxPreloginBytes <= 0 {
		c.MaxPreloginBytes = 64 << 10
	}
	if c.MaxRefusedConnects <= 0 {
		c.MaxRefusedConnects = 5
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.Auth == nil {
		c.Auth = auth.Open{}
	}
	if c.Origins == nil {
		c.Origins = auth.NewOriginPolicy(nil)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Records == nil {
		c.Records = newMemRecords(c.Now)
	}
}

// Server is the /socket.io/ endpoint. It is safe for concurrent use.
type Server struct {
	cfg      Config
	lg       *slog.Logger
	upgrader websocket.Upgrader

	mu        sync.Mutex
	closed    bool
	sessions  map[string]*session // by Engine.IO sid
	prelogin  map[string]int      // sessions without a connected socket, by edge.AddrKey
	refusals  refusalLog
	live      map[string]*socket   // by private id (pid) while connected
	saved     map[string]time.Time // expiry of the records this node let go of
	lastSweep time.Time

	peerTransport http.RoundTripper
	ws            wsconn.Config // every session's WebSocket

	wg        sync.WaitGroup // every goroutine the server starts (WebSockets, refreshLoop): Wait
	writes    sync.WaitGroup // background record writes (detach), waited by Close
	stop      chan struct{}  // ends refreshLoop
	closeOnce sync.Once
	closeDone chan struct{}
}

// NewServer builds the endpoint; mount ServeHTTP at /socket.io/.
func NewServer(cfg Config) *Server {
	cfg.defaults()
	s := &Server{
		cfg:       cfg,
		lg:        cfg.Logger.With("component", "socketio"),
		sessions:  make(map[string]*session),
		prelogin:  make(map[string]int),
		live:      make(map[string]*socket),
		saved:     make(map[string]time.Time),
		stop:      make(chan struct{}),
		closeDone: make(chan struct{}),
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  512, // client packets are small: joins, acks, pongs
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		// Origins are checked before the upgrade, with Engine.IO's error body.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	pt := http.DefaultTransport.(*http.Transport).Clone()
	pt.Proxy = nil // nodes talk to each other directly
	pt.MaxIdleConnsPerHost = 64
	s.peerTransport = pt
	s.ws = wsconn.Config{
		WriteTimeout: cfg.WriteTimeout, Text: true, ReadLimit: int64(cfg.MaxPayload), SendBuffer: cfg.SendBuffer,
		Group: &s.wg,
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.refreshLoop()
	}()
	return s
}

// openPacket renders the Engine.IO handshake for sid. Only a polling
// session may upgrade: a session that starts on a WebSocket advertises no
// upgrades, or 4.7+ clients would probe for one on every connect (and a
// browser would log the failed probe).
func (s *Server) openPacket(sid string, t transportKind) []byte {
	upgrades := []string{}
	if t == transportPolling {
		upgrades = append(upgrades, "websocket")
	}
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, upgrades, s.cfg.PingInterval.Milliseconds(), s.cfg.PingTimeout.Milliseconds(), s.cfg.MaxPayload})
	return append([]byte{eioOpen}, b...)
}

// ServeHTTP handles every Engine.IO request: handshakes, polls, posts and
// WebSocket upgrades.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if sid := r.URL.Query().Get("sid"); sid != "" && r.Method != http.MethodOptions {
		// Another node's session is its business, CORS and all: no
		// sticky sessions needed in front of the nodes.
		if !s.acceptForwarded(r, sid) && s.session(sid) == nil && s.forward(w, r, sid) {
			return
		}
	}
	origin := r.Header.Get("Origin")
	if s.cfg.Origins.Listed(origin) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		if s.cfg.Origins.Listed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", "600")
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	transport := q.Get("transport")
	if transport != "polling" && transport != "websocket" {
		writeEngineError(w, errUnknownTransport)
		return
	}
	if !s.cfg.Origins.AllowRequest(r) {
		writeEngineError(w, errForbidden)
		return
	}
	upgrade := websocket.IsWebSocketUpgrade(r)
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			writeEngineError(w, errBadHandshakeMethod)
			return
		}
		if q.Get("EIO") != "4" {
			writeEngineError(w, errUnsupportedVersion)
			return
		}
		if transport == "websocket" {
			if !upgrade {
				writeEngineError(w, errBadRequest)
				return
			}
			s.serveWebSocket(w, r, nil)
			return
		}
		s.handshakePolling(w, r)
		return
	}
	sess := s.session(sid)
	if sess == nil {
		writeEngineError(w, errUnknownSID)
		return
	}
	if transport == "websocket" {
		if !upgrade {
			writeEngineError(w, errBadRequest)
			return
		}
		s.serveWebSocket(w, r, sess)
		return
	}
	switch r.Method {
	case http.MethodGet:
		sess.servePoll(w, r)
	case http.MethodPost:
		sess.serveData(w, r)
	default:
		writeEngineError(w, errBadRequest)
	}
}

// Close ends every session (clients see a transport close and reconnect
// later) and refuses new ones. It returns once every socket that was live
// has been detached and its record refreshed for RecoveryWindow (one
// write for them all), so that the clients recover on whichever node they
// reach next, this one restarted included. Concurrent and later calls
// wait for the first.
func (s *Server) Close() {
	s.closeOnce.Do(s.close)
	<-s.closeDone
}

func (s *Server) close() {
	defer close(s.closeDone)
	close(s.stop)
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	live := make([]*socket, 0, len(s.live))
	pids := make([]string, 0, len(s.live))
	for pid, sock := range s.live {
		live = append(live, sock)
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.closeWith(closeShutdown, nil, true)
	}
	deadline := time.After(time.Second) // a close never stalls a shutdown for long
wait:
	for _, sock := range live {
		select {
		case <-sock.detached:
		case <-deadline:
			s.lg.Warn("Socket.IO shutdown: a socket's close did not finish", "pid", sock.pid)
			break wait
		}
	}
	waitOrTimeout(s.writes.Wait, recordTimeout)
	s.refresh(pids)
}

// Wait blocks until every goroutine the server started has ended: after
// Close, every WebSocket's close frame has been written and its reader has
// returned.
func (s *Server) Wait() { s.wg.Wait() }

func waitOrTimeout(wait func(), d time.Duration) {
	done := make(chan struct{})
	go func() { wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// Sessions is the number of open Engine.IO sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) session(sid string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sid]
}

// Why a handshake was refused.
var (
	errShuttingDown   = engineError{3, "Server is shutting down", http.StatusServiceUnavailable}
	errServerFull     = engineError{3, "Server is full", http.StatusServiceUnavailable}
	errTooManyPending = engineError{3, "Too many sessions from this address have not connected yet: connect them or retry later", http.StatusTooManyRequests}
)

// addSession registers sess, a new pre-login session, or says why not:
// the server is closed, full (MaxSessions) or sess's address already holds
// MaxPreloginPerAddr sessions that have not logged in.
func (s *Server) addSession(sess *session) *engineError {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return &errShuttingDown
	case len(s.sessions) >= s.cfg.MaxSessions:
		return &errServerFull
	case s.prelogin[sess.key] >= s.cfg.MaxPreloginPerAddr:
		return &errTooManyPending
	}
	s.sessions[sess.id] = sess
	s.prelogin[sess.key]++
	sess.prelogin = true
	return nil
}

// refuse answers a handshake addSession refused, and logs it at most once
// a minute per address: the refusals of a flood must not flood the log.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, e *engineError) {
	if e != &errShuttingDown {
		key := edge.AddrKey(r.RemoteAddr)
		if n, ok := s.refusals.note(key, s.cfg.Now()); ok {
			s.lg.Warn("Socket.IO handshake refused", "addr", key, "why", e.Message,
				"refused_since_last_log", n, "max_sessions", s.cfg.MaxSessions, "max_prelogin_per_addr", s.cfg.MaxPreloginPerAddr)
		}
		// A slot frees when a session connects or closes; at the latest
		// when the oldest pre-login one reaches its connect timeout.
		w.Header().Set("Retry-After", strconv.Itoa(int((s.cfg.ConnectTimeout+time.Second-1)/time.Second)))
	}
	writeEngineError(w, *e)
}

// loggedIn takes sess out of its address's pre-login count once its socket
// connected.
func (s *Server) loggedIn(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.prelogin {
		sess.prelogin = false
		s.dropPreloginLocked(sess.key)
	}
}

// loggedOut counts sess as pre-login again after its socket disconnected
// while the session stays open; false when its address has no room left
// (the caller closes the session). A session already released is left alone.
func (s *Server) loggedOut(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.released || sess.prelogin {
		return true
	}
	if s.prelogin[sess.key] >= s.cfg.MaxPreloginPerAddr {
		return false
	}
	s.prelogin[sess.key]++
	sess.prelogin = true
	return true
}

// release takes a closing session out of the pre-login count for good.
func (s *Server) release(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.released = true
	if sess.prelogin {
		sess.prelogin = false
		s.dropPreloginLocked(sess.key)
	}
}

func (s *Server) dropPreloginLocked(key string) {
	if n := s.prelogin[key] - 1; n > 0 {
		s.prelogin[key] = n
	} else {
		delete(s.prelogin, key) // the map holds only addresses with sessions
	}
}

// Prelogin is the number of sessions without a connected socket.
func (s *Server) Prelogin() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.prelogin {
		n += c
	}
	return n
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	s.mu.Unlock()
}

func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	sess := newSession(s, r, transportPolling)
	if e := s.addSession(sess); e != nil {
		s.refuse(w, r, e)
		return
	}
	sess.start()
	writeText(w, s.openPacket(sess.id, transportPolling))
}

// refusalLog remembers when a refusal was last logged for each address.
type refusalLog struct {
	mu   sync.Mutex
	seen map[string]*refusals
}

type refusals struct {
	logged time.Time
	quiet  int // refusals since then, not logged
}

// refusalLogEvery is how often one address's refusals are logged.
const refusalLogEvery = time.Minute

// maxRefusalAddrs bounds the addresses remembered: when every slot is taken
// by an address logged within the minute, a new one is not logged.
const maxRefusalAddrs = 4096

// note counts a refusal for key and reports whether to log it now, with
// how many went unlogged since the last line.
func (l *refusalLog) note(key string, now time.Time) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = make(map[string]*refusals)
	}
	r := l.seen[key]
	if r == nil {
		if len(l.seen) >= maxRefusalAddrs {
			for k, v := range l.seen {
				if now.Sub(v.logged) >= refusalLogEvery {
					delete(l.seen, k)
				}
			}
			if len(l.seen) >= maxRefusalAddrs {
				return 0, false
			}
		}
		l.seen[key] = &refusals{logged: now}
		return 0, true
	}
	if now.Sub(r.logged) < refusalLogEvery {
		r.quiet++
		return 0, false
	}
	n := r.quiet
	r.logged, r.quiet = now, 0
	return n, true
}

func writeEngineError(w http.ResponseWriter, e engineError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	b, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// newID returns 20 url-safe random characters (120 bits).
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
