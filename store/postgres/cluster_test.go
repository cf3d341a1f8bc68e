package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
)

// A command broadcast by one node reaches every node's Options.Command,
// the sender's included, intact.
func TestBroadcastReachesEveryNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	var mu sync.Mutex
	got := map[string][]store.Command{}
	opts := func(node string) store.Options {
		return store.Options{Command: func(c store.Command) {
			mu.Lock()
			got[node] = append(got[node], c)
			mu.Unlock()
		}}
	}
	a := open(t, dsn, opts("a"))
	open(t, dsn, opts("b"))
	open(t, dsn, opts("c"))
	want := store.Command{Kind: store.CmdCloseRoom, From: "aaaaaaaa", Room: "tenant-1"}
	if err := a.Broadcast(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	if err := a.Broadcast(context.Background(), store.Command{Kind: store.CmdCloseToken, From: "aaaaaaaa", TokenID: 42}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "both commands on every node", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["a"]) == 2 && len(got["b"]) == 2 && len(got["c"]) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	for node, cmds := range got {
		if cmds[0] != want || cmds[1].Kind != store.CmdCloseToken || cmds[1].TokenID != 42 {
			t.Fatalf("node %s got %+v", node, cmds)
		}
	}
	if err := a.Broadcast(context.Background(), store.Command{Kind: store.CmdCloseRoom, Room: string(make([]byte, 2000))}); err == nil {
		t.Fatal("a command too large for a notification was sent")
	}
}

// Retention runs on one node at a time: while another node holds the
// prune's lock, Prune and PruneIdempotency return 0 at once and delete
// nothing; once it is released they do their work.
func TestPruneRunsOnOneNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var clockMu sync.Mutex
	clock := now.Add(-48 * time.Hour)
	s := open(t, dsn, store.Options{Now: func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }})
	for i := range 5 {
		err := s.Write(ctx, func(tx store.Tx) error {
			if _, err := tx.AppendEvent(domain.NewEvent(domain.EventAlert, "alert", tx.Now(), nil, domain.RoomAll)); err != nil {
				return err
			}
			return tx.PutIdempotency(1, "k"+string(rune('a'+i)), store.IdempotentResult{RequestHash: "h", Status: 200, Body: []byte("{}")})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	clockMu.Lock()
	clock = now
	clockMu.Unlock()
	cutoff := now.Add(-24 * time.Hour)

	// The other node: a transaction holding both locks, as its prune does.
	other, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Released however the test ends: the store's Close waits for it.
	t.Cleanup(func() { _ = other.Rollback(ctx) })
	if _, err := other.Exec(ctx, `SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)`, postgres.PruneLock, postgres.PruneIdemLock); err != nil {
		t.Fatal(err)
	}
	var pruned atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err := s.Prune(ctx, cutoff, 1)
		if err != nil {
			t.Error(err)
		}
		k, err := s.PruneIdempotency(ctx, cutoff)
		if err != nil {
			t.Error(err)
		}
		pruned.Store(int64(n) + k)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Prune waited for the node holding the lock instead of returning")
	}
	if pruned.Load() != 0 {
		t.Fatalf("pruned %d rows while another node held the lock", pruned.Load())
	}
	if evs, _ := s.ReadLog(ctx, 0, 10); len(evs) != 5 {
		t.Fatalf("%d events left, want all 5", len(evs))
	}
	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := s.Prune(ctx, cutoff, 1) // the room's newest event stays
	if err != nil || n != 4 {
		t.Fatalf("after release pruned %d events, %v; want 4", n, err)
	}
	k, err := s.PruneIdempotency(ctx, cutoff)
	if err != nil || k != 5 {
		t.Fatalf("after release pruned %d keys, %v; want 5", k, err)
	}
}

// Two posd installations in two schemas of one database do not hear each
// other: NOTIFY is per database, so a room disconnect broadcast in one
// schema must not reach the other's nodes (it would close their sockets).
func TestSchemasDoNotHearEachOther(t *testing.T) {
	var mu sync.Mutex
	var got []store.Command
	other := open(t, pgtest.DSN(t), store.Options{})
	mine := open(t, pgtest.DSN(t), store.Options{Command: func(c store.Command) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	}})
	ctx := context.Background()
	if err := other.Broadcast(ctx, store.Command{Kind: store.CmdCloseRoom, From: "other", Room: "tenant-1"}); err != nil {
		t.Fatal(err)
	}
	// Notifications reach a listener in commit order: once this one is
	// in, the other schema's, sent before it, would have been too.
	if err := mine.Broadcast(ctx, store.Command{Kind: store.CmdCloseRoom, From: "mine", Room: "tenant-2"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "its own command", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].From != "mine" {
		t.Fatalf("commands heard in this schema: %+v; want only its own", got)
	}
}
