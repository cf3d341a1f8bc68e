package domain

import (
	"fmt"
	"math"
	"time"
)

// Status is an order's place in its life.
type Status string

const (
	StatusPending   Status = "pending"
	StatusPreparing Status = "preparing"
	StatusReady     Status = "ready"
	StatusCompleted Status = "completed"
	StatusCancelled Status = "cancelled"
)

// ParseStatus accepts exactly the five status names.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusPending, StatusPreparing, StatusReady, StatusCompleted, StatusCancelled:
		return st, nil
	}
	return "", Errorf(CodeInvalid, "unknown status %q (want pending, preparing, ready, completed or cancelled)", s)
}

// Open reports whether an order in this status can still change.
func (s Status) Open() bool {
	return s == StatusPending || s == StatusPreparing || s == StatusReady
}

// Next is the one forward step from s, or "" when there is none.
func (s Status) Next() Status {
	switch s {
	case StatusPending:
		return StatusPreparing
	case StatusPreparing:
		return StatusReady
	case StatusReady:
		return StatusCompleted
	}
	return ""
}

// CheckTransition allows only the single forward step; cancelling has its own
// path (CheckCancel) because it carries a reason and may refund.
func CheckTransition(from, to Status) error {
	if to == StatusCancelled {
		return Errorf(CodeInvalid, "use DELETE /api/orders/{id} with a reason to cancel")
	}
	if from.Next() != to {
		return Errorf(CodeConflict, "illegal transition %s → %s", from, to).
			With("reason", ReasonIllegalTransition).With("from", string(from)).With("to", string(to))
	}
	return nil
}

// CheckCancel allows cancelling from any open status.
func CheckCancel(from Status) error {
	if !from.Open() {
		return Errorf(CodeConflict, "order is %s and can no longer be cancelled", from).
			With("reason", ReasonNotCancellable).With("status", string(from))
	}
	return nil
}

// Transition renders the seed's human-readable transition text.
func Transition(from, to Status) string { return string(from) + " → " + string(to) }

// Limits on what one order may hold; they keep a hostile request from making
// the server do unbounded work and keep text printable on a kitchen ticket.
const (
	MaxItems       = 100
	MaxNameLen     = 200
	MaxNotesLen    = 500
	MaxCustomerLen = 200
	MaxReasonLen   = 500

	MaxAlertLen            = 1000
	MaxNotificationTypeLen = 64
)

// Item is one line of an order. Money is whole Rupiah.
type Item struct {
	ID        int64  `json:"id,omitempty"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Notes     string `json:"notes,omitempty"`
	Subtotal  int64  `json:"subtotal"`
}

// Order is a tenant's order as stored.
type Order struct {
	ID           int64     `json:"id"`
	TenantID     int64     `json:"tenant_id"`
	OrderNumber  string    `json:"order_number"`
	CustomerName string    `json:"customer_name"`
	Status       Status    `json:"status"`
	TotalAmount  int64     `json:"total_amount"`
	PaidAmount   int64     `json:"paid_amount"`
	Refunded     int64     `json:"refunded_amount"`
	CancelReason string    `json:"cancel_reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Items        []Item    `json:"items"`
	Payments     []Payment `json:"payments,omitempty"`
	QR           *QRCode   `json:"qr,omitempty"`
}

// Paid reports whether a successful payment still stands (net of refunds).
func (o *Order) Paid() bool { return o.PaidAmount > 0 && o.PaidAmount > o.Refunded }

// PriceItems validates the items of a new order, fills in each subtotal and
// returns the total. Every product and sum is checked for int64 overflow, so
// it is safe whatever the limits; Limits.PriceItems adds the business caps.
func PriceItems(items []Item) (int64, error) {
	if len(items) == 0 {
		return 0, Errorf(CodeInvalid, "an order needs at least one item")
	}
	if len(items) > MaxItems {
		return 0, Errorf(CodeInvalid, "an order holds at most %d items (got %d)", MaxItems, len(items))
	}
	var total int64
	for i := range items {
		it := &items[i]
		field := fmt.Sprintf("items[%d]", i)
		if err := CheckText(field+".name", it.Name, MaxNameLen, true); err != nil {
			return 0, err
		}
		if err := CheckText(field+".notes", it.Notes, MaxNotesLen, false); err != nil {
			return 0, err
		}
		if it.Quantity < 1 {
			return 0, Errorf(CodeInvalid, "%s.quantity must be at least 1", field)
		}
		if it.UnitPrice < 0 {
			return 0, Errorf(CodeInvalid, "%s.unit_price must not be negative", field)
		}
		if it.UnitPrice > math.MaxInt64/it.Quantity {
			return 0, Errorf(CodeInvalid, "%s: quantity × unit_price overflows", field)
		}
		it.Subtotal = it.Quantity * it.UnitPrice
		if total > math.MaxInt64-it.Subtotal {
			return 0, Errorf(CodeInvalid, "order total overflows")
		}
		total += it.Subtotal
	}
	return total, nil
}

// ItemsCount is the number of units in an order (the seed's items_count).
func ItemsCount(items []Item) int64 {
	var n int64
	for _, it := range items {
		n += it.Quantity
	}
	return n
}

// OrderNumber renders a tenant's sequence number as `T1-001`.
func OrderNumber(tenantCode string, seq int64) string {
	return fmt.Sprintf("%s-%03d", tenantCode, seq)
}

// PublicOrder is what a public screen (a TV's pickup board, a kitchen
// display: tokens whose secret sits in a URL or on a shared machine) may read
// of an order. It is a list of what to show, not of what to hide, so a field
// added to Order stays private until someone decides otherwise. Left out: the
// QR code (its token collects the food), payment records (transaction
// references, counters, amounts tendered) and refund reasons. The JSON
// fields are Order's, so a client decodes either into an Order.
type PublicOrder struct {
	ID           int64     `json:"id"`
	TenantID     int64     `json:"tenant_id"`
	OrderNumber  string    `json:"order_number"`
	CustomerName string    `json:"customer_name"`
	Status       Status    `json:"status"`
	TotalAmount  int64     `json:"total_amount"`
	PaidAmount   int64     `json:"paid_amount"`
	Refunded     int64     `json:"refunded_amount"`
	CancelReason string    `json:"cancel_reason,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Items        []Item    `json:"items"`
}

// Public returns the public view of o.
func (o *Order) Public() PublicOrder {
	return PublicOrder{
		ID: o.ID, TenantID: o.TenantID, OrderNumber: o.OrderNumber, CustomerName: o.CustomerName,
		Status: o.Status, TotalAmount: o.TotalAmount, PaidAmount: o.PaidAmount, Refunded: o.Refunded,
		CancelReason: o.CancelReason, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt, Items: o.Items,
	}
}
