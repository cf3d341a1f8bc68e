// Package sqlite is the store on SQLite, posd's embedded default: raw SQL, embedded
// numbered migrations, one writer at a time, readers in parallel (WAL).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posd/posd/store"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/posd/posd/internal/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultWALLimit bounds the WAL. Each order writes about 72 kB of WAL
// (one 4 KiB page for each table and index it touches), so at 1,000
// orders/s 64 MiB is a bit under a second of orders: the restarts, which
// hold writers back, stay rare next to the passive checkpoints, which do not.
const DefaultWALLimit = 64 << 20

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
	opts  store.Options
	path  string
	log   *slog.Logger

	// full is set when a write failed because the disk is full and cleared
	// by the next write that commits; fullSince is when it was set (unix
	// ns). While it is set the checkpointer probes with a tiny write every
	// FullProbeInterval, so health recovers without waiting for traffic.
	full      atomic.Bool
	fullSince atomic.Int64

	// The checkpointer folds the WAL back into the database file off the
	// write path: SQLite's own (automatic) checkpoint runs inside the
	// commit that crosses its threshold, fsyncs twice while the writer
	// lock is held, and every order queued behind it waits.
	ckWake   chan struct{}
	ckStop   chan struct{}
	ckDone   chan struct{}
	stopOnce sync.Once
	// ckConn is the checkpointer's own connection: its busy timeout is
	// short (ckBusy, from restartBusyTimeout), because writers queue behind
	// it while it restarts the WAL. ckBusy is the checkpointer's own.
	ckConn   *sql.Conn
	ckBusy   time.Duration
	pageSize int64

	statsMu sync.Mutex
	stats   CheckpointStats
}

// CheckpointStats count the checkpointer's work since Open.
type CheckpointStats struct {
	Passive  int64         // passive checkpoints (never hold writers back)
	Restarts int64         // RESTART or TRUNCATE checkpoints: the WAL starts over
	Busy     int64         // restarts a reader outlasted; retried next round
	MaxStall time.Duration // longest time writers waited behind one restart
	Stalled  time.Duration // total time writers waited behind restarts
	MaxWAL   int64         // largest WAL file a checkpoint saw, in bytes
}

// Stats reports the checkpointer's counters.
func (s *Store) Stats() CheckpointStats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

// DefaultSynchronous is the synchronous pragma when none is given: NORMAL
// survives a killed process; FULL also survives power loss.
const DefaultSynchronous = "NORMAL"

// CheckpointInterval is how long the checkpointer lets commits gather
// before it checkpoints: one pair of fsyncs per interval however many orders
// came in. Under synchronous=NORMAL a power cut loses the commits since the
// last checkpoint, so normally about one interval's worth. (Checkpointing
// every 64 commits instead, about SQLite's own rhythm, measured no better in
// an A B: the same at 100 orders/s, a higher median latency at 1,000.)
const CheckpointInterval = 200 * time.Millisecond

// restartBusyTimeout is how long a RESTART checkpoint first waits for
// readers still on the WAL. Writers wait for it too, so it is short; a
// restart that readers outlast is put off to the next round with twice the
// wait, up to restartBusyMax, so slow readers (a slow machine, a reader in
// another process) delay the restart but cannot put it off for ever.
const (
	restartBusyTimeout = 50 * time.Millisecond
	restartBusyMax     = time.Second
)

// FullProbeInterval is how often, while the disk is full, the store tries
// a one-row write to learn that space has returned.
const FullProbeInterval = time.Second

// FullRetryAfter is what a write refused for a full disk tells the client
// to wait before it retries.
const FullRetryAfter = 5 * time.Second

// Open opens (creating if needed) the database at path and applies migrations.
func Open(ctx context.Context, path string, opts store.Options) (*Store, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = DefaultSynchronous
	}
	switch strings.ToUpper(opts.Synchronous) {
	case "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("open database: synchronous must be NORMAL, FULL or EXTRA, not %q", opts.Synchronous)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Committed == nil {
		opts.Committed = func([]domain.Event) {}
	}
	if opts.WALLimit <= 0 {
		opts.WALLimit = DefaultWALLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
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
	s := &Store{wdb: wdb, rdb: rdb, opts: opts, path: path, log: opts.Logger}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.openWriter(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.ckConn, err = wdb.Conn(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open checkpointer: %w", err)
	}
	if err := s.setCheckpointBusy(ctx, restartBusyTimeout); err != nil {
		s.Close()
		return nil, fmt.Errorf("open checkpointer: %w", err)
	}
	if err := s.ckConn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&s.pageSize); err != nil {
		s.Close()
		return nil, fmt.Errorf("open checkpointer: %w", err)
	}
	s.ckWake, s.ckStop, s.ckDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go s.checkpointer()
	return s, nil
}

// checkpointer runs a PASSIVE checkpoint CheckpointInterval after a commit
// wakes it. PASSIVE never waits for the writer or the readers: it copies
// what it can, and once it has copied everything the next commit starts the
// WAL from its beginning again, so the file stays small.
//
// Under sustained writes that never happens: commits keep landing while a
// passive checkpoint copies, so it never catches up, the WAL is never
// started over and grows by every commit (490 MiB in 3 s of orders). So
// when the WAL holds more than WALLimit the checkpointer escalates: it holds
// the writers back (wmu) and runs a RESTART checkpoint, which copies the few
// frames committed since the passive one, waits for readers still on the
// WAL (restartBusyTimeout at first), and makes the next commit write from
// the file's beginning again. The file is reused, not cut: cutting a file
// of tens of MiB took 40 ms more of the writers' time. An idle server cuts
// it (TRUNCATE) once nothing has committed for idleTruncateAfter.
//
// While the disk is full it also probes for space every FullProbeInterval.
func (s *Store) checkpointer() {
	defer close(s.ckDone)
	for {
		var probe, idle <-chan time.Time
		if s.full.Load() {
			probe = time.After(FullProbeInterval)
		}
		if s.walSize() > idleWALSize {
			idle = time.After(idleTruncateAfter)
		}
		select {
		case <-s.ckStop:
			return
		case <-probe:
			// The outcome is recorded by writeTx (full set or cleared).
			_ = s.writeTx(context.Background(), func(tx *sql.Tx) error {
				// Rewrites one row with its own value: a real page in the
				// WAL, so it fails exactly as an order would.
				_, err := tx.Exec(`UPDATE log_meta SET value = value WHERE key = 'pruned_through'`)
				return err
			})
			continue
		case <-idle:
			s.restart("TRUNCATE")
			continue
		case <-s.ckWake:
		}
		select {
		case <-s.ckStop:
			return
		case <-time.After(CheckpointInterval):
		}
		s.checkpoint()
	}
}

// idleWALSize and idleTruncateAfter: a WAL file larger than idleWALSize is
// cut to nothing once no commit has come for idleTruncateAfter. Smaller
// files are left alone, so a quiet food court with an order every few
// seconds does not pay a truncation per order.
const (
	idleWALSize       = 4 << 20
	idleTruncateAfter = time.Second
)

// checkpoint runs one round: passive, then RESTART if the WAL still holds
// more than the limit. A failed checkpoint leaves the WAL to the next round.
func (s *Store) checkpoint() {
	frames := s.passive()
	s.statsMu.Lock()
	s.stats.Passive++
	s.statsMu.Unlock()
	if frames*(s.pageSize+walFrameHeader) <= s.opts.WALLimit {
		return
	}
	// Again, still without holding anyone back: it copies what committed
	// while the first one ran, so the RESTART has next to nothing to copy.
	s.passive()
	s.restart("RESTART")
}

// walFrameHeader is the bytes of each WAL frame besides its page.
const walFrameHeader = 24

// passive runs a PASSIVE checkpoint and reports the frames in the WAL.
func (s *Store) passive() int64 {
	var busy, frames, copied int64
	if err := s.ckConn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0
	}
	s.statsMu.Lock()
	s.stats.MaxWAL = max(s.stats.MaxWAL, s.walSize())
	s.statsMu.Unlock()
	return frames
}

// restart runs a RESTART or TRUNCATE checkpoint with the writers held back.
func (s *Store) restart(mode string) {
	s.wmu.Lock()
	start := time.Now()
	var busy, frames, copied int64
	err := s.ckConn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	stall := time.Since(start)
	s.wmu.Unlock()
	s.statsMu.Lock()
	s.stats.Stalled += stall
	s.stats.MaxStall = max(s.stats.MaxStall, stall)
	if err == nil && busy == 0 {
		s.stats.Restarts++
	} else {
		s.stats.Busy++
	}
	s.statsMu.Unlock()
	if err != nil || busy != 0 {
		// Try again next round even if no commit comes to wake us, and
		// give the readers longer.
		s.log.Debug("WAL restart put off", "mode", mode, "busy", busy, "waited", stall, "err", err)
		_ = s.setCheckpointBusy(context.Background(), min(2*s.ckBusy, restartBusyMax))
		s.wakeCheckpointer()
		return
	}
	_ = s.setCheckpointBusy(context.Background(), restartBusyTimeout)
	s.log.Debug("WAL restarted", "mode", mode, "frames", frames, "writers_waited", stall)
}

// setCheckpointBusy sets how long the checkpointer's connection waits for
// a lock; only the checkpointer (and Open, before it starts) calls it.
func (s *Store) setCheckpointBusy(ctx context.Context, d time.Duration) error {
	if d == s.ckBusy {
		return nil
	}
	if _, err := s.ckConn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(d.Milliseconds(), 10)); err != nil {
		return err
	}
	s.ckBusy = d
	return nil
}

// walSize is the WAL file's size (0 when it does not exist).
func (s *Store) walSize() int64 {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
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
		return s.failed(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return s.failed(err)
	}
	if err := tx.Commit(); err != nil {
		return s.failed(err)
	}
	s.committed()
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
	if s.ckConn != nil {
		s.ckConn.Close()
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
// store.Options.Committed in id order before the next writer starts.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
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
		return s.failed(fmt.Errorf("begin: %w", err))
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
		return s.failed(err)
	}
	if _, err := s.commit.ExecContext(ctx); err != nil {
		// SQLite may have rolled back already; ROLLBACK then only errs.
		return s.failed(fmt.Errorf("commit: %w", err))
	}
	open = false
	s.committed()
	if len(tx.events) > 0 {
		s.opts.Committed(tx.events)
	}
	return nil
}

// committed records a commit: the checkpointer has work, and a full disk
// has room again. The caller holds wmu.
func (s *Store) committed() {
	s.wakeCheckpointer()
	if s.full.Load() {
		s.full.Store(false)
		since := time.Unix(0, s.fullSince.Load())
		s.log.Warn("storage: writes succeed again after the disk was full", "db", s.path, "full_for", time.Since(since).Round(time.Millisecond))
	}
}

// failed turns a write's error into what the caller sees: a full disk
// becomes a storage_full error, logged once when it starts rather than for
// every refused request. Anything else passes through. The caller holds
// wmu.
func (s *Store) failed(err error) error {
	if !isFull(err) {
		return err
	}
	// Writers hold wmu, so only Full reads these concurrently: it must see
	// fullSince set whenever it sees full.
	if !s.full.Load() {
		s.fullSince.Store(time.Now().UnixNano())
		s.full.Store(true)
		s.log.Error("storage full: writes are refused (503 storage_full) until space is freed; reads and sockets go on", "db", s.path, "err", err)
		s.wakeCheckpointer() // starts the probes; a truncation may also give space back
	}
	return &fullError{err: err}
}

// Full reports whether writes are being refused for a full disk, and
// since when.
func (s *Store) Full() (since time.Time, full bool) {
	if !s.full.Load() {
		return time.Time{}, false
	}
	return time.Unix(0, s.fullSince.Load()).UTC(), true
}

// errStorageFull is what a client is told: nothing was written, and it is
// not its fault.
var errStorageFull = domain.Errorf(domain.CodeStorageFull, "the server's disk is full: nothing was changed; retry later")

// fullError is a write refused for a full disk. It is the client-facing
// errStorageFull and the driver's error (for logs) at once, and carries the
// Retry-After the API sends with it.
type fullError struct{ err error }

func (e *fullError) Error() string             { return "storage full: " + e.err.Error() }
func (e *fullError) Unwrap() []error           { return []error{errStorageFull, e.err} }
func (e *fullError) RetryAfter() time.Duration { return FullRetryAfter }

// isFull reports SQLite's "database or disk is full". The WAL, the
// database file and the shared-memory index all grow by writes; a write
// the file system refuses for space (ENOSPC) is SQLITE_FULL.
func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
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

// isForeignKey reports a FOREIGN KEY constraint violation.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func notFound(what string, id int64) error {
	return domain.Errorf(domain.CodeNotFound, "%s %d not found", what, id)
}

// The contract, checked at compile time.
var (
	_ store.Store = (*Store)(nil)
	_ store.Tx    = (*Tx)(nil)
)
