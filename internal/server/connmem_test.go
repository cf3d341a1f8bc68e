package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// rawUpgrade opens a WebSocket to /ws by hand and keeps only the net.Conn:
// the client side costs a socket, no goroutine and no buffers, so the
// memory that grows is the server's.
func rawUpgrade(addr, query string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /ws?%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", query, addr)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return c, nil
}

func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkConnectionMemory reports the Go memory (heap + stacks) one idle
// native connection in a tenant room and the display room costs the server.
func BenchmarkConnectionMemory(b *testing.B) {
	const conns = 2000
	s := servertest.Start(b, server.Config{AuthOff: true, Edge: edge.Config{ConnsPerAddr: 100_000}}) // every connection dials from 127.0.0.1
	addr := s.Addr()
	for i := 0; i < b.N; i++ {
		before := inUse()
		open := make([]net.Conn, 0, conns)
		for j := range conns {
			c, err := rawUpgrade(addr, fmt.Sprintf("rooms=tenant-%d,display", j%10+1))
			if err != nil {
				b.Fatalf("connection %d: %v", j, err)
			}
			open = append(open, c)
		}
		testutil.Eventually(b, 30*time.Second, "every connection registered", func() bool { return s.Hub.Active() >= conns })
		after := inUse()
		b.ReportMetric(float64(after-before)/conns, "B/conn")
		for _, c := range open {
			c.Close()
		}
		testutil.Eventually(b, 30*time.Second, "every connection gone", func() bool { return s.Hub.Active() == 0 })
	}
}
