package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posd/posd/store"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// Tx is one write transaction. Its methods are the store operations the
// service composes; all of them are plain SQL that PostgreSQL also speaks.
type Tx struct {
	s      *Store
	ctx    context.Context
	now    time.Time
	events []domain.Event
}

// Now is the time of the transaction: every row it writes carries it.
func (t *Tx) Now() time.Time { return t.now }

// exec and row run q as a statement prepared once on the writer connection:
// SQLite would otherwise parse every statement of every order again.
func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(t.ctx, args...)
}

func (t *Tx) row(q string, args ...any) *sql.Row {
	st, err := t.stmt(q)
	if err != nil {
		return t.s.wconn.QueryRowContext(t.ctx, q, args...) // carries err on Scan
	}
	return st.QueryRowContext(t.ctx, args...)
}

func (t *Tx) stmt(q string) (*sql.Stmt, error) {
	return t.s.prepared(t.ctx, q)
}

// InsertTenant creates a tenant; a duplicate code is a conflict.
func (t *Tx) InsertTenant(name, code string) (domain.Tenant, error) {
	res, err := t.exec(`INSERT INTO tenants (name, code, created_at) VALUES (?, ?, ?)`, name, code, ms(t.now))
	if isUnique(err) {
		return domain.Tenant{}, domain.Errorf(domain.CodeConflict, "a tenant with code %s already exists", code)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("insert tenant: %w", err)
	}
	id, _ := res.LastInsertId()
	return domain.Tenant{ID: id, Name: name, Code: code, CreatedAt: t.now.UTC()}, nil
}

// InsertCounter creates a kasir counter.
func (t *Tx) InsertCounter(name string) (domain.Counter, error) {
	res, err := t.exec(`INSERT INTO counters (name, created_at) VALUES (?, ?)`, name, ms(t.now))
	if err != nil {
		return domain.Counter{}, fmt.Errorf("insert counter: %w", err)
	}
	id, _ := res.LastInsertId()
	return domain.Counter{ID: id, Name: name, CreatedAt: t.now.UTC()}, nil
}

// CounterExists reports whether counter id exists.
func (t *Tx) CounterExists(id int64) (bool, error) {
	var n int
	err := t.row(`SELECT COUNT(*) FROM counters WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

// NextOrderNumber takes the tenant's next sequence number. Reading it and
// writing it back in two statements is safe because the transaction holds
// SQLite's write lock from its BEGIN IMMEDIATE. (UPDATE … RETURNING would
// be one statement, but SQLite builds a temporary table for every RETURNING.)
func (t *Tx) NextOrderNumber(tenantID int64) (seq int64, number string, err error) {
	var code string
	err = t.row(`SELECT order_seq + 1, code FROM tenants WHERE id = ?`, tenantID).Scan(&seq, &code)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", notFound("tenant", tenantID)
	}
	if err != nil {
		return 0, "", fmt.Errorf("next order number: %w", err)
	}
	if _, err := t.exec(`UPDATE tenants SET order_seq = ? WHERE id = ?`, seq, tenantID); err != nil {
		return 0, "", fmt.Errorf("next order number: %w", err)
	}
	return seq, domain.OrderNumber(code, seq), nil
}

// InsertOrder writes o with its items, QR code and the first line of its
// status history, filling in the ids.
func (t *Tx) InsertOrder(o *domain.Order, seq int64) error {
	res, err := t.exec(`INSERT INTO orders (tenant_id, seq, order_number, customer_name, status, total_amount, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, o.TenantID, seq, o.OrderNumber, o.CustomerName, string(o.Status), o.TotalAmount, ms(o.CreatedAt), ms(o.UpdatedAt))
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	o.ID, _ = res.LastInsertId()
	if err := t.RecordStatus(o.ID, o.TenantID, o.Status, o.CreatedAt); err != nil {
		return err
	}
	for i := range o.Items {
		it := &o.Items[i]
		res, err := t.exec(`INSERT INTO order_items (order_id, name, quantity, unit_price, notes, subtotal) VALUES (?, ?, ?, ?, ?, ?)`,
			o.ID, it.Name, it.Quantity, it.UnitPrice, it.Notes, it.Subtotal)
		if err != nil {
			return fmt.Errorf("insert order item: %w", err)
		}
		it.ID, _ = res.LastInsertId()
	}
	if o.QR != nil {
		res, err := t.exec(`INSERT INTO qr_codes (order_id, token, status, code) VALUES (?, ?, ?, ?)`, o.ID, o.QR.Token, o.QR.Status, nullString(o.QR.Code))
		if err != nil {
			return fmt.Errorf("insert qr code: %w", err)
		}
		o.QR.ID, _ = res.LastInsertId()
		o.QR.OrderID = o.ID
	}
	return nil
}

// Order reads an order's own row (no items) inside the transaction.
func (t *Tx) Order(id int64) (*domain.Order, error) {
	o, err := scanOrder(t.row(`SELECT `+orderCols+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order", id)
	}
	return o, err
}

// UpdateOrder writes the mutable fields of o.
func (t *Tx) UpdateOrder(o *domain.Order) error {
	o.UpdatedAt = t.now.UTC()
	_, err := t.exec(`UPDATE orders SET status = ?, paid_amount = ?, refunded_amount = ?, cancel_reason = ?, updated_at = ? WHERE id = ?`,
		string(o.Status), o.PaidAmount, o.Refunded, o.CancelReason, ms(o.UpdatedAt), o.ID)
	if err != nil {
		return fmt.Errorf("update order %d: %w", o.ID, err)
	}
	return nil
}

// SuccessfulPayment returns the order's standing payment, or nil.
func (t *Tx) SuccessfulPayment(orderID int64) (*domain.Payment, error) {
	p, err := scanPayment(t.row(`SELECT `+paymentCols+` FROM payments p JOIN orders o ON o.id = p.order_id
		WHERE p.order_id = ? AND p.kind = 'payment' AND p.status = 'success'`, orderID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return p, err
}

// Payment reads one payments row.
func (t *Tx) Payment(id int64) (*domain.Payment, error) {
	p, err := scanPayment(t.row(`SELECT `+paymentCols+` FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("payment", id)
	}
	return p, err
}

// InsertPayment writes a payment or refund row, filling in its id.
func (t *Tx) InsertPayment(p *domain.Payment) error {
	var counter, orig any
	if p.CounterID != 0 {
		counter = p.CounterID
	}
	if p.OriginalPaymentID != 0 {
		orig = p.OriginalPaymentID
	}
	res, err := t.exec(`INSERT INTO payments (kind, order_id, counter_id, method, amount, amount_paid, change_amount, status, reference, original_payment_id, reason, created_at, tenant_id)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, (SELECT tenant_id FROM orders WHERE id = ?2))`,
		p.Kind, p.OrderID, counter, string(p.Method), p.Amount, p.AmountPaid, p.Change, p.Status, p.Reference, orig, p.Reason, ms(p.CreatedAt))
	if isUnique(err) && p.Kind == domain.KindPayment {
		return domain.Errorf(domain.CodeConflict, "order %d is already paid", p.OrderID)
	}
	if err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	p.ID, _ = res.LastInsertId()
	return nil
}

// AddRefunded records amount more refunded from payment id.
func (t *Tx) AddRefunded(paymentID, amount int64) error {
	_, err := t.exec(`UPDATE payments SET refunded_amount = refunded_amount + ? WHERE id = ?`, amount, paymentID)
	if err != nil {
		return fmt.Errorf("add refunded: %w", err)
	}
	return nil
}

// QRByToken finds a QR code by its token.
func (t *Tx) QRByToken(token string) (*domain.QRCode, error) {
	q, err := scanQR(t.row(`SELECT `+qrCols+` FROM qr_codes WHERE token = ?`, token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.CodeNotFound, "unknown QR token")
	}
	return q, err
}

// QRByCode finds a QR code by its pickup code.
func (t *Tx) QRByCode(code string) (*domain.QRCode, error) {
	q, err := scanQR(t.row(`SELECT `+qrCols+` FROM qr_codes WHERE code = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, domain.Errorf(domain.CodeNotFound, "unknown pickup code")
	}
	return q, err
}

// nullString stores "" as NULL, so that codes left empty never collide in
// a unique index.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// RecordScan increments a QR code's scan count.
func (t *Tx) RecordScan(q *domain.QRCode) error {
	now := t.now.UTC()
	err := t.row(`UPDATE qr_codes SET scanned_count = scanned_count + 1, status = ?, last_scanned_at = ? WHERE id = ? RETURNING scanned_count`,
		domain.QRScanned, ms(now), q.ID).Scan(&q.ScannedCount)
	if err != nil {
		return fmt.Errorf("record scan: %w", err)
	}
	q.Status = domain.QRScanned
	q.LastScanned = &now
	return nil
}

// AppendEvent writes ev to the log in this transaction. Its id is assigned
// here; the event is published once the transaction commits.
func (t *Tx) AppendEvent(ev domain.Event) (domain.Event, error) {
	if ev.Timestamp.IsZero() {
		ev.Timestamp = t.now.UTC()
	}
	var data any
	if ev.Data != nil {
		data = string(ev.Data)
	}
	res, err := t.exec(`INSERT INTO events (name, type, ts, data, severity, message, rooms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.Name, ev.Type, ms(ev.Timestamp), data, ev.Severity, ev.Message, strings.Join(ev.Rooms, ","), ms(t.now))
	if err != nil {
		return ev, fmt.Errorf("append event: %w", err)
	}
	if ev.ID, err = res.LastInsertId(); err != nil {
		return ev, fmt.Errorf("append event: %w", err)
	}
	if len(ev.Rooms) > 0 {
		// One statement for all the event's rooms; there are one to three.
		args := make([]any, 0, 2*len(ev.Rooms))
		for _, r := range ev.Rooms {
			args = append(args, r, ev.ID)
		}
		if _, err := t.exec(eventRoomsInsert(len(ev.Rooms)), args...); err != nil {
			return ev, fmt.Errorf("append event room: %w", err)
		}
	}
	if _, err := t.exec(countEvent, report.BucketOf(ev.Timestamp), domain.TenantOf(ev.Rooms), ev.Name); err != nil {
		return ev, fmt.Errorf("count event: %w", err)
	}
	t.events = append(t.events, ev)
	return ev, nil
}

// countEvent adds one to the event's quarter-hour count, which the event
// report reads: the count outlives the event, which retention prunes.
const countEvent = `INSERT INTO event_counts (bucket, tenant_id, name, n) VALUES (?, ?, ?, 1)
	ON CONFLICT (bucket, tenant_id, name) DO UPDATE SET n = n + 1`

// eventRoomsInsert is the INSERT of n event_rooms rows. The texts for the
// usual counts are built once: the statement cache is keyed by text.
func eventRoomsInsert(n int) string {
	if n < len(eventRoomsInserts) {
		return eventRoomsInserts[n]
	}
	return eventRoomsSQL(n)
}

var eventRoomsInserts = [...]string{1: eventRoomsSQL(1), 2: eventRoomsSQL(2), 3: eventRoomsSQL(3), 4: eventRoomsSQL(4)}

func eventRoomsSQL(n int) string {
	return `INSERT INTO event_rooms (room, event_id) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, n-1)
}

// legacyKeyOwner is the token_id of keys stored before keys were scoped
// per token (migration 0005): every token's lookup also reads them.
const legacyKeyOwner = -1

// PutIdempotency stores the response of tokenID's keyed request in the
// transaction that acted on it, so the record exists if and only if the
// change does. A concurrent request with the same token and key makes this
// fail as a conflict.
func (t *Tx) PutIdempotency(tokenID int64, key string, r store.IdempotentResult) error {
	_, err := t.exec(`INSERT INTO idempotency_keys (token_id, key, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		tokenID, key, r.RequestHash, r.Status, r.Body, ms(t.now))
	if isUnique(err) {
		return store.ErrIdempotencyRace
	}
	if err != nil {
		return fmt.Errorf("store idempotency key: %w", err)
	}
	return nil
}

// IdempotencyUsed reports whether tokenID's key is already stored. Checked
// inside the write transaction (under the writer lock), it stops a twin
// request from acting at all once the first one has committed.
func (t *Tx) IdempotencyUsed(tokenID int64, key string) (bool, error) {
	var n int
	if err := t.row(`SELECT COUNT(*) FROM idempotency_keys WHERE token_id IN (?, ?) AND key = ?`, tokenID, legacyKeyOwner, key).Scan(&n); err != nil {
		return false, fmt.Errorf("read idempotency key: %w", err)
	}
	return n > 0, nil
}
