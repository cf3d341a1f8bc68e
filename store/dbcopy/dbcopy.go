// Package dbcopy moves a posd database from the embedded SQLite file to
// PostgreSQL, the step from one node to several. Everything a client can
// hold on to survives the move unchanged: every row keeps its id (so
// `since` offsets, order and payment ids and tokens stay valid), the log's
// head and retention horizons come along (new events continue after the
// last one, and a client too far behind is still told so), and every
// identity sequence starts past the copied ids.
//
// The copy reads one consistent snapshot of the SQLite file and writes in
// one PostgreSQL transaction: either the whole database arrives or nothing
// does. It refuses a target that already holds data, because merging two
// logs would hand out one id twice.
package dbcopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/sqlite"
)

// ErrTargetNotEmpty is returned when the PostgreSQL database already holds
// a tenant, an order, a token or an event.
var ErrTargetNotEmpty = errors.New("target database is not empty")

// DefaultProgressRows is how many rows of a table pass between two progress
// lines.
const DefaultProgressRows = 50_000

// Options tune a copy.
type Options struct {
	// Progress receives one line per table started, every ProgressRows
	// rows, and one per table done; nil: silent.
	Progress io.Writer
	// ProgressRows: 0 means DefaultProgressRows.
	ProgressRows int
}

// Table is what was copied into one table.
type Table struct {
	Name string
	Rows int64
}

// Report says what a copy did.
type Report struct {
	Tables []Table
	// LastEventID is the log head the target continues from.
	LastEventID int64
	Elapsed     time.Duration
}

// tableOrder puts tables referenced by foreign keys before the tables
// referring to them. Tables it does not name are copied after these, by
// name: a table added later that refers to one of these still finds its
// rows there.
var tableOrder = []string{"tenants", "counters", "orders", "order_items", "payments", "qr_codes", "events", "event_rooms", "webhooks"}

// guarded are the tables whose rows mean the target is in use. Other
// tables may hold rows a fresh migration inserts (log_meta's markers);
// those are replaced by the source's.
var guarded = []string{"tenants", "orders", "tokens", "events"}

// SQLiteToPostgres copies the SQLite database at from into the PostgreSQL
// database named by to, which must be empty of data. Both are migrated to
// the current schema first, as `posd serve` would on start.
func SQLiteToPostgres(ctx context.Context, from, to string, opts Options) (Report, error) {
	start := time.Now()
	if opts.ProgressRows <= 0 {
		opts.ProgressRows = DefaultProgressRows
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	// sqlite.Open would create a missing file and copy an empty database.
	if fi, err := os.Stat(from); err != nil {
		return Report{}, fmt.Errorf("source: %w", err)
	} else if !fi.Mode().IsRegular() {
		return Report{}, fmt.Errorf("source: %s is not a file", from)
	}
	srcVersion, err := migrateSource(ctx, from)
	if err != nil {
		return Report{}, err
	}
	dst, err := postgres.Open(ctx, to, store.Options{})
	if err != nil {
		return Report{}, fmt.Errorf("target: %w", err)
	}
	defer dst.Close()
	dstVersion, err := dst.SchemaVersion(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("target: %w", err)
	}
	if srcVersion != dstVersion {
		return Report{}, fmt.Errorf("source schema is at migration %d, target at %d: copy with the posd that serves both", srcVersion, dstVersion)
	}

	src, err := sql.Open("sqlite", "file:"+from+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return Report{}, fmt.Errorf("source: %w", err)
	}
	defer src.Close()
	// One read transaction is one snapshot (WAL): a server still writing
	// to the file cannot make the copy see half an order.
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Report{}, fmt.Errorf("source: %w", err)
	}
	defer func() { _ = stx.Rollback() }()
	tables, err := sourceTables(ctx, stx)
	if err != nil {
		return Report{}, err
	}

	var rep Report
	err = pgx.BeginFunc(ctx, dst.Pool(), func(ptx pgx.Tx) error {
		// Held to commit: a posd node starting on the target meanwhile
		// waits instead of writing rows that the copy's ids collide with.
		if _, err := ptx.Exec(ctx, `LOCK TABLE `+strings.Join(guarded, ", ")+` IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("target: lock: %w", err)
		}
		if err := checkEmpty(ctx, ptx); err != nil {
			return err
		}
		cols, err := targetColumns(ctx, ptx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			tcols, ok := cols[t.name]
			if !ok {
				return fmt.Errorf("table %s of the SQLite database has no counterpart in PostgreSQL", t.name)
			}
			n, err := copyTable(ctx, stx, ptx, t, tcols, opts.ProgressRows, progress)
			if err != nil {
				return err
			}
			rep.Tables = append(rep.Tables, Table{Name: t.name, Rows: n})
		}
		if rep.LastEventID, err = lastEventID(ctx, stx); err != nil {
			return err
		}
		if _, err := ptx.Exec(ctx, `UPDATE log_head SET last_id = $1`, rep.LastEventID); err != nil {
			return fmt.Errorf("target: log head: %w", err)
		}
		progress("log_head: events continue after id %d", rep.LastEventID)
		return advanceSequences(ctx, ptx, progress)
	})
	if err != nil {
		return Report{}, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// migrateSource brings the SQLite file to the current schema (a no-op when
// it is) and reports its version.
func migrateSource(ctx context.Context, path string) (int, error) {
	s, err := sqlite.Open(ctx, path, store.Options{})
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("source: %w", err)
	}
	return v, nil
}

type sourceTable struct {
	name string
	cols []string
}

// sourceTables lists the SQLite tables to copy, in tableOrder, with their
// columns. The migration ledger stays behind: the target keeps its own.
func sourceTables(ctx context.Context, tx *sql.Tx) ([]sourceTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'`)
	if err != nil {
		return nil, fmt.Errorf("source: list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("source: list tables: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("source: list tables: %w", err)
	}
	rank := func(n string) int {
		if i := slices.Index(tableOrder, n); i >= 0 {
			return i
		}
		return len(tableOrder)
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	out := make([]sourceTable, 0, len(names))
	for _, n := range names {
		crows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, n)
		if err != nil {
			return nil, fmt.Errorf("source: columns of %s: %w", n, err)
		}
		t := sourceTable{name: n}
		for crows.Next() {
			var c string
			if err := crows.Scan(&c); err != nil {
				crows.Close()
				return nil, fmt.Errorf("source: columns of %s: %w", n, err)
			}
			t.cols = append(t.cols, c)
		}
		crows.Close()
		if err := crows.Err(); err != nil {
			return nil, fmt.Errorf("source: columns of %s: %w", n, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// checkEmpty refuses a target that holds anything a client could know.
func checkEmpty(ctx context.Context, tx pgx.Tx) error {
	var held []string
	for _, t := range guarded {
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return fmt.Errorf("target: count %s: %w", t, err)
		}
		if n > 0 {
			held = append(held, fmt.Sprintf("%d %s", n, t))
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("%w: it holds %s; copy only into a database no posd has served (nothing was written)", ErrTargetNotEmpty, strings.Join(held, ", "))
	}
	return nil
}

// targetColumns maps each table of the target's schema to its columns'
// types.
func targetColumns(ctx context.Context, tx pgx.Tx) (map[string]map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()`)
	if err != nil {
		return nil, fmt.Errorf("target: columns: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return nil, fmt.Errorf("target: columns: %w", err)
		}
		if out[t] == nil {
			out[t] = map[string]string{}
		}
		out[t][c] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("target: columns: %w", err)
	}
	return out, nil
}

// copyTable replaces the target table's rows (only what migrations put
// there: the guarded tables are empty) with the source's, streamed through
// one COPY: pgx sends the rows in chunks as the SQLite cursor yields them,
// so memory stays flat however large the table.
func copyTable(ctx context.Context, stx *sql.Tx, ptx pgx.Tx, t sourceTable, tcols map[string]string, every int, progress func(string, ...any)) (int64, error) {
	conv := make([]func(any) (any, error), len(t.cols))
	for i, c := range t.cols {
		typ, ok := tcols[c]
		if !ok {
			return 0, fmt.Errorf("column %s.%s of the SQLite database has no counterpart in PostgreSQL", t.name, c)
		}
		conv[i] = converter(typ)
	}
	if _, err := ptx.Exec(ctx, `DELETE FROM `+pgx.Identifier{t.name}.Sanitize()); err != nil {
		return 0, fmt.Errorf("target: clear %s: %w", t.name, err)
	}
	quoted := make([]string, len(t.cols))
	for i, c := range t.cols {
		quoted[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM "`+strings.ReplaceAll(t.name, `"`, `""`)+`"`)
	if err != nil {
		return 0, fmt.Errorf("source: read %s: %w", t.name, err)
	}
	defer rows.Close()
	progress("%s: copying", t.name)
	src := &rowSource{rows: rows, conv: conv, vals: make([]any, len(t.cols)), table: t.name, every: int64(every), progress: progress}
	n, err := ptx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, src)
	if err != nil {
		if src.err != nil {
			err = src.err
		}
		return 0, fmt.Errorf("copy %s (after %d rows): %w", t.name, src.n, err)
	}
	progress("%s: %d rows", t.name, n)
	return n, nil
}

// rowSource feeds COPY from an SQLite cursor.
type rowSource struct {
	rows     *sql.Rows
	conv     []func(any) (any, error)
	vals     []any
	table    string
	n        int64
	every    int64
	progress func(string, ...any)
	err      error
}

func (r *rowSource) Next() bool {
	if !r.rows.Next() {
		return false
	}
	if r.n > 0 && r.n%r.every == 0 {
		r.progress("%s: %d rows", r.table, r.n)
	}
	r.n++
	return true
}

func (r *rowSource) Values() ([]any, error) {
	raw := make([]any, len(r.vals))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = fmt.Errorf("source: read %s: %w", r.table, err)
		return nil, r.err
	}
	for i, v := range raw {
		c, err := r.conv[i](v)
		if err != nil {
			r.err = fmt.Errorf("row %d of %s: %w", r.n, r.table, err)
			return nil, r.err
		}
		r.vals[i] = c
	}
	return r.vals, nil
}

func (r *rowSource) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// converter turns what SQLite holds into what a PostgreSQL column of type
// typ takes. SQLite keeps booleans as integers and may hand TEXT back as
// bytes; everything else maps as it is.
func converter(typ string) func(any) (any, error) {
	switch typ {
	case "boolean":
		return func(v any) (any, error) {
			switch x := v.(type) {
			case nil:
				return nil, nil
			case int64:
				return x != 0, nil
			case bool:
				return x, nil
			}
			return nil, fmt.Errorf("%T %v is not a boolean", v, v)
		}
	case "text":
		return func(v any) (any, error) {
			if b, ok := v.([]byte); ok {
				return string(b), nil
			}
			return v, nil
		}
	case "bytea":
		return func(v any) (any, error) {
			if s, ok := v.(string); ok {
				return []byte(s), nil
			}
			return v, nil
		}
	}
	return func(v any) (any, error) { return v, nil }
}

// lastEventID is the highest id the SQLite log ever handed out: the events
// table's AUTOINCREMENT counter remembers ids whose events retention has
// deleted, and the horizon marker covers a file whose counter is gone.
func lastEventID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT MAX(
		(SELECT COALESCE(MAX(id), 0) FROM events),
		(SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'events'),
		(SELECT COALESCE(MAX(value), 0) FROM log_meta WHERE key = 'pruned_through'))`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("source: last event id: %w", err)
	}
	return id, nil
}

// advanceSequences moves every identity sequence of the target past the
// highest id its table now holds, so the next insert takes the next id
// instead of colliding with a copied row.
func advanceSequences(ctx context.Context, tx pgx.Tx, progress func(string, ...any)) error {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), column_name)
		FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name`)
	if err != nil {
		return fmt.Errorf("target: identity columns: %w", err)
	}
	type ident struct{ table, col, seq string }
	var ids []ident
	for rows.Next() {
		var i ident
		if err := rows.Scan(&i.table, &i.col, &i.seq); err != nil {
			rows.Close()
			return fmt.Errorf("target: identity columns: %w", err)
		}
		ids = append(ids, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("target: identity columns: %w", err)
	}
	for _, i := range ids {
		var next int64
		// is_called false: the next nextval returns exactly MAX+1.
		q := `SELECT setval($1, COALESCE(MAX(` + pgx.Identifier{i.col}.Sanitize() + `), 0) + 1, false) FROM ` + pgx.Identifier{i.table}.Sanitize()
		if err := tx.QueryRow(ctx, q, i.seq).Scan(&next); err != nil {
			return fmt.Errorf("target: advance %s: %w", i.seq, err)
		}
		progress("%s.%s: next id %d", i.table, i.col, next)
	}
	return nil
}
