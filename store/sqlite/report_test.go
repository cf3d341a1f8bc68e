package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
	"github.com/posd/posd/store/storetest"
)

// A small court (3,000 orders over 60 days) loaded by the benchmarks'
// loader: the reports over it agree with what the generator wrote.
func TestCourtFixtureReports(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	spec := storetest.CourtSpec{Seed: 7, Stalls: 5, Orders: 3000, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, loc), Days: 60}
	s := openStore(t, t.TempDir()+"/posd.db", nil)
	tot, err := sqlite.LoadCourt(context.Background(), s, spec)
	if err != nil {
		t.Fatal(err)
	}
	storetest.SetCourtTerms(t, s, spec)
	storetest.CheckCourt(t, s, spec, tot)
}

// BenchmarkReports times each report on a year of a busy 20-stall court
// (POSD_BENCH_ORDERS orders, default a million). The loaded database is
// kept in the temporary directory and reused by the next run.
func BenchmarkReports(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("POSD_BENCH_ORDERS"))
	spec := storetest.YearCourt(n)
	path := filepath.Join(os.TempDir(), "posd-report-bench-"+strconv.Itoa(spec.Orders)+".db")
	if _, err := os.Stat(path + ".loaded"); err != nil {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		s, err := sqlite.Open(context.Background(), path, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := sqlite.LoadCourt(context.Background(), s, spec); err != nil {
			b.Fatal(err)
		}
		s.Close()
		b.Logf("loaded %d orders in %s", spec.Orders, time.Since(start).Round(time.Second))
		if err := os.WriteFile(path+".loaded", nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s, err := sqlite.Open(context.Background(), path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.SetCourtTerms(b, s, spec)
	storetest.BenchmarkReports(b, s, spec)
}
