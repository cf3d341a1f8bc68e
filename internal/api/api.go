// Package api is posd's HTTP API: JSON handlers over the service, auth and
// CORS middleware, idempotent retries. A handler decodes the request, calls
// one service use case (which checks the caller's scope) and encodes the
// answer. Errors become statuses in errors.go.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
)

// Replays finds a token's stored response to an Idempotency-Key. It is the
// one read the API makes itself; every other read is a service use case,
// with its scope rules.
type Replays interface {
	Idempotency(ctx context.Context, tokenID int64, key string) (*store.IdempotentResult, error)
}

// Hub is the live side the API reports on and manages.
type Hub interface {
	Active() int
	RoomSizes() map[string]int
	DisconnectRoom(room string) int
}

// Tokens manages API tokens (admin routes).
type Tokens interface {
	Create(ctx context.Context, spec auth.TokenSpec) (auth.IssuedToken, error)
	List(ctx context.Context) ([]store.TokenRow, error)
	Revoke(ctx context.Context, id int64) error
}

// Lag tells how far this node's delivery is behind the log: the log's
// head and the last id handed to this node's connections.
type Lag interface {
	LogPosition(ctx context.Context) (head, delivered int64, err error)
}

// NodeView is one node as the cluster sees it: its last heartbeat (this
// node's own figures are live), whether it is live, and whether it is the
// node answering.
type NodeView struct {
	store.NodeInfo
	Live bool `json:"live"`
	Self bool `json:"self"`
}

// Cluster is the nodes sharing the database. On a single node it lists
// that node alone and broadcasts to no one.
type Cluster interface {
	NodeID() string
	Nodes(ctx context.Context) ([]NodeView, error)
	// Broadcast tells every other node to carry out cmd on its own
	// connections; this node already has.
	Broadcast(ctx context.Context, cmd store.Command) error
}

// Storage tells whether the database takes writes; nil is allowed (always).
type Storage interface {
	Full() (since time.Time, full bool)
}

// Observer records request metrics; nil is allowed.
type Observer interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// SlowCloses counts the connections this node closed because they did not
// read fast enough (4008); nil is allowed (none reported).
type SlowCloses interface {
	SlowConsumerCloses() int64
}

// Config wires the API.
type Config struct {
	Service      *service.Service
	Replays      Replays
	Hub          Hub
	Auth         auth.Authenticator
	Tokens       Tokens
	Origins      *auth.OriginPolicy
	AuthOff      bool
	MaxBodyBytes int64
	Observer     Observer
	SlowCloses   SlowCloses
	Storage      Storage
	Lag          Lag // nil: /healthz says nothing of the log
	// Cluster nil: counts are this node's, and commands stay on it.
	Cluster Cluster
	Logger  *slog.Logger
}

// DefaultMaxBodyBytes is the largest request body when none is set.
const DefaultMaxBodyBytes = 1 << 20

// API serves /api/* and /healthz.
type API struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
}

// New builds the API handler.
func New(cfg Config) *API {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Origins == nil {
		cfg.Origins = auth.NewOriginPolicy(nil)
	}
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	a.routes()
	return a
}

// handlerFunc is an API handler: it answers or returns an error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (a *API) routes() {
	get := func(pattern string, h handlerFunc) { a.mux.Handle("GET "+pattern, a.wrap(pattern, h, 0)) }
	write := func(method, pattern string, okStatus int, h handlerFunc) {
		a.mux.Handle(method+" "+pattern, a.wrap(pattern, h, okStatus))
	}
	a.mux.HandleFunc("GET /healthz", a.healthz)

	write("POST", "/api/tenants", http.StatusCreated, a.createTenant)
	get("/api/tenants", a.listTenants)
	write("POST", "/api/counters", http.StatusCreated, a.createCounter)
	get("/api/counters", a.listCounters)
	write("POST", "/api/orders", http.StatusCreated, a.createOrder)
	get("/api/orders", a.listOrders)
	get("/api/orders/{id}", a.getOrder)
	write("PATCH", "/api/orders/{id}/status", http.StatusOK, a.setStatus)
	write("DELETE", "/api/orders/{id}", http.StatusOK, a.cancelOrder)
	write("POST", "/api/payments", http.StatusCreated, a.pay)
	get("/api/payments", a.listPayments)
	write("POST", "/api/payments/{id}/refund", http.StatusCreated, a.refund)
	write("POST", "/api/qr/scan", http.StatusOK, a.scanQR)
	write("POST", "/api/alerts", http.StatusCreated, a.alert)
	write("POST", "/api/notifications", http.StatusCreated, a.notify)
	get("/api/events", a.events)
	get("/api/connections", a.connections)
	get("/api/nodes", a.nodes)
	get("/api/rooms", a.rooms)
	get("/api/rooms/{room}", a.room)
	write("DELETE", "/api/rooms/{room}/connections", http.StatusOK, a.disconnectRoom)
	write("POST", "/api/tokens", http.StatusCreated, a.createToken)
	get("/api/tokens", a.listTokens)
	write("DELETE", "/api/tokens/{id}", http.StatusOK, a.revokeToken)
	write("POST", "/api/webhooks", http.StatusCreated, a.addWebhook)
	get("/api/webhooks", a.listWebhooks)
	get("/api/webhooks/{id}", a.getWebhook)
	write("DELETE", "/api/webhooks/{id}", http.StatusOK, a.removeWebhook)
	write("POST", "/api/webhooks/{id}/pause", http.StatusOK, a.pauseWebhook)
	write("POST", "/api/webhooks/{id}/resume", http.StatusOK, a.resumeWebhook)
	write("POST", "/api/webhooks/{id}/test", http.StatusOK, a.testWebhook)
	write("POST", "/api/webhooks/{id}/replay", http.StatusOK, a.replayWebhook)
	get("/api/webhooks/{id}/deliveries", a.webhookDeliveries)
	get("/api/reports/sales", a.salesReport)
	get("/api/reports/speed", a.speedReport)
	get("/api/reports/settlement", a.settlementReport)
	get("/api/reports/events", a.eventsReport)
	get("/api/reports/terms", a.reportTerms)
	write("POST", "/api/reports/close", http.StatusCreated, a.closePeriod)
	write("POST", "/api/tenants/{id}/shares", http.StatusCreated, a.setShare)
	write("POST", "/api/fees", http.StatusCreated, a.setFee)
	a.mux.Handle("/api/", a.wrap("/api/", func(http.ResponseWriter, *http.Request, auth.Principal) error {
		return domain.Errorf(domain.CodeNotFound, "no such API route")
	}, 0))
}

// ServeHTTP applies the origin policy and CORS, then routes. A browser
// request from an origin that is neither listed nor the server itself is
// refused whatever its method: a "simple" cross-site POST needs no
// preflight, and with --auth=off nothing else would stop it (CSRF).
// Listed origins get their exact origin echoed with credentials, never "*".
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Answers carry orders and, from /api/tokens, secrets: no cache keeps
	// them, and no browser guesses they are anything but JSON.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	origin := r.Header.Get("Origin")
	if origin != "" {
		w.Header().Add("Vary", "Origin")
		if !a.cfg.Origins.AllowRequest(r) {
			writeError(w, r, a.log, domain.Errorf(domain.CodeForbidden, "origin %s is not allowed (see --cors-origin)", truncate(origin, 100)))
			return
		}
		if a.cfg.Origins.Listed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Retry-After, Idempotent-Replayed")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
	}
	a.mux.ServeHTTP(w, r)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// wrap authenticates, limits the body, applies Idempotency-Key to writes
// (okStatus > 0) and turns a returned error into the error response.
func (a *API) wrap(route string, h handlerFunc, okStatus int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if err := a.serve(rec, r, h, okStatus); err != nil {
			writeError(rec, r, a.log, err)
		}
		if a.cfg.Observer != nil {
			a.cfg.Observer.ObserveRequest(r.Method+" "+route, rec.status, time.Since(start))
		}
	})
}

func (a *API) serve(w http.ResponseWriter, r *http.Request, h handlerFunc, okStatus int) error {
	p, err := a.cfg.Auth.Authenticate(r.Context(), auth.BearerToken(r), auth.RemoteHost(r))
	if err != nil {
		var rl interface{ RetryAfter() time.Duration }
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter().Seconds()+0.999)))
		}
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	key := r.Header.Get("Idempotency-Key")
	if okStatus == 0 || key == "" {
		return h(w, r, p)
	}
	if len(key) > 200 {
		return domain.Errorf(domain.CodeInvalid, "Idempotency-Key is longer than 200 characters")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	// The token is in the hash as well as in the key's identity: keys
	// stored before they were per token are read by every token, and must
	// not match another token's request.
	sum := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery, strconv.FormatInt(p.TokenID, 10)} {
		sum.Write([]byte(part))
		sum.Write([]byte{0})
	}
	sum.Write(body)
	hash := hex.EncodeToString(sum.Sum(nil))
	if done, err := a.replay(w, r.Context(), p.TokenID, key, hash); done || err != nil {
		return err
	}
	r.Body = http.NoBody
	r = r.WithContext(service.WithIdempotency(r.Context(), service.Idempotency{TokenID: p.TokenID, Key: key, RequestHash: hash, Status: okStatus}))
	r.Body = readCloser{bytes.NewReader(body)}
	err = h(w, r, p)
	if service.IsIdempotencyRace(err) { // a concurrent twin committed first: answer as it did
		if done, rerr := a.replay(w, r.Context(), p.TokenID, key, hash); done || rerr != nil {
			return rerr
		}
	}
	return err
}

// replay answers from the token's stored response to key, if there is one.
// Keys are per token: another token's key of the same name is not seen.
func (a *API) replay(w http.ResponseWriter, ctx context.Context, tokenID int64, key, hash string) (bool, error) {
	prev, err := a.cfg.Replays.Idempotency(ctx, tokenID, key)
	if err != nil || prev == nil {
		return false, err
	}
	if prev.RequestHash != hash {
		return true, domain.Errorf(domain.CodeIdemMismatch, "Idempotency-Key %q was already used for a different request", key)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	writeRaw(w, prev.Status, prev.Body)
	return true, nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// healthz answers 200 "ok", or 503 "degraded" with a reason while the
// server cannot take writes (a full disk): a load balancer or monitor sees
// it without having to try a write. Reads and sockets work meanwhile.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"status": "ok", "auth": "on", "connections": a.cfg.Hub.Active()}
	if a.cfg.Cluster != nil {
		body["node"] = a.cfg.Cluster.NodeID()
	}
	if a.cfg.AuthOff {
		body["auth"] = "off"
		body["warning"] = "authentication is OFF (--auth=off): anyone who can reach this server can do anything"
	}
	code := http.StatusOK
	if a.cfg.Storage != nil {
		if since, full := a.cfg.Storage.Full(); full {
			code = http.StatusServiceUnavailable
			body["status"] = "degraded"
			body["reason"] = string(domain.CodeStorageFull)
			body["message"] = "the database's disk is full: writes are refused until space is freed; reads and sockets work"
			body["since"] = since.Format(time.RFC3339)
		}
	}
	if a.cfg.Lag != nil {
		head, delivered, err := a.cfg.Lag.LogPosition(r.Context())
		if err != nil {
			code = http.StatusServiceUnavailable
			body["status"] = "degraded"
			body["reason"] = string(domain.CodeUnavailable)
			body["message"] = "the database cannot be read"
		} else {
			body["log"] = map[string]int64{"head": head, "delivered": delivered, "lag": max(head-delivered, 0)}
		}
	}
	writeJSON(w, code, body)
}

// WriteError answers with err in the API's error shape (used by the socket
// handlers to refuse an upgrade the same way).
func (a *API) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var rl interface{ RetryAfter() time.Duration }
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(rl.RetryAfter().Seconds()+0.999)))
	}
	writeError(w, r, a.log, err)
}

// AdminOnly guards a non-API handler (pprof) with an admin token.
func (a *API) AdminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.cfg.Auth.Authenticate(r.Context(), auth.BearerToken(r), auth.RemoteHost(r))
		if err == nil && !p.IsAdmin() {
			err = domain.Errorf(domain.CodeForbidden, "admin token required")
		}
		if err != nil {
			a.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
