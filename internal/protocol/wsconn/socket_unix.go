//go:build unix

package wsconn

import (
	"net"
	"syscall"
	"unsafe"

	"github.com/posd/posd/internal/edge"
)

// socketFD returns nc's descriptor for TryWrite, or -1 when nc is not a
// plain TCP socket (TLS wraps one, and its bytes are not ours to write).
//
// A direct write skips Go's poller (whose per-write bookkeeping touches
// two more cache lines per socket, and a fan-out touches thousands of
// sockets), so the number is only safe to use while the connection is
// open: closeSocket is the one way a Conn closes it, and it waits for a
// write in flight and refuses every later one, so a write can never reach
// a descriptor number the kernel has since given to another connection.
func socketFD(nc net.Conn) int {
	tcp := edge.TCP(nc) // also inside the edge's counting Conn
	if tcp == nil {
		return -1
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
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
// with no error: the caller keeps the rest.
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
