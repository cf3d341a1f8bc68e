package display

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

type call struct {
	op     string
	id     int64
	status domain.Status
	reason string
}

// fakeAPI serves orders from memory and records the writes.
type fakeAPI struct {
	mu         sync.Mutex
	orders     map[int64]domain.Order
	head       int64
	calls      []call
	failSet    error
	failOrders error
}

func newFakeAPI(orders ...domain.Order) *fakeAPI {
	f := &fakeAPI{orders: map[int64]domain.Order{}, head: 10}
	for _, o := range orders {
		f.orders[o.ID] = o
	}
	return f
}

func (f *fakeAPI) Orders(_ context.Context, flt client.OrderFilter) (client.OrderList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{op: "orders"})
	if f.failOrders != nil {
		return client.OrderList{}, f.failOrders
	}
	var out []domain.Order
	for _, o := range f.orders {
		if flt.Open && !o.Status.Open() {
			continue
		}
		if flt.TenantID != 0 && o.TenantID != flt.TenantID {
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

func (f *fakeAPI) SetStatus(_ context.Context, id int64, s domain.Status, _ ...client.Option) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{op: "status", id: id, status: s})
	if f.failSet != nil {
		return domain.Order{}, f.failSet
	}
	o := f.orders[id]
	if err := domain.CheckTransition(o.Status, s); err != nil {
		return o, &client.APIError{Status: 409, Code: "conflict", Message: domain.ErrorMessage(err)}
	}
	o.Status = s
	f.orders[id] = o
	o.Items = nil // like the server's answer: no items
	return o, nil
}

func (f *fakeAPI) Cancel(_ context.Context, id int64, reason string, _ ...client.Option) (domain.Order, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{op: "cancel", id: id, reason: reason})
	o := f.orders[id]
	o.Status = domain.StatusCancelled
	o.CancelReason = reason
	f.orders[id] = o
	return o, nil
}

func (f *fakeAPI) Tenants(context.Context) ([]client.Tenant, error) {
	return []client.Tenant{{ID: 1, Name: "Warung Nasi Goreng", Code: "NG"}, {ID: 2, Name: "Bakso Pak Kumis", Code: "BK"}}, nil
}

func (f *fakeAPI) lastCall() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}
	}
	return f.calls[len(f.calls)-1]
}

// fakeStream is a stream the test feeds by hand.
type fakeStream struct {
	ch     chan client.Update
	mu     sync.Mutex
	resets []int64
	since  int64
	rooms  []string
}

func newFakeStream() *fakeStream { return &fakeStream{ch: make(chan client.Update, 64)} }

func (s *fakeStream) Updates() <-chan client.Update { return s.ch }
func (s *fakeStream) Reset(since int64) {
	s.mu.Lock()
	s.resets = append(s.resets, since)
	s.mu.Unlock()
}
func (s *fakeStream) Close() {}

func order(id, tenant int64, num, customer string, st domain.Status, created time.Time, items ...domain.Item) domain.Order {
	var total int64
	for i := range items {
		items[i].Subtotal = items[i].Quantity * items[i].UnitPrice
		total += items[i].Subtotal
	}
	return domain.Order{ID: id, TenantID: tenant, OrderNumber: num, CustomerName: customer, Status: st,
		TotalAmount: total, CreatedAt: created, UpdatedAt: created, Items: items}
}

func sampleOrders() []domain.Order {
	return []domain.Order{
		order(1, 1, "NG-001", "Budi", domain.StatusPending, t0.Add(-3*time.Minute),
			domain.Item{Name: "Nasi Goreng Spesial", Quantity: 2, UnitPrice: 25000, Notes: "pedas"},
			domain.Item{Name: "Es Teh Manis", Quantity: 2, UnitPrice: 5000}),
		order(2, 2, "BK-001", "Sari", domain.StatusPreparing, t0.Add(-6*time.Minute),
			domain.Item{Name: "Bakso Urat", Quantity: 1, UnitPrice: 22000}),
		func() domain.Order {
			o := order(3, 1, "NG-002", "Andi", domain.StatusReady, t0.Add(-12*time.Minute),
				domain.Item{Name: "Mie Goreng", Quantity: 1, UnitPrice: 20000})
			o.PaidAmount = 20000
			return o
		}(),
	}
}

func event(id int64, name, typ string, data any) client.Update {
	raw, _ := json.Marshal(data)
	return client.Update{Event: &client.Event{Name: name, Payload: client.Envelope{ID: id, Type: typ, Timestamp: t0, Data: raw}}}
}

func live() client.Update { return client.Update{State: &client.State{Conn: client.Live, Since: t0}} }

type harness struct {
	api    *fakeAPI
	stream *fakeStream
	clock  *testutil.Clock
	bell   *bytes.Buffer
	bellMu *sync.Mutex
	tm     *teatest.TestModel
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startDisplay(t *testing.T, tenant int64, extra ...domain.Order) *harness {
	t.Helper()
	h := &harness{api: newFakeAPI(append(sampleOrders(), extra...)...), stream: newFakeStream(), clock: testutil.NewClock(t0), bell: &bytes.Buffer{}, bellMu: &sync.Mutex{}}
	m := New(Config{
		API:      h.api,
		TenantID: tenant,
		Subscribe: func(since int64, rooms []string) widgets.Stream {
			h.stream.mu.Lock()
			h.stream.since, h.stream.rooms = since, rooms
			h.stream.mu.Unlock()
			return h.stream
		},
		Now:    h.clock.Now,
		Bell:   lockedWriter{h.bellMu, h.bell},
		NoTick: true,
	})
	h.tm = teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
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

func (h *harness) send(u client.Update) { h.stream.ch <- u }

func TestDisplayGolden(t *testing.T) {
	t.Run("first_render", func(t *testing.T) {
		h := startDisplay(t, 0)
		h.send(live())
		h.waitFor(t, "LIVE")
		m := h.final(t)
		if h.stream.since != 10 || len(h.stream.rooms) != 1 || h.stream.rooms[0] != "display" {
			t.Fatalf("stream since=%d rooms=%v, want 10 [display]", h.stream.since, h.stream.rooms)
		}
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("new_order", func(t *testing.T) {
		h := startDisplay(t, 0)
		h.send(live())
		h.waitFor(t, "LIVE")
		o := order(4, 2, "BK-002", "Dewi", domain.StatusPending, t0,
			domain.Item{Name: "Mie Ayam", Quantity: 3, UnitPrice: 18000, Notes: "tanpa sawi"})
		h.api.mu.Lock()
		h.api.orders[4] = o
		h.api.mu.Unlock()
		h.clock.Set(t0.Add(5 * time.Second))
		h.send(event(11, domain.EventOrderCreated, "order_created", domain.OrderCreatedData{
			OrderID: 4, OrderNumber: "BK-002", CustomerName: "Dewi", TotalAmount: 54000, ItemsCount: 3, Status: domain.StatusPending}))
		h.waitFor(t, "3× Mie Ayam")
		m := h.final(t)
		h.bellMu.Lock()
		rung := h.bell.String()
		h.bellMu.Unlock()
		if rung != "\a" {
			t.Fatalf("bell = %q, want one BEL", rung)
		}
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("bump", func(t *testing.T) {
		h := startDisplay(t, 0)
		h.send(live())
		h.waitFor(t, "LIVE")
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "NG-001 → preparing")
		m := h.final(t)
		if c := h.api.lastCall(); c.op != "status" || c.id != 1 || c.status != domain.StatusPreparing {
			t.Fatalf("last call %+v, want status 1 preparing", c)
		}
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("cancel_with_reason", func(t *testing.T) {
		h := startDisplay(t, 0)
		h.send(live())
		h.waitFor(t, "LIVE")
		h.tm.Type("x")
		h.tm.Type("stok habis")
		h.waitFor(t, "stok habis")
		h.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		h.waitFor(t, "CANCELLED")
		m := h.final(t)
		if c := h.api.lastCall(); c.op != "cancel" || c.reason != "stok habis" {
			t.Fatalf("call %+v", c)
		}
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("ages", func(t *testing.T) {
		h := startDisplay(t, 1)
		h.send(live())
		h.waitFor(t, "LIVE")
		// Three minutes on: NG-001 (then 3 min old) has passed --warn.
		h.clock.Set(t0.Add(3 * time.Minute))
		h.tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
		h.waitFor(t, "6:00 !")
		m := h.final(t)
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("reconnecting", func(t *testing.T) {
		h := startDisplay(t, 0)
		h.send(live())
		h.waitFor(t, "LIVE")
		h.clock.Set(t0.Add(20 * time.Second))
		h.send(client.Update{State: &client.State{Conn: client.Reconnecting, Attempt: 3, Since: t0.Add(12 * time.Second), CloseCode: 1001}})
		h.waitFor(t, "attempt 3")
		m := h.final(t)
		golden.RequireEqual(t, []byte(m.View()))
	})
	t.Run("grid_160x30", func(t *testing.T) {
		var more []domain.Order
		for i := int64(0); i < 5; i++ {
			more = append(more, order(20+i, 1, fmt.Sprintf("NG-%03d", 20+i), "Tamu", domain.StatusPending, t0.Add(-time.Duration(i)*time.Minute),
				domain.Item{Name: "Nasi Goreng", Quantity: i + 1, UnitPrice: 20000}))
		}
		h := startDisplay(t, 0, more...)
		h.tm.Send(tea.WindowSizeMsg{Width: 160, Height: 30})
		h.send(live())
		h.waitFor(t, "LIVE")
		golden.RequireEqual(t, []byte(h.final(t).View()))
	})
	t.Run("resize_wide", func(t *testing.T) {
		h := startDisplay(t, 0)
		h.send(live())
		h.waitFor(t, "LIVE")
		h.tm.Send(tea.WindowSizeMsg{Width: 120, Height: 30})
		h.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("a")})
		h.waitFor(t, "ALL DAY")
		m := h.final(t)
		golden.RequireEqual(t, []byte(m.View()))
	})
}

func TestAgeColours(t *testing.T) {
	lipgloss.SetColorProfile(termenv.ANSI)
	defer lipgloss.SetColorProfile(termenv.Ascii)
	c := testutil.NewClock(t0)
	m := New(Config{Now: c.Now, Warn: 5 * time.Minute, Late: 10 * time.Minute})
	for _, tc := range []struct {
		age  time.Duration
		want Age
		sgr  string
	}{
		{4 * time.Minute, AgeOK, "32"}, {5 * time.Minute, AgeWarn, "33"}, {10 * time.Minute, AgeLate, "31"},
	} {
		if got := m.AgeOf(tc.age); got != tc.want {
			t.Errorf("AgeOf(%v) = %v, want %v", tc.age, got, tc.want)
		}
		if out := m.timer(t0.Add(-tc.age)); !strings.Contains(out, tc.sgr) {
			t.Errorf("timer at %v = %q, want colour %s", tc.age, out, tc.sgr)
		}
	}
}
