package demo

import (
	"context"
	"errors"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

// virtualClock makes every sleep instant: a whole lunch hour runs in
// milliseconds and the outcome depends on the seed alone.
type virtualClock struct{ now time.Time }

func (c *virtualClock) Now() time.Time { return c.now }

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runVirtual runs the demo to the end of maxOrders orders on virtual time.
func runVirtual(t *testing.T, api *fakeAPI, seed int64, maxOrders int) *sim {
	t.Helper()
	opts := Options{Seed: seed, MaxOrders: maxOrders, Logger: quiet(),
		clock: &virtualClock{now: time.Date(2026, 1, 5, 11, 0, 0, 0, time.UTC)}}
	if err := opts.normalize(); err != nil {
		t.Fatal(err)
	}
	s := newSim(api, opts)
	if err := s.setup(t.Context()); err != nil {
		t.Fatalf("setup: %v", err)
	}
	s.loop(t.Context())
	return s
}

func menuPrice(name string) (int64, bool) {
	for _, st := range foodCourt {
		for _, m := range st.Menu {
			if m.Name == name {
				return m.Price, true
			}
		}
	}
	return 0, false
}

func TestTrafficIsLegal(t *testing.T) {
	api := newFakeAPI()
	s := runVirtual(t, api, 42, 400)

	if r := api.refusals(); len(r) > 0 {
		t.Fatalf("the server had to refuse %d calls; first: %s", len(r), r[0])
	}
	if got, want := len(api.tenants), len(foodCourt); got != want {
		t.Errorf("tenants = %d, want %d", got, want)
	}
	if got, want := len(api.counters), 2; got != want {
		t.Errorf("counters = %d, want %d", got, want)
	}
	if got, want := len(api.orders), 400; got != want {
		t.Fatalf("orders = %d, want %d", got, want)
	}
	methods := map[domain.Method]int{}
	var change, cancelled, cancelledPaid, refunded, partial int
	for _, p := range api.payments {
		if p.Kind != domain.KindPayment {
			continue
		}
		o := api.orders[p.OrderID]
		methods[p.Method]++
		if p.AmountPaid < o.TotalAmount {
			t.Errorf("%s: paid %d for a total of %d", o.OrderNumber, p.AmountPaid, o.TotalAmount)
		}
		if p.Method != domain.MethodCash && p.AmountPaid != o.TotalAmount {
			t.Errorf("%s: %s payment of %d for a total of %d, want exact", o.OrderNumber, p.Method, p.AmountPaid, o.TotalAmount)
		}
		if p.Method == domain.MethodCash && p.AmountPaid%1000 != 0 {
			t.Errorf("%s: cash tendered %d is not a sum of notes", o.OrderNumber, p.AmountPaid)
		}
		if p.Change > 0 {
			change++
		}
		if p.Refunded > 0 && o.Status == domain.StatusCompleted {
			refunded++
			if p.Refunded < p.Amount {
				partial++
			}
		}
	}
	for id, o := range api.orders {
		if n := len(o.Items); n < 1 || n > 4 {
			t.Errorf("%s has %d lines, want 1–4", o.OrderNumber, n)
		}
		if o.Items[0].UnitPrice < mainPrice {
			t.Errorf("%s starts with a side, %q", o.OrderNumber, o.Items[0].Name)
		}
		for _, it := range o.Items {
			price, ok := menuPrice(it.Name)
			if !ok || price != it.UnitPrice || it.UnitPrice <= 0 || it.UnitPrice%500 != 0 {
				t.Errorf("%s: %q at %d is not on a menu", o.OrderNumber, it.Name, it.UnitPrice)
			}
			if it.Quantity < 1 || it.Quantity > 3 {
				t.Errorf("%s: quantity %d", o.OrderNumber, it.Quantity)
			}
		}
		if !slices.Contains(customerNames, o.CustomerName) {
			t.Errorf("%s: customer %q", o.OrderNumber, o.CustomerName)
		}
		h := api.history[id]
		switch o.Status {
		case domain.StatusCompleted:
			want := []domain.Status{domain.StatusPending, domain.StatusPreparing, domain.StatusReady, domain.StatusCompleted}
			if !slices.Equal(h, want) {
				t.Errorf("%s went %v, want %v", o.OrderNumber, h, want)
			}
			if o.PaidAmount != o.TotalAmount {
				t.Errorf("%s completed with %d paid of %d", o.OrderNumber, o.PaidAmount, o.TotalAmount)
			}
			if o.QR.ScannedCount != 1 {
				t.Errorf("%s completed with %d QR scans, want 1", o.OrderNumber, o.QR.ScannedCount)
			}
		case domain.StatusCancelled:
			cancelled++
			if h[len(h)-2] == domain.StatusReady || h[len(h)-2] == domain.StatusCompleted {
				t.Errorf("%s cancelled after %v", o.OrderNumber, h)
			}
			if o.PaidAmount > 0 {
				cancelledPaid++
				if o.Refunded != o.PaidAmount {
					t.Errorf("%s cancelled with %d paid and %d refunded", o.OrderNumber, o.PaidAmount, o.Refunded)
				}
			}
		default:
			t.Errorf("%s left %s at the end of the run", o.OrderNumber, o.Status)
		}
	}
	for _, m := range domain.Methods {
		if methods[m] == 0 {
			t.Errorf("no %s payments in 400 orders", m)
		}
	}
	if change == 0 || cancelled == 0 || refunded == 0 || partial == 0 {
		t.Errorf("want some of each: cash with change %d, cancelled %d, refunded after pickup %d (partial %d)",
			change, cancelled, refunded, partial)
	}
	if cancelled > 60 {
		t.Errorf("%d of 400 orders cancelled: a food court, not a riot", cancelled)
	}
	if s.stats.Orders != 400 || s.stats.Cancelled != cancelled || s.stats.Refunds != refunded || s.stats.Errors != 0 {
		t.Errorf("stats %+v disagree with the server (cancelled %d, refunded %d)", s.stats, cancelled, refunded)
	}
	if len(s.orders) != 0 || len(s.q) != 0 {
		t.Errorf("run ended with %d orders and %d actions pending", len(s.orders), len(s.q))
	}
	t.Logf("400 orders: %d cancelled (%d of them paid), %d refunded after pickup, methods %v, %d alerts",
		cancelled, cancelledPaid, refunded, methods, s.stats.Alerts)
}

func TestSameSeedSameTraffic(t *testing.T) {
	calls := func(seed int64) []string {
		api := newFakeAPI()
		runVirtual(t, api, seed, 60)
		return api.calls
	}
	a, b := calls(7), calls(7)
	if !slices.Equal(a, b) {
		t.Fatalf("two runs with seed 7 differ:\n%v\n%v", a[:min(len(a), 10)], b[:min(len(b), 10)])
	}
	if c := calls(8); slices.Equal(a, c) {
		t.Error("seeds 7 and 8 made the same traffic")
	}
}

// A second run finds the food court of the first: it opens no stall or
// counter and finishes the orders that were left open.
func TestReusesFoodCourtAndAdoptsOpenOrders(t *testing.T) {
	api := newFakeAPI()
	runVirtual(t, api, 1, 20)
	ctx := t.Context()
	left, err := api.CreateOrder(ctx, clientOrder(api.tenants[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.SetStatus(ctx, left.ID, domain.StatusPreparing); err != nil {
		t.Fatal(err)
	}
	api.calls = nil

	runVirtual(t, api, 2, 5)
	for _, c := range api.calls {
		if strings.HasPrefix(c, "CreateTenant") || strings.HasPrefix(c, "CreateCounter") {
			t.Errorf("second run called %s", c)
		}
	}
	if o := api.orders[left.ID]; o.Status != domain.StatusCompleted || o.PaidAmount != o.TotalAmount {
		t.Errorf("left-over order ended %s with %d paid, want completed and paid", o.Status, o.PaidAmount)
	}
	if r := api.refusals(); len(r) > 0 {
		t.Errorf("refusals: %v", r)
	}
}

// Staff bump, pay and cancel orders in their consoles while the demo runs;
// the demo takes that in its stride and still finishes every order.
func TestFollowsChangesMadeElsewhere(t *testing.T) {
	api := newFakeAPI()
	rng := mrand.New(mrand.NewPCG(3, 3))
	meddled := 0
	api.meddle = func(f *fakeAPI, o *domain.Order) bool {
		if rng.IntN(10) != 0 {
			return false
		}
		meddled++
		switch {
		case rng.IntN(4) == 0 && o.Status.Open() && o.Status != domain.StatusReady:
			_ = f.cancel(o, "dibatalkan kasir")
		case o.PaidAmount == 0 && o.Status.Open() && rng.IntN(2) == 0:
			_, _ = f.pay(o, o.TotalAmount, domain.MethodQRIS, f.counters[0].ID)
		case o.Status.Next() != "":
			_ = f.setStatus(o, o.Status.Next())
		}
		return true
	}
	s := runVirtual(t, api, 99, 200)
	if meddled == 0 || s.stats.Resyncs == 0 {
		t.Fatalf("test did not exercise anything: meddled %d, resyncs %d", meddled, s.stats.Resyncs)
	}
	for _, o := range api.orders {
		if o.Status.Open() {
			t.Errorf("%s left %s", o.OrderNumber, o.Status)
		}
	}
	for _, r := range api.refusals() {
		if !strings.Contains(r, "illegal transition") && !strings.Contains(r, "already paid") &&
			!strings.Contains(r, "can no longer be cancelled") && !strings.Contains(r, "order is ") {
			t.Errorf("refusal not explained by a concurrent change: %s", r)
		}
	}
	if len(s.orders) != 0 {
		t.Errorf("%d orders still tracked", len(s.orders))
	}
}

func TestTender(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 5))
	for total := int64(1000); total < 400_000; total += 1500 {
		got := tender(rng, total)
		if got < total || got%1000 != 0 || got > total+100_000 {
			t.Fatalf("tender(%d) = %d", total, got)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{Rate: -1}, {Speed: -2}, {MaxOrders: -1}, {Rate: 1e9}} {
		if err := o.normalize(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o := Options{}
	if err := o.normalize(); err != nil || o.Rate != DefaultRate || o.Speed != DefaultSpeed || o.Seed == 0 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
}

// Run on real time stops when its context ends and says nothing is wrong.
func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	api := newFakeAPI()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, api, Options{Rate: 6000, Speed: 1000, Seed: 1, Logger: quiet()}) }()
	testutil.Eventually(t, 10*time.Second, "five orders", func() bool {
		api.mu.Lock()
		defer api.mu.Unlock()
		return len(api.orders) >= 5
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
}

// flakyAPI is the fake with an outage: calls number from..to fail as if the
// server were restarting.
type flakyAPI struct {
	*fakeAPI
	n, from, to int
}

func (f *flakyAPI) down() error {
	f.n++
	if f.n >= f.from && f.n <= f.to {
		return &client.UnreachableError{Server: "http://fake", Err: errors.New("connection refused")}
	}
	return nil
}

func (f *flakyAPI) CreateOrder(ctx context.Context, r client.OrderRequest, o ...client.Option) (domain.Order, error) {
	if err := f.down(); err != nil {
		return domain.Order{}, err
	}
	return f.fakeAPI.CreateOrder(ctx, r, o...)
}

func (f *flakyAPI) SetStatus(ctx context.Context, id int64, st domain.Status, o ...client.Option) (domain.Order, error) {
	if err := f.down(); err != nil {
		return domain.Order{}, err
	}
	return f.fakeAPI.SetStatus(ctx, id, st, o...)
}

func (f *flakyAPI) Pay(ctx context.Context, r client.PayRequest, o ...client.Option) (domain.Payment, error) {
	if err := f.down(); err != nil {
		return domain.Payment{}, err
	}
	return f.fakeAPI.Pay(ctx, r, o...)
}

func (f *flakyAPI) ScanQR(ctx context.Context, token string, o ...client.Option) (domain.QRCode, error) {
	if err := f.down(); err != nil {
		return domain.QRCode{}, err
	}
	return f.fakeAPI.ScanQR(ctx, token, o...)
}

func (f *flakyAPI) ScanCode(ctx context.Context, code string, o ...client.Option) (domain.QRCode, error) {
	if err := f.down(); err != nil {
		return domain.QRCode{}, err
	}
	return f.fakeAPI.ScanCode(ctx, code, o...)
}

// A server restart in the middle of lunch: the demo waits it out and every
// order still ends properly, each completed one scanned exactly once.
func TestSurvivesOutage(t *testing.T) {
	fake := newFakeAPI()
	api := &flakyAPI{fakeAPI: fake, from: 150, to: 230}
	opts := Options{Seed: 5, MaxOrders: 120, Logger: quiet(),
		clock: &virtualClock{now: time.Date(2026, 1, 5, 11, 0, 0, 0, time.UTC)}}
	if err := opts.normalize(); err != nil {
		t.Fatal(err)
	}
	s := newSim(api, opts)
	if err := s.setup(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.loop(t.Context())
	if api.n < api.to {
		t.Fatalf("the outage never happened (%d calls)", api.n)
	}
	if s.stats.Errors == 0 {
		t.Fatal("no errors seen during the outage")
	}
	if got := len(fake.orders); got != 120 {
		t.Errorf("orders = %d, want 120 (arrivals retried)", got)
	}
	for _, o := range fake.orders {
		switch o.Status {
		case domain.StatusCompleted:
			if o.QR.ScannedCount != 1 {
				t.Errorf("%s completed with %d scans", o.OrderNumber, o.QR.ScannedCount)
			}
		case domain.StatusCancelled:
		default:
			t.Errorf("%s left %s", o.OrderNumber, o.Status)
		}
	}
	if r := fake.refusals(); len(r) > 0 {
		t.Errorf("refusals: %v", r)
	}
}

// revokingAPI refuses every call after the first n order creations, as a
// server does once the demo's token is revoked.
type revokingAPI struct {
	*fakeAPI
	n int
}

func (r *revokingAPI) CreateOrder(ctx context.Context, req client.OrderRequest, o ...client.Option) (domain.Order, error) {
	if r.n == 0 {
		return domain.Order{}, &client.APIError{Status: 401, Code: "unauthorized", Message: "token revoked"}
	}
	r.n--
	return r.fakeAPI.CreateOrder(ctx, req, o...)
}

func (r *revokingAPI) SetStatus(ctx context.Context, id int64, st domain.Status, o ...client.Option) (domain.Order, error) {
	if r.n == 0 {
		return domain.Order{}, &client.APIError{Status: 401, Code: "unauthorized", Message: "token revoked"}
	}
	return r.fakeAPI.SetStatus(ctx, id, st, o...)
}

// A revoked token ends the run with an error instead of an endless stream
// of refusals.
func TestStopsWhenTokenRevoked(t *testing.T) {
	api := &revokingAPI{fakeAPI: newFakeAPI(), n: 3}
	opts := Options{Seed: 9, Logger: quiet(), clock: &virtualClock{now: time.Date(2026, 1, 5, 11, 0, 0, 0, time.UTC)}}
	err := Run(t.Context(), api, opts)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("Run = %v, want the 401", err)
	}
}
