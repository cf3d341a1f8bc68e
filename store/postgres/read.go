package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

const orderCols = `id, tenant_id, order_number, customer_name, status, total_amount, paid_amount, refunded_amount, cancel_reason, created_at, updated_at`

func scanOrder(r pgx.Row) (*domain.Order, error) {
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

func scanPayment(r pgx.Row) (*domain.Payment, error) {
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

func scanQR(r pgx.Row) (*domain.QRCode, error) {
	var q domain.QRCode
	var last *int64
	var code *string
	if err := r.Scan(&q.ID, &q.OrderID, &q.Token, &q.Status, &q.ScannedCount, &last, &code); err != nil {
		return nil, err
	}
	if code != nil {
		q.Code = *code
	}
	if last != nil {
		t := fromMS(*last)
		q.LastScanned = &t
	}
	return &q, nil
}

// Tenants lists every tenant.
func (s *Store) Tenants(ctx context.Context) ([]domain.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, code, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, readErr("list tenants", err)
	}
	defer rows.Close()
	out := []domain.Tenant{}
	for rows.Next() {
		var t domain.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Code, &created); err != nil {
			return nil, readErr("list tenants", err)
		}
		t.CreatedAt = fromMS(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("list tenants", err)
	}
	return out, nil
}

// Tenant reads one tenant.
func (s *Store) Tenant(ctx context.Context, id int64) (*domain.Tenant, error) {
	var t domain.Tenant
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT id, name, code, created_at FROM tenants WHERE id = $1`, id).Scan(&t.ID, &t.Name, &t.Code, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("tenant", id)
	}
	if err != nil {
		return nil, readErr("read tenant", err)
	}
	t.CreatedAt = fromMS(created)
	return &t, nil
}

// Counters lists every kasir counter.
func (s *Store) Counters(ctx context.Context) ([]domain.Counter, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at FROM counters ORDER BY id`)
	if err != nil {
		return nil, readErr("list counters", err)
	}
	defer rows.Close()
	out := []domain.Counter{}
	for rows.Next() {
		var c domain.Counter
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &created); err != nil {
			return nil, readErr("list counters", err)
		}
		c.CreatedAt = fromMS(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("list counters", err)
	}
	return out, nil
}

// snapshot runs fn in a read-only REPEATABLE READ transaction: every
// statement in it reads the same committed state.
func (s *Store) snapshot(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return readErr(what, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		var de *domain.Error
		if errors.As(err, &de) {
			return err
		}
		return readErr(what, err)
	}
	return nil
}

// Order reads one order with its items, payments and QR code.
func (s *Store) Order(ctx context.Context, id int64) (*domain.Order, error) {
	var out *domain.Order
	err := s.snapshot(ctx, "read order", func(tx pgx.Tx) error {
		o, err := scanOrder(tx.QueryRow(ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("order", id)
		}
		if err != nil {
			return err
		}
		orders := []domain.Order{*o}
		if err := fillOrders(ctx, tx, orders); err != nil {
			return err
		}
		out = &orders[0]
		return nil
	})
	return out, err
}

// Orders lists orders oldest first, with items, payments and QR codes, and
// the id of the newest event in the log as of the same snapshot: a client
// that resumes its socket from that id misses nothing that happened after.
func (s *Store) Orders(ctx context.Context, f store.OrderFilter) ([]domain.Order, int64, error) {
	var out []domain.Order
	var head int64
	err := s.snapshot(ctx, "list orders", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT last_id FROM log_head`).Scan(&head); err != nil {
			return err
		}
		var where []string
		var args []any
		arg := func(v any) string {
			args = append(args, v)
			return fmt.Sprintf("$%d", len(args))
		}
		if f.TenantID != 0 {
			where = append(where, "tenant_id = "+arg(f.TenantID))
		}
		if len(f.Statuses) > 0 {
			st := make([]string, len(f.Statuses))
			for i, v := range f.Statuses {
				st[i] = string(v)
			}
			where = append(where, "status = ANY("+arg(st)+")")
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
		q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ` + arg(limit) + `) AS newest ORDER BY id`
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out = []domain.Order{}
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, *o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		return fillOrders(ctx, tx, out)
	})
	if err != nil {
		return nil, 0, err
	}
	return out, head, nil
}

// fillOrders loads items, payments and QR codes of orders in one round
// trip (three queries in a batch).
func fillOrders(ctx context.Context, tx pgx.Tx, orders []domain.Order) error {
	if len(orders) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(orders))
	ids := make([]int64, len(orders))
	for i := range orders {
		idx[orders[i].ID] = i
		ids[i] = orders[i].ID
		orders[i].Items = []domain.Item{}
	}
	var b pgx.Batch
	b.Queue(`SELECT id, order_id, name, quantity, unit_price, notes, subtotal FROM order_items WHERE order_id = ANY($1) ORDER BY id`, ids)
	b.Queue(`SELECT `+paymentCols+` FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.order_id = ANY($1) ORDER BY p.id`, ids)
	b.Queue(`SELECT `+qrCols+` FROM qr_codes WHERE order_id = ANY($1)`, ids)
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	rows, err := br.Query()
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read items: %w", err)
	}
	rows, err = br.Query()
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read payments: %w", err)
	}
	rows, err = br.Query()
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
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read qr codes: %w", err)
	}
	return nil
}

// Payments lists payments and refunds in id order.
func (s *Store) Payments(ctx context.Context, f store.PaymentFilter) ([]domain.Payment, error) {
	q := `SELECT ` + paymentCols + ` FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id > $1`
	args := []any{f.SinceID}
	if !f.SinceTime.IsZero() {
		args = append(args, ms(f.SinceTime))
		q += fmt.Sprintf(` AND p.created_at >= $%d`, len(args))
	}
	if f.CounterID != 0 {
		// A refund carries no counter of its own: it belongs to its payment's.
		args = append(args, f.CounterID)
		n := len(args)
		q += fmt.Sprintf(` AND (p.counter_id = $%d OR p.original_payment_id IN (SELECT id FROM payments WHERE counter_id = $%d))`, n, n)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY p.id LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, readErr("list payments", err)
	}
	defer rows.Close()
	out := []domain.Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, readErr("list payments", err)
		}
		out = append(out, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, readErr("list payments", err)
	}
	return out, nil
}

// Idempotency returns the stored response for tokenID's key, or nil. A
// key stored before keys were per token answers too (its request hash
// names its token, so another token's request does not match it).
func (s *Store) Idempotency(ctx context.Context, tokenID int64, key string) (*store.IdempotentResult, error) {
	var r store.IdempotentResult
	var status int64
	err := s.pool.QueryRow(ctx, `SELECT request_hash, status, body FROM idempotency_keys WHERE token_id IN ($1, $2) AND key = $3 ORDER BY token_id DESC LIMIT 1`,
		tokenID, legacyKeyOwner, key).Scan(&r.RequestHash, &status, &r.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, readErr("read idempotency key", err)
	}
	r.Status = int(status)
	return &r, nil
}
