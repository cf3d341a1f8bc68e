package report

import (
	"github.com/posd/posd/internal/domain"
)

// Stall names a stall on a report.
type Stall struct {
	ID   int64
	Name string
}

// Payment and refund kinds as a MoneyRow names them.
const (
	KindPayment = "payment"
	KindRefund  = "refund"
)

// newMethods is a by-method map with every accepted method at zero, so a
// report always names them all.
func newMethods() map[string]int64 {
	m := make(map[string]int64, len(domain.Methods))
	for _, meth := range domain.Methods {
		m[string(meth)] = 0
	}
	return m
}

func (f *SalesFigures) add(o SalesFigures) {
	f.Orders += o.Orders
	f.Gross += o.Gross
	f.Refunds += o.Refunds
	f.Net += o.Net
	f.Cancelled += o.Cancelled
	f.CancelledValue += o.CancelledValue
	for m, v := range o.ByMethod {
		f.ByMethod[m] += v
	}
}

func (f *SalesFigures) finish() {
	if f.Orders > 0 {
		f.AvgTicket = f.Gross / f.Orders
	}
}

// BuildSales is the sales report of stalls (each listed, in the order
// given) from the sums of their payments, refunds and cancellations.
// Payments count by the time they were taken, refunds by their own time,
// cancellations by the time of the cancel; an order counts once, when paid.
func BuildSales(r Range, tz string, stalls []Stall, money []MoneyRow, cancels []CancelRow) Sales {
	idx := make(map[int64]int, len(stalls))
	out := Sales{TZ: tz, From: r.From, To: r.To, Stalls: make([]StallSales, len(stalls)), Total: SalesFigures{ByMethod: newMethods()}}
	for i, s := range stalls {
		idx[s.ID] = i
		out.Stalls[i] = StallSales{TenantID: s.ID, Tenant: s.Name, SalesFigures: SalesFigures{ByMethod: newMethods()}}
	}
	for _, row := range money {
		i, ok := idx[row.TenantID]
		if !ok {
			continue
		}
		f := &out.Stalls[i].SalesFigures
		switch row.Kind {
		case KindPayment:
			f.Orders += row.Count
			f.Gross += row.Amount
			f.Net += row.Amount
			f.ByMethod[row.Method] += row.Amount
		case KindRefund:
			f.Refunds += row.Amount
			f.Net -= row.Amount
			f.ByMethod[row.Method] -= row.Amount
		}
	}
	for _, c := range cancels {
		if i, ok := idx[c.TenantID]; ok {
			out.Stalls[i].Cancelled += c.Count
			out.Stalls[i].CancelledValue += c.Value
		}
	}
	for i := range out.Stalls {
		out.Stalls[i].finish()
		out.Total.add(out.Stalls[i].SalesFigures)
	}
	out.Total.finish()
	return out
}
