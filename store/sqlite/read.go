package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/posd/posd/store"

	"github.com/posd/posd/internal/domain"
)

type scanner interface{ Scan(...any) error }

const orderCols = `id, tenant_id, order_number, customer_name, status, total_amount, paid_amount, refunded_amount, cancel_reason, created_at, updated_at`

func scanOrder(r scanner) (*domain.Order, error) {
	var o domain.Order
	var status string
	var created, updated int64
	if err := r.Scan(&o.ID, &o.TenantID, &o.OrderNumber, &o.CustomerName, &status, &o.TotalAmount, &o.PaidAmount, &o.Refunded, &o.CancelReason, &created, &updated); err != nil {
		return nil, err
	}
	o.Status = domain.Status(status)
	o.CreatedAt, o.UpdatedAt = fromMS(created), fromMS(updated)
	return &o, nil
}

const paymentCols = `p.id, p.kind, p.order_id, o.tenant_id, COALESCE(p.counter_id, 0), o.order_number, p.method, p.amount, p.amount_paid, p.change_amount, p.status, p.reference, COALESCE(p.original_payment_id, 0), p.reason, p.refunded_amount, p.created_at`

func scanPayment(r scanner) (*domain.Payment, error) {
	var p domain.Payment
	var method string
	var created int64
	if err := r.Scan(&p.ID, &p.Kind, &p.OrderID, &p.TenantID, &p.CounterID, &p.OrderNumber, &method, &p.Amount, &p.AmountPaid, &p.Change, &p.Status, &p.Reference, &p.OriginalPaymentID, &p.Reason, &p.Refunded, &created); err != nil {
		return nil, err
	}
	p.Method = domain.Method(method)
	p.CreatedAt = fromMS(created)
	return &p, nil
}

const qrCols = `id, order_id, token, status, scanned_count, last_scanned_at, code`

func scanQR(r scanner) (*domain.QRCode, error) {
	var q domain.QRCode
	var last sql.NullInt64
	var code sql.NullString
	if err := r.Scan(&q.ID, &q.OrderID, &q.Token, &q.Status, &q.ScannedCount, &last, &code); err != nil {
		return nil, err
	}
	q.Code = code.String
	if last.Valid {
		t := fromMS(last.Int64)
		q.LastScanned = &t
	}
	return &q, nil
}

// Tenants lists every tenant.
func (s *Store) Tenants(ctx context.Context) ([]domain.Tenant, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, code, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	out := []domain.Tenant{}
	for rows.Next() {
		var t domain.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Code, &created); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		t.CreatedAt = fromMS(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Tenant reads one tenant.
func (s *Store) Tenant(ctx context.Context, id int64) (*domain.Tenant, error) {
	var t domain.Tenant
	var created int64
	err := s.rdb.QueryRowContext(ctx, `SELECT id, name, code, created_at FROM tenants WHERE id = ?`, id).Scan(&t.ID, &t.Name, &t.Code, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("tenant", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read tenant: %w", err)
	}
	t.CreatedAt = fromMS(created)
	return &t, nil
}

// Counters lists every kasir counter.
func (s *Store) Counters(ctx context.Context) ([]domain.Counter, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, name, created_at FROM counters ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list counters: %w", err)
	}
	defer rows.Close()
	out := []domain.Counter{}
	for rows.Next() {
		var c domain.Counter
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &created); err != nil {
			return nil, fmt.Errorf("list counters: %w", err)
		}
		c.CreatedAt = fromMS(created)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Order reads one order with its items, payments and QR code.
func (s *Store) Order(ctx context.Context, id int64) (*domain.Order, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	defer tx.Rollback()
	o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	orders := []domain.Order{*o}
	if err := fillOrders(ctx, tx, orders); err != nil {
		return nil, err
	}
	return &orders[0], nil
}

// Orders lists orders oldest first, with items, payments and QR codes, and
// the id of the newest event in the log as of the same snapshot: a client
// that resumes its socket from that id misses nothing that happened after.
func (s *Store) Orders(ctx context.Context, f store.OrderFilter) ([]domain.Order, int64, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	defer tx.Rollback()
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&head); err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	var where []string
	var args []any
	if f.TenantID != 0 {
		where = append(where, "tenant_id = ?")
		args = append(args, f.TenantID)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if f.Unpaid {
		where = append(where, "paid_amount = 0")
	}
	q := `SELECT ` + orderCols + ` FROM orders`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	// The newest `limit` orders, returned oldest first.
	q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
	args = append(args, limit)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	out := []domain.Order{}
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, *o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	if err := fillOrders(ctx, tx, out); err != nil {
		return nil, 0, err
	}
	return out, head, nil
}

// fillOrders loads items, payments and QR codes of orders in three queries.
func fillOrders(ctx context.Context, tx *sql.Tx, orders []domain.Order) error {
	if len(orders) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(orders))
	args := make([]any, len(orders))
	for i := range orders {
		idx[orders[i].ID] = i
		args[i] = orders[i].ID
		orders[i].Items = []domain.Item{}
	}
	in := placeholders(len(orders))
	rows, err := tx.QueryContext(ctx, `SELECT id, order_id, name, quantity, unit_price, notes, subtotal FROM order_items WHERE order_id IN (`+in+`) ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	for rows.Next() {
		var it domain.Item
		var oid int64
		if err := rows.Scan(&it.ID, &oid, &it.Name, &it.Quantity, &it.UnitPrice, &it.Notes, &it.Subtotal); err != nil {
			rows.Close()
			return fmt.Errorf("read items: %w", err)
		}
		o := &orders[idx[oid]]
		o.Items = append(o.Items, it)
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT `+paymentCols+` FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.order_id IN (`+in+`) ORDER BY p.id`, args...)
	if err != nil {
		return fmt.Errorf("read payments: %w", err)
	}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			rows.Close()
			return fmt.Errorf("read payments: %w", err)
		}
		o := &orders[idx[p.OrderID]]
		o.Payments = append(o.Payments, *p)
	}
	rows.Close()
	rows, err = tx.QueryContext(ctx, `SELECT `+qrCols+` FROM qr_codes WHERE order_id IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("read qr codes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		q, err := scanQR(rows)
		if err != nil {
			return fmt.Errorf("read qr codes: %w", err)
		}
		orders[idx[q.OrderID]].QR = q
	}
	return rows.Err()
}

// Payments lists payments and refunds in id order.
func (s *Store) Payments(ctx context.Context, f store.PaymentFilter) ([]domain.Payment, error) {
	q := `SELECT ` + paymentCols + ` FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id > ?`
	args := []any{f.SinceID}
	if !f.SinceTime.IsZero() {
		q += ` AND p.created_at >= ?`
		args = append(args, ms(f.SinceTime))
	}
	if f.CounterID != 0 {
		// A refund carries no counter of its own: it belongs to its payment's.
		q += ` AND (p.counter_id = ? OR p.original_payment_id IN (SELECT id FROM payments WHERE counter_id = ?))`
		args = append(args, f.CounterID, f.CounterID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	q += ` ORDER BY p.id LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	defer rows.Close()
	out := []domain.Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, fmt.Errorf("list payments: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// Idempotency returns the stored response for tokenID's key, or nil. A
// key stored before keys were per token answers too (its request hash
// names its token, so another token's request does not match it).
func (s *Store) Idempotency(ctx context.Context, tokenID int64, key string) (*store.IdempotentResult, error) {
	var r store.IdempotentResult
	err := s.rdb.QueryRowContext(ctx, `SELECT request_hash, status, body FROM idempotency_keys WHERE token_id IN (?, ?) AND key = ? ORDER BY token_id DESC LIMIT 1`,
		tokenID, legacyKeyOwner, key).Scan(&r.RequestHash, &r.Status, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	return &r, nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}
