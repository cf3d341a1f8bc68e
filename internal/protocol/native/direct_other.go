//go:build !unix

package native

import "net"

// directWriter: no fast path here; every frame goes through the writer.
func directWriter(net.Conn) func([]byte) (int, error) { return nil }
