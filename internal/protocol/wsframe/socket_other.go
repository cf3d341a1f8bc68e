//go:build !unix

package wsframe

import "net"

// readableWaiter: none here; Read parks instead.
func readableWaiter(net.Conn) func() error { return nil }
