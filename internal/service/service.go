// Package service holds posd's use cases and their scope rules. A write
// validates, then runs one store transaction that makes the change and
// appends its events; the store hands committed events to the hub. A read
// checks the caller's scope and returns what it may see. Nothing here
// touches a socket or knows HTTP.
package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// Writer is the store's write path.
type Writer interface {
	Write(ctx context.Context, fn func(store.Tx) error) error
}

// Service runs posd's use cases, reads and writes alike. Every method takes
// the caller's principal and refuses what it does not cover, so the API, the
// CLI and any report share one set of scope rules.
type Service struct {
	w      Writer
	r      Reader
	rep    ReportReader
	log    *slog.Logger
	limits domain.Limits
	hooks  Webhooks
	loc    *time.Location
	now    func() time.Time
}

// Config tunes a Service; the zero value is the defaults.
type Config struct {
	Logger *slog.Logger
	// Limits caps prices, quantities, order totals and payments; zero
	// fields take domain's defaults.
	Limits domain.Limits
	// Webhooks are managed through the service when set.
	Webhooks Webhooks
	// Location is the zone of the food court's local days, which every
	// report counts in (nil: UTC).
	Location *time.Location
	// Now is the clock reports read "today" and "late" by (nil: time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Limits = c.Limits.WithDefaults()
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// New builds a Service with the default limits.
func New(st Store, log *slog.Logger) *Service {
	s, _ := NewWithConfig(st, Config{Logger: log}) // the defaults are valid
	return s
}

// NewWithConfig builds a Service; it refuses limits that make no sense.
func NewWithConfig(st Store, cfg Config) (*Service, error) {
	cfg.defaults()
	if err := cfg.Limits.Validate(); err != nil {
		return nil, err
	}
	return &Service{w: st, r: st, rep: st, log: cfg.Logger, limits: cfg.Limits, hooks: cfg.Webhooks, loc: cfg.Location, now: cfg.Now}, nil
}

type idemKey struct{}

// Idempotency asks the write that runs under ctx to store its response under
// Key in the same transaction, so a retry can be answered without acting twice.
type Idempotency struct {
	TokenID     int64 // keys are per token: the same key from two tokens is two keys
	Key         string
	RequestHash string
	Status      int // the HTTP status the response will carry
}

// WithIdempotency attaches an idempotency request to ctx.
func WithIdempotency(ctx context.Context, i Idempotency) context.Context {
	return context.WithValue(ctx, idemKey{}, i)
}

// ErrIdempotencyRace: a concurrent request with the same key won; the caller
// should answer with the stored response.
var ErrIdempotencyRace = store.ErrIdempotencyRace

// idempotent says ctx carries an idempotency request.
func idempotent(ctx context.Context) bool {
	idem, ok := ctx.Value(idemKey{}).(Idempotency)
	return ok && idem.Key != ""
}

// write runs fn in a transaction and, when ctx carries an idempotency
// request, stores the JSON of fn's result with it.
func write[T any](ctx context.Context, s *Service, fn func(tx store.Tx) (T, error)) (T, error) {
	var out T
	idem, keyed := ctx.Value(idemKey{}).(Idempotency)
	keyed = keyed && idem.Key != ""
	err := s.w.Write(ctx, func(tx store.Tx) error {
		if keyed {
			// A twin request that passed the API's replay check before this
			// one committed must not act (a second payment would be refused
			// as a conflict instead of answered with the first response).
			used, err := tx.IdempotencyUsed(idem.TokenID, idem.Key)
			if err != nil {
				return err
			}
			if used {
				return store.ErrIdempotencyRace
			}
		}
		v, err := fn(tx)
		if err != nil {
			return err
		}
		out = v
		if keyed {
			body, err := marshalResponse(v)
			if err != nil {
				return err
			}
			return tx.PutIdempotency(idem.TokenID, idem.Key, store.IdempotentResult{RequestHash: idem.RequestHash, Status: idem.Status, Body: body})
		}
		return nil
	})
	return out, err
}

// marshalResponse renders v exactly as the API writes a response body (no
// HTML escaping, no trailing newline), so a replayed answer is byte-identical
// to the first one even when it holds text like "<script>" or "&".
func marshalResponse(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func forbidden(format string, args ...any) error {
	return domain.Errorf(domain.CodeForbidden, format, args...)
}

// CreateTenant adds a stall. Admin only.
func (s *Service) CreateTenant(ctx context.Context, p auth.Principal, name, code string) (domain.Tenant, error) {
	if !p.IsAdmin() {
		return domain.Tenant{}, forbidden("only an admin may create tenants")
	}
	if err := domain.CheckText("name", name, domain.MaxNameLen, true); err != nil {
		return domain.Tenant{}, err
	}
	if err := domain.CheckTenantCode(code); err != nil {
		return domain.Tenant{}, err
	}
	return write(ctx, s, func(tx store.Tx) (domain.Tenant, error) { return tx.InsertTenant(name, code) })
}

// CreateCounter adds a kasir counter. Admin only.
func (s *Service) CreateCounter(ctx context.Context, p auth.Principal, name string) (domain.Counter, error) {
	if !p.IsAdmin() {
		return domain.Counter{}, forbidden("only an admin may create counters")
	}
	if err := domain.CheckText("name", name, domain.MaxNameLen, true); err != nil {
		return domain.Counter{}, err
	}
	return write(ctx, s, func(tx store.Tx) (domain.Counter, error) { return tx.InsertCounter(name) })
}

// NewOrder is the input of CreateOrder.
type NewOrder struct {
	TenantID     int64         `json:"tenant_id"`
	CustomerName string        `json:"customer_name"`
	Items        []domain.Item `json:"items"`
}

// CreateOrder prices the items, numbers the order, gives it a QR code and
// logs order:created.
func (s *Service) CreateOrder(ctx context.Context, p auth.Principal, in NewOrder) (*domain.Order, error) {
	if in.TenantID <= 0 {
		return nil, domain.Errorf(domain.CodeInvalid, "tenant_id is required")
	}
	if !p.CanWriteOrder(in.TenantID) {
		return nil, forbidden("this token may not create orders for tenant %d", in.TenantID)
	}
	if err := domain.CheckText("customer_name", in.CustomerName, domain.MaxCustomerLen, true); err != nil {
		return nil, err
	}
	items := append([]domain.Item(nil), in.Items...)
	for i := range items {
		items[i].ID, items[i].Subtotal = 0, 0
	}
	total, err := s.limits.PriceItems(items)
	if err != nil {
		return nil, err
	}
	return write(ctx, s, func(tx store.Tx) (*domain.Order, error) {
		seq, number, err := tx.NextOrderNumber(in.TenantID)
		if err != nil {
			return nil, err
		}
		code, err := freePickupCode(tx)
		if err != nil {
			return nil, err
		}
		now := tx.Now().UTC()
		o := &domain.Order{
			TenantID: in.TenantID, OrderNumber: number, CustomerName: in.CustomerName,
			Status: domain.StatusPending, TotalAmount: total, CreatedAt: now, UpdatedAt: now,
			Items: items, QR: &domain.QRCode{Token: domain.NewQRToken(), Code: code, Status: domain.QRActive},
		}
		if err := tx.InsertOrder(o, seq); err != nil {
			return nil, err
		}
		_, err = tx.AppendEvent(domain.NewEvent(domain.EventOrderCreated, "order_created", now, domain.OrderCreatedData{
			OrderID: o.ID, OrderNumber: o.OrderNumber, CustomerName: o.CustomerName,
			TotalAmount: o.TotalAmount, ItemsCount: domain.ItemsCount(items), Status: o.Status,
		}, domain.OrderRooms(o.TenantID)...))
		return o, err
	})
}

// pickupCodeTries bounds the draws for a free pickup code. With a million
// codes in use a draw collides once in 887; eight in a row would take a
// database of more than 600 million orders.
const pickupCodeTries = 8

// freePickupCode draws pickup codes until one is not in use. The unique
// index still decides: a concurrent order that took the same code in the
// meantime makes this write fail rather than share it.
func freePickupCode(tx store.Tx) (string, error) {
	for range pickupCodeTries {
		code := domain.NewPickupCode()
		_, err := tx.QRByCode(code)
		if domain.ErrorCode(err) == domain.CodeNotFound {
			return code, nil
		}
		if err != nil {
			return "", fmt.Errorf("check pickup code: %w", err)
		}
	}
	return "", fmt.Errorf("no free pickup code in %d draws", pickupCodeTries)
}

// orderInScope reads an order for a write and hides orders outside p's
// scope as not found, so a token cannot probe other stalls' order ids.
func orderInScope(tx store.Tx, p auth.Principal, id int64, allowed func(auth.Principal, int64) bool) (*domain.Order, error) {
	o, err := tx.Order(id)
	if err != nil {
		return nil, err
	}
	if !p.CanReadTenant(o.TenantID) {
		return nil, domain.Errorf(domain.CodeNotFound, "order %d not found", id)
	}
	if !allowed(p, o.TenantID) {
		return nil, forbidden("this token may not change order %d", id)
	}
	return o, nil
}

// SetStatus moves an order one step forward and logs order:status_changed.
// A token that may change no order is refused before the lookup, so the
// answer says nothing about the id.
func (s *Service) SetStatus(ctx context.Context, p auth.Principal, id int64, to domain.Status) (*domain.Order, error) {
	if !p.CanWriteAnyOrder() {
		return nil, forbidden("this token may not change orders")
	}
	return write(ctx, s, func(tx store.Tx) (*domain.Order, error) {
		o, err := orderInScope(tx, p, id, auth.Principal.CanWriteOrder)
		if err != nil {
			return nil, err
		}
		if err := domain.CheckTransition(o.Status, to); err != nil {
			return nil, err
		}
		from := o.Status
		o.Status = to
		if err := tx.UpdateOrder(o); err != nil {
			return nil, err
		}
		if err := tx.RecordStatus(o.ID, o.TenantID, to, tx.Now()); err != nil {
			return nil, err
		}
		_, err = tx.AppendEvent(domain.NewEvent(domain.EventOrderStatusChanged, "order_status_changed", tx.Now(), domain.OrderStatusChangedData{
			OrderID: o.ID, OrderNumber: o.OrderNumber, PreviousStatus: from, NewStatus: to,
			Transition: domain.Transition(from, to), CustomerName: o.CustomerName,
		}, domain.OrderRooms(o.TenantID)...))
		return o, err
	})
}

// Cancel cancels an open order and refunds whatever of its payment stands,
// logging payment:refunded (when money goes back) and order:cancelled.
func (s *Service) Cancel(ctx context.Context, p auth.Principal, id int64, reason string) (*domain.Order, error) {
	if !p.CanWriteAnyOrder() { // before the lookup, as in SetStatus
		return nil, forbidden("this token may not cancel orders")
	}
	if err := domain.CheckText("reason", reason, domain.MaxReasonLen, true); err != nil {
		return nil, err
	}
	return write(ctx, s, func(tx store.Tx) (*domain.Order, error) {
		o, err := orderInScope(tx, p, id, auth.Principal.CanWriteOrder)
		if err != nil {
			return nil, err
		}
		if err := domain.CheckCancel(o.Status); err != nil {
			return nil, err
		}
		var refunded int64
		pay, err := tx.SuccessfulPayment(o.ID)
		if err != nil {
			return nil, err
		}
		if pay != nil && pay.Remaining() > 0 {
			r, err := refund(tx, o, pay, pay.Remaining(), "order cancelled: "+reason)
			if err != nil {
				return nil, err
			}
			refunded = r.Amount
		}
		o.Status = domain.StatusCancelled
		o.CancelReason = reason
		if err := tx.UpdateOrder(o); err != nil {
			return nil, err
		}
		if err := tx.RecordStatus(o.ID, o.TenantID, domain.StatusCancelled, tx.Now()); err != nil {
			return nil, err
		}
		_, err = tx.AppendEvent(domain.NewEvent(domain.EventOrderCancelled, "order_cancelled", tx.Now(), domain.OrderCancelledData{
			OrderID: o.ID, OrderNumber: o.OrderNumber, Reason: reason, CustomerName: o.CustomerName, RefundAmount: refunded,
		}, domain.OrderRooms(o.TenantID)...))
		return o, err
	})
}

// NewPayment is the input of Pay.
type NewPayment struct {
	OrderID       int64  `json:"order_id"`
	AmountPaid    int64  `json:"amount_paid"`
	PaymentMethod string `json:"payment_method"`
	CounterID     int64  `json:"counter_id"`
}

// Pay takes the one payment of an order at a counter and logs payment:processed.
func (s *Service) Pay(ctx context.Context, p auth.Principal, in NewPayment) (*domain.Payment, error) {
	method, err := domain.ParseMethod(in.PaymentMethod)
	if err != nil {
		return nil, err
	}
	if in.OrderID <= 0 {
		return nil, domain.Errorf(domain.CodeInvalid, "order_id is required")
	}
	if in.CounterID <= 0 {
		return nil, domain.Errorf(domain.CodeInvalid, "counter_id is required")
	}
	if !p.CanPay(in.CounterID) {
		return nil, forbidden("this token may not take payments at counter %d", in.CounterID)
	}
	if err := s.limits.CheckPayment(in.AmountPaid); err != nil {
		return nil, err
	}
	return write(ctx, s, func(tx store.Tx) (*domain.Payment, error) {
		o, err := orderInScope(tx, p, in.OrderID, func(auth.Principal, int64) bool { return true })
		if err != nil {
			return nil, err
		}
		if o.Status == domain.StatusCancelled {
			return nil, domain.Errorf(domain.CodeConflict, "order %s is cancelled", o.OrderNumber)
		}
		if ok, err := tx.CounterExists(in.CounterID); err != nil {
			return nil, err
		} else if !ok {
			return nil, domain.Errorf(domain.CodeNotFound, "counter %d not found", in.CounterID)
		}
		if prev, err := tx.SuccessfulPayment(o.ID); err != nil {
			return nil, err
		} else if prev != nil {
			return nil, domain.Errorf(domain.CodeConflict, "order %s is already paid (payment %d)", o.OrderNumber, prev.ID)
		}
		charged, change, err := domain.SettlePayment(method, o.TotalAmount, in.AmountPaid)
		if err != nil {
			return nil, err
		}
		now := tx.Now().UTC()
		pay := &domain.Payment{
			Kind: domain.KindPayment, OrderID: o.ID, TenantID: o.TenantID, CounterID: in.CounterID, OrderNumber: o.OrderNumber,
			Method: method, Amount: charged, AmountPaid: in.AmountPaid, Change: change, Status: "success",
			Reference: domain.NewReference(now), CreatedAt: now,
		}
		if err := tx.InsertPayment(pay); err != nil {
			return nil, err
		}
		o.PaidAmount = charged
		if err := tx.UpdateOrder(o); err != nil {
			return nil, err
		}
		rooms := append(domain.OrderRooms(o.TenantID), domain.KasirRoom(in.CounterID))
		_, err = tx.AppendEvent(domain.NewEvent(domain.EventPaymentProcessed, "payment_processed", now, domain.PaymentProcessedData{
			PaymentID: pay.ID, OrderID: o.ID, OrderNumber: o.OrderNumber, AmountPaid: in.AmountPaid, PaymentMethod: method,
			TransactionReference: pay.Reference, Status: pay.Status, Change: change, CustomerName: o.CustomerName,
		}, rooms...))
		return pay, err
	})
}

// Refund returns amount (0: all that is left) of a payment and logs payment:refunded.
func (s *Service) Refund(ctx context.Context, p auth.Principal, paymentID int64, reason string, amount int64) (*domain.Payment, error) {
	if !p.CanRefund() {
		return nil, forbidden("this token may not refund payments")
	}
	if err := domain.CheckText("reason", reason, domain.MaxReasonLen, true); err != nil {
		return nil, err
	}
	return write(ctx, s, func(tx store.Tx) (*domain.Payment, error) {
		pay, err := tx.Payment(paymentID)
		if err != nil {
			return nil, err
		}
		amt, err := domain.CheckRefund(pay, amount)
		if err != nil {
			return nil, err
		}
		o, err := tx.Order(pay.OrderID)
		if err != nil {
			return nil, err
		}
		return refund(tx, o, pay, amt, reason)
	})
}

// refund writes a refund of amt from pay (already checked) and its event.
func refund(tx store.Tx, o *domain.Order, pay *domain.Payment, amt int64, reason string) (*domain.Payment, error) {
	now := tx.Now().UTC()
	r := &domain.Payment{
		Kind: domain.KindRefund, OrderID: o.ID, TenantID: o.TenantID, CounterID: 0, OrderNumber: o.OrderNumber,
		Method: pay.Method, Amount: amt, Status: "success", Reference: domain.RefundReference(now),
		OriginalPaymentID: pay.ID, Reason: reason, CreatedAt: now,
	}
	if err := tx.InsertPayment(r); err != nil {
		return nil, err
	}
	if err := tx.AddRefunded(pay.ID, amt); err != nil {
		return nil, err
	}
	o.Refunded += amt
	if err := tx.UpdateOrder(o); err != nil {
		return nil, err
	}
	rooms := domain.OrderRooms(o.TenantID)
	if pay.CounterID != 0 {
		rooms = append(rooms, domain.KasirRoom(pay.CounterID))
	}
	_, err := tx.AppendEvent(domain.NewEvent(domain.EventPaymentRefunded, "payment_refunded", now, domain.PaymentRefundedData{
		RefundID: r.ID, OrderID: o.ID, OrderNumber: o.OrderNumber, RefundAmount: amt, TransactionReference: r.Reference,
		OriginalPaymentID: pay.ID, Reason: reason, CustomerName: o.CustomerName,
	}, rooms...))
	return r, err
}

// ScanQR records a pickup scan and logs qr:scanned.
func (s *Service) ScanQR(ctx context.Context, p auth.Principal, token string) (*domain.QRCode, error) {
	if token == "" || len(token) > 128 {
		return nil, domain.Errorf(domain.CodeInvalid, "token is required (at most 128 characters)")
	}
	return s.scan(ctx, p, func(tx store.Tx) (*domain.QRCode, error) { return tx.QRByToken(token) }, "unknown QR token")
}

// ScanCode records a pickup scan by the order's short pickup code, as typed
// by a person (any case, spaces and dashes ignored).
func (s *Service) ScanCode(ctx context.Context, p auth.Principal, typed string) (*domain.QRCode, error) {
	code, ok := domain.NormalizePickupCode(typed)
	if !ok {
		return nil, domain.Errorf(domain.CodeInvalid, "code must be %d characters from %s", domain.PickupCodeLen, domain.PickupCodeAlphabet)
	}
	return s.scan(ctx, p, func(tx store.Tx) (*domain.QRCode, error) { return tx.QRByCode(code) }, "unknown pickup code")
}

func (s *Service) scan(ctx context.Context, p auth.Principal, find func(store.Tx) (*domain.QRCode, error), unknown string) (*domain.QRCode, error) {
	if !p.CanScanAny() { // before the lookup: the answer says nothing about the code
		return nil, forbidden("this token may not scan QR codes")
	}
	return write(ctx, s, func(tx store.Tx) (*domain.QRCode, error) {
		q, err := find(tx)
		if err != nil {
			return nil, err
		}
		o, err := tx.Order(q.OrderID)
		if err != nil {
			return nil, err
		}
		if !p.CanScan(o.TenantID) {
			return nil, domain.Errorf(domain.CodeNotFound, "%s", unknown)
		}
		if err := domain.CheckScan(o.Status); err != nil {
			return nil, err
		}
		if err := tx.RecordScan(q); err != nil {
			return nil, err
		}
		// The event goes to the display room, which public screens follow:
		// it names the code by its last characters only, since a scan does
		// not void it and whoever holds the whole token may present it again.
		_, err = tx.AppendEvent(domain.NewEvent(domain.EventQRScanned, "qr_scanned", tx.Now(), domain.QRScannedData{
			QRID: q.ID, OrderID: o.ID, OrderNumber: o.OrderNumber, Token: domain.MaskQRToken(q.Token), Status: q.Status,
			ScannedCount: q.ScannedCount, CustomerName: o.CustomerName,
		}, domain.OrderRooms(o.TenantID)...))
		return q, err
	})
}

// Alert broadcasts a system alert to every connection. Admin only.
func (s *Service) Alert(ctx context.Context, p auth.Principal, severity, message string) (domain.Event, error) {
	if !p.IsAdmin() {
		return domain.Event{}, forbidden("only an admin may send alerts")
	}
	if !domain.ValidSeverity(severity) {
		return domain.Event{}, domain.Errorf(domain.CodeInvalid, "severity must be error, warning or info, not %q", severity)
	}
	if err := domain.CheckText("message", message, domain.MaxAlertLen, true); err != nil {
		return domain.Event{}, err
	}
	return write(ctx, s, func(tx store.Tx) (domain.Event, error) {
		return tx.AppendEvent(domain.Event{
			Name: domain.EventAlert, Type: domain.TypeSystemAlert, Timestamp: tx.Now().UTC(),
			Severity: severity, Message: message, Rooms: []string{domain.RoomAll},
		})
	})
}

// Notify sends a notification to one user's room; it waits in the log for a
// user who is offline. Admin only.
func (s *Service) Notify(ctx context.Context, p auth.Principal, userID int64, typ string, data json.RawMessage) (domain.Event, error) {
	if !p.IsAdmin() {
		return domain.Event{}, forbidden("only an admin may send notifications")
	}
	if userID <= 0 || userID > domain.MaxRoomID {
		return domain.Event{}, domain.Errorf(domain.CodeInvalid, "user_id must be a positive integer")
	}
	if err := domain.CheckText("type", typ, domain.MaxNotificationTypeLen, true); err != nil {
		return domain.Event{}, err
	}
	if len(data) == 0 || string(data) == "null" {
		data = json.RawMessage("{}")
	}
	if data[0] != '{' {
		return domain.Event{}, domain.Errorf(domain.CodeInvalid, "data must be a JSON object")
	}
	if len(data) > 64<<10 {
		return domain.Event{}, domain.Errorf(domain.CodeInvalid, "data is larger than 64 KiB")
	}
	return write(ctx, s, func(tx store.Tx) (domain.Event, error) {
		return tx.AppendEvent(domain.Event{
			Name: domain.EventNotification, Type: typ, Timestamp: tx.Now().UTC(), Data: data,
			Rooms: []string{domain.UserRoom(userID)},
		})
	})
}

// IsIdempotencyRace reports the concurrent-key case.
func IsIdempotencyRace(err error) bool { return errors.Is(err, store.ErrIdempotencyRace) }
