package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/internal/webhook"
)

func webhookBenchServer(b *testing.B) *servertest.Server {
	b.Helper()
	s := servertest.Start(b, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	s.MustDo(b, 201, s.Admin, "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	return s
}

func benchOrder(b *testing.B, s *servertest.Server) {
	_, err := s.Service.CreateOrder(context.Background(), auth.Principal{Role: auth.RoleAdmin}, service.NewOrder{TenantID: 1, CustomerName: "Budi",
		Items: []domain.Item{{Name: "Nasi", Quantity: 1, UnitPrice: 15000}}})
	if err != nil {
		b.Fatal(err)
	}
}

// fastReceiver answers 204 at once and counts.
func fastReceiver(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv, &n
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWebhookDelivery: b.N orders committed, then delivered to a fast
// local receiver by 1 or 50 endpoints; events/s is b.N over the time from
// the first commit to the last delivery of every endpoint, and cpu-µs/event
// the process's CPU (server, SQLite, and the in-process receiver) per
// event. endpoints=0 is the same run without webhooks: the difference is
// what webhooks add.
func BenchmarkWebhookDelivery(b *testing.B) {
	for _, n := range []int{0, 1, 50} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			s := webhookBenchServer(b)
			srv, got := fastReceiver(b)
			for range n {
				s.MustDo(b, 201, s.Admin, "POST", "/api/webhooks", map[string]any{"url": srv.URL}, nil)
			}
			time.Sleep(200 * time.Millisecond) // claimed
			cpu0, t0 := cpuTime(), time.Now()
			b.ResetTimer()
			for range b.N {
				benchOrder(b, s)
			}
			want := int64(b.N * n)
			for got.Load() < want {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
			b.ReportMetric(float64(want)/el.Seconds(), "deliveries/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}

// BenchmarkSocketLatencyHangingWebhook: the latency from a commit to its
// event on a /ws socket, with and without an endpoint whose receiver
// never answers (each attempt hangs for the 10 s timeout).
func BenchmarkSocketLatencyHangingWebhook(b *testing.B) {
	for _, hang := range []bool{false, true} {
		b.Run(fmt.Sprintf("hanging=%v", hang), func(b *testing.B) {
			s := webhookBenchServer(b)
			if hang {
				release := make(chan struct{})
				var once sync.Once
				srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
				b.Cleanup(func() { once.Do(func() { close(release) }); srv.Close() })
				for range 5 {
					s.MustDo(b, 201, s.Admin, "POST", "/api/webhooks", map[string]any{"url": srv.URL}, nil)
				}
				time.Sleep(200 * time.Millisecond)
			}
			c := s.Dial(b, s.Admin, "rooms=tenant-1")
			if f := servertest.Read(b, c, 10*time.Second); f.Op != "ready" {
				b.Fatalf("first frame %+v", f)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				benchOrder(b, s)
				servertest.NextEvent(b, c, 10*time.Second)
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
