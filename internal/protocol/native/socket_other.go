//go:build !unix

package native

import "net"

// directWriter: no fast path here; every frame goes through the writer.
func directWriter(net.Conn) func([]byte) (int, error) { return nil }

// readableWaiter: none here; Read parks instead.
func readableWaiter(net.Conn) func() error { return nil }
