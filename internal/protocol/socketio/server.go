// Package socketio serves posd's hub to unchanged socket.io-client v4 front
// ends: Engine.IO v4 (long-polling, WebSocket, upgrade, heartbeat) carrying
// Socket.IO v5 packets on the main namespace, with connection-state recovery
// backed by the event log.
//
// One Engine.IO session holds at most one Socket.IO socket ("/"); the socket
// is one hub.Client. Every byte a session sends goes through session.pull,
// whose only consumer at a time is the transport's writer: the WebSocket
// writer goroutine, or the pending long-polling GET.
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
	"github.com/posd/posd/internal/hub"
)

// DefaultMaxPayload is the largest message or POST body a client may send.
const DefaultMaxPayload = 1_000_000

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
	MaxRecoverable int           // sessions kept for recovery at once; default 100,000
	MaxSessions    int           // open Engine.IO sessions, connected or not; default 60,000
	WriteTimeout   time.Duration // per WebSocket write; default 10s
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
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
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
		c.MaxSessions = 60_000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 128 << 10
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
}

// Server is the /socket.io/ endpoint. It is safe for concurrent use.
type Server struct {
	cfg      Config
	lg       *slog.Logger
	upgrader websocket.Upgrader
	open     []byte // the handshake's JSON minus the sid, see openPacket

	mu        sync.Mutex
	closed    bool
	sessions  map[string]*session // by Engine.IO sid
	live      map[string]*socket  // by private id (pid) while connected
	saved     map[string]*savedSocket
	lastSweep time.Time
}

// NewServer builds the endpoint; mount ServeHTTP at /socket.io/.
func NewServer(cfg Config) *Server {
	cfg.defaults()
	s := &Server{
		cfg:      cfg,
		lg:       cfg.Logger.With("component", "socketio"),
		sessions: make(map[string]*session),
		live:     make(map[string]*socket),
		saved:    make(map[string]*savedSocket),
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  512, // client packets are small: joins, acks, pongs
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		// Origins are checked before the upgrade, with Engine.IO's error body.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s
}

// openPacket renders the Engine.IO handshake for sid.
func (s *Server) openPacket(sid string) []byte {
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, []string{"websocket"}, s.cfg.PingInterval.Milliseconds(), s.cfg.PingTimeout.Milliseconds(), s.cfg.MaxPayload})
	return append([]byte{eioOpen}, b...)
}

// ServeHTTP handles every Engine.IO request: handshakes, polls, posts and
// WebSocket upgrades.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
// has been detached, and so saved for recovery: a session another goroutine
// is already closing (its transport, or a concurrent Close) returns from
// closeWith at once, and Saved must not be read before that close is done.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	live := make([]*socket, 0, len(s.live))
	for _, sock := range s.live {
		live = append(live, sock)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.closeWith(closeShutdown, nil, true)
	}
	deadline := time.After(time.Second) // a close never stalls a shutdown for long
	for _, sock := range live {
		select {
		case <-sock.detached:
		case <-deadline:
			s.lg.Warn("Socket.IO shutdown: a socket's close did not finish; it may not recover", "pid", sock.pid)
			return
		}
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

// addSession registers sess; false once the server is closed or full.
func (s *Server) addSession(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.sessions) >= s.cfg.MaxSessions {
		return false
	}
	s.sessions[sess.id] = sess
	return true
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
	if !s.addSession(sess) {
		writeEngineError(w, engineError{3, "Server is shutting down or full", http.StatusServiceUnavailable})
		return
	}
	sess.startHeartbeat()
	writeText(w, s.openPacket(sess.id))
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
