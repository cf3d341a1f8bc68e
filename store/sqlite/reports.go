package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// The report reads. Each is one statement over an index that holds what
// it reads, in an order that lets SQLite stream the sums out of it
// without sorting: payments by payments_report, cancellations by
// order_status_history_at, order timings by order_timings_created, event
// counts by event_counts_name.

// moneySums reads, for each stall (the one asked, or every stall), kind
// and accepted method, the range of its payments' times in
// payments_report, whose key begins with those: the groups come out of
// the index in order. A method the API does not accept is not counted.
var moneySums = `SELECT p.tenant_id, p.kind, p.method, COUNT(*), SUM(p.amount),
		COALESCE(SUM(CASE WHEN p.kind = 'refund' AND op.created_at < ? THEN p.amount ELSE 0 END), 0)
	FROM payments p INDEXED BY payments_report
	LEFT JOIN payments op ON op.id = p.original_payment_id
	WHERE p.status = 'success' AND p.tenant_id IN (SELECT id FROM tenants WHERE ? IN (0, id))
		AND p.kind IN ('payment', 'refund') AND p.method IN (` + methodList() + `)
		AND p.created_at >= ? AND p.created_at < ?
	GROUP BY 1, 2, 3`

func methodList() string {
	q := make([]string, len(domain.Methods))
	for i, m := range domain.Methods {
		q[i] = "'" + string(m) + "'"
	}
	return strings.Join(q, ", ")
}

// MoneySums sums payments and refunds per stall, kind and method, and per
// segment between cuts: one statement per segment, each streamed from the
// index, costs less than one that sorts the period's payments by segment.
func (s *Store) MoneySums(ctx context.Context, w report.Window, priorBefore time.Time, cuts ...time.Time) ([]report.MoneyRow, error) {
	var out []report.MoneyRow
	bounds := append(append([]time.Time{w.Start}, cuts...), w.End)
	for seg := range len(bounds) - 1 {
		rows, err := s.rdb.QueryContext(ctx, moneySums, ms(priorBefore), w.TenantID, ms(bounds[seg]), ms(bounds[seg+1]))
		if err != nil {
			return nil, fmt.Errorf("read sales: %w", err)
		}
		for rows.Next() {
			r := report.MoneyRow{Segment: seg}
			if err := rows.Scan(&r.TenantID, &r.Kind, &r.Method, &r.Count, &r.Amount, &r.Prior); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read sales: %w", err)
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read sales: %w", err)
		}
	}
	return out, nil
}

const cancellations = `SELECT h.tenant_id, COUNT(*), COALESCE(SUM(o.total_amount), 0)
	FROM order_status_history h JOIN orders o ON o.id = h.order_id
	WHERE h.status = 'cancelled' AND h.at >= ? AND h.at < ? AND (? = 0 OR h.tenant_id = ?)
	GROUP BY h.tenant_id`

// Cancellations counts the orders cancelled in the window per stall.
func (s *Store) Cancellations(ctx context.Context, w report.Window) ([]report.CancelRow, error) {
	rows, err := s.rdb.QueryContext(ctx, cancellations, ms(w.Start), ms(w.End), w.TenantID, w.TenantID)
	if err != nil {
		return nil, fmt.Errorf("read cancellations: %w", err)
	}
	defer rows.Close()
	var out []report.CancelRow
	for rows.Next() {
		var r report.CancelRow
		if err := rows.Scan(&r.TenantID, &r.Count, &r.Value); err != nil {
			return nil, fmt.Errorf("read cancellations: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// orderTimes reads the orders created in the window, one row each, out of
// the covering index: the columns the report needs and no others (each
// column of each row costs the driver a call).
const orderTimes = `SELECT tenant_id, created_at, preparing_at, ready_at, completed_at, cancelled_at
	FROM order_timings INDEXED BY order_timings_created
	WHERE created_at >= ? AND created_at < ? AND (? = 0 OR tenant_id = ?)`

// OrderTimes is when each order created in the window reached each status.
func (s *Store) OrderTimes(ctx context.Context, w report.Window) ([]report.OrderTimes, error) {
	rows, err := s.rdb.QueryContext(ctx, orderTimes, ms(w.Start), ms(w.End), w.TenantID, w.TenantID)
	if err != nil {
		return nil, fmt.Errorf("read order times: %w", err)
	}
	defer rows.Close()
	var out []report.OrderTimes
	for rows.Next() {
		var o report.OrderTimes
		if err := rows.Scan(&o.TenantID, &o.Created, &o.Preparing, &o.Ready, &o.Completed, &o.Cancelled); err != nil {
			return nil, fmt.Errorf("read order times: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// eventHours sums per quarter hour and name first, which streams out of
// event_counts_name in its order, then per local hour over those few rows.
const eventHours = `SELECT (bucket + ?) / 3600000 * 3600000 AS hour, name, SUM(n) FROM (
		SELECT bucket, name, SUM(n) AS n FROM event_counts INDEXED BY event_counts_name
		WHERE bucket >= ? AND bucket < ? AND (? = 0 OR tenant_id = ? OR (tenant_id = 0 AND name = ?))
		GROUP BY bucket, name)
	GROUP BY hour, name`

// EventHours sums the span's event counts per local hour and name.
func (s *Store) EventHours(ctx context.Context, sp report.LocalSpan) ([]report.EventHour, error) {
	rows, err := s.rdb.QueryContext(ctx, eventHours, sp.Offset, ms(sp.Start), ms(sp.End), sp.TenantID, sp.TenantID, domain.EventAlert)
	if err != nil {
		return nil, fmt.Errorf("read event counts: %w", err)
	}
	defer rows.Close()
	var out []report.EventHour
	for rows.Next() {
		var h report.EventHour
		if err := rows.Scan(&h.Hour, &h.Name, &h.Count); err != nil {
			return nil, fmt.Errorf("read event counts: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

type queryFunc func(q string, args ...any) (*sql.Rows, error)

// readTerms reads every share, fee and closed period through query.
func readTerms(query queryFunc) (report.Terms, error) {
	var t report.Terms
	rows, err := query(`SELECT tenant_id, from_date, bp FROM tenant_shares ORDER BY tenant_id, from_date`)
	if err != nil {
		return t, fmt.Errorf("read shares: %w", err)
	}
	for rows.Next() {
		var s report.Share
		if err := rows.Scan(&s.TenantID, &s.From, &s.BP); err != nil {
			rows.Close()
			return t, fmt.Errorf("read shares: %w", err)
		}
		t.Shares = append(t.Shares, s)
	}
	rows.Close()
	if rows, err = query(`SELECT method, from_date, bp FROM method_fees ORDER BY method, from_date`); err != nil {
		return t, fmt.Errorf("read fees: %w", err)
	}
	for rows.Next() {
		var f report.Fee
		if err := rows.Scan(&f.Method, &f.From, &f.BP); err != nil {
			rows.Close()
			return t, fmt.Errorf("read fees: %w", err)
		}
		t.Fees = append(t.Fees, f)
	}
	rows.Close()
	if rows, err = query(`SELECT month, from_date, to_date FROM settlement_periods ORDER BY month`); err != nil {
		return t, fmt.Errorf("read closed periods: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p report.Period
		if err := rows.Scan(&p.Month, &p.From, &p.To); err != nil {
			return t, fmt.Errorf("read closed periods: %w", err)
		}
		t.Closed = append(t.Closed, p)
	}
	return t, rows.Err()
}

// Terms reads every share, fee and closed period.
func (s *Store) Terms(ctx context.Context) (report.Terms, error) {
	return readTerms(func(q string, args ...any) (*sql.Rows, error) { return s.rdb.QueryContext(ctx, q, args...) })
}

// ClosedPeriod reads a closed month with its snapshot; nil if it is open.
func (s *Store) ClosedPeriod(ctx context.Context, month string) (*report.Closed, error) {
	var c report.Closed
	var at int64
	var snap string
	err := s.rdb.QueryRowContext(ctx, `SELECT month, from_date, to_date, tz, closed_at, snapshot FROM settlement_periods WHERE month = ?`, month).
		Scan(&c.Month, &c.From, &c.To, &c.TZ, &at, &snap)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read closed period: %w", err)
	}
	c.ClosedAt, c.Snapshot = fromMS(at), []byte(snap)
	return &c, nil
}

// recordTiming sets the time of one status in an order's timings row,
// making the row at its first status. Each status comes once (the
// history's key), so the larger of the two times is the one to keep.
const recordTiming = `INSERT INTO order_timings (order_id, tenant_id, created_at, preparing_at, ready_at, completed_at, cancelled_at)
	VALUES (?1, ?2,
		CASE ?3 WHEN 'pending' THEN ?4 ELSE 0 END, CASE ?3 WHEN 'preparing' THEN ?4 ELSE 0 END,
		CASE ?3 WHEN 'ready' THEN ?4 ELSE 0 END, CASE ?3 WHEN 'completed' THEN ?4 ELSE 0 END,
		CASE ?3 WHEN 'cancelled' THEN ?4 ELSE 0 END)
	ON CONFLICT (order_id) DO UPDATE SET
		created_at = max(created_at, excluded.created_at), preparing_at = max(preparing_at, excluded.preparing_at),
		ready_at = max(ready_at, excluded.ready_at), completed_at = max(completed_at, excluded.completed_at),
		cancelled_at = max(cancelled_at, excluded.cancelled_at)`

// RecordStatus adds a line to an order's status history and sets the
// time in its timings row, which the speed report reads.
func (t *Tx) RecordStatus(orderID, tenantID int64, status domain.Status, at time.Time) error {
	if _, err := t.exec(`INSERT INTO order_status_history (order_id, tenant_id, status, at) VALUES (?, ?, ?, ?)`, orderID, tenantID, string(status), ms(at)); err != nil {
		return fmt.Errorf("record status of order %d: %w", orderID, err)
	}
	if _, err := t.exec(recordTiming, orderID, tenantID, string(status), ms(at)); err != nil {
		return fmt.Errorf("record timing of order %d: %w", orderID, err)
	}
	return nil
}

// Terms reads the settlement terms inside the transaction; SQLite's one
// writer at a time already holds them still until the commit.
func (t *Tx) Terms() (report.Terms, error) {
	return readTerms(func(q string, args ...any) (*sql.Rows, error) {
		st, err := t.stmt(q)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(t.ctx, args...)
	})
}

// SetShare records a stall's share from a day on.
func (t *Tx) SetShare(s report.Share) error {
	_, err := t.exec(`INSERT INTO tenant_shares (tenant_id, from_date, bp, set_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant_id, from_date) DO UPDATE SET bp = excluded.bp, set_at = excluded.set_at`, s.TenantID, s.From, s.BP, ms(t.now))
	if isForeignKey(err) {
		return notFound("tenant", s.TenantID)
	}
	if err != nil {
		return fmt.Errorf("set share: %w", err)
	}
	return nil
}

// SetFee records a method's fee from a day on.
func (t *Tx) SetFee(f report.Fee) error {
	_, err := t.exec(`INSERT INTO method_fees (method, from_date, bp, set_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (method, from_date) DO UPDATE SET bp = excluded.bp, set_at = excluded.set_at`, f.Method, f.From, f.BP, ms(t.now))
	if err != nil {
		return fmt.Errorf("set fee: %w", err)
	}
	return nil
}

// ClosePeriod stores a closed period with its snapshot.
func (t *Tx) ClosePeriod(c report.Closed) error {
	_, err := t.exec(`INSERT INTO settlement_periods (month, from_date, to_date, tz, closed_at, snapshot) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Month, c.From, c.To, c.TZ, ms(c.ClosedAt), string(c.Snapshot))
	if isUnique(err) {
		return domain.Errorf(domain.CodeConflict, "period %s is already closed", c.Month)
	}
	if err != nil {
		return fmt.Errorf("close period: %w", err)
	}
	return nil
}
