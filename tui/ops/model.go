// Package ops is the operator's console: a server's live connections,
// rooms and nodes, the events per second by type, each stall's day (orders,
// net sales, open and late orders, time to ready), and the operator's
// actions: an alert to every screen, disconnecting a room, revoking a
// token, the sales and settlement reports with CSV export.
package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/tui/widgets"
)

// Reports is what the console reads of the reports API.
type Reports interface {
	SalesReport(ctx context.Context, q report.Query) (report.Sales, error)
	SpeedReport(ctx context.Context, q report.Query) (report.Speed, error)
	SettlementReport(ctx context.Context, q report.Query) (report.Settlement, error)
}

// API is what the operator's console needs of the server (a *client.Client
// with an admin token).
type API interface {
	Reports
	ConnectionStats(ctx context.Context) (client.ConnectionStats, error)
	Rooms(ctx context.Context) (map[string]int, error)
	Nodes(ctx context.Context) (client.NodeList, error)
	Orders(ctx context.Context, f client.OrderFilter) (client.OrderList, error)
	Tenants(ctx context.Context) ([]client.Tenant, error)
	Alert(ctx context.Context, severity, message string, opts ...client.Option) (client.Event, error)
	DisconnectRoom(ctx context.Context, room string, opts ...client.Option) (int, error)
	ListTokens(ctx context.Context) ([]client.Token, error)
	RevokeToken(ctx context.Context, id int64, opts ...client.Option) error
	// FailingWebhooks is the webhooks whose deliveries fail; none from a
	// server without webhooks.
	FailingWebhooks(ctx context.Context) ([]client.Webhook, error)
}

var _ API = (*client.Client)(nil)

// Config wires an operator's console.
type Config struct {
	API API
	// Subscribe starts the event stream after since in rooms.
	Subscribe func(since int64, rooms []string) widgets.Stream
	// Late is the age at which an open order counts as late (default: the
	// kitchen display's default --late).
	Late time.Duration
	// ExportDir is where a CSV export is proposed (default: the working
	// directory).
	ExportDir string
	// Poll is how often connections, rooms and nodes are read (default 2s);
	// ReportEvery how often the stalls' figures of the day (default 10s).
	Poll        time.Duration
	ReportEvery time.Duration
	Now         func() time.Time
	NewKey      func() string // idempotency keys (default: random)
	Timeout     time.Duration // per API call (default 10s)
	NoTick      bool          // tests: no clock ticks
}

func (c *Config) defaults() {
	if c.Late <= 0 {
		c.Late = report.DefaultLate
	}
	if c.ExportDir == "" {
		c.ExportDir = "."
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.ReportEvery <= 0 {
		c.ReportEvery = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewKey == nil {
		c.NewKey = func() string {
			var b [12]byte
			_, _ = rand.Read(b[:])
			return "ops-" + hex.EncodeToString(b[:])
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// shownEvents are the event types the console counts: every event of the
// display room, which it follows, and alerts, which reach every connection.
// Notifications go to users' rooms only, so the console never sees them.
func shownEvents() []string {
	var out []string
	for _, n := range domain.EventNames {
		if n != domain.EventNotification {
			out = append(out, n)
		}
	}
	return out
}

type mode int

const (
	modeMain mode = iota
	modeAlert
	modeRooms
	modeTokens
	modeReport
)

// openOrder is what the stall table needs of an open order.
type openOrder struct {
	tenant  int64
	created time.Time
}

// Model is the operator's console's Bubble Tea model.
type Model struct {
	cfg  Config
	keys keyMap
	help help.Model

	width, height int

	live    widgets.Live
	skew    time.Duration // server clock minus ours: orders age on the server's clock
	tenants []client.Tenant
	open    map[int64]openOrder

	ordersDirty, ordersBusy bool

	stats     client.ConnectionStats
	rooms     map[string]int
	nodes     client.NodeList
	hooks     []client.Webhook
	statsErr  string
	statsSet  bool
	statsAt   time.Time
	statsBusy bool

	sales      report.Sales
	speed      report.Speed
	todayErr   string
	todaySet   bool
	todayAt    time.Time
	todayBusy  bool
	rates      *rates
	eventTypes []string

	status   string
	isError  bool
	alert    *widgets.Alert
	showHelp bool

	mode    mode
	compose *alertForm
	roomsP  *roomsPanel
	tokensP *tokensPanel
	report  *reportPanel
}

// New builds the console's model.
func New(cfg Config) *Model {
	cfg.defaults()
	h := help.New()
	h.ShortSeparator = " · "
	types := shownEvents()
	m := &Model{
		cfg: cfg, keys: newKeys(), help: h,
		width: 80, height: 24,
		open:  map[int64]openOrder{},
		rooms: map[string]int{},
		rates: newRates(types), eventTypes: types,
	}
	m.live = widgets.Live{Load: m.load, Subscribe: cfg.Subscribe, Now: cfg.Now, Rooms: []string{domain.RoomDisplay}}
	return m
}

type (
	loadedMsg struct {
		list    client.OrderList
		tenants []client.Tenant
		skew    time.Duration
		err     error
	}
	ordersMsg struct {
		list client.OrderList
		err  error
	}
	statsMsg struct {
		stats client.ConnectionStats
		rooms map[string]int
		nodes client.NodeList
		hooks []client.Webhook
		err   error
	}
	todayMsg struct {
		sales report.Sales
		speed report.Speed
		err   error
	}
)

// Init loads the open orders and the stalls, and reads the counts and the
// day's figures; the stream starts after the load.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.live.Load(), m.poll(), m.today()}
	if !m.cfg.NoTick {
		cmds = append(cmds, widgets.Tick())
	}
	return tea.Batch(cmds...)
}

func (m *Model) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.cfg.Timeout)
}

func (m *Model) load() tea.Cmd {
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		list, err := api.Orders(ctx, client.OrderFilter{Open: true, Limit: 1000})
		if err != nil {
			return loadedMsg{err: err}
		}
		ts, err := api.Tenants(ctx)
		if err != nil {
			return loadedMsg{err: err}
		}
		msg := loadedMsg{list: list, tenants: ts}
		if c, ok := api.(interface {
			ClockOffset() (time.Duration, bool)
		}); ok {
			if off, ok := c.ClockOffset(); ok && (off >= 2*time.Second || off <= -2*time.Second) {
				msg.skew = off // the Date header is whole seconds: ignore less
			}
		}
		return msg
	}
}

func (m *Model) refreshOrders() tea.Cmd {
	m.ordersDirty, m.ordersBusy = false, true
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		list, err := api.Orders(ctx, client.OrderFilter{Open: true, Limit: 1000})
		return ordersMsg{list: list, err: err}
	}
}

// poll reads what no event announces: connections, rooms, nodes, webhooks.
func (m *Model) poll() tea.Cmd {
	m.statsBusy, m.statsAt = true, m.cfg.Now()
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		var msg statsMsg
		if msg.stats, msg.err = api.ConnectionStats(ctx); msg.err != nil {
			return msg
		}
		if msg.rooms, msg.err = api.Rooms(ctx); msg.err != nil {
			return msg
		}
		if msg.nodes, msg.err = api.Nodes(ctx); msg.err != nil {
			return msg
		}
		msg.hooks, msg.err = api.FailingWebhooks(ctx)
		return msg
	}
}

// today reads the stalls' figures of the day from the reports API.
func (m *Model) today() tea.Cmd {
	m.todayBusy, m.todayAt = true, m.cfg.Now()
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		var msg todayMsg
		if msg.sales, msg.err = api.SalesReport(ctx, report.Query{}); msg.err != nil {
			return msg
		}
		msg.speed, msg.err = api.SpeedReport(ctx, report.Query{})
		return msg
	}
}

func (m *Model) setStatus(s string, isErr bool) { m.status, m.isError = s, isErr }

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if cmd, ok := m.live.Update(msg, m.event, m.setStatus); ok {
		return m, cmd
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
	case widgets.TickMsg:
		return m, m.tick()
	case tea.KeyMsg:
		return m.key(msg)
	case loadedMsg:
		if msg.err != nil {
			why, retry := m.live.Failed(msg.err)
			m.setStatus("cannot load: "+why, true)
			return m, retry
		}
		m.tenants, m.skew = msg.tenants, msg.skew
		sort.Slice(m.tenants, func(i, j int) bool { return m.tenants[i].ID < m.tenants[j].ID })
		m.setOpen(msg.list)
		status, cmd := m.live.Done(msg.list.LastEventID)
		if status != "" {
			m.setStatus(status, false)
		}
		return m, cmd
	case ordersMsg:
		m.ordersBusy = false
		if msg.err == nil {
			m.setOpen(msg.list)
		}
	case statsMsg:
		m.statsBusy = false
		if msg.err != nil {
			m.statsErr = widgets.ErrText(msg.err)
			return m, nil
		}
		m.stats, m.rooms, m.nodes, m.hooks, m.statsErr, m.statsSet = msg.stats, msg.rooms, msg.nodes, msg.hooks, "", true
	case todayMsg:
		m.todayBusy, m.todaySet = false, true
		m.todayErr = ""
		if msg.err != nil {
			m.todayErr = reportsErr(msg.err)
			return m, nil
		}
		m.sales, m.speed = msg.sales, msg.speed
	default:
		return m.panelMsg(msg)
	}
	return m, nil
}

// reportsErr words a failed report read: a server without the reports API
// answers 404 for the route.
func reportsErr(err error) string {
	if client.IsStatus(err, http.StatusNotFound) {
		return "reports unavailable on this server"
	}
	return "reports unavailable: " + widgets.ErrText(err)
}

// tick moves the clock: alerts fade, and what is due is read again.
func (m *Model) tick() tea.Cmd {
	now := m.cfg.Now()
	if m.alert != nil && !m.alert.Visible(now) {
		m.alert = nil
	}
	var cmds []tea.Cmd
	if !m.statsBusy && now.Sub(m.statsAt) >= m.cfg.Poll {
		cmds = append(cmds, m.poll())
	}
	if !m.todayBusy && now.Sub(m.todayAt) >= m.cfg.ReportEvery {
		cmds = append(cmds, m.today())
	}
	// Order events mark the open orders stale; one read a tick at most,
	// however busy the court.
	if m.ordersDirty && !m.ordersBusy && m.live.Loaded() {
		cmds = append(cmds, m.refreshOrders())
	}
	if !m.cfg.NoTick {
		cmds = append(cmds, widgets.Tick())
	}
	return tea.Batch(cmds...)
}

func (m *Model) setOpen(list client.OrderList) {
	m.open = map[int64]openOrder{}
	for _, o := range list.Orders {
		if o.Status.Open() {
			m.open[o.ID] = openOrder{tenant: o.TenantID, created: o.CreatedAt}
		}
	}
}

func (m *Model) event(ev *client.Event) tea.Cmd {
	m.rates.add(ev.Name, m.cfg.Now())
	switch ev.Name {
	case domain.EventOrderCreated, domain.EventOrderStatusChanged, domain.EventOrderCancelled:
		m.ordersDirty = true
	case domain.EventAlert:
		m.alert = widgets.NewAlert(ev.Payload, m.cfg.Now())
	}
	return nil
}

// stallRow is one stall's line of the day.
type stallRow struct {
	id                int64
	name              string
	orders, net       int64
	open, late        int
	avgReady          time.Duration
	hasSales, hasTime bool
}

// stalls merges the stall list, the open orders and the day's reports, by
// stall id.
func (m *Model) stalls() []stallRow {
	rows := map[int64]*stallRow{}
	get := func(id int64, name string) *stallRow {
		r := rows[id]
		if r == nil {
			r = &stallRow{id: id, name: name}
			rows[id] = r
		}
		if r.name == "" {
			r.name = name
		}
		return r
	}
	for _, t := range m.tenants {
		get(t.ID, t.Name)
	}
	now := m.cfg.Now().Add(m.skew)
	for _, o := range m.open {
		r := get(o.tenant, "")
		r.open++
		if now.Sub(o.created) >= m.cfg.Late {
			r.late++
		}
	}
	if m.todayErr == "" {
		for _, s := range m.sales.Stalls {
			r := get(s.TenantID, s.Tenant)
			r.orders, r.net, r.hasSales = s.Orders, s.Net, true
		}
		for _, s := range m.speed.Stalls {
			r := get(s.TenantID, s.Tenant)
			r.avgReady, r.hasTime = time.Duration(s.AvgToReady)*time.Millisecond, s.AvgToReady > 0
		}
	}
	out := make([]stallRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// roomNames is the rooms with clients, by name.
func (m *Model) roomNames() []string {
	out := make([]string, 0, len(m.rooms))
	for r, n := range m.rooms {
		if n > 0 {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func (m *Model) quit() (tea.Model, tea.Cmd) {
	m.live.Close()
	return m, tea.Quit
}

// exportPath proposes where a report's CSV goes.
func (m *Model) exportPath(name string) string { return filepath.Join(m.cfg.ExportDir, name) }
