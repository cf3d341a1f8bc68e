//go:build unix

package sqlite_test

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
)

// BenchmarkCreateOrder: one order through the service and the SQLite file,
// without HTTP, under a cancellable context as a request's is. cpu-ns/op is
// the process's CPU per order (user + system), which is what an order costs
// a server; ns/op also counts the waits for the WAL checkpoints' fsyncs.
// Run pinned to one core (taskset -c 0) to see it as the server pays it.
// The WAL's restarts (at the default 64 MiB) fall inside the loop: their
// number, the longest and the mean time writers waited behind one, and the
// largest WAL file are reported too.
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
	st := s.Stats()
	b.ReportMetric(float64(st.Restarts), "restarts")
	b.ReportMetric(float64(st.MaxStall.Microseconds())/1e3, "restart-max-ms")
	if st.Restarts > 0 {
		b.ReportMetric(float64(st.Stalled.Microseconds())/1e3/float64(st.Restarts+st.Busy), "restart-mean-ms")
	}
	b.ReportMetric(float64(st.MaxWAL)/(1<<20), "wal-max-MiB")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPruneNothingDue: one prune run (the server runs one a minute)
// over a log of 100,000 events in 212 rooms, none of them old enough to go,
// keeping the default 1,000 per room: what retention costs a busy server
// when it has nothing to do.
func BenchmarkPruneNothingDue(b *testing.B) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s, err := sqlite.Open(context.Background(), b.TempDir()+"/posd.db", store.Options{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const events = 100_000
	for done := 0; done < events; done += 10_000 {
		err := s.Write(ctx, func(tx store.Tx) error {
			for i := done; i < done+10_000; i++ {
				rooms := []string{"tenant:" + strconv.Itoa(i%10+1), "kasir"}
				if i%20 == 0 {
					rooms = append(rooms, "user:"+strconv.Itoa(i%200+1))
				}
				if _, err := tx.AppendEvent(domain.NewEvent(domain.EventOrderCreated, "order_created", now, nil, rooms...)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	cutoff := now.Add(-24 * time.Hour)
	for b.Loop() {
		n, err := s.Prune(ctx, cutoff, 1000)
		if err != nil || n != 0 {
			b.Fatalf("pruned %d, %v", n, err)
		}
	}
}

// BenchmarkHorizonFor: what a webhook worker adds to each read of the log
// to learn whether retention deleted events past its cursor, for an
// admin's endpoint (every room) and a stall's (its room and every
// connection's), on a log that retention has pruned in 12 rooms.
func BenchmarkHorizonFor(b *testing.B) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour) // the events are written two days ago
	s, err := sqlite.Open(context.Background(), b.TempDir()+"/posd.db", store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Write(ctx, func(tx store.Tx) error {
		for i := range 2000 {
			if _, err := tx.AppendEvent(domain.NewEvent(domain.EventOrderCreated, "order_created", clock, nil,
				"tenant-"+strconv.Itoa(i%10+1), "kasir", domain.RoomAll)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	clock = now
	if _, err := s.Prune(ctx, now.Add(-24*time.Hour), 100); err != nil {
		b.Fatal(err)
	}
	for _, rooms := range [][]string{nil, {"tenant-3"}} {
		b.Run(fmt.Sprintf("rooms=%d", len(rooms)), func(b *testing.B) {
			for b.Loop() {
				if h, err := s.HorizonFor(ctx, rooms); err != nil || h == 0 {
					b.Fatalf("horizon %d, %v", h, err)
				}
			}
		})
	}
}
