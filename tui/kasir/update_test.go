package kasir

import (
	"math"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/tui/widgets"
)

// drive runs msg through Update and every Cmd it returns, synchronously.
func drive(m *Model, msg tea.Msg) (quit bool) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		msg := queue[0]
		queue = queue[1:]
		switch msg := msg.(type) {
		case nil:
			continue
		case tea.BatchMsg:
			for _, c := range msg {
				if c != nil {
					queue = append(queue, c())
				}
			}
			continue
		case tea.QuitMsg:
			quit = true
			continue
		case widgets.TickMsg:
			m.Update(msg)
			continue
		}
		_, cmd := m.Update(msg)
		if cmd != nil {
			queue = append(queue, cmd())
		}
	}
	return quit
}

type unit struct {
	m      *Model
	api    *fakeAPI
	stream *fakeStream
	clock  *testutil.Clock
}

func newUnit(t *testing.T) *unit {
	t.Helper()
	u := &unit{api: newFakeAPI(), stream: newFakeStream(), clock: testutil.NewClock(t0)}
	close(u.stream.ch) // the re-arming Cmd returns at once
	u.m = New(config(u.api, u.stream, u.clock))
	drive(u.m, u.m.Init()())
	if !u.m.live.Loaded() || u.m.live.Stream() == nil || len(u.m.queue) != 3 || len(u.m.payments) != 2 {
		t.Fatalf("not loaded: %d orders, %d payments", len(u.m.queue), len(u.m.payments))
	}
	return u
}

func (u *unit) event(up client.Update) { drive(u.m, widgets.UpdateMsg{Stream: u.stream, Update: up}) }

func keyRunes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var (
	keyEnter = tea.KeyMsg{Type: tea.KeyEnter}
	keyEsc   = tea.KeyMsg{Type: tea.KeyEsc}
	keyTab   = tea.KeyMsg{Type: tea.KeyTab}
	keyUp    = tea.KeyMsg{Type: tea.KeyUp}
	keyDown  = tea.KeyMsg{Type: tea.KeyDown}
	keyLeft  = tea.KeyMsg{Type: tea.KeyLeft}
	keyRight = tea.KeyMsg{Type: tea.KeyRight}
)

func TestKeyMoveAndFocus(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyDown)
	drive(m, keyRunes("j"))
	if o, _ := m.selectedOrder(); o.ID != 3 {
		t.Fatalf("selected %d, want 3", o.ID)
	}
	drive(m, keyDown) // stays at the end
	drive(m, keyUp)
	if o, _ := m.selectedOrder(); o.ID != 2 {
		t.Fatalf("selected %d, want 2", o.ID)
	}
	drive(m, keyTab)
	if m.focus != 1 {
		t.Fatal("tab does not focus payments")
	}
	drive(m, keyRunes("j"))
	if p, _ := m.selectedPayment(); p.ID != 10 {
		t.Fatalf("payment %d, want 10 (newest first)", p.ID)
	}
	drive(m, keyRunes("k"))
	if p, _ := m.selectedPayment(); p.ID != 11 {
		t.Fatalf("payment %d, want 11", p.ID)
	}
	drive(m, keyEnter) // pay does nothing on the payments list
	if m.mode != modeMain {
		t.Fatal("enter on payments opened a form")
	}
	drive(m, keyTab)
	if m.focus != 0 {
		t.Fatal("tab does not go back")
	}
}

func TestKeyPayFlow(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyRunes("p"))
	if m.mode != modePay || m.pay.order.ID != 1 || !m.pay.full {
		t.Fatalf("mode %v pay %+v", m.mode, m.pay)
	}
	// Methods cycle both ways; only cash takes a typed amount.
	drive(m, keyRight)
	if domain.Methods[m.pay.method] != domain.MethodQRIS {
		t.Fatal("→ is not QRIS")
	}
	drive(m, keyRunes("5"))
	if m.pay.tendered.Value() != "" {
		t.Fatal("digits typed for QRIS")
	}
	drive(m, keyTab)
	drive(m, keyLeft)
	drive(m, keyLeft)
	drive(m, keyLeft)
	if domain.Methods[m.pay.method] != domain.MethodEWallet {
		t.Fatalf("method %s, want ewallet", domain.Methods[m.pay.method])
	}
	drive(m, keyRight) // wraps to cash
	if domain.Methods[m.pay.method] != domain.MethodCash {
		t.Fatal("no wrap to cash")
	}
	drive(m, keyRunes("7x0")) // a non-digit is ignored whole
	drive(m, keyRunes("70"))
	drive(m, tea.KeyMsg{Type: tea.KeyBackspace})
	drive(m, keyRunes("0000"))
	if n, ok := m.pay.tenderedAmount(); !ok || n != 70000 {
		t.Fatalf("tendered %d %v", n, ok)
	}
	firstKey := m.pay.key
	drive(m, keyEnter)
	if m.mode != modeReceipt || m.receipt.payment.Change != 10000 || len(m.receipt.order.Items) != 2 {
		t.Fatalf("mode %v receipt %+v", m.mode, m.receipt)
	}
	if _, ok := m.queue[1]; ok {
		t.Fatal("paid order still queued")
	}
	if s := m.Summary(); s.Count[domain.MethodCash] != 2 || s.Drawer != 200000+30000+60000 {
		t.Fatalf("summary %+v", s)
	}
	drive(m, keyEnter)
	if m.mode != modeMain {
		t.Fatal("enter does not close the receipt")
	}
	// An underpayment is refused with the reason; a corrected one goes through with a new key.
	drive(m, keyEnter) // BK-001, Rp 22.000
	drive(m, keyRunes("20000"))
	drive(m, keyEnter)
	if m.mode != modePay || m.pay.err == "" || m.pay.key == firstKey {
		t.Fatalf("underpaid: mode %v err %q", m.mode, m.pay.err)
	}
	refusedKey := m.pay.key
	drive(m, tea.KeyMsg{Type: tea.KeyCtrlU})
	drive(m, keyEnter) // empty: exact
	if m.mode != modeReceipt || m.receipt.payment.Change != 0 || m.receipt.payment.Amount != 22000 {
		t.Fatalf("exact: %+v", m.receipt)
	}
	if refusedKey == "" {
		t.Fatal("no idempotency key")
	}
	drive(m, keyEsc)
	// esc leaves a form without paying.
	drive(m, keyEnter)
	drive(m, keyEsc)
	if m.mode != modeMain || len(u.api.pays) != 3 {
		t.Fatalf("esc: mode %v pays %d", m.mode, len(u.api.pays))
	}
}

func TestKeyRefundFlow(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyRunes("r")) // on the queue: explains
	if m.mode != modeMain || !m.isError {
		t.Fatal("refund from the queue")
	}
	drive(m, keyTab)
	drive(m, keyDown) // SB-004 cash Rp 30.000
	drive(m, keyRunes("r"))
	if m.mode != modeRefund || m.refund.payment.ID != 10 {
		t.Fatalf("mode %v", m.mode)
	}
	drive(m, keyEnter) // no reason
	if m.refund.err == "" {
		t.Fatal("refund without reason accepted")
	}
	drive(m, keyRunes("salah"))
	drive(m, tea.KeyMsg{Type: tea.KeySpace})
	drive(m, keyRunes("pesan"))
	drive(m, keyTab)
	drive(m, keyRunes("abc")) // not an amount
	drive(m, keyRunes("40000"))
	drive(m, keyEnter)
	if m.mode != modeRefund || m.refund.err == "" {
		t.Fatal("over-refund not refused")
	}
	drive(m, tea.KeyMsg{Type: tea.KeyCtrlU})
	drive(m, keyRunes("10.000"))
	drive(m, keyEnter)
	if m.mode != modeMain || len(u.api.refunds) != 2 || u.api.refunds[1] != "salah pesan" {
		t.Fatalf("mode %v refunds %v", m.mode, u.api.refunds)
	}
	if s := m.Summary(); s.Refunds != 1 || s.Drawer != 200000+30000-10000 {
		t.Fatalf("summary %+v", s)
	}
	// The refund row itself cannot be refunded.
	drive(m, keyUp)
	drive(m, keyUp)
	drive(m, keyRunes("r"))
	if m.mode != modeMain {
		t.Fatal("refunded a refund")
	}
	drive(m, keyDown)
	drive(m, keyRunes("r"))
	drive(m, keyEsc)
	if m.mode != modeMain {
		t.Fatal("esc does not leave the refund form")
	}
}

func TestKeyHelpDismissQuit(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyRunes("?"))
	if !m.showHelp {
		t.Fatal("no help")
	}
	drive(m, keyEnter)
	if m.mode != modeMain {
		t.Fatal("key went through help")
	}
	drive(m, keyRunes("?"))
	if m.showHelp {
		t.Fatal("? does not close help")
	}
	u.event(client.Update{Event: &client.Event{Name: domain.EventAlert, Payload: client.Envelope{ID: 30, Severity: "error", Message: "printer offline"}}})
	u.clock.Set(t0.Add(time.Hour))
	drive(m, widgets.TickMsg(t0))
	if !m.alert.Visible(u.clock.Now()) {
		t.Fatal("an error alert faded")
	}
	drive(m, keyRunes("d"))
	if m.alert != nil {
		t.Fatal("d does not dismiss")
	}
	u.event(client.Update{Event: &client.Event{Name: domain.EventAlert, Payload: client.Envelope{ID: 31, Severity: "info", Message: "shift change at 16:00"}}})
	if !m.alert.Visible(u.clock.Now()) {
		t.Fatal("info alert not shown")
	}
	u.clock.Set(u.clock.Now().Add(widgets.AlertFade))
	drive(m, widgets.TickMsg(t0))
	if m.alert != nil {
		t.Fatal("info alert did not fade")
	}
	if !drive(m, keyRunes("q")) {
		t.Fatal("q does not quit")
	}
	drive(m, keyEnter)
	if !drive(m, tea.KeyMsg{Type: tea.KeyCtrlC}) {
		t.Fatal("ctrl+c does not quit inside a form")
	}
}

func TestEventsKeepTheQueueTrue(t *testing.T) {
	u := newUnit(t)
	m := u.m
	u.event(event(21, domain.EventOrderCreated, domain.OrderCreatedData{OrderID: 7, OrderNumber: "SM-001", CustomerName: "Eko", TotalAmount: 33000, Status: domain.StatusPending}))
	if o := m.queue[7]; o == nil || o.TotalAmount != 33000 {
		t.Fatal("new order not queued")
	}
	u.event(event(22, domain.EventPaymentProcessed, domain.PaymentProcessedData{PaymentID: 60, OrderID: 7, AmountPaid: 33000}))
	if _, ok := m.queue[7]; ok {
		t.Fatal("paid elsewhere, still queued")
	}
	u.event(event(23, domain.EventOrderCancelled, domain.OrderCancelledData{OrderID: 2, Reason: "left"}))
	if _, ok := m.queue[2]; ok {
		t.Fatal("cancelled order still queued")
	}
	u.event(event(24, domain.EventOrderStatusChanged, domain.OrderStatusChangedData{OrderID: 3, NewStatus: domain.StatusPreparing}))
	if m.queue[3].Status != domain.StatusPreparing {
		t.Fatal("status not followed")
	}
	// A full refund of an open order puts it back in the queue.
	u.api.mu.Lock()
	o := u.api.orders[1]
	o.PaidAmount, o.Refunded = 60000, 60000
	u.api.orders[1] = o
	u.api.mu.Unlock()
	delete(m.queue, 1)
	u.event(event(25, domain.EventPaymentRefunded, domain.PaymentRefundedData{OrderID: 1, RefundAmount: 60000}))
	if _, ok := m.queue[1]; !ok {
		t.Fatal("refunded open order not back in the queue")
	}
	u.event(client.Update{Gap: &client.Gap{Since: 25, OldestID: 40}})
	if len(u.stream.resets) != 1 || u.stream.resets[0] != 20 {
		t.Fatalf("resets %v", u.stream.resets)
	}
}

func TestViewAtAnySize(t *testing.T) {
	u := newUnit(t)
	for _, keys := range [][]tea.KeyMsg{nil, {keyEnter}, {keyRunes("5000"), keyEnter}, {keyEnter}, {keyTab, keyRunes("r")}, {keyEsc, keyRunes("?")}} {
		for _, k := range keys {
			drive(u.m, k)
		}
		for _, w := range []int{1, 10, 39, 40, 60, 79, 80, 81, 100, 120, 161, 200} {
			for _, h := range []int{1, 5, 11, 12, 23, 24, 25, 40, 60} {
				drive(u.m, tea.WindowSizeMsg{Width: w, Height: h})
				v := u.m.View()
				if v == "" {
					t.Fatalf("empty view at %dx%d", w, h)
				}
				if w < 80 || h < 24 {
					continue
				}
				lines := strings.Split(v, "\n")
				if len(lines) != h {
					t.Fatalf("%d lines at %dx%d:\n%s", len(lines), w, h, v)
				}
				for i, l := range lines {
					if lw := lipgloss.Width(l); lw > w {
						t.Fatalf("line %d is %d wide at %dx%d: %q", i, lw, w, h, l)
					}
				}
			}
		}
	}
}

// Payments of Rp 9.2 quintillion each, taken before amounts were capped,
// must not wrap the shift summary into a negative drawer.
func TestSummaryDoesNotOverflow(t *testing.T) {
	u := newUnit(t)
	huge := int64(math.MaxInt64)
	at := u.m.cfg.ShiftStart.Add(time.Minute)
	u.m.setPayments([]domain.Payment{
		{ID: 91, Kind: domain.KindPayment, Method: domain.MethodCash, Amount: huge, CreatedAt: at},
		{ID: 92, Kind: domain.KindPayment, Method: domain.MethodCash, Amount: huge, CreatedAt: at},
		{ID: 93, Kind: domain.KindPayment, Method: domain.MethodQRIS, Amount: huge, CreatedAt: at},
	})
	s := u.m.Summary()
	if s.Total[domain.MethodCash] != huge || s.Net != huge || s.Drawer != huge {
		t.Fatalf("summary wrapped: cash %d net %d drawer %d", s.Total[domain.MethodCash], s.Net, s.Drawer)
	}
	if v := u.m.View(); strings.Contains(v, "-Rp") {
		t.Fatalf("the summary shows a negative amount:\n%s", v)
	}
}

// In the refund form the arrows switch fields, but j and k — the list's
// other up/down keys — are letters of the reason.
func TestRefundReasonTakesListLetters(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyTab)
	drive(m, keyDown)
	drive(m, keyRunes("r"))
	if m.mode != modeRefund {
		t.Fatalf("mode %v", m.mode)
	}
	drive(m, keyRunes("j"))
	drive(m, keyRunes("k"))
	if m.refund.field != 0 || m.refund.reason.Value() != "jk" {
		t.Fatalf("field %d reason %q, want the reason to read jk", m.refund.field, m.refund.reason.Value())
	}
	drive(m, keyDown)
	if m.refund.field != 1 {
		t.Fatal("down arrow did not move to the amount")
	}
	drive(m, keyUp)
	drive(m, keyLeft) // not a field key: changes nothing
	if m.refund.field != 0 || m.refund.reason.Value() != "jk" {
		t.Fatalf("field %d reason %q", m.refund.field, m.refund.reason.Value())
	}
}
