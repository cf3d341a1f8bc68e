//go:build linux

package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller reads many wsConns from one goroutine, in one of two ways:
//
//   - on a tick (interval > 0, the default): it drains its epoll set with
//     non-blocking epoll_wait calls and, when nothing is ready, sleeps for
//     the interval. Nobody waits on the set, so a frame arriving costs the
//     sending server no wake-up of this process. On loopback the sender's
//     write() runs the receiver's TCP path and wakes the receiver, an
//     inter-processor interrupt charged to the server's CPU that a server
//     writing to phones over a network never pays; and the bench reads its
//     sockets in batches, so it spends less CPU per delivery. The price is
//     that a receipt is seen up to one interval late: latencies are
//     overstated by at most that much.
//   - woken (interval 0): the epoll set is itself registered with Go's
//     network poller (an epoll descriptor is readable when it has ready
//     events), so the goroutine parks like any other and every frame that
//     finds it idle wakes it.
type poller struct {
	epfd     int
	file     *os.File // woken mode only
	raw      syscall.RawConn
	interval time.Duration
	stop     atomic.Bool
	done     chan struct{}
	proto    string
	now      func() int64
	dead     func(c *client, err error) // called from the poller's goroutine

	mu    sync.Mutex
	conns []*client // by client index

	events []syscall.EpollEvent
	batch  []*client
	buf    []byte
}

func newPoller(clients int, interval time.Duration, proto string, now func() int64, dead func(*client, error)) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &poller{
		epfd: epfd, interval: interval, done: make(chan struct{}), proto: proto, now: now, dead: dead,
		conns:  make([]*client, clients),
		events: make([]syscall.EpollEvent, 256),
		buf:    make([]byte, 64<<10),
	}
	if interval > 0 {
		return p, nil // the descriptor must stay off Go's poller
	}
	p.file = os.NewFile(uintptr(epfd), "bench-epoll")
	if p.raw, err = p.file.SyscallConn(); err != nil {
		p.file.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return p, nil
}

// add hands a connected client to the poller; from here on only the
// poller's goroutine touches its wsConn.
func (p *poller) add(c *client) error {
	if err := detach(c.ws); err != nil {
		return err
	}
	p.mu.Lock()
	p.conns[c.idx] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: c.idx}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.ws.fd, &ev); err != nil {
		return fmt.Errorf("epoll add: %w", err)
	}
	return nil
}

// detach takes the socket away from Go's network poller: it is duplicated
// and the net.Conn closed (which removes it from the runtime's epoll set),
// so only the bench's own epoll set watches it. Left registered twice,
// every frame the server sends would run two epoll callbacks and possibly
// wake the runtime's poller thread, all inside the server's write() on
// loopback: the load tool would be charging its own bookkeeping to the
// server it measures.
func detach(ws *wsConn) error {
	tc, ok := ws.nc.(*net.TCPConn)
	if !ok {
		return nil // tests hand in other conns; they stay on Go's poller
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	if derr != nil {
		return fmt.Errorf("detach: dup: %w", derr)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("detach: %w", err)
	}
	_ = tc.Close() // the socket lives on in fd
	ws.nc, ws.fd, ws.detached = nil, fd, true
	return nil
}

// rawWrite writes all of b to a non-blocking socket, waiting for room with
// poll(2) (only small client frames go this way: pongs and acks).
func rawWrite(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, err := unix.Poll(pfd, 5000); err != nil && err != unix.EINTR {
				return fmt.Errorf("write: %w", err)
			}
			continue
		case err != nil:
			return fmt.Errorf("write: %w", err)
		}
		b = b[n:]
	}
	return nil
}

func rawClose(fd int) error { return syscall.Close(fd) }

// run serves the poller until close.
func (p *poller) run() {
	defer close(p.done)
	if p.interval == 0 {
		_ = p.raw.Read(func(uintptr) bool {
			return p.drain() // false: park until the set is readable again
		})
		return
	}
	for !p.stop.Load() {
		if p.drain() {
			return
		}
		time.Sleep(p.interval)
	}
}

// drain services ready sockets until none is ready; true when the epoll
// set is gone.
func (p *poller) drain() (closed bool) {
	for {
		n, err := syscall.EpollWait(p.epfd, p.events, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return true
		}
		if n == 0 {
			return false
		}
		p.batch = p.batch[:0]
		p.mu.Lock()
		for _, ev := range p.events[:n] {
			p.batch = append(p.batch, p.conns[ev.Fd])
		}
		p.mu.Unlock()
		for _, c := range p.batch {
			if c != nil && !c.gone {
				p.service(c)
			}
		}
	}
}

// service reads what one ready socket has (up to the buffer) and accounts it.
func (p *poller) service(c *client) {
	n, err := syscall.Read(c.ws.fd, p.buf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		p.drop(c, err)
		return
	}
	at := p.now()
	if err := c.ws.feed(p.buf[:n], func(m []byte) error {
		reply, err := c.onMessage(p.proto, m, at)
		if reply != nil {
			if werr := c.ws.writeText(reply); werr != nil {
				return werr
			}
		}
		return err
	}); err != nil {
		p.drop(c, err)
	}
}

func (p *poller) drop(c *client, err error) {
	c.gone = true
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.ws.fd, nil)
	if p.dead != nil {
		p.dead(c, err)
	}
}

// close stops run and releases the epoll set.
func (p *poller) close() error {
	if p.file != nil {
		err := p.file.Close() // run returns once the descriptor is closed
		if errors.Is(err, os.ErrClosed) {
			return nil
		}
		return err
	}
	if p.stop.Swap(true) {
		return nil
	}
	<-p.done
	return syscall.Close(p.epfd)
}
