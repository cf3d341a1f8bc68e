package wsframe

import (
	"net"
	"sync"
)

// Direct writes already-framed bytes straight to a TCP socket's descriptor
// without ever waiting: the hub's fast path, one system call per delivery.
// It skips Go's poller (whose per-write bookkeeping touches two more cache
// lines per socket, and a fan-out touches thousands of sockets), so the
// descriptor number is only safe to use while the connection is open: Close
// is the one way to close a connection that has a Direct, and it waits for a
// write in flight and refuses every later one, so a write can never reach a
// descriptor number the kernel has since given to another connection.
type Direct struct {
	nc     net.Conn
	mu     sync.Mutex
	fd     int // -1: no direct writes (TLS, or not a socket)
	closed bool
}

// NewDirect wraps nc; TryWrite works only on a plain TCP socket (Enabled).
func NewDirect(nc net.Conn) *Direct {
	return &Direct{nc: nc, fd: socketFD(nc)}
}

// Enabled reports whether this connection can be written directly; when
// not, every frame goes through the connection's writer.
func (d *Direct) Enabled() bool { return d.fd >= 0 }

// TryWrite writes as much of b as the socket's buffer takes now: n < len(b)
// with a nil error means "full, queue the rest", never a wait. After Close
// it fails with net.ErrClosed.
func (d *Direct) TryWrite(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.fd < 0 {
		return 0, net.ErrClosed
	}
	return sendNow(d.fd, b)
}

// Close closes the connection once no direct write is in flight.
func (d *Direct) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return d.nc.Close()
}
