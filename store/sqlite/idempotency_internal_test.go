package sqlite

import (
	"context"
	"database/sql"
	"testing"

	"github.com/posd/posd/store"
)

// Keys stored before keys were per token (schema 4) survive migration 0005
// and still answer a retry, whatever token asks; new keys are per token.
func TestIdempotencyKeysMigrateToPerToken(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/posd.db"
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v, name := range []string{"0001_init.sql", "0002_room_horizon.sql", "0003_socketio_recovery.sql", "0004_drop_events_created.sql"} {
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations VALUES (?, 0)`, v+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO idempotency_keys (key, request_hash, status, body, created_at) VALUES ('old', 'h-old', 201, '{"id":1}', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tok := range []int64{0, 7} {
		r, err := s.Idempotency(ctx, tok, "old")
		if err != nil || r == nil || r.RequestHash != "h-old" || r.Status != 201 || string(r.Body) != `{"id":1}` {
			t.Fatalf("token %d, key stored before the migration: %+v, %v", tok, r, err)
		}
	}
	// New keys: the same name from two tokens is two keys.
	for _, tok := range []int64{7, 8} {
		err := s.Write(ctx, func(tx store.Tx) error {
			if used, err := tx.IdempotencyUsed(tok, "k"); err != nil || used {
				t.Fatalf("token %d: key k used %v before it stored it, %v", tok, used, err)
			}
			return tx.PutIdempotency(tok, "k", store.IdempotentResult{RequestHash: "h" + string(rune('0'+tok)), Status: 201, Body: []byte("{}")})
		})
		if err != nil {
			t.Fatalf("token %d: %v", tok, err)
		}
	}
	for _, tc := range []struct {
		tok  int64
		hash string
	}{{7, "h7"}, {8, "h8"}} {
		r, err := s.Idempotency(ctx, tc.tok, "k")
		if err != nil || r == nil || r.RequestHash != tc.hash {
			t.Fatalf("token %d: %+v, %v", tc.tok, r, err)
		}
	}
	if r, err := s.Idempotency(ctx, 9, "k"); err != nil || r != nil {
		t.Fatalf("token 9 sees another token's key: %+v, %v", r, err)
	}
	// The same token twice is a race the database refuses.
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.PutIdempotency(7, "k", store.IdempotentResult{RequestHash: "x", Status: 201, Body: []byte("{}")})
	})
	if err != store.ErrIdempotencyRace {
		t.Fatalf("second put of token 7's key: %v", err)
	}
}
