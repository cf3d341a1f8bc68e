package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Outage stands between posd and PostgreSQL on loopback: Cut makes the
// database go away (every connection dropped, new ones refused) and
// Restore brings it back, the way a restart or a failover looks from posd.
type Outage struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	up     bool
}

// Through returns dsn rewritten to reach its server through a new Outage.
func Through(tb testing.TB, dsn string) (string, *Outage) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o := &Outage{ln: ln, target: u.Host, up: true}
	tb.Cleanup(func() { ln.Close(); o.Cut() })
	go o.accept()
	u.Host = ln.Addr().String()
	return u.String(), o
}

func (o *Outage) accept() {
	for {
		c, err := o.ln.Accept()
		if err != nil {
			return
		}
		o.mu.Lock()
		if !o.up {
			o.mu.Unlock()
			c.Close()
			continue
		}
		d, err := net.Dial("tcp", o.target)
		if err != nil {
			o.mu.Unlock()
			c.Close()
			continue
		}
		o.conns = append(o.conns, c, d)
		o.mu.Unlock()
		go func() { _, _ = io.Copy(d, c); d.Close() }()
		go func() { _, _ = io.Copy(c, d); c.Close() }()
	}
}

// Cut closes every forwarded connection and refuses new ones until Restore.
func (o *Outage) Cut() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.up = false
	for _, c := range o.conns {
		c.Close()
	}
	o.conns = nil
}

// Restore lets connections through again.
func (o *Outage) Restore() {
	o.mu.Lock()
	o.up = true
	o.mu.Unlock()
}
