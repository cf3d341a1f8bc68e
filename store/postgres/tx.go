package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/store"
)

// tx is one write transaction (READ COMMITTED). Every method that reads
// something the service decides on locks it for the rest of the
// transaction, so two nodes cannot both decide on the same state.
type tx struct {
	s      *Store
	ctx    context.Context
	tx     pgx.Tx
	now    time.Time
	events []domain.Event
	// state is where this transaction stands in the store's publish
	// queue; queued is set once it is in it (its first AppendEvent).
	state  pubState
	queued bool
}

// Now is the time of the transaction: every row it writes carries it.
func (t *tx) Now() time.Time { return t.now }

// InsertTenant creates a tenant; a duplicate code is a conflict.
func (t *tx) InsertTenant(name, code string) (domain.Tenant, error) {
	var id int64
	err := t.tx.QueryRow(t.ctx, `INSERT INTO tenants (name, code, created_at) VALUES ($1, $2, $3) RETURNING id`, name, code, ms(t.now)).Scan(&id)
	if isUnique(err) {
		return domain.Tenant{}, domain.Errorf(domain.CodeConflict, "a tenant with code %s already exists", code)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("insert tenant: %w", err)
	}
	return domain.Tenant{ID: id, Name: name, Code: code, CreatedAt: t.now.UTC()}, nil
}

// InsertCounter creates a kasir counter.
func (t *tx) InsertCounter(name string) (domain.Counter, error) {
	var id int64
	if err := t.tx.QueryRow(t.ctx, `INSERT INTO counters (name, created_at) VALUES ($1, $2) RETURNING id`, name, ms(t.now)).Scan(&id); err != nil {
		return domain.Counter{}, fmt.Errorf("insert counter: %w", err)
	}
	return domain.Counter{ID: id, Name: name, CreatedAt: t.now.UTC()}, nil
}

// CounterExists reports whether counter id exists.
func (t *tx) CounterExists(id int64) (bool, error) {
	var ok bool
	if err := t.tx.QueryRow(t.ctx, `SELECT EXISTS (SELECT 1 FROM counters WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("read counter: %w", err)
	}
	return ok, nil
}

// NextOrderNumber takes the tenant's next sequence number in one UPDATE:
// the tenant's row stays locked until commit, so concurrent orders of one
// tenant, on any node, get consecutive numbers, and a rolled-back order
// gives its number back.
func (t *tx) NextOrderNumber(tenantID int64) (seq int64, number string, err error) {
	var code string
	err = t.tx.QueryRow(t.ctx, `UPDATE tenants SET order_seq = order_seq + 1 WHERE id = $1 RETURNING order_seq, code`, tenantID).Scan(&seq, &code)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", notFound("tenant", tenantID)
	}
	if err != nil {
		return 0, "", fmt.Errorf("next order number: %w", err)
	}
	return seq, domain.OrderNumber(code, seq), nil
}

// InsertOrder writes o with its items, QR code and the first line of its
// status history, filling in the ids. All but the order's row go in one
// round trip (a batch).
func (t *tx) InsertOrder(o *domain.Order, seq int64) error {
	err := t.tx.QueryRow(t.ctx, `INSERT INTO orders (tenant_id, seq, order_number, customer_name, status, total_amount, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		o.TenantID, seq, o.OrderNumber, o.CustomerName, string(o.Status), o.TotalAmount, ms(o.CreatedAt), ms(o.UpdatedAt)).Scan(&o.ID)
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	var b pgx.Batch
	b.Queue(recordStatus, o.ID, o.TenantID, string(o.Status), ms(o.CreatedAt))
	for i := range o.Items {
		it := &o.Items[i]
		b.Queue(`INSERT INTO order_items (order_id, name, quantity, unit_price, notes, subtotal) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			o.ID, it.Name, it.Quantity, it.UnitPrice, it.Notes, it.Subtotal)
	}
	if o.QR != nil {
		var code *string // NULL when empty: codes left empty never collide in the unique index
		if o.QR.Code != "" {
			code = &o.QR.Code
		}
		b.Queue(`INSERT INTO qr_codes (order_id, token, status, code) VALUES ($1, $2, $3, $4) RETURNING id`, o.ID, o.QR.Token, o.QR.Status, code)
	}
	br := t.tx.SendBatch(t.ctx, &b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("record status of order %d: %w", o.ID, err)
	}
	for i := range o.Items {
		if err := br.QueryRow().Scan(&o.Items[i].ID); err != nil {
			br.Close()
			return fmt.Errorf("insert order item: %w", err)
		}
	}
	if o.QR != nil {
		if err := br.QueryRow().Scan(&o.QR.ID); err != nil {
			br.Close()
			return fmt.Errorf("insert qr code: %w", err)
		}
		o.QR.OrderID = o.ID
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

// Order reads an order's own row (no items) and locks it until commit:
// whatever the service decides from it (paid? cancelled?) stays true.
func (t *tx) Order(id int64) (*domain.Order, error) {
	o, err := scanOrder(t.tx.QueryRow(t.ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("order", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read order: %w", err)
	}
	return o, nil
}

// UpdateOrder writes the mutable fields of o.
func (t *tx) UpdateOrder(o *domain.Order) error {
	o.UpdatedAt = t.now.UTC()
	_, err := t.tx.Exec(t.ctx, `UPDATE orders SET status = $1, paid_amount = $2, refunded_amount = $3, cancel_reason = $4, updated_at = $5 WHERE id = $6`,
		string(o.Status), o.PaidAmount, o.Refunded, o.CancelReason, ms(o.UpdatedAt), o.ID)
	if err != nil {
		return fmt.Errorf("update order %d: %w", o.ID, err)
	}
	return nil
}

// SuccessfulPayment returns the order's standing payment, or nil. The
// service asks it with the order locked (Tx.Order), and every change to an
// order's payments takes that lock first, so the answer holds to commit.
func (t *tx) SuccessfulPayment(orderID int64) (*domain.Payment, error) {
	p, err := scanPayment(t.tx.QueryRow(t.ctx, `SELECT `+paymentCols+` FROM payments p JOIN orders o ON o.id = p.order_id
		WHERE p.order_id = $1 AND p.kind = 'payment' AND p.status = 'success'`, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read payment: %w", err)
	}
	return p, nil
}

// Payment reads one payments row and locks it until commit, with its
// order. The order is locked first, as every other write path does
// (Tx.Order before anything of its payments), so a refund and a cancel of
// the same order queue instead of deadlocking.
func (t *tx) Payment(id int64) (*domain.Payment, error) {
	var oid int64
	err := t.tx.QueryRow(t.ctx, `SELECT o.id FROM orders o JOIN payments p ON p.order_id = o.id WHERE p.id = $1 FOR UPDATE OF o`, id).Scan(&oid)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("payment", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read payment: %w", err)
	}
	p, err := scanPayment(t.tx.QueryRow(t.ctx, `SELECT `+paymentCols+` FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id = $1 FOR UPDATE OF p`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("payment", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read payment: %w", err)
	}
	return p, nil
}

// InsertPayment writes a payment or refund row, filling in its id. A
// second successful payment of an order is refused by the database's
// unique index whatever the service checked: a conflict.
func (t *tx) InsertPayment(p *domain.Payment) error {
	var counter, orig *int64
	if p.CounterID != 0 {
		counter = &p.CounterID
	}
	if p.OriginalPaymentID != 0 {
		orig = &p.OriginalPaymentID
	}
	err := t.tx.QueryRow(t.ctx, `INSERT INTO payments (kind, order_id, counter_id, method, amount, amount_paid, change_amount, status, reference, original_payment_id, reason, created_at, tenant_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, (SELECT tenant_id FROM orders WHERE id = $2)) RETURNING id`,
		p.Kind, p.OrderID, counter, string(p.Method), p.Amount, p.AmountPaid, p.Change, p.Status, p.Reference, orig, p.Reason, ms(p.CreatedAt)).Scan(&p.ID)
	if isUnique(err) && p.Kind == domain.KindPayment {
		return domain.Errorf(domain.CodeConflict, "order %d is already paid", p.OrderID)
	}
	if err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	return nil
}

// AddRefunded records amount more refunded from payment id. The table's
// CHECK (refunded_amount <= amount) refuses an over-refund even if a
// caller skipped its check.
func (t *tx) AddRefunded(paymentID, amount int64) error {
	if _, err := t.tx.Exec(t.ctx, `UPDATE payments SET refunded_amount = refunded_amount + $1 WHERE id = $2`, amount, paymentID); err != nil {
		return fmt.Errorf("add refunded: %w", err)
	}
	return nil
}

// QRByToken finds a QR code by its token.
func (t *tx) QRByToken(token string) (*domain.QRCode, error) {
	q, err := scanQR(t.tx.QueryRow(t.ctx, `SELECT `+qrCols+` FROM qr_codes WHERE token = $1`, token))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.CodeNotFound, "unknown QR token")
	}
	if err != nil {
		return nil, fmt.Errorf("read qr code: %w", err)
	}
	return q, nil
}

// QRByCode finds a QR code by its pickup code.
func (t *tx) QRByCode(code string) (*domain.QRCode, error) {
	q, err := scanQR(t.tx.QueryRow(t.ctx, `SELECT `+qrCols+` FROM qr_codes WHERE code = $1`, code))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.CodeNotFound, "unknown pickup code")
	}
	if err != nil {
		return nil, fmt.Errorf("read qr code: %w", err)
	}
	return q, nil
}

// RecordScan increments a QR code's scan count.
func (t *tx) RecordScan(q *domain.QRCode) error {
	now := t.now.UTC()
	err := t.tx.QueryRow(t.ctx, `UPDATE qr_codes SET scanned_count = scanned_count + 1, status = $1, last_scanned_at = $2 WHERE id = $3 RETURNING scanned_count`,
		domain.QRScanned, ms(now), q.ID).Scan(&q.ScannedCount)
	if err != nil {
		return fmt.Errorf("record scan: %w", err)
	}
	q.Status = domain.QRScanned
	q.LastScanned = &now
	return nil
}

// appendEvent takes the next id from log_head, which stays locked until
// this transaction ends, and writes the event and its rooms with it: one
// statement, one round trip, which also adds one to the event's
// quarter-hour count (read from h, so taken after the log lock: every
// writer takes the two locks in the same order). The lock is what makes ids contiguous and
// visible in id order; it is held from here to COMMIT, so the service
// appends its events last.
const appendEvent = `WITH h AS (
		UPDATE log_head SET last_id = last_id + 1 RETURNING last_id
	), e AS (
		INSERT INTO events (id, name, type, ts, data, severity, message, rooms, created_at)
		SELECT last_id, $1, $2, $3, $4, $5, $6, $7, $8 FROM h RETURNING id
	), r AS (
		INSERT INTO event_rooms (room, event_id)
		SELECT DISTINCT u.room, e.id FROM e CROSS JOIN unnest($9::text[]) AS u(room)
	), c AS (
		INSERT INTO event_counts (bucket, tenant_id, name, n)
		SELECT $10, $11, $1, 1 FROM h
		ON CONFLICT (bucket, tenant_id, name) DO UPDATE SET n = event_counts.n + 1
	)
	SELECT id FROM e`

// AppendEvent writes ev to the log in this transaction. Its id is assigned
// here; the event is handed to Options.Committed once the transaction
// commits.
func (t *tx) AppendEvent(ev domain.Event) (domain.Event, error) {
	if ev.Timestamp.IsZero() {
		ev.Timestamp = t.now.UTC()
	}
	var data *string
	if ev.Data != nil {
		d := string(ev.Data)
		data = &d
	}
	rooms := ev.Rooms
	if rooms == nil {
		rooms = []string{}
	}
	err := t.tx.QueryRow(t.ctx, appendEvent, ev.Name, ev.Type, ms(ev.Timestamp), data, ev.Severity, ev.Message,
		strings.Join(ev.Rooms, ","), ms(t.now), rooms, report.BucketOf(ev.Timestamp), domain.TenantOf(ev.Rooms)).Scan(&ev.ID)
	if err != nil {
		return ev, fmt.Errorf("append event: %w", err)
	}
	if !t.queued {
		// Still under the log lock: queue order is id order.
		t.s.pub.enqueue(t)
		t.queued = true
	}
	t.events = append(t.events, ev)
	return ev, nil
}

// legacyKeyOwner is the token_id of keys stored before keys were scoped
// per token (migration 0005): every token's lookup also reads them.
const legacyKeyOwner = -1

// idemLockSpace is the first key of the two-key advisory locks on
// idempotency keys ("idem"); the two-key space is apart from the one-key
// space the migration lock uses.
const idemLockSpace int32 = 0x6964656d

// PutIdempotency stores the response of tokenID's keyed request in the
// transaction that acted on it, so the record exists if and only if the
// change does. A concurrent request with the same token and key makes this
// fail with store.ErrIdempotencyRace.
func (t *tx) PutIdempotency(tokenID int64, key string, r store.IdempotentResult) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO idempotency_keys (token_id, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		tokenID, key, r.RequestHash, r.Status, r.Body, ms(t.now))
	if isUnique(err) {
		return store.ErrIdempotencyRace
	}
	if err != nil {
		return fmt.Errorf("store idempotency key: %w", err)
	}
	return nil
}

// IdempotencyUsed reports whether tokenID's key is already stored. It
// first takes a transaction-scoped advisory lock on the key, so that a
// twin request (same token, same key) on any node waits here until the
// first one commits, then sees its key and answers with its response
// instead of acting a second time. The lock is taken in a statement of
// its own: a READ COMMITTED statement reads as of its start, and would
// not see a commit it waited for.
func (t *tx) IdempotencyUsed(tokenID int64, key string) (bool, error) {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d:%s", tokenID, key)
	if _, err := t.tx.Exec(t.ctx, `SELECT pg_advisory_xact_lock($1, $2)`, idemLockSpace, int32(h.Sum32())); err != nil {
		return false, fmt.Errorf("lock idempotency key: %w", err)
	}
	var used bool
	if err := t.tx.QueryRow(t.ctx, `SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE token_id IN ($1, $2) AND key = $3)`,
		tokenID, legacyKeyOwner, key).Scan(&used); err != nil {
		return false, fmt.Errorf("read idempotency key: %w", err)
	}
	return used, nil
}
