package edge

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/posd/posd/internal/domain"
)

// Defaults of the edge limits; posd serve's flags use the same values.
const (
	DefaultConnsPerAddr     = 256
	DefaultBodyBytesPerAddr = 4 << 20
	DefaultBodyBytes        = 64 << 20
	DefaultBodyTimeout      = 10 * time.Second
	DefaultMaxHeaderBytes   = 32 << 10
	// DefaultReserveFDs are the descriptors the connection cap leaves
	// for the database, its WAL, logs and the odd outgoing connection.
	DefaultReserveFDs = 128
)

// Config is the public edge's limits. A zero field takes its default.
type Config struct {
	// TrustedProxies are the peers whose X-Forwarded-For is believed; a
	// request from anywhere else is the peer's own, whatever it claims.
	TrustedProxies []netip.Prefix
	// ConnsPerAddr caps the TCP connections one client address holds
	// (proxies in TrustedProxies are exempt: they carry everyone).
	ConnsPerAddr int
	// MaxConns caps all TCP connections, so that the process never runs out
	// of descriptors; 0 means the descriptor limit less DefaultReserveFDs.
	MaxConns int
	// BodyBytesPerAddr and BodyBytes cap request bodies being read at once,
	// per address and in all; a body that does not arrive within
	// BodyTimeout of its headers is cut off.
	BodyBytesPerAddr int64
	BodyBytes        int64
	BodyTimeout      time.Duration
	// MaxBodyBytes is the largest body any route takes: what a body of
	// unknown length (chunked) reserves.
	MaxBodyBytes int64

	Logger *slog.Logger
	Now    func() time.Time
}

func (c *Config) defaults() {
	if c.ConnsPerAddr <= 0 {
		c.ConnsPerAddr = DefaultConnsPerAddr
	}
	if c.MaxConns <= 0 {
		c.MaxConns = FDLimit() - DefaultReserveFDs
		if c.MaxConns < 64 {
			c.MaxConns = 64
		}
	}
	if c.BodyBytesPerAddr <= 0 {
		c.BodyBytesPerAddr = DefaultBodyBytesPerAddr
	}
	if c.BodyBytes <= 0 {
		c.BodyBytes = DefaultBodyBytes
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// ParsePrefixes reads a comma-separated list of addresses and CIDR ranges
// (a bare address is its own /32 or /128).
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR range", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR range", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Refusal is why the edge turned a request or connection away: a coded
// error for the API's error mapping, with the wait it sends as Retry-After.
type Refusal struct {
	Code    domain.Code
	Message string
	Wait    time.Duration
}

func (e *Refusal) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap gives the coded error the API maps to 429 or 503.
func (e *Refusal) Unwrap() error { return &domain.Error{Code: e.Code, Message: e.Message} }

// RetryAfter is the wait the API sends as Retry-After.
func (e *Refusal) RetryAfter() time.Duration { return e.Wait }

// warnOnce logs a refusal at WARN at most once a minute per address and
// kind: an attacker must not be able to fill the log either.
type warnOnce struct {
	mu   sync.Mutex
	last map[string]time.Time
	log  *slog.Logger
	now  func() time.Time
}

func (w *warnOnce) warn(kind, addr, msg string, args ...any) {
	now := w.now()
	key := kind + " " + addr
	w.mu.Lock()
	if t, ok := w.last[key]; ok && now.Sub(t) < time.Minute {
		w.mu.Unlock()
		return
	}
	if len(w.last) >= 10_000 { // bounded like everything else an attacker can grow
		for k, t := range w.last {
			if now.Sub(t) >= time.Minute {
				delete(w.last, k)
			}
		}
		if len(w.last) >= 10_000 {
			w.mu.Unlock()
			return
		}
	}
	w.last[key] = now
	w.mu.Unlock()
	w.log.Warn(msg, append([]any{"addr", addr}, args...)...)
}

// counts is a per-key counter with a cap per key and one in all; it is
// the shape of every edge limit.
type counts struct {
	mu     sync.Mutex
	by     map[string]int64
	total  int64
	perKey int64
	all    int64
}

func newCounts(perKey, all int64) *counts {
	return &counts{by: make(map[string]int64), perKey: perKey, all: all}
}

// take adds n for key; it refuses (and adds nothing) past either cap.
// perKeyFull tells which cap refused. An exempt key is only held to the
// overall cap.
func (c *counts) take(key string, n int64, exempt bool) (ok, perKeyFull bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !exempt && c.by[key]+n > c.perKey {
		return false, true
	}
	if c.total+n > c.all {
		return false, false
	}
	c.by[key] += n
	c.total += n
	return true, false
}

func (c *counts) give(key string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by[key] -= n; c.by[key] <= 0 {
		delete(c.by, key)
	}
	c.total -= n
}

func (c *counts) get(key string) (int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[key], c.total
}
