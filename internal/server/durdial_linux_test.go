//go:build linux

package server_test

import (
	"net"
	"syscall"
)

// durSmallBufferDialer dials with a 4 KiB receive buffer, so that a client
// that stops reading backs the server up after a few frames instead of after
// megabytes of kernel buffering.
func durSmallBufferDialer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}
