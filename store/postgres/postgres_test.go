package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
)

// open opens a store on dsn, closed when the test ends.
func open(t testing.TB, dsn string, opts store.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Three nodes starting at once on an empty database: the migrations run
// once each, under the advisory lock, and every node is at the same
// version.
func TestMigrationsConcurrentStart(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, dsn, store.Options{})
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		defer s.Close()
		if v, err := s.SchemaVersion(ctx); err != nil || v != backend().SchemaVersion {
			t.Fatalf("node %d at version %d, %v; want %d", i, v, err, backend().SchemaVersion)
		}
	}
	var n int
	files, _ := filepath.Glob("migrations/*.sql")
	if err := stores[0].Pool().QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", n, err, len(files))
	}
}

// Idempotency keys stored before keys were per token (schema 4) survive
// migration 0005 and still answer a retry, whatever token asks.
func TestIdempotencyKeysMigrateToPerToken(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v, name := range []string{"0001_init.sql", "0002_room_horizon.sql", "0003_socketio_recovery.sql", "0004_drop_events_created.sql"} {
		body, err := postgres.Migrations.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, 0)`, v+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO idempotency_keys (key, request_hash, status, body, created_at) VALUES ('old', 'h-old', 201, '{"id":1}', 1)`); err != nil {
		t.Fatal(err)
	}
	s := open(t, dsn, store.Options{})
	for _, tok := range []int64{0, 7} {
		r, err := s.Idempotency(ctx, tok, "old")
		if err != nil || r == nil || r.RequestHash != "h-old" || r.Status != 201 || string(r.Body) != `{"id":1}` {
			t.Fatalf("token %d, key stored before the migration: %+v, %v", tok, r, err)
		}
	}
}

// TestLogNeverSkipsAnEvent: writers on two nodes append events while
// stalling at random inside their transactions (before and after taking
// their ids, some rolling back), and a reader on a third tails the log by
// id. It must see every committed id exactly once, contiguous and in
// order: with ids from a sequence, an id taken early but committed late
// is stepped over by a tail that already read a higher one.
func TestLogNeverSkipsAnEvent(t *testing.T) {
	dsn := pgtest.DSN(t)
	nodes := []*postgres.Store{open(t, dsn, store.Options{}), open(t, dsn, store.Options{})}
	reader := open(t, dsn, store.Options{})
	ctx := context.Background()
	const writers, perWriter = 8, 40
	var committed atomic.Int64
	var cmu sync.Mutex
	payloads := map[string]bool{} // what committed, by event data
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range perWriter {
				abort := rng.IntN(8) == 0
				var data []byte
				err := nodes[w%2].Write(ctx, func(tx store.Tx) error {
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					ev, err := tx.AppendEvent(domain.NewEvent(domain.EventNotification, "x", tx.Now(),
						map[string]int{"w": w, "i": i}, fmt.Sprintf("user:%d", w)))
					if err != nil {
						return err
					}
					data = ev.Data
					// Stall holding the id, as a slow commit would.
					time.Sleep(time.Duration(rng.IntN(500)) * time.Microsecond)
					if abort {
						return errAbort
					}
					return nil
				})
				if abort != errors.Is(err, errAbort) || (!abort && err != nil) {
					errc <- fmt.Errorf("writer %d write %d: %v", w, i, err)
					return
				}
				if !abort {
					committed.Add(1)
					cmu.Lock()
					payloads[string(data)] = true
					cmu.Unlock()
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var last int64
	var gaps []string
	seen := map[string]bool{}
	// The tail reads while the writers write, until they are done and
	// it has read everything.
	testutil.Eventually(t, 60*time.Second, "the writers to finish and the tail to read their events", func() bool {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		evs, err := reader.ReadLog(ctx, last, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.ID != last+1 {
				gaps = append(gaps, fmt.Sprintf("%d after %d", ev.ID, last))
			}
			if seen[string(ev.Data)] {
				t.Fatalf("event %s read twice", ev.Data)
			}
			seen[string(ev.Data)] = true
			last = ev.ID
		}
		return finished && len(evs) == 0
	})
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	missed := 0
	for p := range payloads {
		if !seen[p] {
			missed++
		}
	}
	if missed > 0 {
		t.Errorf("the tail never read %d of the %d committed events", missed, len(payloads))
	}
	if len(gaps) > 0 {
		t.Errorf("ids not contiguous: read %s", strings.Join(gaps[:min(len(gaps), 5)], ", "))
	}
	if int64(len(seen)) != committed.Load() || last != committed.Load() {
		t.Fatalf("the tail read %d events up to id %d; %d were committed", len(seen), last, committed.Load())
	}
	t.Logf("%d events committed by %d writers on 2 nodes, all read in order", committed.Load(), writers)
}

var errAbort = errors.New("rolled back on purpose")

// A node hears the other's commits (NOTIFY), and a terminated LISTEN
// connection is re-established, with one Changed call on reconnecting
// and one WARN for the outage.
func TestChangedFollowsOtherNodes(t *testing.T) {
	dsn := pgtest.DSN(t)
	var changed atomic.Int64
	var logs testutil.Buffer
	a := open(t, dsn, store.Options{Changed: func() { changed.Add(1) }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	b := open(t, dsn, store.Options{})
	ctx := context.Background()
	appendOne := func() {
		t.Helper()
		err := b.Write(ctx, func(tx store.Tx) error {
			_, err := tx.AppendEvent(domain.NewEvent(domain.EventAlert, "alert", tx.Now(), nil, domain.RoomAll))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, "the first Changed (on connecting)", func() bool { return changed.Load() >= 1 })
	before := changed.Load()
	appendOne()
	testutil.Eventually(t, 5*time.Second, "Changed after another node's commit", func() bool { return changed.Load() > before })

	pid := a.ListenerPID()
	if pid == 0 {
		t.Fatal("no listener connection")
	}
	var ok bool
	if err := b.Pool().QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate the listener: %v, %v", ok, err)
	}
	before = changed.Load()
	testutil.Eventually(t, 5*time.Second, "the listener to reconnect", func() bool { p := a.ListenerPID(); return p != 0 && p != pid })
	// One call for whatever was committed while disconnected.
	testutil.Eventually(t, 5*time.Second, "Changed on reconnecting", func() bool { return changed.Load() > before })
	before = changed.Load()
	appendOne()
	testutil.Eventually(t, 5*time.Second, "Changed after the reconnect", func() bool { return changed.Load() > before })
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines for one outage, want 1:\n%s", n, logs.String())
	}
}

// A database that goes away makes writes and reads fail as unavailable
// (503), with no driver text in the client's message, and the store
// recovers by itself when it comes back: writes, and the listener.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	dsn := pgtest.DSN(t)
	pdsn, p := pgtest.Through(t, dsn)
	var changed atomic.Int64
	var logs testutil.Buffer
	s := open(t, pdsn, store.Options{Changed: func() { changed.Add(1) }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	write := func() error {
		return s.Write(ctx, func(tx store.Tx) error {
			_, err := tx.InsertCounter("Kasir")
			return err
		})
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "the listener", func() bool { return s.ListenerPID() != 0 })
	p.Cut()
	err := write()
	if domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("write with the database gone: %v (code %s), want unavailable", err, domain.ErrorCode(err))
	}
	if msg := domain.ErrorMessage(err); !strings.HasPrefix(msg, "database unavailable") || strings.Contains(msg, "127.0.0.1") {
		t.Fatalf("client message %q", msg)
	}
	if _, err := s.Counters(ctx); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Fatalf("read with the database gone: %v, want unavailable", err)
	}
	time.Sleep(300 * time.Millisecond) // a few listener retries
	before := changed.Load()
	p.Restore()
	testutil.Eventually(t, 10*time.Second, "writes to succeed again", func() bool { return write() == nil })
	testutil.Eventually(t, 10*time.Second, "the listener to reconnect", func() bool { return s.ListenerPID() != 0 && changed.Load() > before })
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines for one outage, want 1:\n%s", n, logs.String())
	}
}
