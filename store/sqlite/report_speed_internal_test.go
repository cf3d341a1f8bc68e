package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/store"
)

// A database at schema 10 upgrades to 11 with each order's timings filled
// from its status history and each payment naming its order's stall, so
// that the speed and sales reports over old orders read as before.
func TestReportSpeedMigrationFillsFromHistory(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/posd.db"
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 10; v++ {
		names, _ := migrations.ReadDir("migrations")
		body, err := migrations.ReadFile("migrations/" + names[v-1].Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", names[v-1].Name(), err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, 0)`, v); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC).UnixMilli()
	minute := int64(60000)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for id := 1; id <= 2; id++ {
		exec(`INSERT INTO tenants (id, name, code, created_at) VALUES (?, ?, ?, 0)`, id, fmt.Sprint("Stall ", id), fmt.Sprint("S", id))
	}
	// Order 1 (stall 1) served and collected, 2 (stall 2) cancelled, 3
	// (stall 2) still pending.
	orders := []struct {
		id, tenant int64
		status     string
		steps      map[string]int64
	}{
		{1, 1, "completed", map[string]int64{"pending": 0, "preparing": 2, "ready": 9, "completed": 11}},
		{2, 2, "cancelled", map[string]int64{"pending": 1, "cancelled": 3}},
		{3, 2, "pending", map[string]int64{"pending": 5}},
	}
	for _, o := range orders {
		exec(`INSERT INTO orders (id, tenant_id, seq, order_number, customer_name, status, total_amount, created_at, updated_at) VALUES (?, ?, ?, ?, 'Budi', ?, 10000, ?, ?)`,
			o.id, o.tenant, o.id, fmt.Sprint("N", o.id), o.status, base+o.steps["pending"]*minute, base)
		exec(`DELETE FROM order_status_history WHERE order_id = ?`, o.id)
		for st, at := range o.steps {
			exec(`INSERT INTO order_status_history (order_id, tenant_id, status, at) VALUES (?, ?, ?, ?)`, o.id, o.tenant, st, base+at*minute)
		}
	}
	exec(`INSERT INTO payments (id, kind, order_id, method, amount, status, reference, created_at) VALUES (1, 'payment', 1, 'qris', 10000, 'success', 'P1', ?)`, base+minute)
	exec(`INSERT INTO payments (id, kind, order_id, method, amount, status, reference, created_at) VALUES (2, 'payment', 2, 'cash', 10000, 'success', 'P2', ?)`, base+2*minute)
	exec(`INSERT INTO payments (id, kind, order_id, method, amount, status, reference, original_payment_id, created_at) VALUES (3, 'refund', 2, 'cash', 10000, 'success', 'R3', 2, ?)`, base+3*minute)
	db.Close()

	s, err := Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := report.Window{Start: time.UnixMilli(base - minute), End: time.UnixMilli(base + 60*minute)}
	times, err := s.OrderTimes(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	at := func(m int64) int64 { return base + m*minute }
	want := []report.OrderTimes{
		{TenantID: 1, Created: at(0), Preparing: at(2), Ready: at(9), Completed: at(11)},
		{TenantID: 2, Created: at(1), Cancelled: at(3)},
		{TenantID: 2, Created: at(5)},
	}
	if len(times) != len(want) {
		t.Fatalf("timings after the upgrade = %+v; want %+v", times, want)
	}
	for i := range want {
		if times[i] != want[i] {
			t.Errorf("timings[%d] = %+v; want %+v", i, times[i], want[i])
		}
	}
	sums, err := s.MoneySums(ctx, report.Window{Start: w.Start, End: w.End, TenantID: 2}, w.Start)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums[0].TenantID != 2 || sums[0].Kind != "payment" || sums[0].Method != "cash" || sums[1].Kind != "refund" || sums[1].Amount != 10000 {
		t.Errorf("stall 2's sums after the upgrade = %+v; want its payment and its refund", sums)
	}
}
