package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
	"github.com/posd/posd/store/storetest"
)

// loadCourt writes a generated court straight into the tables with COPY,
// one day at a time, then has the planner's statistics and the visibility
// map brought up to date as autovacuum keeps a long-running database's.
func loadCourt(ctx context.Context, s *postgres.Store, spec storetest.CourtSpec) (storetest.CourtTotals, error) {
	pool := s.Pool()
	for id := 1; id <= spec.Stalls; id++ {
		if _, err := pool.Exec(ctx, `INSERT INTO tenants (id, name, code, created_at) VALUES ($1, $2, $3, $4)`,
			id, fmt.Sprintf("Stall %d", id), fmt.Sprintf("S%02d", id), spec.Start.UnixMilli()); err != nil {
			return storetest.CourtTotals{}, err
		}
	}
	tot, err := storetest.GenerateCourt(spec, func(d storetest.CourtDay) error {
		copyIn := func(table string, cols []string, n int, row func(i int) []any) error {
			_, err := pool.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }))
			if err != nil {
				return fmt.Errorf("load %s: %w", table, err)
			}
			return nil
		}
		err := copyIn("orders", []string{"id", "tenant_id", "seq", "order_number", "customer_name", "status", "total_amount", "paid_amount", "refunded_amount", "created_at", "updated_at"}, len(d.Orders), func(i int) []any {
			o := d.Orders[i]
			return []any{o.ID, o.TenantID, o.Seq, o.Number, "Budi", o.Status, o.Total, o.Paid, o.Refunded, o.CreatedAt, o.UpdatedAt}
		})
		if err == nil {
			tenant := make(map[int64]int64, len(d.Orders))
			for _, o := range d.Orders {
				tenant[o.ID] = o.TenantID
			}
			err = copyIn("payments", []string{"id", "kind", "order_id", "method", "amount", "amount_paid", "status", "reference", "original_payment_id", "refunded_amount", "created_at", "tenant_id"}, len(d.Payments), func(i int) []any {
				p := d.Payments[i]
				var orig *int64
				if p.OriginalID != 0 {
					orig = &p.OriginalID
				}
				return []any{p.ID, p.Kind, p.OrderID, p.Method, p.Amount, p.Amount, "success", p.Reference, orig, p.Refunded, p.CreatedAt, tenant[p.OrderID]}
			})
		}
		if err == nil {
			err = copyIn("order_status_history", []string{"order_id", "tenant_id", "status", "at"}, len(d.History), func(i int) []any {
				h := d.History[i]
				return []any{h.OrderID, h.TenantID, h.Status, h.At}
			})
		}
		if err == nil {
			tm, ids := d.Timings()
			err = copyIn("order_timings", []string{"order_id", "tenant_id", "created_at", "preparing_at", "ready_at", "completed_at", "cancelled_at"}, len(tm), func(i int) []any {
				o := tm[i]
				return []any{ids[i], o.TenantID, o.Created, o.Preparing, o.Ready, o.Completed, o.Cancelled}
			})
		}
		if err == nil {
			err = copyIn("event_counts", []string{"bucket", "tenant_id", "name", "n"}, len(d.Counts), func(i int) []any {
				c := d.Counts[i]
				return []any{c.Start, c.TenantID, c.Name, c.Count}
			})
		}
		return err
	})
	if err != nil {
		return tot, err
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE`)
	return tot, err
}

// A small court loaded by the benchmarks' loader: the reports over it
// agree with what the generator wrote.
func TestCourtFixtureReports(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	spec := storetest.CourtSpec{Seed: 7, Stalls: 5, Orders: 3000, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, loc), Days: 60}
	s := open(t, pgtest.DSN(t), store.Options{})
	tot, err := loadCourt(context.Background(), s, spec)
	if err != nil {
		t.Fatal(err)
	}
	storetest.SetCourtTerms(t, s, spec)
	storetest.CheckCourt(t, s, spec, tot)
}

// BenchmarkReports times each report on a year of a busy 20-stall court
// (POSD_BENCH_ORDERS orders, default a million), loaded into a schema of
// its own for the run.
func BenchmarkReports(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("POSD_BENCH_ORDERS"))
	spec := storetest.YearCourt(n)
	s := open(b, pgtest.DSN(b), store.Options{})
	start := time.Now()
	if _, err := loadCourt(context.Background(), s, spec); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d orders in %s", spec.Orders, time.Since(start).Round(time.Second))
	storetest.SetCourtTerms(b, s, spec)
	storetest.BenchmarkReports(b, s, spec)
}
