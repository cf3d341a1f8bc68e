package domain

import (
	"fmt"
	"math"
)

// Defaults of Limits, in Rupiah and units. They are far above anything a food
// court sells (its dearest dish is a few hundred thousand Rupiah; a catering
// order of a few hundred boxes runs to tens of millions) and far below
// amounts that overflow a sum, look like a test or a typo, or make a kasir's
// shift summary meaningless.
const (
	DefaultMaxUnitPrice  = 10_000_000  // Rp 10 juta for one portion
	DefaultMaxQuantity   = 1_000       // portions on one line of an order
	DefaultMaxOrderTotal = 100_000_000 // Rp 100 juta for one order
	DefaultMaxPayment    = 100_000_000 // Rp 100 juta tendered at once
)

// Limits are the largest amounts posd accepts in a new order or payment.
// A zero field takes its default (WithDefaults).
type Limits struct {
	MaxUnitPrice  int64 // Rupiah per unit of an item
	MaxQuantity   int64 // units on one line
	MaxOrderTotal int64 // Rupiah per order
	MaxPayment    int64 // Rupiah tendered in one payment (cash may exceed the total)
}

// WithDefaults fills the zero fields with the defaults above.
func (l Limits) WithDefaults() Limits {
	if l.MaxUnitPrice == 0 {
		l.MaxUnitPrice = DefaultMaxUnitPrice
	}
	if l.MaxQuantity == 0 {
		l.MaxQuantity = DefaultMaxQuantity
	}
	if l.MaxOrderTotal == 0 {
		l.MaxOrderTotal = DefaultMaxOrderTotal
	}
	if l.MaxPayment == 0 {
		l.MaxPayment = DefaultMaxPayment
	}
	return l
}

// Validate refuses limits that make no sense for a server to start with.
func (l Limits) Validate() error {
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"max unit price", l.MaxUnitPrice}, {"max quantity", l.MaxQuantity},
		{"max order total", l.MaxOrderTotal}, {"max payment", l.MaxPayment},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be positive, not %d", f.name, f.v)
		}
	}
	if l.MaxPayment < l.MaxOrderTotal {
		// Card, QRIS and e-wallet pay exactly the total: an order at the
		// maximum would be impossible to pay.
		return fmt.Errorf("max payment (%d) must be at least max order total (%d)", l.MaxPayment, l.MaxOrderTotal)
	}
	return nil
}

// PriceItems is the package's PriceItems within these limits: each quantity
// and unit price, then the total, must stay under its cap.
func (l Limits) PriceItems(items []Item) (int64, error) {
	for i, it := range items {
		if it.Quantity > l.MaxQuantity {
			return 0, Errorf(CodeInvalid, "items[%d].quantity is %d; at most %d per line", i, it.Quantity, l.MaxQuantity)
		}
		if it.UnitPrice > l.MaxUnitPrice {
			return 0, Errorf(CodeInvalid, "items[%d].unit_price is %d; at most %d Rupiah", i, it.UnitPrice, l.MaxUnitPrice)
		}
	}
	total, err := PriceItems(items)
	if err != nil {
		return 0, err
	}
	if total > l.MaxOrderTotal {
		return 0, Errorf(CodeInvalid, "order total is %d; at most %d Rupiah per order", total, l.MaxOrderTotal)
	}
	return total, nil
}

// CheckPayment refuses an amount tendered over the cap.
func (l Limits) CheckPayment(amountPaid int64) error {
	if amountPaid > l.MaxPayment {
		return Errorf(CodeInvalid, "amount_paid is %d; at most %d Rupiah in one payment", amountPaid, l.MaxPayment)
	}
	return nil
}

// AddAmount adds two amounts, stopping at the largest and smallest int64
// instead of wrapping: a sum of amounts stored before a cap existed (or
// under a higher one) must read "very large", never negative.
func AddAmount(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}
