//go:build unix

package wsframe

import (
	"net"
	"syscall"

	"github.com/posd/posd/internal/edge"
)

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
