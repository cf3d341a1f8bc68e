package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/internal/testutil"
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
	if err != nil || v != 11 {
		t.Fatalf("schema version %d, %v; want 11", v, err)
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
	files, _ := filepath.Glob("migrations/*.sql")
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations rows %d, %v; want %d", n, err, len(files))
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
	// Five commits in a row, each a quarter interval after the last, that
	// leave the WAL at its size.
	before, steady := walSize(), 0
	if !testutil.Await(20*sqlite.CheckpointInterval, sqlite.CheckpointInterval/4, func() bool {
		order()
		if walSize() == before {
			steady++
		} else {
			steady = 0
		}
		before = walSize()
		return steady >= 5
	}) {
		t.Fatalf("the WAL still grows with every commit (%d bytes): nothing checkpoints it", walSize())
	}
}
