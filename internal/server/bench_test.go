package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/edge"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/internal/testutil"
)

var orderBody = []byte(`{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Nasi Goreng","quantity":2,"unit_price":25000},{"name":"Es Teh","quantity":1,"unit_price":5000}]}`)

func benchServer(b *testing.B) *servertest.Server {
	b.Helper()
	// Every client of these benchmarks dials from 127.0.0.1.
	s := servertest.Start(b, server.Config{Edge: edge.Config{ConnsPerAddr: 100_000}})
	s.MustDo(b, 201, s.Admin, "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	return s
}

// BenchmarkCreateOrderHTTP: POST /api/orders through the real handler, auth
// and SQLite file, while one display client receives every order:created.
// Run with -cpu 1,2 and compare orders/s with the 1,000/s floor.
func BenchmarkCreateOrderHTTP(b *testing.B) {
	s := benchServer(b)
	display := s.Dial(b, s.Admin, "rooms=display")
	// The ready frame says the socket is in its room: orders made before it
	// would not be delivered to a socket that asked for no replay.
	if f := servertest.Read(b, display, 10*time.Second); f.Op != "ready" {
		b.Fatalf("first frame %+v", f)
	}
	var got atomic.Int64
	go func() {
		for {
			if _, _, err := display.ReadMessage(); err != nil {
				return
			}
			got.Add(1)
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", s.URL+"/api/orders", bytes.NewReader(orderBody))
			req.Header.Set("Authorization", "Bearer "+s.Admin)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	// Every order:created reaches the display.
	testutil.EventuallyNil(b, 30*time.Second, func() error {
		if n := got.Load(); n < int64(b.N) {
			return fmt.Errorf("display received %d of %d events", n, b.N)
		}
		return nil
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

// BenchmarkBroadcastWS: one order:created to 1,000 native WebSocket clients
// over loopback, from commit to the last client's read.
func BenchmarkBroadcastWS(b *testing.B) {
	const clients = 1000
	s := benchServer(b)
	var received atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		c := s.Dial(b, s.Admin, "rooms=tenant-1")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}
	testutil.Eventually(b, 30*time.Second, "every client's ready frame", func() bool { return received.Load() >= clients })
	svc := s.Service
	ctx := context.Background()
	in := service.NewOrder{TenantID: 1, CustomerName: "Budi", Items: []domain.Item{{Name: "Nasi", Quantity: 1, UnitPrice: 25000}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := svc.CreateOrder(ctx, auth.Anonymous, in); err != nil {
			b.Fatal(err)
		}
		want := int64(clients) * int64(i+2)
		for received.Load() < want {
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients), "ns/delivery")
	b.ReportMetric(float64(b.N*clients)/b.Elapsed().Seconds(), "deliveries/s")
}
