package kasir

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/tui/widgets"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)

// fakeAPI keeps orders and payments in memory with the server's rules.
type fakeAPI struct {
	mu       sync.Mutex
	orders   map[int64]domain.Order
	payments []domain.Payment
	nextID   int64
	head     int64
	pays     []client.PayRequest
	refunds  []string
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{orders: map[int64]domain.Order{}, nextID: 100, head: 20}
	add := func(id, tenant int64, num, cust string, created time.Time, items ...domain.Item) {
		var total int64
		for i := range items {
			items[i].Subtotal = items[i].Quantity * items[i].UnitPrice
			total += items[i].Subtotal
		}
		f.orders[id] = domain.Order{ID: id, TenantID: tenant, OrderNumber: num, CustomerName: cust, Status: domain.StatusPending,
			TotalAmount: total, CreatedAt: created, Items: items,
			QR: &domain.QRCode{ID: id, OrderID: id, Token: "qr-" + num, Code: fmt.Sprintf("K7M%03d", id%1000), Status: domain.QRActive}}
	}
	add(1, 1, "NG-001", "Budi", t0.Add(-4*time.Minute),
		domain.Item{Name: "Nasi Goreng Spesial", Quantity: 2, UnitPrice: 25000},
		domain.Item{Name: "Es Teh Manis", Quantity: 2, UnitPrice: 5000})
	add(2, 2, "BK-001", "Sari", t0.Add(-2*time.Minute), domain.Item{Name: "Bakso Urat", Quantity: 1, UnitPrice: 22000})
	add(3, 1, "NG-002", "Andi", t0.Add(-1*time.Minute), domain.Item{Name: "Mie Goreng", Quantity: 1, UnitPrice: 20000})
	f.payments = []domain.Payment{
		{ID: 10, Kind: domain.KindPayment, OrderID: 50, OrderNumber: "SB-004", CounterID: 1, Method: domain.MethodCash, Amount: 30000, AmountPaid: 50000, Change: 20000, Status: "success", Reference: "PAY-1-AAAAAA", CreatedAt: t0.Add(-30 * time.Minute)},
		{ID: 11, Kind: domain.KindPayment, OrderID: 51, OrderNumber: "EC-002", CounterID: 1, Method: domain.MethodQRIS, Amount: 18000, AmountPaid: 18000, Status: "success", Reference: "PAY-2-BBBBBB", CreatedAt: t0.Add(-20 * time.Minute)},
	}
	return f
}

func (f *fakeAPI) Orders(_ context.Context, flt client.OrderFilter) (client.OrderList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.Order
	for _, o := range f.orders {
		if (flt.Open && !o.Status.Open()) || (flt.Unpaid && o.Paid()) {
			continue
		}
		out = append(out, o)
	}
	return client.OrderList{Orders: out, LastEventID: f.head}, nil
}

func (f *fakeAPI) Order(_ context.Context, id int64) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[id]
	if !ok {
		return o, &client.APIError{Status: 404, Code: "not_found", Message: "no such order"}
	}
	return o, nil
}

func (f *fakeAPI) Pay(_ context.Context, req client.PayRequest, opts ...client.Option) (domain.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pays = append(f.pays, req)
	o := f.orders[req.OrderID]
	charged, change, err := domain.SettlePayment(req.PaymentMethod, o.TotalAmount, req.AmountPaid)
	if err != nil {
		return domain.Payment{}, &client.APIError{Status: 422, Code: "unprocessable", Message: domain.ErrorMessage(err), Details: domain.ErrorDetails(err)}
	}
	f.nextID++
	p := domain.Payment{ID: f.nextID, Kind: domain.KindPayment, OrderID: o.ID, TenantID: o.TenantID, CounterID: req.CounterID,
		OrderNumber: o.OrderNumber, Method: req.PaymentMethod, Amount: charged, AmountPaid: req.AmountPaid, Change: change,
		Status: "success", Reference: "PAY-1770112800000-K4S1R0", CreatedAt: t0}
	o.PaidAmount = charged
	f.orders[o.ID] = o
	f.payments = append(f.payments, p)
	return p, nil
}

func (f *fakeAPI) Payments(context.Context, int64, time.Time) ([]domain.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]domain.Payment(nil), f.payments...), nil
}

func (f *fakeAPI) Refund(_ context.Context, id int64, reason string, amount int64, _ ...client.Option) (domain.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refunds = append(f.refunds, reason)
	for i := range f.payments {
		p := &f.payments[i]
		if p.ID != id {
			continue
		}
		amt, err := domain.CheckRefund(p, amount)
		if err != nil {
			return domain.Payment{}, &client.APIError{Status: 422, Code: "unprocessable", Message: domain.ErrorMessage(err), Details: domain.ErrorDetails(err)}
		}
		p.Refunded += amt
		f.nextID++
		r := domain.Payment{ID: f.nextID, Kind: domain.KindRefund, OrderID: p.OrderID, OrderNumber: p.OrderNumber, Method: p.Method,
			Amount: amt, Status: "success", Reference: "REFUND-PAY-1770112800000-R3FUND", OriginalPaymentID: p.ID, Reason: reason, CreatedAt: t0}
		f.payments = append(f.payments, r)
		return r, nil
	}
	return domain.Payment{}, &client.APIError{Status: 404, Code: "not_found", Message: "no such payment"}
}

func (f *fakeAPI) Counters(context.Context) ([]client.Counter, error) {
	return []client.Counter{{ID: 1, Name: "Kasir Utama"}}, nil
}

func (f *fakeAPI) Tenants(context.Context) ([]client.Tenant, error) {
	return []client.Tenant{{ID: 1, Name: "Warung Nasi Goreng", Code: "NG"}, {ID: 2, Name: "Bakso Pak Kumis", Code: "BK"}}, nil
}

type fakeStream struct {
	ch     chan client.Update
	mu     sync.Mutex
	since  int64
	rooms  []string
	resets []int64
}

func newFakeStream() *fakeStream                    { return &fakeStream{ch: make(chan client.Update, 64)} }
func (s *fakeStream) Updates() <-chan client.Update { return s.ch }
func (s *fakeStream) Reset(since int64) {
	s.mu.Lock()
	s.resets = append(s.resets, since)
	s.mu.Unlock()
}
func (s *fakeStream) Close() {}

func event(id int64, name string, data any) client.Update {
	raw, _ := json.Marshal(data)
	return client.Update{Event: &client.Event{Name: name, Payload: client.Envelope{ID: id, Timestamp: t0, Data: raw}}}
}

func live() client.Update { return client.Update{State: &client.State{Conn: client.Live, Since: t0}} }

func config(api *fakeAPI, s *fakeStream, c *testutil.Clock) Config {
	n := 0
	return Config{
		API: api, CounterID: 1, ShiftStart: t0.Add(-time.Hour), Float: 200000, Now: c.Now, NoTick: true,
		NewKey: func() string { n++; return "key-" + string(rune('a'+n)) },
		Subscribe: func(since int64, rooms []string) widgets.Stream {
			s.mu.Lock()
			s.since, s.rooms = since, rooms
			s.mu.Unlock()
			return s
		},
	}
}

type harness struct {
	api    *fakeAPI
	stream *fakeStream
	clock  *testutil.Clock
	tm     *teatest.TestModel
}

func start(t *testing.T) *harness {
	t.Helper()
	h := &harness{api: newFakeAPI(), stream: newFakeStream(), clock: testutil.NewClock(t0)}
	h.tm = teatest.NewTestModel(t, New(config(h.api, h.stream, h.clock)), teatest.WithInitialTermSize(80, 24))
	h.stream.ch <- live()
	h.waitFor(t, "LIVE")
	return h
}

func (h *harness) waitFor(t *testing.T, what string) {
	t.Helper()
	teatest.WaitFor(t, h.tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(what)) },
		teatest.WithDuration(15*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func (h *harness) final(t *testing.T) *Model {
	t.Helper()
	if err := h.tm.Quit(); err != nil {
		t.Fatal(err)
	}
	return h.tm.FinalModel(t, teatest.WithFinalTimeout(15*time.Second)).(*Model)
}

func TestKasirGolden(t *testing.T) {
	t.Run("first_render", func(t *testing.T) {
		h := start(t)
		m := h.final(t)
		if h.stream.since != 20 || strings.Join(h.stream.rooms, ",") != "display,kasir-1" {
			t.Fatalf("stream since=%d rooms=%v", h.stream.since, h.stream.rooms)
		}
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("payment_form", func(t *testing.T) {
		h := start(t)
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "Es Teh Manis                      Rp 10.000")
		h.tm.Type("100000")
		h.waitFor(t, "Change   Rp 40.000")
		golden.RequireEqual(t, []byte(h.final(t).View()))
	})
	t.Run("receipt_with_change", func(t *testing.T) {
		h := start(t)
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "Es Teh Manis                      Rp 10.000")
		h.tm.Type("100.000")
		h.waitFor(t, "Change   Rp 40.000")
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "Terima kasih")
		m := h.final(t)
		// The code a person reads aloud, not the 22-character QR token.
		if v := m.View(); !strings.Contains(v, "Pickup code K7M001") || strings.Contains(v, "qr-NG-001") {
			t.Fatalf("receipt does not show the pickup code:\n%s", v)
		}
		if len(h.api.pays) != 1 || h.api.pays[0] != (client.PayRequest{OrderID: 1, AmountPaid: 100000, PaymentMethod: domain.MethodCash, CounterID: 1}) {
			t.Fatalf("pays %+v", h.api.pays)
		}
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("underpaid_refused", func(t *testing.T) {
		h := start(t)
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "Es Teh Manis                      Rp 10.000")
		h.tm.Type("50000")
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "Rp 50.000 was tendered")
		golden.RequireEqual(t, []byte(h.final(t).View()))
	})
	t.Run("refund_form", func(t *testing.T) {
		h := start(t)
		h.tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		h.tm.Send(tea.KeyMsg{Type: tea.KeyDown})
		h.tm.Type("r")
		h.tm.Type("salah pesan")
		h.tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		h.tm.Type("10000")
		h.waitFor(t, "Rp 10.000")
		golden.RequireEqual(t, []byte(h.final(t).View()))
	})
	t.Run("alert_banner", func(t *testing.T) {
		h := start(t)
		h.stream.ch <- client.Update{Event: &client.Event{Name: domain.EventAlert, Payload: client.Envelope{ID: 21, Type: "system_alert", Severity: "warning", Message: "System maintenance in 5 minutes", Timestamp: t0}}}
		h.waitFor(t, "maintenance")
		golden.RequireEqual(t, []byte(h.final(t).View()))
	})
	t.Run("reconnecting", func(t *testing.T) {
		h := start(t)
		h.clock.Set(t0.Add(9 * time.Second))
		h.stream.ch <- client.Update{State: &client.State{Conn: client.Reconnecting, Attempt: 2, Since: t0.Add(4 * time.Second), CloseCode: 4008}}
		h.waitFor(t, "attempt 2")
		golden.RequireEqual(t, []byte(h.final(t).View()))
	})
}
