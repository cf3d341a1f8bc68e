//go:build !unix

package wsconn

import "net"

// socketFD: no direct writes here; every frame goes through the writer.
func socketFD(net.Conn) int { return -1 }

func sendNow(int, []byte) (int, error) { return 0, net.ErrClosed }
