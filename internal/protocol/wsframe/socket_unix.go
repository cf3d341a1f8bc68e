//go:build unix

package wsframe

import (
	"errors"
	"net"
	"syscall"
)

// DirectWriter returns a non-blocking write to a plain TCP socket for the
// hub's fast path, or nil (TLS, or anything that is not a TCP socket). The
// write is one write(2) on the non-blocking descriptor: EAGAIN means "the
// buffer is full, queue the rest", never a wait.
func DirectWriter(nc net.Conn) func([]byte) (int, error) {
	rc := tcpRawConn(nc)
	if rc == nil {
		return nil
	}
	return func(b []byte) (int, error) {
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			for {
				n, werr = syscall.Write(int(fd), b)
				if !errors.Is(werr, syscall.EINTR) {
					return true // done, or EAGAIN: never park here
				}
			}
		}); err != nil {
			return 0, err
		}
		if n < 0 {
			n = 0
		}
		if errors.Is(werr, syscall.EAGAIN) {
			return n, nil
		}
		return n, werr
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
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
