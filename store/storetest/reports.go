package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the reports' zone, wherever the tests run

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/store"
)

// court is a fixture for reports: a store and a service whose clock is
// set by the test, counting local days in Asia/Jakarta (UTC+7: local
// midnight is 17:00 UTC).
type court struct {
	*Fixture
	mu    sync.Mutex
	clock time.Time
	loc   *time.Location
}

func newCourt(t *testing.T, b Backend, start time.Time) *court {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	c := &court{clock: start, loc: loc}
	c.Fixture = NewFixture(t, b, store.Options{Now: c.now})
	c.Svc = c.service(t, c.Store)
	return c
}

func (c *court) service(t *testing.T, s store.Store) *service.Service {
	t.Helper()
	svc, err := service.NewWithConfig(s, service.Config{Location: c.loc, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (c *court) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock
}

func (c *court) set(t time.Time) {
	c.mu.Lock()
	c.clock = t
	c.mu.Unlock()
}

func (c *court) status(t *testing.T, id int64, st domain.Status) {
	t.Helper()
	if _, err := c.Svc.SetStatus(context.Background(), auth.Anonymous, id, st); err != nil {
		t.Fatalf("order %d → %s: %v", id, st, err)
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Each status an order reaches is kept with its time, apart from the
// event log: pruning every event changes nothing in the speed report.
func testStatusHistory(t *testing.T, b Backend) {
	ctx := context.Background()
	c := newCourt(t, b, utc("2026-12-04T05:00:00Z")) // 12:00 in Jakarta
	tn := c.Tenant(t, "SH")
	fast := c.Order(t, tn.ID, 10000)
	c.set(utc("2026-12-04T05:02:00Z"))
	c.status(t, fast.ID, domain.StatusPreparing)
	c.set(utc("2026-12-04T05:07:00Z"))
	c.status(t, fast.ID, domain.StatusReady)
	c.set(utc("2026-12-04T05:09:30Z"))
	c.status(t, fast.ID, domain.StatusCompleted)

	c.set(utc("2026-12-04T06:00:00Z")) // 13:00
	slow := c.Order(t, tn.ID, 20000)
	c.set(utc("2026-12-04T06:04:00Z"))
	c.status(t, slow.ID, domain.StatusPreparing)
	c.set(utc("2026-12-04T06:20:00Z")) // ready after 20 min: late at 10
	c.status(t, slow.ID, domain.StatusReady)

	c.set(utc("2026-12-04T06:30:00Z"))
	gone := c.Order(t, tn.ID, 30000)
	c.set(utc("2026-12-04T06:31:00Z"))
	if _, err := c.Svc.Cancel(ctx, auth.Anonymous, gone.ID, "customer left"); err != nil {
		t.Fatal(err)
	}

	w := report.Window{Start: utc("2026-12-03T17:00:00Z"), End: utc("2026-12-04T17:00:00Z")}
	times, err := c.Store.OrderTimes(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Created < times[j].Created })
	ms := func(s string) int64 { return utc(s).UnixMilli() }
	want := []report.OrderTimes{
		{TenantID: tn.ID, Created: ms("2026-12-04T05:00:00Z"), Preparing: ms("2026-12-04T05:02:00Z"), Ready: ms("2026-12-04T05:07:00Z"), Completed: ms("2026-12-04T05:09:30Z")},
		{TenantID: tn.ID, Created: ms("2026-12-04T06:00:00Z"), Preparing: ms("2026-12-04T06:04:00Z"), Ready: ms("2026-12-04T06:20:00Z")},
		{TenantID: tn.ID, Created: ms("2026-12-04T06:30:00Z"), Cancelled: ms("2026-12-04T06:31:00Z")},
	}
	if len(times) != len(want) {
		t.Fatalf("OrderTimes = %+v; want %+v", times, want)
	}
	for i := range want {
		if times[i] != want[i] {
			t.Errorf("OrderTimes[%d] = %+v; want %+v", i, times[i], want[i])
		}
	}
	if out, err := c.Store.OrderTimes(ctx, report.Window{Start: w.End, End: w.End.Add(24 * time.Hour)}); err != nil || len(out) != 0 {
		t.Errorf("the next day's OrderTimes = %+v, %v; want none", out, err)
	}

	speed := func() report.Speed {
		t.Helper()
		sp, err := c.Svc.SpeedReport(ctx, auth.Anonymous, report.Query{Date: "2026-12-04"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	before := speed()
	st := before.Stalls[0]
	if st.Orders != 3 || st.Late != 1 || st.ToPreparing.P50 != 120000 || st.ToPreparing.P90 != 240000 ||
		st.PreparingToReady.P90 != 960000 || st.ReadyToCollected.P50 != 150000 || st.AvgToReady != (420000+1200000)/2 {
		t.Errorf("speed = %+v", st)
	}
	if len(st.Hours) != 2 || st.Hours[0].Hour != 12 || st.Hours[0].Orders != 1 || st.Hours[1].Hour != 13 || st.Hours[1].Orders != 2 || st.Hours[1].Late != 1 {
		t.Errorf("speed hours = %+v; want 12:00 (1 order) and 13:00 (2, 1 late)", st.Hours)
	}

	c.set(utc("2026-12-10T00:00:00Z"))
	if n, err := c.Store.Prune(ctx, c.now(), 1); err != nil || n < 8 {
		t.Fatalf("prune = %d, %v; want all but the newest event of each room gone", n, err)
	}
	after := speed()
	if a, b := mustJSON(t, before), mustJSON(t, after); !bytes.Equal(a, b) {
		t.Errorf("the speed report changed with the prune:\n%s\n%s", a, b)
	}
}

// Orders taken at random down every path (served and collected, left at
// the counter, cancelled before or during cooking, some still open):
// the timings the speed report reads agree, order for order, with the
// status history, which stays the record.
func testOrderTimingsAgreeWithHistory(t *testing.T, b Backend) {
	ctx := context.Background()
	start := utc("2026-12-04T03:00:00Z")
	c := newCourt(t, b, start)
	tenants := []int64{c.Tenant(t, "T1").ID, c.Tenant(t, "T2").ID, c.Tenant(t, "T3").ID}
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 60
	var open []int64
	status := map[int64]domain.Status{}
	for i := range n {
		c.set(c.now().Add(time.Duration(1+rng.IntN(90)) * time.Second))
		o := c.Order(t, tenants[rng.IntN(len(tenants))], int64(1000*(1+i)))
		open = append(open, o.ID)
		status[o.ID] = domain.StatusPending
		// Move a few of the open orders on, one status at a time, so
		// that orders' steps interleave.
		for range rng.IntN(3) {
			if len(open) == 0 {
				break
			}
			k := rng.IntN(len(open))
			id := open[k]
			c.set(c.now().Add(time.Duration(1+rng.IntN(300)) * time.Second))
			next := map[domain.Status]domain.Status{domain.StatusPending: domain.StatusPreparing, domain.StatusPreparing: domain.StatusReady, domain.StatusReady: domain.StatusCompleted}[status[id]]
			switch {
			case status[id] != domain.StatusReady && rng.IntN(6) == 0:
				if _, err := c.Svc.Cancel(ctx, auth.Anonymous, id, "gone"); err != nil {
					t.Fatal(err)
				}
				open = append(open[:k], open[k+1:]...)
			default:
				c.status(t, id, next)
				status[id] = next
				if next == domain.StatusCompleted {
					open = append(open[:k], open[k+1:]...)
				}
			}
		}
	}
	got, err := c.Store.OrderTimes(ctx, report.Window{Start: start, End: c.now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	want := b.HistoryTimes(t, c.Store)
	key := func(s []report.OrderTimes) {
		sort.Slice(s, func(i, j int) bool { return s[i].Created < s[j].Created })
	}
	key(got)
	key(want)
	if len(got) != n || len(want) != n {
		t.Fatalf("%d timings rows, %d orders in the history; want %d", len(got), len(want), n)
	}
	steps := 0
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("timings %+v; the history says %+v", got[i], want[i])
		}
		if want[i].Preparing != 0 || want[i].Cancelled != 0 {
			steps++
		}
	}
	if steps < n/3 {
		t.Errorf("only %d of %d orders moved on: the test did not exercise the timings", steps, n)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Event counts are kept beside the log: they outlive a prune of every
// event and a restart, and a stall's report counts its own events and the
// alerts.
func testEventCounts(t *testing.T, b Backend) {
	ctx := context.Background()
	c := newCourt(t, b, utc("2026-12-04T05:10:00Z")) // 12:10 in Jakarta
	t1, t2 := c.Tenant(t, "E1"), c.Tenant(t, "E2")
	o := c.Order(t, t1.ID, 10000)
	c.status(t, o.ID, domain.StatusPreparing)
	c.Order(t, t2.ID, 10000)
	c.set(utc("2026-12-04T06:40:00Z")) // 13:40
	c.Order(t, t1.ID, 10000)
	if _, err := c.Svc.Alert(ctx, auth.Anonymous, "info", "closing soon"); err != nil {
		t.Fatal(err)
	}
	check := func(svc *service.Service, when string) {
		t.Helper()
		ev, err := svc.EventsReport(ctx, auth.Anonymous, report.Query{Date: "2026-12-04"})
		if err != nil {
			t.Fatal(err)
		}
		created := ev.Types[domain.EventOrderCreated]
		if created.Total != 3 || len(created.Hours) != 2 || created.Hours[0] != (report.HourCount{Hour: "2026-12-04T12", Count: 2}) ||
			ev.Types[domain.EventOrderStatusChanged].Total != 1 || ev.Alerts != 1 || ev.PeakHour != "2026-12-04T12" || ev.TZ != "Asia/Jakarta" {
			t.Errorf("%s: events report = %+v", when, ev)
		}
		mine, err := svc.EventsReport(ctx, auth.Principal{Role: auth.RoleTenant, TenantID: t2.ID}, report.Query{Date: "2026-12-04"})
		if err != nil {
			t.Fatal(err)
		}
		if mine.Types[domain.EventOrderCreated].Total != 1 || mine.Alerts != 1 || len(mine.Types) != 2 {
			t.Errorf("%s: stall %d's events report = %+v; want its one order and the alert", when, t2.ID, mine)
		}
	}
	check(c.Svc, "as written")
	c.set(utc("2026-12-10T00:00:00Z"))
	if _, err := c.Store.Prune(ctx, c.now(), 1); err != nil {
		t.Fatal(err)
	}
	check(c.Svc, "after pruning every event")
	c.Store.Close()
	again := c.Open(t, store.Options{Now: c.now})
	defer again.Close()
	check(c.service(t, again), "after a restart")
}

// A share or fee may not change from a day of a closed period, a period
// closes once and only once it has ended, and a tenant token reads its
// own stall's reports only.
func testSettlementRules(t *testing.T, b Backend) {
	ctx := context.Background()
	c := newCourt(t, b, utc("2026-11-20T05:00:00Z"))
	t1, t2 := c.Tenant(t, "S1"), c.Tenant(t, "S2")
	admin := auth.Anonymous
	if _, err := c.Svc.SetShare(ctx, admin, report.Share{TenantID: t1.ID, From: "2026-11-01", BP: 1500}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Svc.ClosePeriod(ctx, admin, "2026-11"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Fatalf("closing a month not yet over: %v; want a conflict", err)
	}
	c.set(utc("2026-12-02T00:00:00Z"))
	closed, err := c.Svc.ClosePeriod(ctx, admin, "2026-11")
	if err != nil || !closed.Closed || len(closed.Stalls) != 2 || closed.Stalls[0].ShareBP != 1500 {
		t.Fatalf("close = %+v, %v", closed, err)
	}
	if _, err := c.Svc.ClosePeriod(ctx, admin, "2026-11"); domain.ErrorCode(err) != domain.CodeConflict {
		t.Errorf("closing twice: %v; want a conflict", err)
	}
	for _, from := range []string{"2026-11-30", "2026-10-01"} {
		if _, err := c.Svc.SetShare(ctx, admin, report.Share{TenantID: t1.ID, From: from, BP: 2000}); domain.ErrorCode(err) != domain.CodeConflict {
			t.Errorf("share from %s, in or before a closed period: %v; want a conflict", from, err)
		}
		if _, err := c.Svc.SetFee(ctx, admin, report.Fee{Method: "qris", From: from, BP: 70}); domain.ErrorCode(err) != domain.CodeConflict {
			t.Errorf("fee from %s: %v; want a conflict", from, err)
		}
	}
	if _, err := c.Svc.SetShare(ctx, admin, report.Share{TenantID: t1.ID, From: "2026-12-01", BP: 2000}); err != nil {
		t.Errorf("share from the day after the close: %v", err)
	}
	if _, err := c.Svc.SetShare(ctx, admin, report.Share{TenantID: 999, From: "2026-12-01", BP: 2000}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Errorf("share of a missing stall: %v; want not found", err)
	}
	stall := auth.Principal{Role: auth.RoleTenant, TenantID: t2.ID}
	if _, err := c.Svc.SetShare(ctx, stall, report.Share{TenantID: t2.ID, From: "2026-12-01", BP: 0}); domain.ErrorCode(err) != domain.CodeForbidden {
		t.Errorf("a stall setting its own share: %v; want forbidden", err)
	}
	mine, err := c.Svc.SettlementReport(ctx, stall, report.Query{Month: "2026-11"})
	if err != nil || len(mine.Stalls) != 1 || mine.Stalls[0].TenantID != t2.ID || !mine.Closed {
		t.Errorf("a stall's settlement = %+v, %v; want its own closed line", mine, err)
	}
	if _, err := c.Svc.SalesReport(ctx, stall, report.Query{TenantID: t1.ID}); domain.ErrorCode(err) != domain.CodeForbidden {
		t.Errorf("a stall reading another's sales: %v; want forbidden", err)
	}
	for _, p := range []auth.Principal{{Role: auth.RoleKasir, CounterID: 1}, {Role: auth.RoleDisplay, Display: true}, {Role: auth.RoleUser, UserID: 1}} {
		if _, err := c.Svc.SalesReport(ctx, p, report.Query{}); domain.ErrorCode(err) != domain.CodeForbidden {
			t.Errorf("%s reading sales: %v; want forbidden", p.Role, err)
		}
	}
}

// move is one movement of money as the test made it.
type move struct {
	tenant int64
	method string
	amount int64 // refunds negative
	at     time.Time
}

// Random orders, payments, refunds and cancellations around local
// midnight over November and the days either side: every day's sales and
// the month's settlement (a share and a fee changing mid-month) reconcile
// with the raw payments to the Rupiah; a closed month never changes, and a
// refund after the close lands, visibly, in December.
func testReportsReconcile(t *testing.T, b Backend) {
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x706f7364))
	c := newCourt(t, b, utc("2026-10-01T00:00:00Z"))
	admin := auth.Anonymous
	var stalls []domain.Tenant
	for _, code := range []string{"R1", "R2", "R3"} {
		stalls = append(stalls, c.Tenant(t, code))
	}
	counter := c.Counter(t)
	terms := []struct {
		share *report.Share
		fee   *report.Fee
	}{
		{share: &report.Share{TenantID: stalls[0].ID, From: "2026-11-01", BP: 1000}},
		{share: &report.Share{TenantID: stalls[0].ID, From: "2026-11-16", BP: 2500}},
		{share: &report.Share{TenantID: stalls[1].ID, From: "2026-01-01", BP: 1500}},
		{fee: &report.Fee{Method: "qris", From: "2026-11-01", BP: 70}},
		{fee: &report.Fee{Method: "card", From: "2026-11-10", BP: 150}},
	}
	for _, tm := range terms {
		var err error
		if tm.share != nil {
			_, err = c.Svc.SetShare(ctx, admin, *tm.share)
		} else {
			_, err = c.Svc.SetFee(ctx, admin, *tm.fee)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// Orders near local midnight (17:00 UTC) of Oct 31 to Dec 1.
	n := 60
	starts := make([]time.Time, n)
	for i := range starts {
		day := utc("2026-10-31T17:00:00Z").AddDate(0, 0, rng.IntN(32))
		starts[i] = day.Add(time.Duration(rng.IntN(180)-90) * time.Minute)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	methods := []string{"cash", "qris", "card", "ewallet"}
	var moves []move
	cancelled := map[string]map[int64][2]int64{} // day → stall → count, value
	for _, at := range starts {
		tn := stalls[rng.IntN(len(stalls))]
		c.set(at)
		o := c.Order(t, tn.ID, int64(5000+rng.IntN(195)*1000+rng.IntN(1000)))
		step := func() { c.set(c.now().Add(time.Duration(1+rng.IntN(40)) * time.Minute)) }
		var pay *domain.Payment
		if rng.IntN(10) < 8 {
			step()
			m := methods[rng.IntN(len(methods))]
			var err error
			pay, err = c.Svc.Pay(ctx, admin, service.NewPayment{OrderID: o.ID, AmountPaid: o.TotalAmount, PaymentMethod: m, CounterID: counter.ID})
			if err != nil {
				t.Fatal(err)
			}
			moves = append(moves, move{tn.ID, m, pay.Amount, pay.CreatedAt})
		}
		left := o.TotalAmount
		if pay != nil && rng.IntN(4) == 0 {
			step()
			amt := 1 + rng.Int64N(left)
			r, err := c.Svc.Refund(ctx, admin, pay.ID, "cold", amt)
			if err != nil {
				t.Fatal(err)
			}
			left -= amt
			moves = append(moves, move{tn.ID, string(pay.Method), -r.Amount, r.CreatedAt})
		}
		if rng.IntN(6) == 0 {
			step()
			if _, err := c.Svc.Cancel(ctx, admin, o.ID, "customer left"); err != nil {
				t.Fatal(err)
			}
			if pay != nil && left > 0 {
				moves = append(moves, move{tn.ID, string(pay.Method), -left, c.now()})
			}
			day := c.now().In(c.loc).Format(report.DayLayout)
			if cancelled[day] == nil {
				cancelled[day] = map[int64][2]int64{}
			}
			cv := cancelled[day][tn.ID]
			cancelled[day][tn.ID] = [2]int64{cv[0] + 1, cv[1] + o.TotalAmount}
			continue
		}
		for _, st := range []domain.Status{domain.StatusPreparing, domain.StatusReady, domain.StatusCompleted}[:rng.IntN(4)] {
			step()
			c.status(t, o.ID, st)
		}
	}

	// The raw payments table says the same as the moves the test made.
	raw, err := c.Store.Payments(ctx, store.PaymentFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var rawSum, moveSum int64
	for _, p := range raw {
		if p.Kind == domain.KindRefund {
			rawSum -= p.Amount
		} else {
			rawSum += p.Amount
		}
	}
	for _, m := range moves {
		moveSum += m.amount
	}
	if rawSum != moveSum {
		t.Fatalf("payments table nets %d; the test moved %d", rawSum, moveSum)
	}

	// Every local day's sales, per stall and method.
	day := func(at time.Time) string { return at.In(c.loc).Format(report.DayLayout) }
	var monthNet int64
	for d := utc("2026-10-30T00:00:00Z"); d.Before(utc("2026-12-03T00:00:00Z")); d = d.AddDate(0, 0, 1) {
		ds := d.Format(report.DayLayout)
		sales, err := c.Svc.SalesReport(ctx, admin, report.Query{Date: ds})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sales.Stalls {
			want := map[string]int64{}
			var gross, refunds, orders int64
			for _, m := range moves {
				if m.tenant != st.TenantID || day(m.at) != ds {
					continue
				}
				want[m.method] += m.amount
				if m.amount > 0 {
					gross += m.amount
					orders++
				} else {
					refunds -= m.amount
				}
			}
			if st.Gross != gross || st.Refunds != refunds || st.Net != gross-refunds || st.Orders != orders {
				t.Errorf("%s stall %d: sales %+v; want gross %d refunds %d orders %d", ds, st.TenantID, st.SalesFigures, gross, refunds, orders)
			}
			var byMethod int64
			for _, m := range methods {
				byMethod += st.ByMethod[m]
				if st.ByMethod[m] != want[m] {
					t.Errorf("%s stall %d %s: %d; want %d", ds, st.TenantID, m, st.ByMethod[m], want[m])
				}
			}
			if byMethod != st.Net {
				t.Errorf("%s stall %d: by method sums to %d, net is %d", ds, st.TenantID, byMethod, st.Net)
			}
			if cv := cancelled[ds][st.TenantID]; st.Cancelled != cv[0] || st.CancelledValue != cv[1] {
				t.Errorf("%s stall %d: cancelled %d (Rp %d); want %d (Rp %d)", ds, st.TenantID, st.Cancelled, st.CancelledValue, cv[0], cv[1])
			}
			if ds >= "2026-11-01" && ds <= "2026-11-30" {
				monthNet += st.Net
			}
		}
	}

	// November's settlement against a computation of its own: per stall,
	// day by day, the rounding rule over each run of days with the same
	// terms.
	c.set(utc("2026-12-05T03:00:00Z"))
	nov, err := c.Svc.SettlementReport(ctx, admin, report.Query{Month: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if nov.Closed || nov.From != "2026-11-01" || nov.To != "2026-11-30" || nov.Total.Net != monthNet {
		t.Errorf("November = %+v; want open, net %d", nov, monthNet)
	}
	var tm report.Terms
	for _, x := range terms {
		if x.share != nil {
			tm.Shares = append(tm.Shares, *x.share)
		} else {
			tm.Fees = append(tm.Fees, *x.fee)
		}
	}
	var total report.SettlementFigures
	for _, st := range nov.Stalls {
		want := settleByDays(tm, st.TenantID, moves, c.loc, "2026-11-01", "2026-11-30")
		if st.SettlementFigures != want {
			t.Errorf("stall %d: settled %+v; by days %+v", st.TenantID, st.SettlementFigures, want)
		}
		if st.Commission+st.Payout+st.Fees != st.Net {
			t.Errorf("stall %d: %d + %d + %d ≠ %d", st.TenantID, st.Commission, st.Payout, st.Fees, st.Net)
		}
		total.Net += st.Net
		total.Fees += st.Fees
		total.Commission += st.Commission
		total.Payout += st.Payout
	}
	if total != nov.Total || total.Commission+total.Payout+total.Fees != total.Net {
		t.Errorf("total %+v; stalls sum to %+v", nov.Total, total)
	}

	// Close November; then a refund of a November payment in December.
	closed, err := c.Svc.ClosePeriod(ctx, admin, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	frozen := mustJSON(t, closed)
	var novPay *domain.Payment
	for i := range raw {
		p := &raw[i]
		if p.Kind == domain.KindPayment && p.Remaining() > 0 && day(p.CreatedAt) >= "2026-11-01" && day(p.CreatedAt) <= "2026-11-30" {
			novPay = p
			break
		}
	}
	if novPay == nil {
		t.Skipf("seed %d made no refundable November payment", seed) // a draw of 60 orders over 32 days: all but impossible
	}
	decBefore, err := c.Svc.SettlementReport(ctx, admin, report.Query{Month: "2026-12"})
	if err != nil {
		t.Fatal(err)
	}
	late := min(novPay.Remaining(), 1000)
	if _, err := c.Svc.Refund(ctx, admin, novPay.ID, "late complaint", late); err != nil {
		t.Fatal(err)
	}
	again, err := c.Svc.SettlementReport(ctx, admin, report.Query{Month: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, again); !bytes.Equal(got, frozen) {
		t.Errorf("closed November changed:\n%s\nwas\n%s", got, frozen)
	}
	dec, err := c.Svc.SettlementReport(ctx, admin, report.Query{Month: "2026-12"})
	if err != nil {
		t.Fatal(err)
	}
	if dec.Total.Net != decBefore.Total.Net-late {
		t.Errorf("December nets %d, was %d; want the refund of %d in it", dec.Total.Net, decBefore.Total.Net, late)
	}
	for i, st := range dec.Stalls {
		wantPrior := decBefore.Stalls[i].PriorRefunds
		if st.TenantID == novPay.TenantID {
			wantPrior += late
		}
		if st.PriorRefunds != wantPrior {
			t.Errorf("December stall %d: prior refunds %d; want %d", st.TenantID, st.PriorRefunds, wantPrior)
		}
	}
}

// settleByDays is the settlement rule computed day by day, apart from the
// report package's segments: each stall's days are grouped into runs with
// the same share and fees, and each run rounded once.
func settleByDays(tm report.Terms, tenant int64, moves []move, loc *time.Location, from, to string) report.SettlementFigures {
	var out report.SettlementFigures
	methods := []string{"card", "cash", "ewallet", "qris"}
	net := map[string]int64{}
	key := ""
	flush := func(share int64, fees map[string]int64) {
		var fsum, nsum int64
		for _, m := range methods {
			nsum += net[m]
			fsum += floor(net[m]*fees[m], 10000)
		}
		comm := floor((nsum-fsum)*share, 10000)
		out.Net += nsum
		out.Fees += fsum
		out.Commission += comm
		out.Payout += nsum - fsum - comm
		clear(net)
	}
	var share int64
	var fees map[string]int64
	for d := from; d <= to; d = report.NextDay(d) {
		s := tm.ShareAt(tenant, d)
		fs := map[string]int64{}
		for _, m := range methods {
			fs[m] = tm.FeeAt(m, d)
		}
		k := fmt.Sprint(s, fs) // maps print sorted by key
		if d != from && k != key {
			flush(share, fees)
		}
		key, share, fees = k, s, fs
		for _, m := range moves {
			if m.tenant == tenant && m.at.In(loc).Format(report.DayLayout) == d {
				net[m.method] += m.amount
			}
		}
	}
	flush(share, fees)
	return out
}

func floor(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
