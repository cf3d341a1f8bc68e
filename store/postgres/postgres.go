// Package postgres keeps posd's state and event log in PostgreSQL, so that
// several posd nodes can share one database: orders, payments and the log.
// It implements the same contract as the embedded SQLite store, with the
// same schema in meaning (embedded numbered migrations, one folder per
// backend).
//
// Writes run under READ COMMITTED. What a write decides on is locked first
// (the order or payment rows it read, the tenant's order counter), the log
// last: an event's id is taken from a one-row counter that stays locked
// until the transaction commits, so ids are contiguous and become visible
// in id order, and a reader tailing the log by id never steps over one.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the pg_advisory_lock key migrations run under, so that
// nodes starting together apply each migration once, one after the other.
const migrationLock int64 = 0x706f7364_6d696772 // "posdmigr"

// NotifyChannel is the channel every commit that appended events notifies,
// with the last id it appended as payload.
const NotifyChannel = "posd_log"

// Session settings posd's connections run with, unless the DSN sets them.
// A lock wait longer than LockTimeout fails the write as unavailable
// instead of holding a request (and a connection) indefinitely; a
// transaction left idle longer than IdleInTxTimeout (a stuck node) is ended
// by the server, releasing the log lock for the other nodes.
const (
	LockTimeout     = 5 * time.Second
	IdleInTxTimeout = 30 * time.Second
)

// DefaultMaxConns is the pool size when the DSN does not set
// pool_max_conns: pgx's own default (the number of CPUs, at least 4) is
// small for a server whose requests wait on row locks.
const DefaultMaxConns = 16

// Write retries a transaction the database aborted for a serialization
// failure or a deadlock this many times, after a jittered pause of up to
// retryBackoff times the attempt number.
const (
	maxRetries   = 5
	retryBackoff = 10 * time.Millisecond
)

// Listener reconnect backoff: the first retry comes after listenBackoffMin,
// each next one waits twice as long, up to listenBackoffMax.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	opts store.Options
	log  *slog.Logger

	// pub hands committed events to Options.Committed in id order.
	pub publisher

	// channels are this schema's NotifyChannel and CommandChannel.
	channels channels

	listenCfg    *pgx.ConnConfig
	listenPID    atomic.Uint32
	listenCancel context.CancelFunc
	listenDone   chan struct{}
	closeOnce    sync.Once
}

// Open connects to the database named by dsn (a PostgreSQL URL or keyword
// string; pool_max_conns and the like are honoured), applies the
// migrations and starts following the log's notifications.
func Open(ctx context.Context, dsn string, opts store.Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error carries the DSN with its password redacted.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	rp := cfg.ConnConfig.RuntimeParams
	if _, ok := rp["lock_timeout"]; !ok {
		rp["lock_timeout"] = strconv.FormatInt(LockTimeout.Milliseconds(), 10)
	}
	if _, ok := rp["idle_in_transaction_session_timeout"]; !ok {
		rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(IdleInTxTimeout.Milliseconds(), 10)
	}
	if _, ok := rp["application_name"]; !ok {
		rp["application_name"] = "posd"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, opts: opts, log: opts.Logger, listenCfg: cfg.ConnConfig.Copy()}
	s.pub.committed = opts.Committed
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: read the schema: %w", err)
	}
	s.channels = channelsOf(schema)
	lctx, cancel := context.WithCancel(context.Background())
	s.listenCancel, s.listenDone = cancel, make(chan struct{})
	ready := make(chan struct{})
	go s.listen(lctx, ready)
	// Wait for the first LISTEN (or its failure), so that a commit made
	// right after Open is already followed; the loop keeps trying anyway.
	select {
	case <-ready:
	case <-ctx.Done():
	}
	return s, nil
}

// Close stops the listener and closes every connection.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.listenCancel != nil {
			s.listenCancel()
			<-s.listenDone
		}
		s.pool.Close()
	})
	return nil
}

// Pool is the connection pool, for tests and tools.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", unavailable(err))
	}
	defer conn.Release()
	// A session lock: released below, or by the server if this process
	// dies holding it.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
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
		if err := s.applyMigration(ctx, conn.Conn(), v, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, conn *pgx.Conn, version int, name string) error {
	var n int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	if n > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Exec without arguments sends the file as one simple query: several
	// statements in one round trip, all inside tx.
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("migrate %d (%s): %w", version, name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, s.opts.Now().UnixMilli()); err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate %d: %w", version, err)
	}
	return nil
}

// SchemaVersion is the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int64
	if err := s.pool.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, readErr("read schema version", err)
	}
	if v == nil {
		return 0, nil
	}
	return int(*v), nil
}

// Write runs fn in one READ COMMITTED transaction. A transaction the
// database aborts for a serialization failure or a deadlock is run again
// from the start (fn included), so callers never see those. Events
// appended with Tx.AppendEvent are handed to Options.Committed after the
// commit, in id order, before this process's next commit of events is;
// then the other nodes are notified.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin: %w", err) // the asker left while it queued
	}
	// Once begun, a write runs to its end even if the request that asked
	// for it goes away: a cancelled statement would abort the transaction
	// half-way and, in pgx, close the connection.
	ctx = context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if err == nil {
			return nil
		}
		if attempt > maxRetries || !retryable(err) {
			return failed(err)
		}
		s.log.Debug("postgres: write retried", "attempt", attempt, "err", err)
		time.Sleep(retryPause(attempt))
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(store.Tx) error) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Release()
	ptx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &tx{s: s, ctx: ctx, tx: ptx, now: s.opts.Now()}
	open := true
	defer func() {
		// Also on a panic in fn: the connection goes back to the pool, and
		// a queued transaction must leave the publish queue.
		if open {
			_ = ptx.Rollback(ctx)
			if t.queued {
				s.pub.settle(t, pubAborted)
			}
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	err = ptx.Commit(ctx)
	open = false
	if t.queued {
		st := pubCommitted
		if err != nil {
			// Perhaps committed (a lost connection during COMMIT): not
			// published here; the log has it if it did commit, and the
			// followers read the log.
			st = pubAborted
		}
		s.pub.settle(t, st)
	}
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if len(t.events) == 0 {
		return nil
	}
	// After the commit, not inside it: a NOTIFY in the transaction takes a
	// database-wide lock at commit that would serialise every commit behind
	// the notification queue. A lost notification costs a follower one poll.
	last := t.events[len(t.events)-1].ID
	if _, err := conn.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channels.log, strconv.FormatInt(last, 10)); err != nil {
		s.log.Warn("postgres: log notification not sent; followers will see the commit on their next poll", "event_id", last, "err", err)
	}
	return nil
}

// retryPause is how long to wait before attempt+1: jittered, so that the
// transactions that collided do not collide again in step.
func retryPause(attempt int) time.Duration {
	return time.Millisecond + rand.N(time.Duration(attempt)*retryBackoff)
}

// retryable reports the errors that mean "run the transaction again":
// PostgreSQL aborted it for a serialization failure or a deadlock, and
// nothing of it was kept.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// errUnavailable is what a client is told when the database cannot be
// reached or is overloaded: nothing it asked for was done (or, for a lost
// COMMIT, maybe done: an idempotency key makes the retry safe). The
// driver's words stay in the logs.
var errUnavailable = domain.Errorf(domain.CodeUnavailable, "database unavailable: retry shortly")

// unavailableError is the client-facing errUnavailable and the driver's
// error (for logs) at once.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return "database unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{errUnavailable, e.err} }

// unavailable wraps err as unavailable when it is one.
func unavailable(err error) error {
	if isUnavailable(err) {
		return &unavailableError{err: err}
	}
	return err
}

// failed turns a write's final error into what the caller sees.
func failed(err error) error { return unavailable(err) }

// readErr wraps a read's error with what was being read.
func readErr(what string, err error) error {
	return unavailable(fmt.Errorf("%s: %w", what, err))
}

// isUnavailable reports an error that is the database's state, not the
// request's: the connection failed or was closed, the server is shutting
// down, out of connections or resources, or a lock wait or statement
// timed out.
func isUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return false // already wrapped
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources
			strings.HasPrefix(pe.Code, "57P"), // operator intervention: shutdown
			strings.HasPrefix(pe.Code, "58"),  // system error (I/O)
			pe.Code == "55P03",                // lock_not_available: lock_timeout
			pe.Code == "57014",                // query_canceled: statement_timeout
			pe.Code == "25P03":                // idle_in_transaction_session_timeout
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.Timeout(err) || strings.Contains(err.Error(), "closed pool")
}

func notFound(what string, id int64) error {
	return domain.Errorf(domain.CodeNotFound, "%s %d not found", what, id)
}

// isUnique reports a unique or primary key violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// Store implements the store contract.
var _ store.Store = (*Store)(nil)
