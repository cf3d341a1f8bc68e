package storetest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
)

// A generated food court for the report benchmarks and their small test:
// orders over a run of local days, with their status history, payments,
// refunds, cancellations and event counts, as rows a backend writes
// straight into its tables (batched, apart from the service, so that a
// year of a busy court loads in seconds). Deterministic for a seed.

// CourtSpec sizes a generated court.
type CourtSpec struct {
	Seed   uint64
	Stalls int
	Orders int       // over all Days
	Start  time.Time // local midnight of the first day
	Days   int
}

// FxOrder, FxPayment and FxStatus are rows of orders, payments and
// order_status_history; times are unix ms.
type FxOrder struct {
	ID, TenantID, Seq     int64
	Number, Status        string
	Total, Paid, Refunded int64
	CreatedAt, UpdatedAt  int64
}

type FxPayment struct {
	ID, OrderID, OriginalID int64 // OriginalID 0: none
	Kind, Method, Reference string
	Amount, Refunded        int64
	CreatedAt               int64
}

type FxStatus struct {
	OrderID, TenantID int64
	Status            string
	At                int64
}

// CourtDay is one local day's rows (refunds made up to three days later
// ride with their order). Counts are complete for every bucket before
// CountsThrough.
type CourtDay struct {
	Orders   []FxOrder
	Payments []FxPayment
	History  []FxStatus
	Counts   []report.EventBucket
}

// CourtTotals are what the generator wrote, to check reports against.
type CourtTotals struct {
	Orders    int64
	Net       map[int64]int64 // per stall, payments − refunds
	Cancelled int64
}

// GenerateCourt makes the court's rows day by day and hands each day to
// sink, in order; the last call carries the remaining event counts.
func GenerateCourt(spec CourtSpec, sink func(CourtDay) error) (CourtTotals, error) {
	rng := rand.New(rand.NewPCG(spec.Seed, 0x636f757274))
	tot := CourtTotals{Net: map[int64]int64{}}
	seq := make([]int64, spec.Stalls+1)
	var orderID, payID int64
	counts := map[report.EventBucket]int64{} // Count 0 in the key
	count := func(at int64, tenant int64, name string) {
		counts[report.EventBucket{Start: report.BucketOf(time.UnixMilli(at)), TenantID: tenant, Name: name}]++
	}
	methods := []string{"cash", "cash", "cash", "cash", "qris", "qris", "qris", "card", "ewallet", "ewallet"}
	perDay := spec.Orders / spec.Days
	for d := 0; d < spec.Days; d++ {
		n := perDay
		if d < spec.Orders%spec.Days {
			n++
		}
		day := CourtDay{}
		open := spec.Start.AddDate(0, 0, d).Add(10 * time.Hour) // 10:00 to 22:00, busiest at lunch and dinner
		for range n {
			minute := rng.IntN(720)
			if rng.IntN(2) == 0 { // half the orders at the peaks
				minute = []int{150, 540}[rng.IntN(2)] + rng.IntN(120) - 60
			}
			created := open.Add(time.Duration(minute)*time.Minute + time.Duration(rng.IntN(60000))*time.Millisecond).UnixMilli()
			tenant := 1 + int64(rng.IntN(spec.Stalls))
			seq[tenant]++
			orderID++
			o := FxOrder{ID: orderID, TenantID: tenant, Seq: seq[tenant], Number: fmt.Sprintf("S%02d-%06d", tenant, seq[tenant]),
				Status: "pending", Total: int64(10+rng.IntN(140)) * 1000, CreatedAt: created, UpdatedAt: created}
			tot.Orders++
			hist := func(st string, at int64) {
				day.History = append(day.History, FxStatus{OrderID: o.ID, TenantID: tenant, Status: st, At: at})
				o.Status, o.UpdatedAt = st, at
			}
			hist("pending", created)
			count(created, tenant, domain.EventOrderCreated)
			at := created
			later := func(lo, hi int) int64 {
				at += int64(lo*1000 + rng.IntN((hi-lo)*1000+1))
				return at
			}
			pi := -1 // the order's payment in day.Payments
			roll := rng.IntN(100)
			if roll < 97 { // paid at the kasir within three minutes
				payID++
				// Before its refunds: they refer to it.
				day.Payments = append(day.Payments, FxPayment{ID: payID, OrderID: o.ID, Kind: "payment", Method: methods[rng.IntN(len(methods))],
					Reference: fmt.Sprintf("FX-P-%d", payID), Amount: o.Total, CreatedAt: later(5, 180)})
				pi = len(day.Payments) - 1
				o.Paid = o.Total
				tot.Net[tenant] += o.Total
				count(day.Payments[pi].CreatedAt, tenant, domain.EventPaymentProcessed)
			}
			refund := func(amt, when int64) {
				day.Payments[pi].Refunded += amt
				pay := day.Payments[pi]
				payID++
				day.Payments = append(day.Payments, FxPayment{ID: payID, OrderID: o.ID, OriginalID: pay.ID, Kind: "refund", Method: pay.Method,
					Reference: fmt.Sprintf("FX-R-%d", payID), Amount: amt, CreatedAt: when})
				o.Refunded += amt
				tot.Net[tenant] -= amt
				count(when, tenant, domain.EventPaymentRefunded)
			}
			switch {
			case roll >= 95 || pi < 0: // cancelled before cooking; what was paid goes back
				when := later(30, 600)
				if pi >= 0 {
					refund(day.Payments[pi].Amount, when)
				}
				hist("cancelled", when)
				tot.Cancelled++
				count(when, tenant, domain.EventOrderCancelled)
			default:
				hist("preparing", later(30, 300))
				count(at, tenant, domain.EventOrderStatusChanged)
				hist("ready", later(180, 1200))
				count(at, tenant, domain.EventOrderStatusChanged)
				if rng.IntN(100) > 0 { // one in a hundred is never collected
					hist("completed", later(30, 900))
					count(at, tenant, domain.EventOrderStatusChanged)
					count(at, tenant, domain.EventQRScanned)
				}
				if rng.IntN(50) == 0 { // a complaint, up to three days on
					refund(1+rng.Int64N(o.Total), at+rng.Int64N(3*24*3600*1000))
				}
			}
			day.Orders = append(day.Orders, o)
		}
		// Every later event is of a later order, made from tomorrow on:
		// the buckets before tomorrow are complete.
		cut := spec.Start.AddDate(0, 0, d+1).UnixMilli()
		for k, n := range counts {
			if k.Start < cut || d == spec.Days-1 {
				delete(counts, k)
				k.Count = n
				day.Counts = append(day.Counts, k)
			}
		}
		if err := sink(day); err != nil {
			return tot, err
		}
	}
	return tot, nil
}

// Timings are the day's orders' rows of order_timings, from their
// history, and the orders' ids.
func (d CourtDay) Timings() ([]report.OrderTimes, []int64) {
	var out []report.OrderTimes
	var ids []int64
	at := map[int64]int{}
	for _, h := range d.History {
		i, ok := at[h.OrderID]
		if !ok {
			i = len(out)
			at[h.OrderID] = i
			out = append(out, report.OrderTimes{TenantID: h.TenantID})
			ids = append(ids, h.OrderID)
		}
		o := &out[i]
		switch domain.Status(h.Status) {
		case domain.StatusPending:
			o.Created = h.At
		case domain.StatusPreparing:
			o.Preparing = h.At
		case domain.StatusReady:
			o.Ready = h.At
		case domain.StatusCompleted:
			o.Completed = h.At
		case domain.StatusCancelled:
			o.Cancelled = h.At
		}
	}
	return out, ids
}
