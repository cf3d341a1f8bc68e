//go:build !unix

package wsframe

import "net"

// DirectWriter: no fast path here; every frame goes through the writer.
func DirectWriter(net.Conn) func([]byte) (int, error) { return nil }

// readableWaiter: none here; Read parks instead.
func readableWaiter(net.Conn) func() error { return nil }
