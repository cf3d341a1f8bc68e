// Package display is the kitchen display: open orders in Pending, Preparing
// and Ready columns, kept live from the server's event stream.
package display

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/tui/widgets"
)

// API is what the display needs of the server (a *client.Client).
type API interface {
	Orders(ctx context.Context, f client.OrderFilter) (client.OrderList, error)
	Order(ctx context.Context, id int64) (domain.Order, error)
	SetStatus(ctx context.Context, id int64, status domain.Status, opts ...client.Option) (domain.Order, error)
	Cancel(ctx context.Context, id int64, reason string, opts ...client.Option) (domain.Order, error)
	Tenants(ctx context.Context) ([]client.Tenant, error)
}

// DefaultWarn is the age at which a ticket's timer turns yellow unless
// told otherwise; it turns red at report.DefaultLate, the one age every
// reader (the display, the operator's console, the speed report) calls late.
const DefaultWarn = 5 * time.Minute

// Config wires a display.
type Config struct {
	API API
	// Subscribe starts the event stream after since in rooms.
	Subscribe func(since int64, rooms []string) widgets.Stream
	TenantID  int64         // 0: every stall (the display room)
	Warn      time.Duration // age at which a ticket turns yellow (default DefaultWarn)
	Late      time.Duration // age at which it turns red (default report.DefaultLate)
	Now       func() time.Time
	Bell      io.Writer     // where the new-order bell (BEL) goes; nil: silent
	Highlight time.Duration // how long a new ticket stays highlighted (default 30s)
	// KeepCancelled is how long a cancelled ticket stays on screen (default 2m).
	KeepCancelled time.Duration
	Timeout       time.Duration // per API call (default 10s)
	NoTick        bool          // tests: no clock ticks
}

func (c *Config) defaults() {
	if c.Warn <= 0 {
		c.Warn = DefaultWarn
	}
	if c.Late <= 0 {
		c.Late = report.DefaultLate
	}
	if c.Late < c.Warn {
		c.Late = c.Warn
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Highlight <= 0 {
		c.Highlight = 30 * time.Second
	}
	if c.KeepCancelled <= 0 {
		c.KeepCancelled = 2 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

var columns = []domain.Status{domain.StatusPending, domain.StatusPreparing, domain.StatusReady}

type ticket struct {
	order     domain.Order
	full      bool      // items loaded
	arrived   time.Time // when it arrived live (zero for orders loaded at start)
	col       int       // column: the last open status seen
	cancelled time.Time // when it was seen cancelled
	recalled  bool      // a completed ticket brought back by recall
	busy      bool      // an API call on it is in flight
}

// Model is the display's Bubble Tea model.
type Model struct {
	cfg  Config
	keys keyMap
	help help.Model

	width, height int

	tickets    map[int64]*ticket
	tenants    map[int64]client.Tenant
	col        int
	sel        [3]int64 // selected order id per column
	lastBumped int64

	// The ticket under the cursor after the last message, to notice it
	// moving or leaving (see follow).
	cur    int64
	curIdx int
	curCol int
	curNum string

	live    widgets.Live
	lastID  int64
	skew    time.Duration // server clock minus ours: timers run on the server's clock
	status  string
	isError bool
	refused bool // status is an action refused while the stream is down
	alert   *widgets.Alert

	showHelp  bool
	allDay    bool
	cancelFor int64 // order whose cancel reason is being typed
	reason    widgets.Input
}

// New builds the display model.
func New(cfg Config) *Model {
	cfg.defaults()
	h := help.New()
	h.ShortSeparator = " · "
	m := &Model{
		cfg: cfg, keys: newKeys(), help: h,
		width: 80, height: 24,
		tickets: map[int64]*ticket{},
		tenants: map[int64]client.Tenant{},
		reason:  widgets.NewInput(domain.MaxReasonLen),
	}
	m.live = widgets.Live{Load: m.load, Subscribe: cfg.Subscribe, Rooms: m.rooms(), Now: cfg.Now}
	return m
}

// Messages.
type (
	loadedMsg struct {
		list    client.OrderList
		tenants []client.Tenant
		skew    time.Duration // server clock minus ours
		err     error
	}
	fetchedMsg struct {
		id    int64
		order domain.Order
		err   error
	}
	bumpedMsg struct {
		id    int64
		order domain.Order
		err   error
	}
	cancelledMsg struct {
		id    int64
		order domain.Order
		err   error
	}
	recalledMsg struct {
		order domain.Order
		err   error
	}
)

// Init loads the open orders; the stream starts once they are in.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.load()}
	if !m.cfg.NoTick {
		cmds = append(cmds, widgets.Tick())
	}
	return tea.Batch(cmds...)
}

func (m *Model) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.cfg.Timeout)
}

func (m *Model) load() tea.Cmd {
	api, tenant := m.cfg.API, m.cfg.TenantID
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		list, err := api.Orders(ctx, client.OrderFilter{TenantID: tenant, Open: true, Limit: 1000})
		if err != nil {
			return loadedMsg{err: err}
		}
		ts, _ := api.Tenants(ctx) // names are a nicety; a display token may not list them
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

func (m *Model) rooms() []string {
	if m.cfg.TenantID != 0 {
		return []string{domain.TenantRoom(m.cfg.TenantID)}
	}
	return []string{domain.RoomDisplay}
}

func (m *Model) fetch(id int64) tea.Cmd {
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		o, err := api.Order(ctx, id)
		return fetchedMsg{id: id, order: o, err: err}
	}
}

func (m *Model) bell() tea.Cmd {
	w := m.cfg.Bell
	if w == nil {
		return nil
	}
	return func() tea.Msg {
		_, _ = io.WriteString(w, "\a")
		return nil
	}
}

func (m *Model) setStatus(text string, isErr bool) {
	m.status, m.isError, m.refused = text, isErr, false
}

// refuse tells the cook an action was not sent because the stream is down;
// it outranks the connection problem on the status line, which the badge
// still shows.
func (m *Model) refuse(what string) {
	m.setStatus("offline: "+what+" — try again when LIVE", true)
	m.refused = true
}

// Update handles one message, then keeps the selection on the ticket the
// cook was looking at.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	model, cmd := m.handle(msg)
	m.follow()
	return model, cmd
}

// follow keeps a key acting on the ticket under the cursor: the selection is
// an order id, not a screen position, so a ticket moved by another cook takes
// the selection (and the focus) along, and a ticket that leaves the screen
// hands it to its neighbour. Both are said on the status line, since the
// cursor moved without the cook touching a key.
func (m *Model) follow() {
	if m.cur != 0 && m.col == m.curCol && m.sel[m.col] == m.cur {
		switch t := m.tickets[m.cur]; {
		case t == nil:
			col := m.column(m.col)
			if len(col) == 0 {
				m.sel[m.col] = 0
				m.setStatus(m.curNum+" left the screen", false)
				break
			}
			next := col[min(m.curIdx, len(col)-1)]
			m.sel[m.col] = next.order.ID
			m.setStatus(m.curNum+" left the screen — now on "+next.order.OrderNumber, false)
		case t.col != m.col:
			m.col = t.col
			m.sel[t.col] = t.order.ID
			m.setStatus(fmt.Sprintf("%s moved to %s — still selected", t.order.OrderNumber, strings.ToUpper(string(columns[t.col]))), false)
		}
	}
	m.cur, m.curIdx, m.curCol, m.curNum = 0, 0, m.col, ""
	if t, i := m.selected(m.col); t != nil {
		m.cur, m.curIdx, m.curNum = t.order.ID, i, t.order.OrderNumber
		m.sel[m.col] = t.order.ID
	}
}

func (m *Model) handle(msg tea.Msg) (tea.Model, tea.Cmd) {
	if cmd, ok := m.live.Update(msg, m.event, m.setStatus); ok {
		// Only a new connection state can end an outage, and every other
		// line said here has already replaced the refusal.
		if m.refused && !m.live.Conn.Down() {
			m.status, m.refused = "", false // LIVE again: the refusal is history
		}
		return m, cmd
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		return m, nil
	case widgets.TickMsg:
		m.expire()
		return m, widgets.Tick()
	case tea.KeyMsg:
		return m.key(msg)
	case loadedMsg:
		return m.loadedMsg(msg)
	case fetchedMsg:
		if msg.err != nil {
			if client.IsStatus(msg.err, 404) {
				delete(m.tickets, msg.id)
			}
			return m, nil
		}
		m.merge(msg.order, false)
		return m, nil
	case bumpedMsg:
		if t := m.tickets[msg.id]; t != nil {
			t.busy = false
		}
		if msg.err != nil {
			m.setStatus("bump failed: "+widgets.ErrText(msg.err), true)
			if t := m.tickets[msg.id]; t != nil {
				return m, m.fetch(msg.id) // show the true state
			}
			return m, nil
		}
		m.lastBumped = msg.id
		if m.cur == msg.id {
			m.cur = 0 // the cook's own bump: no surprise to report
		}
		m.setStatus(fmt.Sprintf("%s → %s", msg.order.OrderNumber, msg.order.Status), false)
		m.merge(msg.order, false)
		return m, nil
	case cancelledMsg:
		if t := m.tickets[msg.id]; t != nil {
			t.busy = false
		}
		if msg.err != nil {
			m.setStatus("cancel failed: "+widgets.ErrText(msg.err), true)
			return m, nil
		}
		m.setStatus(msg.order.OrderNumber+" cancelled", false)
		m.merge(msg.order, false)
		return m, nil
	case recalledMsg:
		if msg.err != nil {
			m.setStatus("recall failed: "+widgets.ErrText(msg.err), true)
			return m, nil
		}
		m.merge(msg.order, true)
		if t := m.tickets[msg.order.ID]; t != nil {
			m.col = t.col
			m.sel[t.col] = t.order.ID
		}
		return m, nil
	}
	return m, nil
}

func (m *Model) loadedMsg(msg loadedMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		why, retry := m.live.Failed(msg.err)
		m.setStatus("cannot load orders: "+why, true)
		return m, retry
	}
	for _, t := range msg.tenants {
		m.tenants[t.ID] = t
	}
	m.skew = msg.skew
	if _, ok := m.tenants[m.cfg.TenantID]; m.cfg.TenantID != 0 && len(msg.tenants) > 0 && !ok {
		m.setStatus("tenant "+strconv.FormatInt(m.cfg.TenantID, 10)+" does not exist on this server", true)
	}
	old := m.tickets
	m.tickets = map[int64]*ticket{}
	for _, o := range msg.list.Orders {
		m.merge(o, false)
		if prev := old[o.ID]; prev != nil {
			m.tickets[o.ID].arrived = prev.arrived
		}
	}
	// Cancelled tickets still on show, and a recalled one, survive a reload.
	for id, t := range old {
		if _, ok := m.tickets[id]; !ok && (!t.cancelled.IsZero() || t.recalled) {
			m.tickets[id] = t
		}
	}
	m.lastID = msg.list.LastEventID
	status, cmd := m.live.Done(m.lastID)
	if status != "" {
		m.setStatus(status, false)
	}
	return m, cmd
}

func (m *Model) event(ev *client.Event) tea.Cmd {
	m.lastID = ev.ID()
	ts := ev.Payload.Timestamp
	switch ev.Name {
	case domain.EventOrderCreated:
		var d domain.OrderCreatedData
		if ev.Decode(&d) != nil {
			return nil
		}
		if _, ok := m.tickets[d.OrderID]; !ok {
			t := &ticket{
				order: domain.Order{
					ID: d.OrderID, OrderNumber: d.OrderNumber, CustomerName: d.CustomerName,
					TotalAmount: d.TotalAmount, Status: d.Status, CreatedAt: ts, UpdatedAt: ts,
				},
				arrived: m.cfg.Now(),
				col:     colOf(d.Status),
			}
			m.tickets[d.OrderID] = t
		}
		return tea.Batch(m.fetch(d.OrderID), m.bell())
	case domain.EventOrderStatusChanged:
		var d domain.OrderStatusChangedData
		if ev.Decode(&d) != nil {
			return nil
		}
		t := m.tickets[d.OrderID]
		if t == nil {
			if d.NewStatus.Open() {
				return m.fetch(d.OrderID)
			}
			return nil
		}
		m.advance(t, d.NewStatus, ts)
	case domain.EventOrderCancelled:
		var d domain.OrderCancelledData
		if ev.Decode(&d) != nil {
			return nil
		}
		if t := m.tickets[d.OrderID]; t != nil {
			t.order.CancelReason = d.Reason
			m.advance(t, domain.StatusCancelled, ts)
		}
	case domain.EventPaymentProcessed:
		var d domain.PaymentProcessedData
		if ev.Decode(&d) != nil {
			return nil
		}
		if t := m.tickets[d.OrderID]; t != nil {
			t.order.PaidAmount = d.AmountPaid - d.Change
		}
	case domain.EventPaymentRefunded:
		var d domain.PaymentRefundedData
		if ev.Decode(&d) != nil {
			return nil
		}
		if t := m.tickets[d.OrderID]; t != nil {
			t.order.Refunded += d.RefundAmount
		}
	case domain.EventAlert:
		m.alert = widgets.NewAlert(ev.Payload, m.cfg.Now())
	}
	return nil
}

func rank(s domain.Status) int {
	switch s {
	case domain.StatusPending:
		return 0
	case domain.StatusPreparing:
		return 1
	case domain.StatusReady:
		return 2
	}
	return 3 // completed, cancelled: final
}

func colOf(s domain.Status) int {
	if r := rank(s); r < 3 {
		return r
	}
	return 2
}

// advance moves a ticket forward (never back: events and fetches may cross).
func (m *Model) advance(t *ticket, s domain.Status, at time.Time) {
	if rank(s) < rank(t.order.Status) || (rank(t.order.Status) == 3 && !t.recalled) {
		return
	}
	if t.recalled && s == domain.StatusCompleted {
		t.order.Status = s
		return
	}
	t.recalled = false
	t.order.Status = s
	if !at.IsZero() {
		t.order.UpdatedAt = at
	}
	switch s {
	case domain.StatusCompleted:
		delete(m.tickets, t.order.ID)
	case domain.StatusCancelled:
		if t.cancelled.IsZero() {
			t.cancelled = m.cfg.Now()
		}
	default:
		t.col = colOf(s)
	}
}

// merge takes in a full order from the API.
func (m *Model) merge(o domain.Order, recall bool) {
	t := m.tickets[o.ID]
	if t == nil {
		if !o.Status.Open() && !recall {
			return
		}
		t = &ticket{order: o, full: true, col: colOf(o.Status), recalled: recall && !o.Status.Open()}
		if o.Status == domain.StatusCancelled {
			t.cancelled = m.cfg.Now()
		}
		m.tickets[o.ID] = t
		return
	}
	status := t.order.Status
	reason := t.order.CancelReason
	paid, refunded := t.order.PaidAmount, t.order.Refunded
	items, full := t.order.Items, t.full
	t.order = o
	t.full = true
	if len(o.Items) == 0 && full { // a status or cancel answer may carry no items
		t.order.Items = items
	}
	t.order.Status = status
	if o.CancelReason == "" {
		t.order.CancelReason = reason
	}
	t.order.PaidAmount, t.order.Refunded = max(paid, o.PaidAmount), max(refunded, o.Refunded)
	if recall && !o.Status.Open() {
		t.recalled = true
		t.order.Status = o.Status
		return
	}
	m.advance(t, o.Status, time.Time{})
}

func (m *Model) expire() {
	now := m.cfg.Now()
	for id, t := range m.tickets {
		if !t.cancelled.IsZero() && now.Sub(t.cancelled) >= m.cfg.KeepCancelled {
			delete(m.tickets, id)
		}
	}
}

// column returns the tickets of column c, oldest first.
func (m *Model) column(c int) []*ticket {
	var out []*ticket
	for _, t := range m.tickets {
		if t.col == c {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].order, out[j].order
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return out
}

// selected returns the selected ticket of column c (the first when the
// selection left it) and its index.
func (m *Model) selected(c int) (*ticket, int) {
	col := m.column(c)
	if len(col) == 0 {
		return nil, -1
	}
	for i, t := range col {
		if t.order.ID == m.sel[c] {
			return t, i
		}
	}
	return col[0], 0
}

func (m *Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.cancelFor != 0 {
		switch {
		case key.Matches(msg, m.keys.Back):
			m.cancelFor = 0
			m.setStatus("cancel aborted", false)
			return m, nil
		case key.Matches(msg, m.keys.Confirm):
			reason := strings.TrimSpace(m.reason.Value())
			if reason == "" {
				m.setStatus("type a reason for the cancellation (esc to go back)", true)
				return m, nil
			}
			id := m.cancelFor
			if m.live.Conn.Down() {
				m.cancelFor = 0
				m.refuse(m.number(id) + " not cancelled")
				return m, nil
			}
			m.cancelFor = 0
			if t := m.tickets[id]; t != nil {
				t.busy = true
			}
			api := m.cfg.API
			return m, func() tea.Msg {
				ctx, cancel := m.ctx()
				defer cancel()
				o, err := api.Cancel(ctx, id, reason, client.WithIdempotencyKey("display-cancel-"+strconv.FormatInt(id, 10)))
				return cancelledMsg{id: id, order: o, err: err}
			}
		}
		if key.Matches(msg, m.keys.ForceQuit) {
			return m, tea.Quit
		}
		m.reason.Key(msg)
		return m, nil
	}
	if m.showHelp && !key.Matches(msg, m.keys.Quit) {
		if key.Matches(msg, m.keys.Help, m.keys.Back) {
			m.showHelp = false
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		m.live.Close()
		return m, tea.Quit
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
	case key.Matches(msg, m.keys.Back):
		m.allDay = false
		m.status = ""
	case key.Matches(msg, m.keys.Dismiss):
		m.alert = nil
	case key.Matches(msg, m.keys.AllDay):
		m.allDay = !m.allDay
	case key.Matches(msg, m.keys.Left):
		m.col = (m.col + 2) % 3
	case key.Matches(msg, m.keys.Right):
		m.col = (m.col + 1) % 3
	case key.Matches(msg, m.keys.Up), key.Matches(msg, m.keys.Down):
		col := m.column(m.col)
		_, i := m.selected(m.col)
		if i < 0 {
			return m, nil
		}
		if key.Matches(msg, m.keys.Up) {
			i = max(i-1, 0)
		} else {
			i = min(i+1, len(col)-1)
		}
		m.sel[m.col] = col[i].order.ID
	case key.Matches(msg, m.keys.Bump):
		return m, m.bump()
	case key.Matches(msg, m.keys.Recall):
		return m, m.recall()
	case key.Matches(msg, m.keys.Cancel):
		t, _ := m.selected(m.col)
		if t == nil || !t.order.Status.Open() {
			m.setStatus("select an open ticket to cancel", true)
			return m, nil
		}
		if m.live.Conn.Down() {
			m.refuse(t.order.OrderNumber + " not cancelled")
			return m, nil
		}
		m.cancelFor = t.order.ID
		m.reason.Reset()
		m.status = ""
		return m, nil
	}
	return m, nil
}

func (m *Model) bump() tea.Cmd {
	t, i := m.selected(m.col)
	if t == nil {
		return nil
	}
	if t.recalled || t.order.Status == domain.StatusCancelled {
		// Dismiss: a recalled (completed) or cancelled ticket has nowhere to go.
		delete(m.tickets, t.order.ID)
		m.keepSelection(i, t.order.ID)
		return nil
	}
	if t.busy {
		return nil
	}
	next := t.order.Status.Next()
	if next == "" {
		return nil
	}
	if m.live.Conn.Down() {
		m.refuse(t.order.OrderNumber + " not bumped")
		return nil
	}
	t.busy = true
	m.keepSelection(i, t.order.ID)
	id, api := t.order.ID, m.cfg.API
	keyID := "display-bump-" + strconv.FormatInt(id, 10) + "-" + string(next)
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		o, err := api.SetStatus(ctx, id, next, client.WithIdempotencyKey(keyID))
		return bumpedMsg{id: id, order: o, err: err}
	}
}

// keepSelection selects the neighbour of the ticket at index i that is
// leaving the column (gone), so the cook's cursor stays where it was.
func (m *Model) keepSelection(i int, gone int64) {
	var rest []*ticket
	for _, t := range m.column(m.col) {
		if t.order.ID != gone {
			rest = append(rest, t)
		}
	}
	if len(rest) == 0 {
		m.sel[m.col] = 0
		return
	}
	m.sel[m.col] = rest[min(max(i, 0), len(rest)-1)].order.ID
}

// number is the order number of a ticket on screen, or its id.
func (m *Model) number(id int64) string {
	if t := m.tickets[id]; t != nil {
		return t.order.OrderNumber
	}
	return "order " + strconv.FormatInt(id, 10)
}

func (m *Model) recall() tea.Cmd {
	id := m.lastBumped
	if id == 0 {
		m.setStatus("nothing bumped yet", true)
		return nil
	}
	if t := m.tickets[id]; t != nil {
		m.col = t.col
		m.sel[t.col] = id
		m.setStatus("recalled "+t.order.OrderNumber, false)
		return nil
	}
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		o, err := api.Order(ctx, id)
		return recalledMsg{order: o, err: err}
	}
}

// counts returns the number of open tickets per column.
func (m *Model) counts() [3]int {
	var n [3]int
	for _, t := range m.tickets {
		if t.order.Status.Open() {
			n[t.col]++
		}
	}
	return n
}

type allDayItem struct {
	name string
	qty  int64
}

// allDayItems totals each item over the open, non-cancelled tickets.
func (m *Model) allDayItems() []allDayItem {
	sum := map[string]int64{}
	for _, t := range m.tickets {
		if !t.order.Status.Open() {
			continue
		}
		for _, it := range t.order.Items {
			sum[it.Name] += it.Quantity
		}
	}
	out := make([]allDayItem, 0, len(sum))
	for n, q := range sum {
		out = append(out, allDayItem{n, q})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].qty != out[j].qty {
			return out[i].qty > out[j].qty
		}
		return out[i].name < out[j].name
	})
	return out
}
