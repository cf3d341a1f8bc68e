package edge

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// Edge is one server's public edge: the listener that caps connections
// and the handler that resolves client addresses and caps request bodies.
// It is safe for concurrent use.
type Edge struct {
	cfg    Config
	conns  *counts
	bodies *counts
	warns  *warnOnce
	// refused counts connections and bodies turned away, for tests and
	// metrics.
	refusedConns, refusedBodies atomic.Int64
}

// New builds an edge with cfg's limits.
func New(cfg Config) *Edge {
	cfg.defaults()
	return &Edge{
		cfg:    cfg,
		conns:  newCounts(int64(cfg.ConnsPerAddr), int64(cfg.MaxConns)),
		bodies: newCounts(cfg.BodyBytesPerAddr, cfg.BodyBytes),
		warns:  &warnOnce{last: make(map[string]time.Time), log: cfg.Logger, now: cfg.Now},
	}
}

// Limits reports the limits in force (defaults filled in).
func (e *Edge) Limits() Config { return e.cfg }

// Refused reports how many connections and request bodies were turned away.
func (e *Edge) Refused() (conns, bodies int64) {
	return e.refusedConns.Load(), e.refusedBodies.Load()
}

// trusted reports whether a is one of the proxies whose forwarding
// headers are believed.
func (e *Edge) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range e.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Listener wraps ln so that no address holds more than ConnsPerAddr
// connections and the process no more than MaxConns. A connection over a
// cap is answered with a bare 503 (when plain, i.e. not TLS: a TLS client
// would read it as garbage) and closed at once, so it holds nothing.
func (e *Edge) Listener(ln net.Listener, plain bool) net.Listener {
	return &listener{Listener: ln, e: e, plain: plain}
}

type listener struct {
	net.Listener
	e     *Edge
	plain bool
}

var overCap = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 77\r\n\r\n" +
	`{"error":{"code":"unavailable","message":"too many connections; retry later"}}`)

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// The HTTP server retries after a pause; say so where an
				// operator looks, once a minute.
				l.e.warns.warn("fds", "", "out of file descriptors: new connections wait; lower --max-connections or raise the limit (ulimit -n)", "limit", FDLimit())
			}
			return nil, err
		}
		key, exempt := l.e.peer(c.RemoteAddr())
		if ok, perAddr := l.e.conns.take(key, 1, exempt); !ok {
			l.e.refusedConns.Add(1)
			if perAddr {
				l.e.warns.warn("conns", key, "connection refused: this address holds too many (--max-conns-per-addr)", "limit", l.e.cfg.ConnsPerAddr)
			} else {
				l.e.warns.warn("conns", "*", "connection refused: the server holds its maximum of connections", "limit", l.e.cfg.MaxConns)
			}
			if l.plain {
				// A fresh socket's send buffer takes this at once; the
				// deadline only guards against the impossible.
				_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
				_, _ = c.Write(overCap)
			}
			_ = c.Close()
			continue
		}
		return &Conn{Conn: c, e: l.e, key: key}, nil
	}
}

// peer is the connection-cap key of a TCP peer, and whether it is a
// trusted proxy (exempt from the per-address cap: it carries everyone).
func (e *Edge) peer(a net.Addr) (string, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort().Addr()
		return AddrKey(ap.Unmap().String()), e.trusted(ap)
	}
	return AddrKey(a.String()), false
}

// Conn is an accepted connection that gives its place back when closed.
type Conn struct {
	net.Conn
	e      *Edge
	key    string
	closed atomic.Bool
}

// Close closes the connection and releases its place under the caps.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.e.conns.give(c.key, 1)
	}
	return err
}

// TCPConn is the plain TCP socket underneath, for socket options and the
// sockets' direct writes (which still close through Close). Only Conn has
// this method: a *tls.Conn's NetConn must never be written to directly.
func (c *Conn) TCPConn() *net.TCPConn {
	tc, _ := c.Conn.(*net.TCPConn)
	return tc
}

// TCP is nc's plain TCP socket: nc itself, or the one inside an edge
// Conn; nil for anything else (TLS, pipes).
func TCP(nc net.Conn) *net.TCPConn {
	switch c := nc.(type) {
	case *net.TCPConn:
		return c
	case interface{ TCPConn() *net.TCPConn }:
		return c.TCPConn()
	}
	return nil
}
