package domain

import (
	"crypto/rand"
	"strconv"
	"time"
)

// Method is how a customer pays at the kasir counter.
type Method string

const (
	MethodCash    Method = "cash"
	MethodQRIS    Method = "qris"
	MethodCard    Method = "card"
	MethodEWallet Method = "ewallet"
)

// Methods lists every accepted method in display order.
var Methods = []Method{MethodCash, MethodQRIS, MethodCard, MethodEWallet}

// ParseMethod accepts exactly the four method names.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", Errorf(CodeInvalid, "unknown payment_method %q (want cash, qris, card or ewallet)", s)
}

// Payment kinds: a refund is a payments row of its own that points at the
// payment it returns money from.
const (
	KindPayment = "payment"
	KindRefund  = "refund"
)

// Payment is a payment or a refund as stored.
type Payment struct {
	ID                int64     `json:"id"`
	Kind              string    `json:"kind"`
	OrderID           int64     `json:"order_id"`
	TenantID          int64     `json:"tenant_id"`
	CounterID         int64     `json:"counter_id,omitempty"`
	OrderNumber       string    `json:"order_number,omitempty"`
	Method            Method    `json:"payment_method"`
	Amount            int64     `json:"amount"`
	AmountPaid        int64     `json:"amount_paid,omitempty"`
	Change            int64     `json:"change"`
	Status            string    `json:"status"`
	Reference         string    `json:"transaction_reference"`
	OriginalPaymentID int64     `json:"original_payment_id,omitempty"`
	Reason            string    `json:"reason,omitempty"`
	Refunded          int64     `json:"refunded_amount,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
}

// Remaining is what can still be refunded from a payment.
func (p *Payment) Remaining() int64 { return p.Amount - p.Refunded }

// SettlePayment decides a payment of amountPaid for an order of total: it
// returns the amount the order is charged and the change to hand back.
// Cash may overpay; every other method must pay the total exactly.
func SettlePayment(method Method, total, amountPaid int64) (charged, change int64, err error) {
	if amountPaid < 0 {
		return 0, 0, Errorf(CodeInvalid, "amount_paid must not be negative")
	}
	switch {
	case amountPaid < total:
		return 0, 0, Errorf(CodeUnprocessable, "underpaid: order total is %d, amount_paid is %d (short by %d)", total, amountPaid, total-amountPaid).
			With("reason", ReasonUnderpaid).With("total", total).With("amount_paid", amountPaid).With("short_by", total-amountPaid)
	case amountPaid > total && method != MethodCash:
		return 0, 0, Errorf(CodeUnprocessable, "%s payments must be exact: order total is %d, amount_paid is %d", method, total, amountPaid).
			With("reason", ReasonNotExact).With("payment_method", string(method)).With("total", total).With("amount_paid", amountPaid)
	}
	return total, amountPaid - total, nil
}

// CheckRefund validates a refund of amount from p; amount 0 means "all that is
// left". It returns the amount to refund.
func CheckRefund(p *Payment, amount int64) (int64, error) {
	if p.Kind != KindPayment {
		return 0, Errorf(CodeConflict, "payment %d is a refund and cannot itself be refunded", p.ID).
			With("reason", ReasonRefundOfRefund).With("payment_id", p.ID)
	}
	left := p.Remaining()
	if amount < 0 {
		return 0, Errorf(CodeInvalid, "amount must not be negative")
	}
	if left <= 0 {
		return 0, Errorf(CodeConflict, "payment %d is already fully refunded", p.ID).
			With("reason", ReasonFullyRefunded).With("payment_id", p.ID)
	}
	if amount == 0 {
		return left, nil
	}
	if amount > left {
		return 0, Errorf(CodeUnprocessable, "refund of %d exceeds the %d that remains on payment %d", amount, left, p.ID).
			With("reason", ReasonRefundExceeds).With("payment_id", p.ID).With("requested", amount).With("remaining", left)
	}
	return amount, nil
}

const refAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewReference makes a transaction reference `PAY-{unix ms}-{6 alphanumerics}`.
func NewReference(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	for i := range b {
		b[i] = refAlphabet[int(b[i])%len(refAlphabet)]
	}
	return "PAY-" + strconv.FormatInt(now.UnixMilli(), 10) + "-" + string(b[:])
}

// RefundReference makes `REFUND-` + a fresh reference of the original's form.
func RefundReference(now time.Time) string { return "REFUND-" + NewReference(now) }
