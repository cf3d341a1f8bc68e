package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/tui/widgets"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// fakeAPI answers as a server would and records every action.
type fakeAPI struct {
	mu          sync.Mutex
	orders      []domain.Order
	nodes       []client.Node
	hooks       []client.Webhook
	tokens      []client.Token
	noReports   bool // the server predates the reports API: 404
	alerts      []string
	disconnects []string
	revoked     []int64
	queries     []string
	orderReads  int
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{
		orders: []domain.Order{
			{ID: 1, TenantID: 1, OrderNumber: "NG-001", Status: domain.StatusPreparing, CreatedAt: t0.Add(-12 * time.Minute)},
			{ID: 2, TenantID: 1, OrderNumber: "NG-002", Status: domain.StatusPending, CreatedAt: t0.Add(-time.Minute)},
			{ID: 3, TenantID: 2, OrderNumber: "BK-001", Status: domain.StatusReady, CreatedAt: t0.Add(-3 * time.Minute)},
		},
		nodes: []client.Node{{ID: "node-a", Addr: "127.0.0.1:5000", Connections: 9, Live: true, Self: true, HeartbeatAt: t0}},
	}
	revoked := t0.Add(-time.Hour)
	f.tokens = []client.Token{
		{ID: 1, Role: "admin", Name: "first admin (created by posd serve)", CreatedAt: t0.Add(-48 * time.Hour)},
		{ID: 2, Role: "kasir", CounterID: 1, Name: "Kasir Depan", CreatedAt: t0.Add(-24 * time.Hour)},
		{ID: 3, Role: "display", Display: true, Name: "TV pickup", CreatedAt: t0.Add(-24 * time.Hour), RevokedAt: &revoked},
	}
	return f
}

func (f *fakeAPI) ConnectionStats(context.Context) (client.ConnectionStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	active := 0
	for _, n := range f.nodes {
		active += n.Connections
	}
	return client.ConnectionStats{Active: active, Nodes: len(f.nodes), SlowConsumerCloses: 2}, nil
}

func (f *fakeAPI) Rooms(context.Context) (map[string]int, error) {
	return map[string]int{"display": 4, "kasir-1": 1, "tenant-1": 2, "tenant-2": 1, "user-7": 1, "kasir-2": 0}, nil
}

func (f *fakeAPI) Nodes(context.Context) (client.NodeList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return client.NodeList{Head: 120, Nodes: append([]client.Node(nil), f.nodes...)}, nil
}

func (f *fakeAPI) Orders(_ context.Context, flt client.OrderFilter) (client.OrderList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.orderReads++
	var out []domain.Order
	for _, o := range f.orders {
		if flt.Open && !o.Status.Open() {
			continue
		}
		out = append(out, o)
	}
	return client.OrderList{Orders: out, LastEventID: 120}, nil
}

func (f *fakeAPI) Tenants(context.Context) ([]client.Tenant, error) {
	return []client.Tenant{{ID: 2, Name: "Bakso Pak Kumis", Code: "BK"}, {ID: 1, Name: "Warung Nasi Goreng", Code: "NG"}, {ID: 3, Name: "Es Cendol Elizabeth", Code: "EC"}}, nil
}

func (f *fakeAPI) Alert(_ context.Context, severity, message string, _ ...client.Option) (client.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = append(f.alerts, severity+": "+message)
	return client.Event{Name: domain.EventAlert}, nil
}

func (f *fakeAPI) DisconnectRoom(_ context.Context, room string, _ ...client.Option) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnects = append(f.disconnects, room)
	return 1, nil
}

func (f *fakeAPI) ListTokens(context.Context) ([]client.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]client.Token(nil), f.tokens...), nil
}

func (f *fakeAPI) RevokeToken(_ context.Context, id int64, _ ...client.Option) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = append(f.revoked, id)
	for i := range f.tokens {
		if f.tokens[i].ID == id {
			at := t0
			f.tokens[i].RevokedAt = &at
		}
	}
	return nil
}

func (f *fakeAPI) FailingWebhooks(context.Context) ([]client.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hooks, nil
}

var notFound = &client.APIError{Status: 404, Code: "not_found", Message: "no such API route"}

func (f *fakeAPI) record(kind string, q report.Query) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, kind+" date="+q.Date+" month="+q.Month)
	if f.noReports {
		return notFound
	}
	return nil
}

func (f *fakeAPI) SalesReport(_ context.Context, q report.Query) (report.Sales, error) {
	if err := f.record("sales", q); err != nil {
		return report.Sales{}, err
	}
	day := q.Date
	if day == "" {
		day = "2026-02-03"
	}
	methods := func(cash, qris int64) map[string]int64 {
		return map[string]int64{"cash": cash, "qris": qris, "card": 0, "ewallet": 0}
	}
	return report.Sales{TZ: "Asia/Jakarta", From: day, To: day,
		Stalls: []report.StallSales{
			{TenantID: 1, Tenant: "Warung Nasi Goreng", SalesFigures: report.SalesFigures{Orders: 12, Gross: 540000, Refunds: 20000, Net: 520000, ByMethod: methods(320000, 200000), Cancelled: 2, CancelledValue: 45000, AvgTicket: 45000}},
			{TenantID: 2, Tenant: "Bakso Pak Kumis", SalesFigures: report.SalesFigures{Orders: 5, Gross: 110000, Net: 110000, ByMethod: methods(110000, 0), AvgTicket: 22000}},
		},
		Total: report.SalesFigures{Orders: 17, Gross: 650000, Refunds: 20000, Net: 630000, ByMethod: methods(430000, 200000), Cancelled: 2, CancelledValue: 45000, AvgTicket: 38235},
	}, nil
}

func (f *fakeAPI) SpeedReport(_ context.Context, q report.Query) (report.Speed, error) {
	if err := f.record("speed", q); err != nil {
		return report.Speed{}, err
	}
	return report.Speed{TZ: "Asia/Jakarta", From: "2026-02-03", To: "2026-02-03", Stalls: []report.StallSpeed{
		{TenantID: 1, Tenant: "Warung Nasi Goreng", SpeedFigures: report.SpeedFigures{Orders: 12, Late: 1}, AvgToReady: 372000},
	}}, nil
}

func (f *fakeAPI) SettlementReport(_ context.Context, q report.Query) (report.Settlement, error) {
	if err := f.record("settlement", q); err != nil {
		return report.Settlement{}, err
	}
	return report.Settlement{TZ: "Asia/Jakarta", From: q.Month + "-01", To: q.Month + "-28", Closed: false,
		Stalls: []report.StallSettlement{
			{TenantID: 1, Tenant: "Warung Nasi Goreng", ShareBP: 1500, SettlementFigures: report.SettlementFigures{Net: 1000000, Fees: 7000, Commission: 150000, Payout: 843000}},
			{TenantID: 2, Tenant: "Bakso Pak Kumis", ShareBP: 1250, SettlementFigures: report.SettlementFigures{Net: 400000, Fees: 0, Commission: 50000, Payout: 350000}},
		},
		Total: report.SettlementFigures{Net: 1400000, Fees: 7000, Commission: 200000, Payout: 1193000},
	}, nil
}

type fakeStream struct {
	ch    chan client.Update
	mu    sync.Mutex
	since int64
	rooms []string
}

func newFakeStream() *fakeStream                    { return &fakeStream{ch: make(chan client.Update, 64)} }
func (s *fakeStream) Updates() <-chan client.Update { return s.ch }
func (s *fakeStream) Reset(int64)                   {}
func (s *fakeStream) Close()                        {}

func event(id int64, name string, data any) client.Update {
	raw, _ := json.Marshal(data)
	return client.Update{Event: &client.Event{Name: name, Payload: client.Envelope{ID: id, Timestamp: t0, Data: raw}}}
}

func alertEvent(id int64, severity, message string) client.Update {
	return client.Update{Event: &client.Event{Name: domain.EventAlert, Payload: client.Envelope{ID: id, Type: "system_alert", Severity: severity, Message: message, Timestamp: t0}}}
}

type harness struct {
	api    *fakeAPI
	stream *fakeStream
	model  *Model
	tm     *teatest.TestModel
	dir    string
	seen   []byte // everything drawn up to the last wait
}

// seedRates gives the sparklines a minute of history ending at t0, as the
// stream would have counted it.
func seedRates(m *Model) {
	for s := 0; s < 60; s++ {
		at := t0.Add(-time.Duration(59-s) * time.Second)
		for i := 0; i < s%4; i++ {
			m.rates.add(domain.EventOrderCreated, at)
		}
		if s%3 == 0 {
			m.rates.add(domain.EventOrderStatusChanged, at)
			m.rates.add(domain.EventOrderStatusChanged, at)
		}
		if s%7 == 0 {
			m.rates.add(domain.EventPaymentProcessed, at)
		}
	}
	m.rates.add(domain.EventQRScanned, t0)
}

func start(t *testing.T, api *fakeAPI, w, h int) *harness {
	t.Helper()
	hs := &harness{api: api, stream: newFakeStream(), dir: t.TempDir()}
	c := &clock{now: t0}
	hs.model = New(Config{
		API: api, Now: c.Now, NoTick: true, ExportDir: hs.dir,
		NewKey: func() string { return "key" },
		Subscribe: func(since int64, rooms []string) widgets.Stream {
			hs.stream.mu.Lock()
			hs.stream.since, hs.stream.rooms = since, rooms
			hs.stream.mu.Unlock()
			return hs.stream
		},
	})
	seedRates(hs.model)
	hs.tm = teatest.NewTestModel(t, hs.model, teatest.WithInitialTermSize(w, h))
	hs.stream.ch <- client.Update{State: &client.State{Conn: client.Live, Since: t0}}
	hs.waitFor(t, "LIVE")
	hs.waitFor(t, "Connections ")
	return hs
}

// waitFor waits until what has been drawn, now or since the start: each
// wait reads on where the last one stopped, and a step's text may have come
// with an earlier step's, so the test's texts are chosen to say each step
// is done.
func (hs *harness) waitFor(t *testing.T, what string) {
	t.Helper()
	teatest.WaitFor(t, hs.tm.Output(), func(b []byte) bool {
		if bytes.Contains(append(hs.seen[max(len(hs.seen)-len(what), 0):len(hs.seen):len(hs.seen)], b...), []byte(what)) || bytes.Contains(hs.seen, []byte(what)) {
			hs.seen = append(hs.seen, b...)
			return true
		}
		return false
	}, teatest.WithDuration(15*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func (hs *harness) keys(s ...string) {
	for _, k := range s {
		switch k {
		case "enter":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		case "esc":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
		case "down":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyDown})
		case "left":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyLeft})
		case "right":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyRight})
		case "tab":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		case "ctrl+u":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
		default:
			hs.tm.Type(k)
		}
	}
}

func (hs *harness) final(t *testing.T) *Model {
	t.Helper()
	if err := hs.tm.Quit(); err != nil {
		t.Fatal(err)
	}
	return hs.tm.FinalModel(t, teatest.WithFinalTimeout(15*time.Second)).(*Model)
}

func (f *fakeAPI) calls() (alerts, disconnects []string, revoked []int64, queries []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.alerts), slices.Clone(f.disconnects), slices.Clone(f.revoked), slices.Clone(f.queries)
}

func TestOpsGolden(t *testing.T) {
	t.Run("main_80x24", func(t *testing.T) {
		hs := start(t, newFakeAPI(), 80, 24)
		hs.waitFor(t, "Rp 520.000")
		m := hs.final(t)
		if hs.stream.since != 120 || strings.Join(hs.stream.rooms, ",") != domain.RoomDisplay {
			t.Fatalf("stream since=%d rooms=%v: want the display room after the load's head", hs.stream.since, hs.stream.rooms)
		}
		v := m.View()
		if got := lipgloss.Height(v); got != 24 {
			t.Fatalf("the screen is %d lines high, want 24", got)
		}
		golden.RequireEqual(t, []byte(v))
	})
	t.Run("wide_with_nodes_and_failing_webhooks", func(t *testing.T) {
		api := newFakeAPI()
		api.nodes = append(api.nodes, client.Node{ID: "node-b", Addr: "10.0.0.2:5000", Connections: 5, Lag: 3, Live: true, HeartbeatAt: t0.Add(-time.Second)},
			client.Node{ID: "node-c", Addr: "10.0.0.3:5000", Live: false, HeartbeatAt: t0.Add(-40 * time.Second)})
		api.hooks = []client.Webhook{{ID: 4, URL: "https://accounting.example/posd", State: "active", FailingSince: &failingSince, Attempt: 12, LastError: "503 Service Unavailable"},
			{ID: 5, URL: "https://sms.example/hook", State: "disabled", DisabledReason: "the endpoint answered 410 Gone", Attempt: 1, LastError: "410 Gone"}}
		hs := start(t, api, 120, 40)
		hs.waitFor(t, "FAILING WEBHOOKS")
		hs.waitFor(t, "Rp 520.000")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
	t.Run("reports_unavailable", func(t *testing.T) {
		api := newFakeAPI()
		api.noReports = true
		hs := start(t, api, 80, 24)
		hs.waitFor(t, "reports unavailable on this server")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
	t.Run("alert_form", func(t *testing.T) {
		hs := start(t, newFakeAPI(), 80, 24)
		hs.keys("a", "System maintenance in 5 minutes", "left")
		hs.waitFor(t, "[WARNING]")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
	t.Run("sales_report", func(t *testing.T) {
		hs := start(t, newFakeAPI(), 80, 24)
		hs.waitFor(t, "Rp 520.000")
		hs.keys("s")
		hs.waitFor(t, "Net by method")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
	t.Run("settlement_report", func(t *testing.T) {
		hs := start(t, newFakeAPI(), 80, 24)
		hs.waitFor(t, "Rp 520.000")
		hs.keys("s", "tab")
		hs.waitFor(t, "commission")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
	t.Run("tokens", func(t *testing.T) {
		hs := start(t, newFakeAPI(), 80, 24)
		hs.keys("t")
		hs.waitFor(t, "TV pickup")
		hs.keys("down", "x")
		hs.waitFor(t, "Revoke token #2")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
	t.Run("help", func(t *testing.T) {
		hs := start(t, newFakeAPI(), 80, 24)
		hs.keys("?")
		hs.waitFor(t, "closes this help")
		golden.RequireEqual(t, []byte(hs.final(t).View()))
	})
}

// The alert goes out with the severity picked, and comes back through the
// stream as every screen sees it.
func TestSendAlert(t *testing.T) {
	hs := start(t, newFakeAPI(), 80, 24)
	hs.keys("a", "enter")
	hs.waitFor(t, "type the message first")
	hs.keys("Dapur tutup 10 menit", "left", "left", "enter")
	hs.waitFor(t, "error alert sent")
	hs.stream.ch <- alertEvent(121, "error", "Dapur tutup 10 menit")
	hs.waitFor(t, "ERROR: Dapur tutup 10 menit")
	m := hs.final(t)
	alerts, _, _, _ := hs.api.calls()
	if !slices.Equal(alerts, []string{"error: Dapur tutup 10 menit"}) {
		t.Fatalf("alerts sent %q", alerts)
	}
	if got := m.rates.perMinute(domain.EventAlert, t0); got != 1 {
		t.Fatalf("the alert's event counted %d times, want 1", got)
	}
}

func TestDisconnectRoom(t *testing.T) {
	hs := start(t, newFakeAPI(), 80, 24)
	hs.keys("r")
	hs.waitFor(t, "ROOMS (5)")
	// display, kasir-1, tenant-1: the empty kasir-2 is not listed.
	hs.keys("down", "x")
	hs.waitFor(t, "Disconnect every connection of kasir-1 (1)?")
	hs.keys("n") // thought better of it
	hs.keys("down", "x")
	hs.waitFor(t, "Disconnect every connection of tenant-1 (2)?")
	hs.keys("y")
	hs.waitFor(t, "disconnected tenant-1")
	hs.final(t)
	if _, d, _, _ := hs.api.calls(); !slices.Equal(d, []string{"tenant-1"}) {
		t.Fatalf("rooms disconnected %q, want only tenant-1", d)
	}
}

func TestRevokeToken(t *testing.T) {
	hs := start(t, newFakeAPI(), 80, 24)
	hs.keys("t")
	hs.waitFor(t, "TV pickup")
	hs.keys("down", "down", "x")
	hs.waitFor(t, "token #3 is already revoked")
	hs.keys("k", "x", "y")
	hs.waitFor(t, "revoked token #2")
	hs.waitFor(t, "revoked 02-03 10:00")
	hs.final(t)
	if _, _, r, _ := hs.api.calls(); !slices.Equal(r, []int64{2}) {
		t.Fatalf("tokens revoked %v, want [2]", r)
	}
}

// While the stream is down nothing is sent: the screen the action was
// chosen on may be stale.
func TestActionsRefusedWhileReconnecting(t *testing.T) {
	hs := start(t, newFakeAPI(), 80, 24)
	hs.stream.ch <- client.Update{State: &client.State{Conn: client.Reconnecting, Attempt: 1, Since: t0, CloseCode: 1006}}
	hs.waitFor(t, "RECONNECTING")
	hs.keys("a", "hello", "enter")
	hs.waitFor(t, "offline: alert not sent")
	hs.keys("esc", "r", "x", "y")
	hs.waitFor(t, "offline: display not disconnected")
	hs.keys("esc", "t")
	hs.waitFor(t, "TV pickup")
	hs.keys("x", "y")
	hs.waitFor(t, "offline: token not revoked")
	hs.final(t)
	if a, d, r, _ := hs.api.calls(); len(a)+len(d)+len(r) != 0 {
		t.Fatalf("sent while reconnecting: alerts %q, disconnects %q, revokes %v", a, d, r)
	}
}

// The date picker walks days for the sales and months for the settlement,
// and the export writes the report shown where the status line says.
func TestReportPickerAndExport(t *testing.T) {
	hs := start(t, newFakeAPI(), 80, 24)
	hs.waitFor(t, "Rp 520.000")
	hs.keys("s")
	hs.waitFor(t, "SALES · 2026-02-03")
	hs.keys("left", "left")
	hs.waitFor(t, "SALES · 2026-02-01")
	hs.keys("e")
	want := filepath.Join(hs.dir, "sales-2026-02-01.csv")
	hs.waitFor(t, "Write CSV to")
	hs.keys("enter")
	hs.waitFor(t, "CSV written to")
	hs.keys("tab")
	hs.waitFor(t, "SETTLEMENT · 2026-02")
	hs.keys("left")
	hs.waitFor(t, "SETTLEMENT · 2026-01")
	hs.keys("e", "ctrl+u", filepath.Join(hs.dir, "nov.csv"), "enter")
	hs.waitFor(t, "nov.csv")
	hs.final(t)

	_, _, _, q := hs.api.calls()
	var picked []string
	for _, s := range q {
		if !strings.HasSuffix(s, "date= month=") { // the console's own today
			picked = append(picked, s)
		}
	}
	slices.Sort(picked) // two presses in a row ask at once: the later answer wins
	if wantQ := []string{"sales date=2026-02-01 month=", "sales date=2026-02-02 month=", "sales date=2026-02-03 month=",
		"settlement date= month=2026-01", "settlement date= month=2026-02"}; !slices.Equal(picked, wantQ) {
		t.Fatalf("reports asked for %q, want %q", picked, wantQ)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || lines[0] != "from,to,tenant_id,tenant,orders,gross,refunds,net,cash,qris,card,ewallet,cancelled,cancelled_value,avg_ticket" ||
		lines[1] != "2026-02-01,2026-02-01,1,Warung Nasi Goreng,12,540000,20000,520000,320000,200000,0,0,2,45000,45000" ||
		lines[3] != "2026-02-01,2026-02-01,,total,17,650000,20000,630000,430000,200000,0,0,2,45000,38235" {
		t.Fatalf("sales CSV:\n%s", b)
	}
	b, err = os.ReadFile(filepath.Join(hs.dir, "nov.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "2026-01-01,2026-01-28,false,1,Warung Nasi Goreng,1500,1000000,7000,150000,843000\n") {
		t.Fatalf("settlement CSV:\n%s", b)
	}
}

// Events arriving on the stream are counted by type, and an order event
// makes the next tick read the open orders again.
func TestLiveEventsCountedAndOrdersFollowed(t *testing.T) {
	api := newFakeAPI()
	hs := start(t, api, 80, 24)
	hs.waitFor(t, "Rp 520.000")
	api.mu.Lock()
	reads := api.orderReads
	api.orders[0].Status = domain.StatusCompleted // the late one is collected
	api.orders = append(api.orders, domain.Order{ID: 4, TenantID: 3, OrderNumber: "EC-001", Status: domain.StatusPending, CreatedAt: t0.Add(-20 * time.Minute)})
	api.mu.Unlock()
	for i := range 3 {
		hs.stream.ch <- event(121+int64(i), domain.EventPaymentRefunded, domain.PaymentRefundedData{OrderID: 1})
	}
	hs.stream.ch <- event(124, domain.EventOrderCreated, domain.OrderCreatedData{OrderID: 4, OrderNumber: "EC-001"})
	hs.waitFor(t, "       91") // 90 seeded, and this one: the events are in
	hs.tm.Send(widgets.TickMsg(t0))
	hs.waitFor(t, "Es Cendol Elizabeth                      —              —     1     1")
	hs.waitFor(t, "Rp 520.000     1     0")
	m := hs.final(t)
	if got := m.rates.perMinute(domain.EventPaymentRefunded, t0); got != 3 {
		t.Fatalf("refunds counted %d, want 3", got)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.orderReads != reads+1 {
		t.Fatalf("open orders read %d times after the event, want once", api.orderReads-reads)
	}
}

// failingSince is when the fake's failing webhook began to fail.
var failingSince = time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)
