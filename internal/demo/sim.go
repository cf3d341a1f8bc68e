package demo

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

// The traffic is a discrete-event simulation: one goroutine pops the next due
// action off a time-ordered queue, performs it with one or two API calls and
// schedules what follows from it. Every random choice comes from one seeded
// generator, so a seed and a clock make a run repeatable.

type kind int

const (
	kArrive  kind = iota // a customer orders at a stall
	kAdvance             // the stall moves the order one step: preparing, ready
	kPay                 // the customer pays at a kasir counter
	kPickup              // the customer scans the QR code and collects; the stall completes
	kCancel              // the order is cancelled (refunded by the server when paid)
	kRefund              // a complaint after pickup: part or all of the money back
	kAlert               // a food-court announcement
)

var kindNames = [...]string{"arrive", "advance", "pay", "pickup", "cancel", "refund", "alert"}

func (k kind) String() string { return kindNames[k] }

type action struct {
	at    time.Time
	seq   uint64
	kind  kind
	order *order
	plan  *order // kArrive: the order about to be placed, kept across retries
	gen   int    // the order's generation when scheduled; stale actions are dropped
	key   string // idempotency key, kept across retries
	tries int

	reason string // kRefund: decided once, kept across retries
	amount int64
}

type queue []*action

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*action)) }
func (q *queue) Pop() any {
	old := *q
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return a
}

type stall struct {
	id     int64
	name   string
	code   string
	menu   []menuItem
	weight int
}

type order struct {
	id        int64
	number    string
	stall     *stall
	customer  string
	total     int64
	items     []client.ItemRequest
	status    domain.Status
	paymentID int64 // our successful payment, 0 until paid
	paidKnown bool  // paid, possibly by someone else
	charged   int64
	qr        string
	code      string // the short pickup code, for customers who read it out
	scanned   bool
	payPlan   *client.PayRequest // the customer's choice, kept across retries
	payKey    string
	gen       int
}

// Stats counts what the demo did; the summary line at the end reports it.
type Stats struct {
	Orders, Advanced, Payments, Scans, Completed, Cancelled, Refunds, Alerts, Resyncs, Errors int
}

type sim struct {
	api      API
	opts     Options
	log      *slog.Logger
	rng      *mrand.Rand
	clk      clock
	runID    string
	stalls   []*stall
	weights  int
	counters []int64
	q        queue
	seq      uint64
	orders   map[int64]*order
	arrivals int
	stats    Stats
	fatal    error // stops the run: the server will not let the demo work
}

func newSim(api API, opts Options) *sim {
	var rid [4]byte
	_, _ = rand.Read(rid[:])
	return &sim{
		api:    api,
		opts:   opts,
		log:    opts.Logger,
		rng:    mrand.New(mrand.NewPCG(uint64(opts.Seed), 0x9e3779b97f4a7c15)),
		clk:    opts.clock,
		runID:  hex.EncodeToString(rid[:]),
		orders: map[int64]*order{},
	}
}

// ---- setup ----------------------------------------------------------------

func (s *sim) setup(ctx context.Context) error {
	tenants, err := s.api.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	if len(tenants) == 0 {
		for _, spec := range foodCourt {
			t, err := s.api.CreateTenant(ctx, spec.Name, spec.Code, client.WithIdempotencyKey(s.key("tenant-"+spec.Code)))
			if err != nil {
				return fmt.Errorf("create tenant %s: %w", spec.Name, err)
			}
			s.log.Info("stall opened", "tenant", t.ID, "name", t.Name, "code", t.Code, "menu", len(spec.Menu))
			tenants = append(tenants, t)
		}
	} else {
		s.log.Info("reusing the stalls already on the server", "stalls", len(tenants))
	}
	for i, t := range tenants {
		spec := foodCourt[i%len(foodCourt)]
		for _, fc := range foodCourt {
			if fc.Name == t.Name || fc.Code == t.Code {
				spec = fc
				break
			}
		}
		st := &stall{id: t.ID, name: t.Name, code: t.Code, menu: spec.Menu, weight: spec.Popularity}
		s.stalls = append(s.stalls, st)
		s.weights += st.weight
	}

	counters, err := s.api.Counters(ctx)
	if err != nil {
		return fmt.Errorf("list counters: %w", err)
	}
	if len(counters) == 0 {
		for _, name := range counterNames {
			c, err := s.api.CreateCounter(ctx, name, client.WithIdempotencyKey(s.key("counter-"+name)))
			if err != nil {
				return fmt.Errorf("create counter %s: %w", name, err)
			}
			s.log.Info("kasir counter opened", "counter", c.ID, "name", c.Name)
			counters = append(counters, c)
		}
	}
	for _, c := range counters {
		s.counters = append(s.counters, c.ID)
	}

	s.adopt(ctx)
	now := s.clk.Now()
	if s.opts.Rate > 0 && (s.opts.MaxOrders == 0 || s.arrivals < s.opts.MaxOrders) {
		s.push(&action{at: now, kind: kArrive})
	}
	if !s.opts.NoAlerts {
		s.push(&action{at: now.Add(s.delay(60, 180)), kind: kAlert})
	}
	s.log.Info("demo traffic started", "stalls", len(s.stalls), "counters", len(s.counters),
		"rate_per_min", s.opts.Rate, "speed", s.opts.Speed, "seed", s.opts.Seed, "open_orders", len(s.orders))
	return nil
}

// adopt takes over the open orders a previous run (or a human) left behind,
// so that no ticket stays on the displays forever.
func (s *sim) adopt(ctx context.Context) {
	list, err := s.api.Orders(ctx, client.OrderFilter{Open: true, Limit: 500})
	if err != nil {
		s.log.Warn("could not list open orders; leaving them alone", "err", err)
		return
	}
	byID := map[int64]*stall{}
	for _, st := range s.stalls {
		byID[st.id] = st
	}
	for i := range list.Orders {
		got := &list.Orders[i]
		st := byID[got.TenantID]
		if st == nil || !got.Status.Open() {
			continue
		}
		o := &order{id: got.ID, number: got.OrderNumber, stall: st, customer: got.CustomerName}
		s.absorb(o, got)
		s.orders[o.id] = o
		s.follow(o)
	}
}

// ---- the loop -------------------------------------------------------------

func (s *sim) loop(ctx context.Context) {
	defer func() {
		st := s.stats
		s.log.Info("demo stopped", "orders", st.Orders, "payments", st.Payments, "completed", st.Completed,
			"cancelled", st.Cancelled, "refunds", st.Refunds, "scans", st.Scans, "errors", st.Errors)
	}()
	for ctx.Err() == nil && s.fatal == nil && len(s.q) > 0 {
		next := s.q[0]
		if d := next.at.Sub(s.clk.Now()); d > 0 {
			if s.clk.Sleep(ctx, d) != nil {
				return
			}
		}
		heap.Pop(&s.q)
		s.exec(ctx, next)
	}
}

func (s *sim) push(a *action) {
	if a.seq == 0 && a.order != nil { // a retry keeps the generation it was planned in
		a.gen = a.order.gen
	}
	s.seq++
	a.seq = s.seq
	heap.Push(&s.q, a)
}

func (s *sim) after(d time.Duration, k kind, o *order) {
	s.push(&action{at: s.clk.Now().Add(d), kind: k, order: o})
}

func (s *sim) key(what string) string { return "demo-" + s.runID + "-" + what }

func (s *sim) exec(ctx context.Context, a *action) {
	if o := a.order; o != nil {
		if a.gen != o.gen || s.orders[o.id] != o {
			return // superseded by a resync, or the order is finished
		}
	}
	var err error
	switch a.kind {
	case kArrive:
		err = s.arrive(ctx, a)
	case kAdvance:
		err = s.advance(ctx, a.order)
	case kPay:
		err = s.pay(ctx, a)
	case kPickup:
		err = s.pickup(ctx, a)
	case kCancel:
		err = s.cancel(ctx, a)
	case kRefund:
		err = s.refund(ctx, a)
	case kAlert:
		err = s.alert(ctx)
	}
	if err != nil {
		s.failed(ctx, a, err)
	}
}

// failed decides what an error means: a server that cannot be reached gets
// the same action again shortly; a refusal about an order means the order
// changed elsewhere (a cook bumped it, a cashier took the money), so the demo
// reads it back and follows its real state.
func (s *sim) failed(ctx context.Context, a *action, err error) {
	if ctx.Err() != nil {
		return
	}
	s.stats.Errors++
	var ae *client.APIError
	attrs := []any{"action", a.kind.String(), "err", err}
	if a.order != nil {
		attrs = append(attrs, "order", a.order.number)
	}
	switch {
	case transient(err) && a.tries < maxTries:
		// A server restart is part of life: wait it out, a little longer each time.
		a.tries++
		s.log.Warn("server trouble; retrying", append(attrs, "attempt", a.tries)...)
		a.at = s.clk.Now().Add(time.Duration(min(a.tries, 10)) * time.Second)
		s.push(a)
	case transient(err):
		s.log.Error("giving up on this action", attrs...)
		if a.order != nil {
			delete(s.orders, a.order.id)
		}
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		// Not a passing problem: the token was revoked or cannot do this.
		s.log.Error("the server refuses the demo's token; stopping", attrs...)
		s.fatal = fmt.Errorf("%s refused: %w (the demo needs an admin token)", a.kind, err)
	case a.order != nil && errors.As(err, &ae):
		s.log.Info("order changed elsewhere; following it", attrs...)
		s.resync(ctx, a.order)
	default:
		s.log.Error("action refused", attrs...)
	}
}

// maxTries bounds the retries of one action: about three minutes.
const maxTries = 25

// transient reports whether err is worth the same call again later.
func transient(err error) bool {
	var ue *client.UnreachableError
	var ae *client.APIError
	return errors.As(err, &ue) ||
		(errors.As(err, &ae) && (ae.Status >= 500 || ae.Status == http.StatusTooManyRequests))
}

// resync reads an order back from the server and plans from its real state.
func (s *sim) resync(ctx context.Context, o *order) {
	s.stats.Resyncs++
	got, err := s.api.Order(ctx, o.id)
	if err != nil {
		s.log.Warn("cannot read order back; dropping it", "order", o.number, "err", err)
		delete(s.orders, o.id)
		return
	}
	o.gen++ // everything scheduled before is stale now
	s.absorb(o, &got)
	s.follow(o)
}

// absorb copies what the server knows of an order into ours.
func (s *sim) absorb(o *order, got *domain.Order) {
	o.status = got.Status
	o.total = got.TotalAmount
	if got.QR != nil && got.QR.Token != "" {
		o.qr = got.QR.Token
	}
	if got.QR != nil && got.QR.Code != "" {
		o.code = got.QR.Code
	}
	if len(got.Items) > 0 {
		o.items = o.items[:0]
		for _, it := range got.Items {
			o.items = append(o.items, client.ItemRequest{Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice, Notes: it.Notes})
		}
	}
	if got.PaidAmount > 0 {
		o.paidKnown = true
		o.charged = got.PaidAmount - got.Refunded
		for _, p := range got.Payments {
			if p.Kind == domain.KindPayment && p.Status == "success" {
				o.paymentID = p.ID
			}
		}
	}
}

// follow schedules the next step of an order from its current state.
func (s *sim) follow(o *order) {
	switch o.status {
	case domain.StatusPending:
		s.after(s.delay(5, 30), kAdvance, o)
	case domain.StatusPreparing:
		s.after(s.cookTime(o), kAdvance, o)
	case domain.StatusReady:
		s.after(s.delay(10, 60), kPickup, o)
		return // pickup pays first when needed
	default:
		delete(s.orders, o.id)
		return
	}
	if !o.paidKnown {
		s.after(s.delay(10, 60), kPay, o)
	}
}

// ---- actions --------------------------------------------------------------

func (s *sim) arrive(ctx context.Context, a *action) error {
	if a.plan == nil {
		s.arrivals++
		if s.opts.MaxOrders == 0 || s.arrivals < s.opts.MaxOrders {
			s.push(&action{at: s.clk.Now().Add(s.interarrival()), kind: kArrive})
		}
		a.key = s.key(fmt.Sprintf("order-%d", s.arrivals))
		a.plan = &order{stall: s.pickStall(), customer: pick(s.rng, customerNames)}
		a.plan.items = s.pickItems(a.plan.stall)
	}
	o := a.plan
	got, err := s.api.CreateOrder(ctx, client.OrderRequest{TenantID: o.stall.id, CustomerName: o.customer, Items: o.items},
		client.WithIdempotencyKey(a.key))
	if err != nil {
		return err
	}
	o.id, o.number = got.ID, got.OrderNumber
	s.absorb(o, &got)
	s.orders[o.id] = o
	s.stats.Orders++
	s.log.Info("order created", "order", o.number, "stall", o.stall.name, "customer", o.customer,
		"items", domain.ItemsCount(got.Items), "total", o.total)

	// The stall starts on it soon; most customers walk to a kasir counter
	// now, the rest pay when they collect.
	s.after(s.delay(5, 30), kAdvance, o)
	if s.rng.Float64() < 0.9 {
		s.after(s.delay(20, 90), kPay, o)
	}
	if s.rng.Float64() < 0.05 {
		s.after(s.delay(10, 75), kCancel, o)
	}
	return nil
}

func (s *sim) advance(ctx context.Context, o *order) error {
	next := o.status.Next()
	if next == "" || next == domain.StatusCompleted {
		return nil // completing is the pickup's business
	}
	got, err := s.api.SetStatus(ctx, o.id, next)
	if err != nil {
		return err
	}
	o.status = got.Status
	s.stats.Advanced++
	s.log.Info("order "+string(o.status), "order", o.number, "stall", o.stall.name)
	switch o.status {
	case domain.StatusPreparing:
		s.after(s.cookTime(o), kAdvance, o)
	case domain.StatusReady:
		s.after(s.delay(10, 60), kPickup, o)
	}
	return nil
}

func (s *sim) pay(ctx context.Context, a *action) error {
	o := a.order
	if !o.status.Open() || o.paidKnown {
		return nil
	}
	if a.key == "" {
		a.key = s.key(fmt.Sprintf("pay-%d", o.id))
	}
	return s.payNow(ctx, o, a.key)
}

// payNow pays for o. The customer's choice (method, cash handed over,
// counter) is made once and kept, so a retry under the same idempotency key
// sends the same request.
func (s *sim) payNow(ctx context.Context, o *order, key string) error {
	if o.payPlan == nil {
		method := s.pickMethod()
		amount := o.total
		if method == domain.MethodCash {
			amount = tender(s.rng, o.total)
		}
		o.payPlan = &client.PayRequest{OrderID: o.id, AmountPaid: amount, PaymentMethod: method,
			CounterID: s.counters[s.rng.IntN(len(s.counters))]}
		o.payKey = key
	}
	req := *o.payPlan
	p, err := s.api.Pay(ctx, req, client.WithIdempotencyKey(o.payKey))
	if err != nil {
		return err
	}
	o.paymentID, o.paidKnown, o.charged = p.ID, true, p.Amount
	s.stats.Payments++
	s.log.Info("payment", "order", o.number, "method", string(req.PaymentMethod), "total", o.total, "paid", req.AmountPaid,
		"change", p.Change, "counter", req.CounterID, "ref", p.Reference)
	return nil
}

func (s *sim) pickup(ctx context.Context, a *action) error {
	o := a.order
	if o.status != domain.StatusReady {
		return nil
	}
	if !o.paidKnown { // pays at the counter on the way to the stall
		if a.key == "" {
			a.key = s.key(fmt.Sprintf("pay-%d", o.id))
		}
		if err := s.payNow(ctx, o, a.key); err != nil {
			return err
		}
	}
	if o.qr == "" {
		got, err := s.api.Order(ctx, o.id)
		if err != nil {
			return err
		}
		if got.QR != nil {
			o.qr = got.QR.Token
		}
	}
	if o.qr != "" && !o.scanned {
		// Some customers read their pickup code out instead of showing the QR.
		scan := s.api.ScanQR
		key := o.qr
		if o.code != "" && s.rng.Float64() < 0.25 {
			scan, key = s.api.ScanCode, o.code
		}
		qr, err := scan(ctx, key)
		switch {
		case transient(err):
			return err
		case err != nil:
			s.log.Warn("qr scan refused", "order", o.number, "err", err)
		default:
			s.stats.Scans++
			s.log.Info("qr scanned", "order", o.number, "scans", qr.ScannedCount)
		}
		o.scanned = true
	}
	got, err := s.api.SetStatus(ctx, o.id, domain.StatusCompleted)
	if err != nil {
		return err
	}
	o.status = got.Status
	s.stats.Completed++
	s.log.Info("order completed", "order", o.number, "customer", o.customer)
	if o.paymentID != 0 && s.rng.Float64() < 0.05 {
		s.after(s.delay(30, 120), kRefund, o)
		return nil
	}
	delete(s.orders, o.id)
	return nil
}

func (s *sim) cancel(ctx context.Context, a *action) error {
	o := a.order
	if o.status != domain.StatusPending && o.status != domain.StatusPreparing {
		return nil // ready food is collected, not cancelled
	}
	reason := pick(s.rng, cancelReasons)
	got, err := s.api.Cancel(ctx, o.id, reason)
	if err != nil {
		return err
	}
	o.status = got.Status
	s.stats.Cancelled++
	s.log.Info("order cancelled", "order", o.number, "reason", reason, "refunded", got.Refunded)
	delete(s.orders, o.id)
	return nil
}

func (s *sim) refund(ctx context.Context, a *action) error {
	o := a.order
	if o.paymentID == 0 {
		delete(s.orders, o.id)
		return nil
	}
	if a.key == "" {
		a.key = s.key(fmt.Sprintf("refund-%d", o.id))
	}
	if a.reason == "" { // decided once: a retry must send the same request
		a.reason = pick(s.rng, refundReasons)
		if len(o.items) > 0 && s.rng.Float64() < 0.7 {
			a.amount = o.items[s.rng.IntN(len(o.items))].UnitPrice
			if a.amount > o.charged {
				a.amount = 0 // 0: everything that is left
			}
		}
	}
	reason, amount := a.reason, a.amount
	r, err := s.api.Refund(ctx, o.paymentID, reason, amount, client.WithIdempotencyKey(a.key))
	if err != nil {
		return err
	}
	s.stats.Refunds++
	s.log.Info("refund", "order", o.number, "amount", r.Amount, "reason", reason, "ref", r.Reference)
	delete(s.orders, o.id)
	return nil
}

func (s *sim) alert(ctx context.Context) error {
	if s.opts.MaxOrders == 0 || s.arrivals < s.opts.MaxOrders {
		s.after(s.delay(300, 600), kAlert, nil)
	}
	m := alertMessages[s.rng.IntN(len(alertMessages))]
	if _, err := s.api.Alert(ctx, m.Severity, m.Message); err != nil {
		return err
	}
	s.stats.Alerts++
	s.log.Info("alert", "severity", m.Severity, "message", m.Message)
	return nil
}

// ---- choices --------------------------------------------------------------

// delay is a uniform delay between lo and hi seconds of food-court time.
func (s *sim) delay(lo, hi float64) time.Duration {
	sec := lo + s.rng.Float64()*(hi-lo)
	return time.Duration(sec / s.opts.Speed * float64(time.Second))
}

// cookTime grows with what is on the order: drinks are quick, food is not.
// A stall cooks several orders at once, so a big order takes minutes, not
// the sum of its dishes.
func (s *sim) cookTime(o *order) time.Duration {
	sec := 30.0
	for _, it := range o.items {
		per := 18.0
		if isDrink(o.stall, it.Name) {
			per = 6
		}
		sec += per * float64(it.Quantity)
	}
	sec *= 0.6 + 0.6*s.rng.Float64()
	sec = math.Min(sec, 240)
	return time.Duration(sec / s.opts.Speed * float64(time.Second))
}

func isDrink(st *stall, name string) bool {
	for _, m := range st.menu {
		if m.Name == name {
			return m.Drink
		}
	}
	return false
}

// interarrival is exponential: customers arrive independently at Rate per minute.
func (s *sim) interarrival() time.Duration {
	mean := 60 / s.opts.Rate
	sec := math.Min(s.rng.ExpFloat64()*mean, 10*mean)
	return max(time.Duration(sec*float64(time.Second)), time.Millisecond)
}

func (s *sim) pickStall() *stall {
	n := s.rng.IntN(s.weights)
	for _, st := range s.stalls {
		if n < st.weight {
			return st
		}
		n -= st.weight
	}
	return s.stalls[len(s.stalls)-1]
}

// mainPrice is where a menu item counts as a dish one comes for.
const mainPrice = 12000

// pickItems makes 1–4 lines, mostly 1 or 2, from distinct menu items.
func (s *sim) pickItems(st *stall) []client.ItemRequest {
	lines := weighted(s.rng, []int{40, 35, 17, 8}) + 1
	lines = min(lines, len(st.menu))
	perm := s.rng.Perm(len(st.menu))
	// Lead with a main dish: nobody queues for a kerupuk alone.
	for j, i := range perm {
		if st.menu[i].Price >= mainPrice {
			perm[0], perm[j] = perm[j], perm[0]
			break
		}
	}
	items := make([]client.ItemRequest, 0, lines)
	for _, i := range perm[:lines] {
		m := st.menu[i]
		it := client.ItemRequest{Name: m.Name, Quantity: int64(weighted(s.rng, []int{75, 20, 5}) + 1), UnitPrice: m.Price}
		if s.rng.Float64() < 0.15 {
			if m.Drink {
				it.Notes = pick(s.rng, drinkNotes)
			} else {
				it.Notes = pick(s.rng, foodNotes)
			}
		}
		items = append(items, it)
	}
	return items
}

func (s *sim) pickMethod() domain.Method {
	return []domain.Method{domain.MethodCash, domain.MethodQRIS, domain.MethodEWallet, domain.MethodCard}[weighted(s.rng, []int{35, 35, 18, 12})]
}

// tender is what a customer paying cash hands over: the exact amount, or the
// next round sum a wallet holds (Rp 5.000, 10.000, 20.000, 50.000, 100.000).
// It is never less than total.
func tender(rng *mrand.Rand, total int64) int64 {
	steps := []int64{1000, 5000, 10000, 20000, 50000, 100000}
	amount := roundUp(total, steps[weighted(rng, []int{20, 25, 20, 10, 15, 10})])
	if amount < total { // overflow guard; cannot happen for real totals
		return total
	}
	return amount
}

func roundUp(n, step int64) int64 {
	if n%step == 0 {
		return n
	}
	return (n/step + 1) * step
}

func weighted(rng *mrand.Rand, weights []int) int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	n := rng.IntN(sum)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func pick[T any](rng *mrand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }
