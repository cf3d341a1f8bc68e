package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// The report reads. Each is one indexed statement: payments by
// payments_created (which covers the sums; orders are read by their key
// for the stall), the status history by order_status_history_at, event
// counts by their key, whose first column is the bucket.

const moneySums = `SELECT o.tenant_id, p.kind, p.method, COUNT(*), SUM(p.amount),
		COALESCE(SUM(CASE WHEN p.kind = 'refund' AND op.created_at < ? THEN p.amount ELSE 0 END), 0)
	FROM payments p INDEXED BY payments_created
	JOIN orders o ON o.id = p.order_id
	LEFT JOIN payments op ON op.id = p.original_payment_id
	WHERE p.created_at >= ? AND p.created_at < ? AND p.status = 'success' AND (? = 0 OR o.tenant_id = ?)
	GROUP BY o.tenant_id, p.kind, p.method`

// MoneySums sums payments and refunds per stall, kind and method.
func (s *Store) MoneySums(ctx context.Context, w report.Window, priorBefore time.Time) ([]report.MoneyRow, error) {
	rows, err := s.rdb.QueryContext(ctx, moneySums, ms(priorBefore), ms(w.Start), ms(w.End), w.TenantID, w.TenantID)
	if err != nil {
		return nil, fmt.Errorf("read sales: %w", err)
	}
	defer rows.Close()
	var out []report.MoneyRow
	for rows.Next() {
		var r report.MoneyRow
		if err := rows.Scan(&r.TenantID, &r.Kind, &r.Method, &r.Count, &r.Amount, &r.Prior); err != nil {
			return nil, fmt.Errorf("read sales: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
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

// orderTimes starts from the 'pending' rows in the window (one per order
// created in it) and looks up each later status by the history's key.
const orderTimes = `SELECT p.order_id, p.tenant_id, p.at,
		COALESCE((SELECT x.at FROM order_status_history x WHERE x.order_id = p.order_id AND x.status = 'preparing'), 0),
		COALESCE((SELECT x.at FROM order_status_history x WHERE x.order_id = p.order_id AND x.status = 'ready'), 0),
		COALESCE((SELECT x.at FROM order_status_history x WHERE x.order_id = p.order_id AND x.status = 'completed'), 0),
		COALESCE((SELECT x.at FROM order_status_history x WHERE x.order_id = p.order_id AND x.status = 'cancelled'), 0)
	FROM order_status_history p
	WHERE p.status = 'pending' AND p.at >= ? AND p.at < ? AND (? = 0 OR p.tenant_id = ?)`

// OrderTimes is the status history of the orders created in the window.
func (s *Store) OrderTimes(ctx context.Context, w report.Window) ([]report.OrderTimes, error) {
	rows, err := s.rdb.QueryContext(ctx, orderTimes, ms(w.Start), ms(w.End), w.TenantID, w.TenantID)
	if err != nil {
		return nil, fmt.Errorf("read order times: %w", err)
	}
	defer rows.Close()
	var out []report.OrderTimes
	for rows.Next() {
		var o report.OrderTimes
		if err := rows.Scan(&o.OrderID, &o.TenantID, &o.Created, &o.Preparing, &o.Ready, &o.Completed, &o.Cancelled); err != nil {
			return nil, fmt.Errorf("read order times: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

const eventCounts = `SELECT bucket, tenant_id, name, n FROM event_counts
	WHERE bucket >= ? AND bucket < ? AND (? = 0 OR tenant_id IN (?, 0))`

// EventCounts lists the quarter-hour event counts in the window.
func (s *Store) EventCounts(ctx context.Context, w report.Window) ([]report.EventBucket, error) {
	rows, err := s.rdb.QueryContext(ctx, eventCounts, ms(w.Start), ms(w.End), w.TenantID, w.TenantID)
	if err != nil {
		return nil, fmt.Errorf("read event counts: %w", err)
	}
	defer rows.Close()
	var out []report.EventBucket
	for rows.Next() {
		var b report.EventBucket
		if err := rows.Scan(&b.Start, &b.TenantID, &b.Name, &b.Count); err != nil {
			return nil, fmt.Errorf("read event counts: %w", err)
		}
		out = append(out, b)
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

// RecordStatus adds a line to an order's status history.
func (t *Tx) RecordStatus(orderID, tenantID int64, status domain.Status, at time.Time) error {
	if _, err := t.exec(`INSERT INTO order_status_history (order_id, tenant_id, status, at) VALUES (?, ?, ?, ?)`, orderID, tenantID, string(status), ms(at)); err != nil {
		return fmt.Errorf("record status of order %d: %w", orderID, err)
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
