// Package store keeps posd's state and event log in SQLite: raw SQL, embedded
// numbered migrations, one writer at a time, readers in parallel (WAL).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/posd/posd/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the database.
type Options struct {
	// Synchronous is SQLite's synchronous pragma. NORMAL (the default) in WAL
	// mode survives a killed process with nothing lost: a commit is in the
	// WAL before the API answers. FULL also survives power loss, at the cost
	// of an fsync per commit.
	Synchronous string
	// Publish receives the events of every committed transaction, in id
	// order, while the writer lock is still held (so callers see commit order).
	Publish func([]domain.Event)
	Now     func() time.Time
}

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	wdb *sql.DB // writers: SQLite has one at a time; we queue them in Go (wmu), not on SQLITE_BUSY
	rdb *sql.DB // readers
	wmu sync.Mutex
	// wconn is the writer connection Write runs on, held for the store's
	// life so its statements stay prepared on it; guarded by wmu. BEGIN,
	// COMMIT and ROLLBACK are prepared too: a database/sql Tx would make the
	// driver parse them again for every order.
	wconn                   *sql.Conn
	begin, commit, rollback *sql.Stmt
	// stmts are the write path's prepared statements, by SQL text; guarded
	// by wmu (every write holds it).
	stmts map[string]*sql.Stmt
	opts  Options
	path  string

	// The checkpointer folds the WAL back into the database file off the
	// write path: SQLite's own (automatic) checkpoint runs inside the
	// commit that crosses its threshold, fsyncs twice while the writer
	// lock is held, and every order queued behind it waits.
	ckWake   chan struct{}
	ckStop   chan struct{}
	ckDone   chan struct{}
	stopOnce sync.Once
}

// CheckpointInterval is how long the checkpointer lets commits gather
// before it checkpoints: one pair of fsyncs per interval however many orders
// came in. Under synchronous=NORMAL a power cut loses the commits since the
// last checkpoint, so normally about one interval's worth. (Checkpointing
// every 64 commits instead, about SQLite's own rhythm, measured no better in
// an A B: the same at 100 orders/s, a higher median latency at 1,000.)
const CheckpointInterval = 200 * time.Millisecond

// Open opens (creating if needed) the database at path and applies migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "NORMAL"
	}
	switch strings.ToUpper(opts.Synchronous) {
	case "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("open database: synchronous must be NORMAL, FULL or EXTRA, not %q", opts.Synchronous)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Publish == nil {
		opts.Publish = func([]domain.Event) {}
	}
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"busy_timeout(10000)",
		"synchronous(" + strings.ToUpper(opts.Synchronous) + ")",
	} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	// Writer connections never checkpoint on commit; see ckWake.
	wdb, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Writes are serialised by wmu, not by the pool: one connection is
	// Write's own, one serves migrations and the rarer writes, one the
	// checkpointer (so a rare write never waits behind a checkpoint).
	wdb.SetMaxOpenConns(3)
	wdb.SetMaxIdleConns(3)
	wdb.SetConnMaxLifetime(0)
	rdb, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	s := &Store{wdb: wdb, rdb: rdb, opts: opts, path: path}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openWriter(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.ckWake, s.ckStop, s.ckDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go s.checkpointer()
	return s, nil
}

// checkpointer runs a PASSIVE checkpoint CheckpointInterval after a commit
// wakes it. PASSIVE never waits for the writer or the readers: it copies
// what it can, and once it has copied everything the next commit starts the
// WAL from its beginning again, so the file stays small.
func (s *Store) checkpointer() {
	defer close(s.ckDone)
	for {
		select {
		case <-s.ckStop:
			return
		case <-s.ckWake:
		}
		select {
		case <-s.ckStop:
			return
		case <-time.After(CheckpointInterval):
		}
		// A failed checkpoint leaves the WAL to the next one.
		_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// writeTx runs fn in a transaction of its own on the pool's writer
// connections: the rare writes (prunes, tokens, recovery records) that
// Write's prepared statements do not cover. Like Write it queues on wmu and
// wakes the checkpointer after the commit, so no write can leave the WAL
// unfolded.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.wakeCheckpointer()
	return nil
}

// wakeCheckpointer tells the checkpointer a commit happened; every write
// calls it after committing (Write and writeTx).
func (s *Store) wakeCheckpointer() {
	select {
	case s.ckWake <- struct{}{}:
	default: // a checkpoint is due already (or the store is still opening)
	}
}

func (s *Store) openWriter(ctx context.Context) error {
	c, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("open writer: %w", err)
	}
	s.wconn = c
	for q, st := range map[string]**sql.Stmt{"BEGIN IMMEDIATE": &s.begin, "COMMIT": &s.commit, "ROLLBACK": &s.rollback} {
		if *st, err = c.PrepareContext(ctx, q); err != nil {
			return fmt.Errorf("open writer: prepare %s: %w", q, err)
		}
	}
	return nil
}

// Close closes the database; a final checkpoint folds the WAL into the file.
func (s *Store) Close() error {
	if s.ckStop != nil {
		s.stopOnce.Do(func() { close(s.ckStop) })
		<-s.ckDone
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	for _, st := range []*sql.Stmt{s.begin, s.commit, s.rollback} {
		if st != nil {
			st.Close()
		}
	}
	if s.wconn != nil {
		s.wconn.Close()
	}
	_, _ = s.wdb.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return errors.Join(s.rdb.Close(), s.wdb.Close())
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: bad migration name %s", base)
		}
		if err := s.applyMigration(ctx, v, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, version int, name string) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("migrate %d (%s): %w", version, name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.opts.Now().UnixMilli()); err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	return tx.Commit()
}

// SchemaVersion is the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// prepared returns q prepared on the writer; the caller holds wmu.
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.wconn.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = make(map[string]*sql.Stmt)
	}
	s.stmts[q] = st
	return st, nil
}

// Write runs fn in one immediate transaction. Events appended with
// Tx.AppendEvent are written with the change; after commit they are handed to
// Options.Publish in id order before the next writer starts.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin: %w", err) // the asker left while it queued
	}
	// Once begun, a write runs to its end even if the request that asked
	// for it goes away: the statements are short, and with a cancellable
	// context the driver would start a watcher goroutine for every one.
	ctx = context.WithoutCancel(ctx)
	if _, err := s.begin.ExecContext(ctx); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	open := true
	defer func() {
		// Also on a panic in fn: the writer connection outlives this call,
		// and a transaction left open on it would refuse every later BEGIN.
		if open {
			_, _ = s.rollback.ExecContext(ctx)
		}
	}()
	tx := &Tx{s: s, ctx: ctx, now: s.opts.Now()}
	if err := fn(tx); err != nil {
		return err
	}
	if _, err := s.commit.ExecContext(ctx); err != nil {
		// SQLite may have rolled back already; ROLLBACK then only errs.
		return fmt.Errorf("commit: %w", err)
	}
	open = false
	s.wakeCheckpointer()
	if len(tx.events) > 0 {
		s.opts.Publish(tx.events)
	}
	return nil
}

// isUnique reports a UNIQUE or PRIMARY KEY constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func notFound(what string, id int64) error {
	return domain.Errorf(domain.CodeNotFound, "%s %d not found", what, id)
}
