package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
)

func openStore(tb testing.TB, path string, publish func([]domain.Event)) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, store.Options{Committed: publish})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestMigrateFreshAndReopen(t *testing.T) {
	path := t.TempDir() + "/posd.db"
	s := openStore(t, path, nil)
	ctx := context.Background()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != 5 {
		t.Fatalf("schema version %d, %v; want 5", v, err)
	}
	svc := service.New(s, nil)
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung", "T1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s2 := openStore(t, path, nil)
	ts, err := s2.Tenants(ctx)
	if err != nil || len(ts) != 1 || ts[0].Code != "T1" {
		t.Fatalf("after reopen: %v %v", ts, err)
	}
	// Migrations are recorded once each, however often the store opens.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("schema_migrations rows %d, %v", n, err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q, %v", mode, err)
	}
}

// A prune, which runs every minute, seeks through the log rather than
// reading all of it, and needs no index on created_at: every event would
// pay for one.
func TestPruneSeeksAndNeedsNoTimeIndex(t *testing.T) {
	path := t.TempDir() + "/posd.db"
	openStore(t, path, nil)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan += detail + "; "
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return plan
	}
	if p := plan(sqlite.PruneCandidates, 0, 10); p != "SEARCH events USING INTEGER PRIMARY KEY (rowid>?); " {
		t.Fatalf("candidates plan: %s", p)
	}
	// Every step of the floors query is a SEARCH (a seek); a SCAN of
	// event_rooms would read the whole table.
	if p := plan(sqlite.PruneFloors, 9); strings.Contains(p, "SCAN event_rooms") || !strings.Contains(p, "SEARCH event_rooms") {
		t.Fatalf("floors plan: %s", p)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("indexes on events: %d, %v", n, err)
	}
}

func TestRejectsBadSynchronous(t *testing.T) {
	_, err := sqlite.Open(context.Background(), t.TempDir()+"/x.db", store.Options{Synchronous: "OFF"})
	if err == nil {
		t.Fatal("synchronous=OFF accepted; it would lose acknowledged writes")
	}
}

// TestConcurrentOrders: 50 goroutines create orders at once. Order numbers
// are unique and consecutive per tenant, each order has exactly one
// order:created event, and event ids are published strictly increasing.
func TestConcurrentOrders(t *testing.T) {
	var mu sync.Mutex
	var published []domain.Event
	s := openStore(t, t.TempDir()+"/posd.db", func(evs []domain.Event) {
		mu.Lock()
		published = append(published, evs...)
		mu.Unlock()
	})
	ctx := context.Background()
	svc := service.New(s, nil)
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung", "T1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Sate", "S"); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	orders := make([]*domain.Order, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			orders[i], errs[i] = svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{
				TenantID: int64(1 + i%2), CustomerName: "Budi",
				Items: []domain.Item{{Name: "Nasi Goreng", Quantity: 1, UnitPrice: 25000}},
			})
		}()
	}
	wg.Wait()
	numbers := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		if numbers[orders[i].OrderNumber] {
			t.Fatalf("duplicate order number %s", orders[i].OrderNumber)
		}
		numbers[orders[i].OrderNumber] = true
	}
	for i := 1; i <= n/2; i++ {
		for _, code := range []string{"T1", "S"} {
			if num := domain.OrderNumber(code, int64(i)); !numbers[num] {
				t.Errorf("missing order number %s: numbers must be consecutive", num)
			}
		}
	}
	if len(published) != n {
		t.Fatalf("%d events published, want %d", len(published), n)
	}
	perOrder := map[int64]int{}
	for i, ev := range published {
		if i > 0 && ev.ID <= published[i-1].ID {
			t.Fatalf("event ids not increasing in publish order: %d after %d", ev.ID, published[i-1].ID)
		}
		if ev.Name != domain.EventOrderCreated {
			t.Fatalf("event %s", ev.Name)
		}
		var d domain.OrderCreatedData
		if err := jsonUnmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		perOrder[d.OrderID]++
	}
	for _, o := range orders {
		if perOrder[o.ID] != 1 {
			t.Errorf("order %d has %d events", o.ID, perOrder[o.ID])
		}
	}
	logged, err := s.ReadEvents(ctx, 0, nil, 1000)
	if err != nil || len(logged) != n {
		t.Fatalf("log has %d events, %v", len(logged), err)
	}
	ids := make([]int64, len(logged))
	for i, ev := range logged {
		ids[i] = ev.ID
	}
	if !sort.SliceIsSorted(ids, func(a, b int) bool { return ids[a] < ids[b] }) || ids[0] != 1 || ids[n-1] != n {
		t.Fatalf("log ids %v are not 1..%d", ids, n)
	}
}

func TestRollbackWritesNoEvent(t *testing.T) {
	var published []domain.Event
	s := openStore(t, t.TempDir()+"/posd.db", func(evs []domain.Event) { published = append(published, evs...) })
	ctx := context.Background()
	svc := service.New(s, nil)
	// Unknown tenant: the transaction fails after its sequence update.
	_, err := svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{TenantID: 9, CustomerName: "x", Items: []domain.Item{{Name: "a", Quantity: 1}}})
	if domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("err %v, want not_found", err)
	}
	if len(published) != 0 {
		t.Fatalf("published %d events for a failed write", len(published))
	}
	if head, _ := s.LastEventID(ctx); head != 0 {
		t.Fatalf("log head %d after a failed write", head)
	}
}

// The writer connection lives as long as the store, so a write that fails
// half-way, or whose function panics, must leave it out of its transaction:
// the next write begins, and nothing of the failed one is kept.
func TestFailedWriteLeavesWriterUsable(t *testing.T) {
	s := openStore(t, t.TempDir()+"/posd.db", nil)
	ctx := context.Background()
	svc := service.New(s, nil)
	insertThen := func(code string, then func()) error {
		return s.Write(ctx, func(tx store.Tx) error {
			if _, err := tx.InsertTenant("Warung "+code, code); err != nil {
				return err
			}
			then()
			return errors.New("changed my mind")
		})
	}
	if err := insertThen("A", func() {}); err == nil {
		t.Fatal("a write whose function failed reported success")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = insertThen("B", func() { panic("bug") })
	}()
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung C", "C"); err != nil {
		t.Fatalf("write after a failed and a panicking write: %v", err)
	}
	ts, err := s.Tenants(ctx)
	if err != nil || len(ts) != 1 || ts[0].Code != "C" {
		t.Fatalf("tenants %+v, %v; want only C", ts, err)
	}
}

// A request that is gone before its write begins changes nothing; once
// begun, a write is not cut short by its request's context.
func TestWriteContext(t *testing.T) {
	s := openStore(t, t.TempDir()+"/posd.db", nil)
	svc := service.New(s, nil)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := svc.CreateTenant(gone, auth.Anonymous, "Warung", "A"); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with a cancelled context: %v, want context.Canceled", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := s.Write(ctx, func(tx store.Tx) error {
		cancel()
		_, err := tx.InsertTenant("Warung", "B")
		return err
	})
	if err != nil {
		t.Fatalf("write cancelled after it began: %v", err)
	}
	ts, err := s.Tenants(context.Background())
	if err != nil || len(ts) != 1 || ts[0].Code != "B" {
		t.Fatalf("tenants %+v, %v; want only B", ts, err)
	}
}

// clockedStore opens a store whose clock reads *clock, for tests that age
// the log; alert and notify write one event each.
func clockedStore(t *testing.T, clock *time.Time) (*sqlite.Store, *service.Service) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir()+"/posd.db", store.Options{Now: func() time.Time { return *clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, service.New(s, nil)
}

func alert(t *testing.T, svc *service.Service) {
	t.Helper()
	if _, err := svc.Alert(context.Background(), auth.Anonymous, "info", "old"); err != nil {
		t.Fatal(err)
	}
}

func notify(t *testing.T, svc *service.Service, user int64) {
	t.Helper()
	if _, err := svc.Notify(context.Background(), auth.Anonymous, user, "t", nil); err != nil {
		t.Fatal(err)
	}
}

// A prune stops at the first event young enough to keep. Should the clock
// have stepped back, an old event behind it stays until a later prune: an
// event is kept at least as long as asked, never less.
func TestPruneStopsAtTheFirstYoungEvent(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	s, svc := clockedStore(t, &clock)
	ctx := context.Background()
	alert(t, svc) // 1: old
	alert(t, svc) // 2: old
	clock = now.Add(-time.Hour)
	alert(t, svc) // 3: young
	clock = now.Add(-47 * time.Hour)
	notify(t, svc, 1) // 4: old, written after the clock stepped back
	clock = now
	notify(t, svc, 1) // 5: young; with it, 4 is not its room's newest
	n, err := s.Prune(ctx, now.Add(-24*time.Hour), 1)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	left, _ := s.ReadEvents(ctx, 0, nil, 100)
	if len(left) != 3 || left[0].ID != 3 || left[1].ID != 4 {
		t.Fatalf("left %+v; want events 3, 4 and 5", left)
	}
	// Once event 3 is old too, 4 goes; 3 and 5 are their rooms' newest.
	n, err = s.Prune(ctx, now.Add(time.Hour), 1)
	if err != nil || n != 1 {
		t.Fatalf("second prune %d, %v; want 1", n, err)
	}
}

func TestPruneKeepsNewestPerRoom(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	s, svc := clockedStore(t, &clock)
	ctx := context.Background()
	// 30 old alerts (room *), 5 old notifications for user 1: all 2 days old.
	for range 30 {
		alert(t, svc)
	}
	for range 5 {
		notify(t, svc, 1)
	}
	clock = now
	n, err := s.Prune(ctx, now.Add(-24*time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the newest 10 of room * and all 5 of user-1 (fewer than 10).
	if n != 20 {
		t.Fatalf("pruned %d, want 20", n)
	}
	horizon, _ := s.Horizon(ctx)
	if horizon != 20 {
		t.Fatalf("horizon %d, want 20 (the highest pruned id)", horizon)
	}
	left, _ := s.ReadEvents(ctx, 0, nil, 100)
	if len(left) != 15 || left[0].ID != 21 {
		t.Fatalf("left %d events starting at %d", len(left), left[0].ID)
	}
}

// Old events that keep-per-room keeps (here one notification for each of
// many users, fewer than the limit each) can fill the first batches a prune
// reads; it steps over them to the prunable events behind.
func TestPruneStepsOverKeptEvents(t *testing.T) {
	defer sqlite.SetPruneBatchSize(5)() // reads 20 candidates a batch
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	s, svc := clockedStore(t, &clock)
	ctx := context.Background()
	for user := range int64(30) {
		notify(t, svc, user+1)
	}
	for range 20 {
		alert(t, svc)
	}
	clock = now
	n, err := s.Prune(ctx, now.Add(-24*time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 18 {
		t.Fatalf("pruned %d, want the 18 alerts beyond the newest 2", n)
	}
	left, _ := s.ReadEvents(ctx, 0, nil, 100)
	if len(left) != 32 || left[30].ID != 49 {
		t.Fatalf("left %d events (want 30 notifications and alerts 49, 50)", len(left))
	}
}

// Commits do not checkpoint (that would fsync inside the writer lock); the
// store's checkpointer does, shortly after. Once it has caught up, the next
// commits write the WAL from its beginning again instead of growing it.
func TestCheckpointerKeepsTheWALSmall(t *testing.T) {
	path := t.TempDir() + "/posd.db"
	s := openStore(t, path, nil)
	ctx := context.Background()
	svc := service.New(s, nil)
	if _, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung", "T1"); err != nil {
		t.Fatal(err)
	}
	order := func() {
		t.Helper()
		if _, err := svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{TenantID: 1, CustomerName: "Budi", Items: []domain.Item{{Name: "Nasi", Quantity: 1, UnitPrice: 1000}}}); err != nil {
			t.Fatal(err)
		}
	}
	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for range 100 {
		order()
	}
	deadline := time.Now().Add(20 * sqlite.CheckpointInterval)
	steady := 0
	for steady < 5 {
		before := walSize()
		time.Sleep(sqlite.CheckpointInterval / 4)
		order()
		if walSize() == before {
			steady++
		} else {
			steady = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL still grows with every commit (%d bytes): nothing checkpoints it", walSize())
		}
	}
}
