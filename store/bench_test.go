//go:build unix

package store_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
)

// BenchmarkCreateOrder: one order through the service and the SQLite file,
// without HTTP, under a cancellable context as a request's is. cpu-ns/op is
// the process's CPU per order (user + system), which is what an order costs
// a server; ns/op also counts the waits for the WAL checkpoints' fsyncs.
// Run pinned to one core (taskset -c 0) to see it as the server pays it.
func BenchmarkCreateOrder(b *testing.B) {
	s := openStore(b, b.TempDir()+"/posd.db", nil)
	svc := service.New(s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung", "T1"); err != nil {
		b.Fatal(err)
	}
	in := service.NewOrder{TenantID: 1, CustomerName: "Budi", Items: []domain.Item{
		{Name: "Nasi Goreng", Quantity: 2, UnitPrice: 25000},
		{Name: "Es Teh", Quantity: 1, UnitPrice: 5000},
	}}
	for range 100 { // past the first pages' splits
		if _, err := svc.CreateOrder(ctx, auth.Anonymous, in); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.CreateOrder(ctx, auth.Anonymous, in); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
