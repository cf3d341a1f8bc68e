//go:build unix

package wsframe

import (
	"net"
	"syscall"
	"unsafe"

	"github.com/posd/posd/internal/edge"
)

// socketFD returns nc's descriptor for Direct, or -1 when nc is not a
// plain TCP socket (TLS wraps one, and its bytes are not ours to write).
func socketFD(nc net.Conn) int {
	rc := tcpRawConn(nc)
	if rc == nil {
		return -1
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1
	}
	return fd
}

// sendNow is one non-blocking send(2). It is sendto rather than write:
// the socket call skips the VFS layer's bookkeeping, and MSG_NOSIGNAL a
// SIGPIPE when the peer is gone. EAGAIN (the buffer is full) is n < len(b)
// with no error: the caller queues the rest.
func sendNow(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil
		default:
			return 0, errno
		}
	}
}

// readableWaiter returns a wait that parks until a plain TCP socket has
// bytes to read (or hits its read deadline) without reading them, or nil
// for other connections. It peeks (MSG_PEEK) rather than reads so the
// waiting goroutine needs no buffer and parks only a few frames deep.
func readableWaiter(nc net.Conn) func() error {
	rc := tcpRawConn(nc)
	if rc == nil {
		return nil
	}
	var one [1]byte
	peek := func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			return err != syscall.EAGAIN // bytes, EOF or an error: let Read see it
		}
	}
	return func() error { return rc.Read(peek) }
}

// tcpRawConn is nc's descriptor access when nc is a plain TCP socket.
func tcpRawConn(nc net.Conn) syscall.RawConn {
	tcp := edge.TCP(nc) // also inside the edge's counting Conn
	if tcp == nil {
		return nil
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
