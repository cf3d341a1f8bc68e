//go:build !linux

package server_test

import "net"

// durSmallBufferDialer: the default dialer where the buffer cannot be set.
func durSmallBufferDialer() *net.Dialer { return &net.Dialer{} }
