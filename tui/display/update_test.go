package display

import (
	"errors"
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
// The stream's channel is closed, so its re-arming Cmd returns at once.
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
			m.Update(msg) // its Cmd is the next tick, a second away
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
	u := &unit{api: newFakeAPI(sampleOrders()...), stream: newFakeStream(), clock: testutil.NewClock(t0)}
	close(u.stream.ch)
	u.m = New(Config{API: u.api, Now: u.clock.Now, NoTick: true,
		Subscribe: func(int64, []string) widgets.Stream { return u.stream }})
	drive(u.m, u.m.Init()())
	if !u.m.live.Loaded() || u.m.live.Stream() == nil {
		t.Fatal("not loaded")
	}
	return u
}

func keyRunes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var (
	keyEnter = tea.KeyMsg{Type: tea.KeyEnter}
	keyEsc   = tea.KeyMsg{Type: tea.KeyEsc}
	keyLeft  = tea.KeyMsg{Type: tea.KeyLeft}
	keyRight = tea.KeyMsg{Type: tea.KeyRight}
	keyUp    = tea.KeyMsg{Type: tea.KeyUp}
	keyDown  = tea.KeyMsg{Type: tea.KeyDown}
)

func (u *unit) event(ev client.Update) { drive(u.m, widgets.UpdateMsg{Stream: u.stream, Update: ev}) }

func TestKeyMoveBetweenColumnsAndTickets(t *testing.T) {
	u := newUnit(t)
	m := u.m
	for _, step := range []struct {
		key  tea.KeyMsg
		want int
	}{{keyRight, 1}, {keyRunes("l"), 2}, {keyRight, 0}, {keyLeft, 2}, {keyRunes("h"), 1}} {
		drive(m, step.key)
		if m.col != step.want {
			t.Fatalf("after %v col = %d, want %d", step.key, m.col, step.want)
		}
	}
	// Two tickets in Pending: move down and up.
	drive(m, keyLeft)
	u.api.orders[9] = order(9, 1, "NG-009", "Rina", domain.StatusPending, t0, domain.Item{Name: "Kwetiau", Quantity: 1, UnitPrice: 1})
	u.event(event(11, domain.EventOrderCreated, "order_created", domain.OrderCreatedData{OrderID: 9, OrderNumber: "NG-009", Status: domain.StatusPending}))
	if sel, _ := m.selected(0); sel.order.ID != 1 {
		t.Fatalf("first selected %d", sel.order.ID)
	}
	drive(m, keyDown)
	if sel, i := m.selected(0); sel.order.ID != 9 || i != 1 {
		t.Fatalf("after down: %d", sel.order.ID)
	}
	drive(m, keyRunes("j")) // stays on the last
	drive(m, keyUp)
	if sel, _ := m.selected(0); sel.order.ID != 1 {
		t.Fatalf("after up: %d", sel.order.ID)
	}
	drive(m, keyRunes("k"))
	if sel, _ := m.selected(0); sel.order.ID != 1 {
		t.Fatalf("after k at the top: %d", sel.order.ID)
	}
}

func TestKeyBumpAndRecall(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyEnter) // NG-001 pending → preparing
	if c := u.api.lastCall(); c.op != "status" || c.id != 1 || c.status != domain.StatusPreparing {
		t.Fatalf("call %+v", c)
	}
	if tk := m.tickets[1]; tk.col != 1 || tk.order.Status != domain.StatusPreparing || len(tk.order.Items) != 2 {
		t.Fatalf("ticket after bump: col %d status %s items %d", tk.col, tk.order.Status, len(tk.order.Items))
	}
	// Bump the ready ticket to completed: it leaves the screen.
	drive(m, keyLeft) // column 2 (Ready)
	drive(m, keyRunes(" "))
	if _, ok := m.tickets[3]; ok {
		t.Fatal("completed ticket still shown")
	}
	if m.lastBumped != 3 {
		t.Fatalf("lastBumped %d", m.lastBumped)
	}
	// Recall brings it back, marked; bump dismisses it again.
	drive(m, keyRunes("u"))
	tk := m.tickets[3]
	if tk == nil || !tk.recalled || tk.col != 2 || m.col != 2 {
		t.Fatalf("recalled ticket %+v col %d", tk, m.col)
	}
	drive(m, keyEnter)
	if _, ok := m.tickets[3]; ok {
		t.Fatal("recalled ticket not dismissed")
	}
	// A refused bump shows why.
	u.api.failSet = &client.APIError{Status: 409, Code: "conflict", Message: "illegal transition preparing → ready"}
	drive(m, keyRight) // Pending (empty) … to Preparing
	drive(m, keyRight)
	drive(m, keyRunes("b"))
	if !m.isError || m.status != "bump failed: illegal transition preparing → ready" {
		t.Fatalf("status %q", m.status)
	}
}

func TestKeyCancelWithReason(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyRunes("x"))
	if m.cancelFor != 1 {
		t.Fatalf("cancelFor %d", m.cancelFor)
	}
	drive(m, keyEnter) // no reason yet
	if m.cancelFor != 1 || !m.isError {
		t.Fatal("empty reason accepted")
	}
	drive(m, keyRunes("q")) // typed, not quit
	drive(m, tea.KeyMsg{Type: tea.KeyBackspace})
	drive(m, keyRunes("habis"))
	drive(m, tea.KeyMsg{Type: tea.KeySpace})
	drive(m, keyRunes("stok"))
	drive(m, keyEnter)
	if c := u.api.lastCall(); c.op != "cancel" || c.id != 1 || c.reason != "habis stok" {
		t.Fatalf("call %+v", c)
	}
	tk := m.tickets[1]
	if tk.order.Status != domain.StatusCancelled || tk.cancelled.IsZero() || tk.order.CancelReason != "habis stok" {
		t.Fatalf("ticket %+v", tk.order)
	}
	// It stays visible for a while, then goes.
	u.clock.Set(t0.Add(3 * time.Minute))
	drive(m, widgets.TickMsg(t0))
	if _, ok := m.tickets[1]; ok {
		t.Fatal("cancelled ticket never expires")
	}
	// esc aborts.
	drive(m, keyRight)
	drive(m, keyRunes("x"))
	drive(m, keyEsc)
	if m.cancelFor != 0 || u.api.lastCall().id != 1 {
		t.Fatal("esc did not abort")
	}
}

func TestKeyPanelsHelpDismissQuit(t *testing.T) {
	u := newUnit(t)
	m := u.m
	drive(m, keyRunes("a"))
	if !m.allDay {
		t.Fatal("a: no all-day panel")
	}
	items := m.allDayItems()
	if len(items) != 4 || items[0].qty != 2 {
		t.Fatalf("all-day %+v", items)
	}
	drive(m, keyRunes("a"))
	if m.allDay {
		t.Fatal("a does not toggle")
	}
	drive(m, keyRunes("?"))
	if !m.showHelp {
		t.Fatal("? shows no help")
	}
	drive(m, keyRunes("x")) // ignored under help
	if m.cancelFor != 0 {
		t.Fatal("key went through the help screen")
	}
	drive(m, keyEsc)
	if m.showHelp {
		t.Fatal("esc does not close help")
	}
	u.event(client.Update{Event: &client.Event{Name: domain.EventAlert, Payload: client.Envelope{ID: 12, Type: "system_alert", Severity: "error", Message: "printer jammed"}}})
	if !m.alert.Visible(u.clock.Now().Add(time.Hour)) {
		t.Fatal("error alert not sticky")
	}
	drive(m, keyRunes("d"))
	if m.alert != nil {
		t.Fatal("d does not dismiss")
	}
	if !drive(m, keyRunes("q")) {
		t.Fatal("q does not quit")
	}
	if !drive(m, tea.KeyMsg{Type: tea.KeyCtrlC}) {
		t.Fatal("ctrl+c does not quit")
	}
}

func TestEventsKeepTheTrueState(t *testing.T) {
	u := newUnit(t)
	m := u.m
	u.event(event(11, domain.EventPaymentProcessed, "payment_processed", domain.PaymentProcessedData{OrderID: 1, AmountPaid: 100000, Change: 40000}))
	if !m.tickets[1].order.Paid() || m.tickets[1].order.PaidAmount != 60000 {
		t.Fatalf("paid %d", m.tickets[1].order.PaidAmount)
	}
	u.event(event(12, domain.EventOrderStatusChanged, "order_status_changed", domain.OrderStatusChangedData{OrderID: 2, PreviousStatus: domain.StatusPreparing, NewStatus: domain.StatusReady}))
	if m.tickets[2].col != 2 {
		t.Fatal("status change not applied")
	}
	// A late, older event never moves a ticket back.
	u.event(event(13, domain.EventOrderStatusChanged, "order_status_changed", domain.OrderStatusChangedData{OrderID: 2, NewStatus: domain.StatusPreparing}))
	if m.tickets[2].col != 2 {
		t.Fatal("moved back")
	}
	u.event(event(14, domain.EventOrderCancelled, "order_cancelled", domain.OrderCancelledData{OrderID: 2, Reason: "customer left"}))
	if tk := m.tickets[2]; tk.order.Status != domain.StatusCancelled || tk.order.CancelReason != "customer left" {
		t.Fatalf("cancel not shown: %+v", tk.order)
	}
	// A gap: reload from the API, then resume the stream from its head.
	u.api.mu.Lock()
	u.api.head = 99
	o := u.api.orders[1]
	o.Status = domain.StatusReady
	u.api.orders[1] = o
	u.api.mu.Unlock()
	u.event(client.Update{Gap: &client.Gap{Since: 14, OldestID: 50}})
	if len(u.stream.resets) != 1 || u.stream.resets[0] != 99 {
		t.Fatalf("resets %v, want [99]", u.stream.resets)
	}
	if m.tickets[1].col != 2 {
		t.Fatal("reload did not take the server's state")
	}
	if _, ok := m.tickets[2]; !ok {
		t.Fatal("a cancelled ticket on show vanished on reload")
	}
	// Connection states reach the badge.
	u.event(client.Update{State: &client.State{Conn: client.Offline, Since: t0, Attempt: 7}})
	if m.live.Conn.Live() || m.live.Conn.Problem() == "" {
		t.Fatal("offline not shown")
	}
}

type skewedAPI struct{ *fakeAPI }

func (skewedAPI) ClockOffset() (time.Duration, bool) { return 2 * time.Minute, true }

func TestTimersRunOnTheServerClock(t *testing.T) {
	api := skewedAPI{newFakeAPI(sampleOrders()...)}
	s := newFakeStream()
	close(s.ch)
	m := New(Config{API: api, Now: func() time.Time { return t0 }, NoTick: true,
		Subscribe: func(int64, []string) widgets.Stream { return s }})
	drive(m, m.Init()())
	// NG-001 was made 3 minutes before t0 by our clock, 5 by the server's.
	if got := m.timer(m.tickets[1].order.CreatedAt); got != "5:00 !" {
		t.Fatalf("timer %q, want 5:00 ! (server clock two minutes ahead)", got)
	}
}

func TestViewAtAnySize(t *testing.T) {
	u := newUnit(t)
	for _, mode := range []string{"", "a", "?", "x"} {
		if mode != "" {
			drive(u.m, keyRunes(mode))
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
		drive(u.m, keyEsc)
	}
}

func TestUnreachableAtStartIsNotConnecting(t *testing.T) {
	api := newFakeAPI(sampleOrders()...)
	api.failOrders = &client.UnreachableError{Server: "http://127.0.0.1:5000", Err: errors.New("connection refused")}
	m := New(Config{API: api, Now: func() time.Time { return t0 }, NoTick: true})
	msg := m.Init()()
	m.Update(msg) // the retry is a Cmd two seconds away: not run here
	m.Update(msg)
	if m.live.Conn.State.Conn != client.Reconnecting || m.live.Conn.State.Attempt != 2 || !m.live.Conn.State.Since.Equal(t0) {
		t.Fatalf("conn %+v, want Reconnecting attempt 2 since t0", m.live.Conn.State)
	}
	if !strings.Contains(m.View(), "RECONNECTING (attempt 2") {
		t.Fatalf("view:\n%s", m.View())
	}
}

func TestRefusedLoadStops(t *testing.T) {
	api := newFakeAPI()
	api.failOrders = &client.APIError{Status: 403, Code: "forbidden", Message: "this token may not list orders"}
	m := New(Config{API: api, Now: func() time.Time { return t0 }, NoTick: true})
	if _, cmd := m.Update(m.Init()()); cmd != nil {
		t.Fatal("a refused load is retried")
	}
	if m.live.Conn.State.Conn != client.Offline || !m.live.Conn.State.Fatal || !strings.Contains(m.View(), "this token may not list orders") {
		t.Fatalf("conn %+v view:\n%s", m.live.Conn.State, m.View())
	}
}
