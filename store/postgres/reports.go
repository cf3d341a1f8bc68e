package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// The report reads, the same rows as SQLite's: payments by
// payments_created (which covers the sums, the stall included),
// cancellations by
// order_status_history_at, order timings by order_timings_created, event
// counts by their key.

// moneySums sums per segment too: width_bucket counts the cuts ($5, in
// ascending order) at or before a payment's time.
const moneySums = `SELECT p.tenant_id, p.kind, p.method, width_bucket(p.created_at, $5::bigint[]), COUNT(*), SUM(p.amount)::bigint,
		COALESCE(SUM(CASE WHEN p.kind = 'refund' AND op.created_at < $1 THEN p.amount ELSE 0 END), 0)::bigint
	FROM payments p
	LEFT JOIN payments op ON op.id = p.original_payment_id
	WHERE p.created_at >= $2 AND p.created_at < $3 AND p.status = 'success' AND ($4::bigint = 0 OR p.tenant_id = $4)
	GROUP BY 1, 2, 3, 4`

// MoneySums sums payments and refunds per stall, kind and method, and per
// segment between cuts.
func (s *Store) MoneySums(ctx context.Context, w report.Window, priorBefore time.Time, cuts ...time.Time) ([]report.MoneyRow, error) {
	at := make([]int64, len(cuts))
	for i, c := range cuts {
		at[i] = ms(c)
	}
	rows, err := s.pool.Query(ctx, moneySums, ms(priorBefore), ms(w.Start), ms(w.End), w.TenantID, at)
	if err != nil {
		return nil, readErr("read sales", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.MoneyRow, error) {
		var m report.MoneyRow
		err := r.Scan(&m.TenantID, &m.Kind, &m.Method, &m.Segment, &m.Count, &m.Amount, &m.Prior)
		return m, err
	})
	if err != nil {
		return nil, readErr("read sales", err)
	}
	return out, nil
}

// cancellations looks up each cancelled order's total by its key: a join
// let the planner hash every order of the year for a month's few
// thousand cancellations.
const cancellations = `SELECT h.tenant_id, COUNT(*), COALESCE(SUM((SELECT o.total_amount FROM orders o WHERE o.id = h.order_id)), 0)::bigint
	FROM order_status_history h
	WHERE h.status = 'cancelled' AND h.at >= $1 AND h.at < $2 AND ($3::bigint = 0 OR h.tenant_id = $3)
	GROUP BY h.tenant_id`

// Cancellations counts the orders cancelled in the window per stall.
func (s *Store) Cancellations(ctx context.Context, w report.Window) ([]report.CancelRow, error) {
	rows, err := s.pool.Query(ctx, cancellations, ms(w.Start), ms(w.End), w.TenantID)
	if err != nil {
		return nil, readErr("read cancellations", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.CancelRow, error) {
		var c report.CancelRow
		err := r.Scan(&c.TenantID, &c.Count, &c.Value)
		return c, err
	})
	if err != nil {
		return nil, readErr("read cancellations", err)
	}
	return out, nil
}

// orderTimes reads the orders created in the window, one row each, from
// the covering index.
const orderTimes = `SELECT tenant_id, created_at, preparing_at, ready_at, completed_at, cancelled_at
	FROM order_timings
	WHERE created_at >= $1 AND created_at < $2 AND ($3::bigint = 0 OR tenant_id = $3)`

// OrderTimes is when each order created in the window reached each status.
func (s *Store) OrderTimes(ctx context.Context, w report.Window) ([]report.OrderTimes, error) {
	rows, err := s.pool.Query(ctx, orderTimes, ms(w.Start), ms(w.End), w.TenantID)
	if err != nil {
		return nil, readErr("read order times", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.OrderTimes, error) {
		var o report.OrderTimes
		err := r.Scan(&o.TenantID, &o.Created, &o.Preparing, &o.Ready, &o.Completed, &o.Cancelled)
		return o, err
	})
	if err != nil {
		return nil, readErr("read order times", err)
	}
	return out, nil
}

const eventHours = `SELECT (bucket + $1) / 3600000 * 3600000 AS hour, name, SUM(n)::bigint FROM event_counts
	WHERE bucket >= $2 AND bucket < $3 AND ($4::bigint = 0 OR tenant_id = $4 OR (tenant_id = 0 AND name = $5))
	GROUP BY 1, 2`

// EventHours sums the span's event counts per local hour and name.
func (s *Store) EventHours(ctx context.Context, sp report.LocalSpan) ([]report.EventHour, error) {
	rows, err := s.pool.Query(ctx, eventHours, sp.Offset, ms(sp.Start), ms(sp.End), sp.TenantID, domain.EventAlert)
	if err != nil {
		return nil, readErr("read event counts", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.EventHour, error) {
		var h report.EventHour
		err := r.Scan(&h.Hour, &h.Name, &h.Count)
		return h, err
	})
	if err != nil {
		return nil, readErr("read event counts", err)
	}
	return out, nil
}

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readTerms reads every share, fee and closed period.
func readTerms(ctx context.Context, q queryer) (report.Terms, error) {
	var t report.Terms
	var err error
	rows, err := q.Query(ctx, `SELECT tenant_id, from_date, bp FROM tenant_shares ORDER BY tenant_id, from_date`)
	if err == nil {
		t.Shares, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.Share, error) {
			var s report.Share
			err := r.Scan(&s.TenantID, &s.From, &s.BP)
			return s, err
		})
	}
	if err != nil {
		return t, fmt.Errorf("read shares: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT method, from_date, bp FROM method_fees ORDER BY method, from_date`)
	if err == nil {
		t.Fees, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.Fee, error) {
			var f report.Fee
			err := r.Scan(&f.Method, &f.From, &f.BP)
			return f, err
		})
	}
	if err != nil {
		return t, fmt.Errorf("read fees: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT month, from_date, to_date FROM settlement_periods ORDER BY month`)
	if err == nil {
		t.Closed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.Period, error) {
			var p report.Period
			err := r.Scan(&p.Month, &p.From, &p.To)
			return p, err
		})
	}
	if err != nil {
		return t, fmt.Errorf("read closed periods: %w", err)
	}
	return t, nil
}

// Terms reads every share, fee and closed period.
func (s *Store) Terms(ctx context.Context) (report.Terms, error) {
	t, err := readTerms(ctx, s.pool)
	if err != nil {
		return t, unavailable(err)
	}
	return t, nil
}

// ClosedPeriod reads a closed month with its snapshot; nil if it is open.
func (s *Store) ClosedPeriod(ctx context.Context, month string) (*report.Closed, error) {
	var c report.Closed
	var at int64
	var snap string
	err := s.pool.QueryRow(ctx, `SELECT month, from_date, to_date, tz, closed_at, snapshot FROM settlement_periods WHERE month = $1`, month).
		Scan(&c.Month, &c.From, &c.To, &c.TZ, &at, &snap)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, readErr("read closed period", err)
	}
	c.ClosedAt, c.Snapshot = fromMS(at), []byte(snap)
	return &c, nil
}

// recordStatus writes a line of an order's status history and, in the
// same statement, the time in its timings row (made at its first status).
// Each status comes once (the history's key), so the greater of the two
// times is the one to keep.
const recordStatus = `WITH h AS (INSERT INTO order_status_history (order_id, tenant_id, status, at) VALUES ($1, $2, $3, $4))
	INSERT INTO order_timings (order_id, tenant_id, created_at, preparing_at, ready_at, completed_at, cancelled_at)
	VALUES ($1, $2,
		CASE $3::text WHEN 'pending' THEN $4 ELSE 0 END, CASE $3::text WHEN 'preparing' THEN $4 ELSE 0 END,
		CASE $3::text WHEN 'ready' THEN $4 ELSE 0 END, CASE $3::text WHEN 'completed' THEN $4 ELSE 0 END,
		CASE $3::text WHEN 'cancelled' THEN $4 ELSE 0 END)
	ON CONFLICT (order_id) DO UPDATE SET
		created_at = GREATEST(order_timings.created_at, excluded.created_at),
		preparing_at = GREATEST(order_timings.preparing_at, excluded.preparing_at),
		ready_at = GREATEST(order_timings.ready_at, excluded.ready_at),
		completed_at = GREATEST(order_timings.completed_at, excluded.completed_at),
		cancelled_at = GREATEST(order_timings.cancelled_at, excluded.cancelled_at)`

// RecordStatus adds a line to an order's status history and sets the
// time in its timings row, which the speed report reads.
func (t *tx) RecordStatus(orderID, tenantID int64, status domain.Status, at time.Time) error {
	if _, err := t.tx.Exec(t.ctx, recordStatus, orderID, tenantID, string(status), ms(at)); err != nil {
		return fmt.Errorf("record status of order %d: %w", orderID, err)
	}
	return nil
}

// settlementLock is the advisory lock ("sett") a transaction that reads
// the settlement terms holds to its end, so that a share change and the
// close of a period, on any nodes, happen one after the other.
const settlementLock int64 = 0x73657474

// Terms takes the settlement lock and reads the terms.
func (t *tx) Terms() (report.Terms, error) {
	if _, err := t.tx.Exec(t.ctx, `SELECT pg_advisory_xact_lock($1)`, settlementLock); err != nil {
		return report.Terms{}, fmt.Errorf("lock settlement terms: %w", err)
	}
	return readTerms(t.ctx, t.tx)
}

// SetShare records a stall's share from a day on.
func (t *tx) SetShare(s report.Share) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO tenant_shares (tenant_id, from_date, bp, set_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, from_date) DO UPDATE SET bp = excluded.bp, set_at = excluded.set_at`, s.TenantID, s.From, s.BP, ms(t.now))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return notFound("tenant", s.TenantID)
	}
	if err != nil {
		return fmt.Errorf("set share: %w", err)
	}
	return nil
}

// SetFee records a method's fee from a day on.
func (t *tx) SetFee(f report.Fee) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO method_fees (method, from_date, bp, set_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (method, from_date) DO UPDATE SET bp = excluded.bp, set_at = excluded.set_at`, f.Method, f.From, f.BP, ms(t.now))
	if err != nil {
		return fmt.Errorf("set fee: %w", err)
	}
	return nil
}

// ClosePeriod stores a closed period with its snapshot.
func (t *tx) ClosePeriod(c report.Closed) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO settlement_periods (month, from_date, to_date, tz, closed_at, snapshot) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.Month, c.From, c.To, c.TZ, ms(c.ClosedAt), string(c.Snapshot))
	if isUnique(err) {
		return domain.Errorf(domain.CodeConflict, "period %s is already closed", c.Month)
	}
	if err != nil {
		return fmt.Errorf("close period: %w", err)
	}
	return nil
}
