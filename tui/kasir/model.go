// Package kasir is the cashier's console: the live queue of unpaid orders,
// taking payments with change and a receipt, the counter's payment feed,
// refunds, a shift summary and system alerts.
package kasir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/tui/widgets"
)

// API is what the kasir console needs of the server (a *client.Client).
type API interface {
	Orders(ctx context.Context, f client.OrderFilter) (client.OrderList, error)
	Order(ctx context.Context, id int64) (domain.Order, error)
	Pay(ctx context.Context, req client.PayRequest, opts ...client.Option) (domain.Payment, error)
	Payments(ctx context.Context, counterID int64, since time.Time) ([]domain.Payment, error)
	Refund(ctx context.Context, paymentID int64, reason string, amount int64, opts ...client.Option) (domain.Payment, error)
	Counters(ctx context.Context) ([]client.Counter, error)
	Tenants(ctx context.Context) ([]client.Tenant, error)
}

// Config wires a kasir console.
type Config struct {
	API       API
	Subscribe func(since int64, rooms []string) widgets.Stream
	CounterID int64
	// ShiftStart is when the shift began: the summary counts payments since
	// then (default: when the console started).
	ShiftStart time.Time
	Float      int64 // cash in the drawer at the start of the shift
	Now        func() time.Time
	NewKey     func() string // idempotency keys (default: random)
	Timeout    time.Duration
	NoTick     bool
}

func (c *Config) defaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ShiftStart.IsZero() {
		c.ShiftStart = c.Now()
	}
	if c.NewKey == nil {
		c.NewKey = func() string {
			var b [12]byte
			_, _ = rand.Read(b[:])
			return "kasir-" + hex.EncodeToString(b[:])
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
}

// amountLimit is the most characters an amount field takes: Rupiah amounts
// with thousands dots fit well inside it.
const amountLimit = 15

type mode int

const (
	modeMain mode = iota
	modePay
	modeReceipt
	modeRefund
)

type payForm struct {
	order    domain.Order
	full     bool
	method   int
	tendered widgets.Input
	err      string
	busy     bool
	key      string
	// stale says why the order changed under the panel (paid elsewhere,
	// cancelled, no longer open): Enter then takes no money.
	stale string
}

type receipt struct {
	payment domain.Payment
	order   domain.Order
}

type refundForm struct {
	payment domain.Payment
	reason  widgets.Input
	amount  widgets.Input
	field   int // 0 reason, 1 amount
	err     string
	busy    bool
	key     string
}

// Model is the kasir console's Bubble Tea model.
type Model struct {
	cfg  Config
	keys keyMap
	help help.Model

	width, height int

	queue    map[int64]*domain.Order
	payments []domain.Payment
	counter  string
	tenants  map[int64]client.Tenant

	focus int // 0 queue, 1 payments
	qsel  int64
	psel  int64

	// The queued order under the cursor after the last message, to notice
	// it leaving (see follow).
	cur    int64
	curIdx int
	curNum string

	mode    mode
	pay     *payForm
	receipt *receipt
	refund  *refundForm

	live     widgets.Live
	fetching bool // a payments refresh is in flight
	stale    bool // another refresh is wanted when it returns
	status   string
	isError  bool
	alert    *widgets.Alert
	showHelp bool
}

// New builds the kasir model.
func New(cfg Config) *Model {
	cfg.defaults()
	h := help.New()
	h.ShortSeparator = " · "
	m := &Model{
		cfg: cfg, keys: newKeys(), help: h,
		width: 80, height: 24,
		queue:   map[int64]*domain.Order{},
		tenants: map[int64]client.Tenant{},
	}
	m.live = widgets.Live{
		Load: m.load, Subscribe: cfg.Subscribe, Now: cfg.Now,
		Rooms: []string{domain.RoomDisplay, domain.KasirRoom(cfg.CounterID)},
	}
	return m
}

type (
	loadedMsg struct {
		list     client.OrderList
		payments []domain.Payment
		counters []client.Counter
		tenants  []client.Tenant
		err      error
	}
	paymentsMsg struct {
		payments []domain.Payment
		err      error
	}
	payOrderMsg struct {
		order domain.Order
		err   error
	}
	paidMsg struct {
		payment domain.Payment
		order   domain.Order
		err     error
	}
	refundedMsg struct {
		payment domain.Payment
		err     error
	}
	queueOrderMsg struct {
		order domain.Order
		err   error
	}
)

// Init loads the queue and the shift's payments; the stream starts after.
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
	api, counter, since := m.cfg.API, m.cfg.CounterID, m.cfg.ShiftStart
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		list, err := api.Orders(ctx, client.OrderFilter{Open: true, Unpaid: true, Limit: 1000})
		if err != nil {
			return loadedMsg{err: err}
		}
		ps, err := api.Payments(ctx, counter, since)
		if err != nil {
			return loadedMsg{err: err}
		}
		cs, _ := api.Counters(ctx) // names are a nicety
		ts, _ := api.Tenants(ctx)
		return loadedMsg{list: list, payments: ps, counters: cs, tenants: ts}
	}
}

func (m *Model) refreshPayments() tea.Cmd {
	if m.fetching {
		m.stale = true
		return nil
	}
	m.fetching = true
	api, counter, since := m.cfg.API, m.cfg.CounterID, m.cfg.ShiftStart
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		ps, err := api.Payments(ctx, counter, since)
		return paymentsMsg{payments: ps, err: err}
	}
}

func (m *Model) fetchQueueOrder(id int64) tea.Cmd {
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		o, err := api.Order(ctx, id)
		return queueOrderMsg{order: o, err: err}
	}
}

func (m *Model) setStatus(s string, isErr bool) { m.status, m.isError = s, isErr }

// Update handles one message, then keeps the queue's selection on the order
// the cashier was looking at.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	model, cmd := m.handle(msg)
	m.follow()
	return model, cmd
}

// follow makes the queue's selection an order, not a row: orders arriving or
// leaving elsewhere do not move it, and when the selected order leaves the
// queue (paid at another counter, cancelled) its neighbour takes the
// selection and the status line says so, since the cursor moved by itself.
func (m *Model) follow() {
	if m.cur != 0 && m.qsel == m.cur {
		if _, ok := m.queue[m.cur]; !ok {
			q := m.queueList()
			if len(q) == 0 {
				m.qsel = 0
				m.setStatus(m.curNum+" left the unpaid queue", false)
			} else {
				next := q[min(m.curIdx, len(q)-1)]
				m.qsel = next.ID
				m.setStatus(m.curNum+" left the unpaid queue — now on "+next.OrderNumber, false)
			}
		}
	}
	m.cur, m.curIdx, m.curNum = 0, 0, ""
	if o, i := m.selectedOrder(); o != nil {
		m.qsel, m.cur, m.curIdx, m.curNum = o.ID, o.ID, i, o.OrderNumber
	}
}

func (m *Model) handle(msg tea.Msg) (tea.Model, tea.Cmd) {
	if cmd, ok := m.live.Update(msg, m.event, m.setStatus); ok {
		return m, cmd
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
	case widgets.TickMsg:
		if m.alert != nil && !m.alert.Visible(m.cfg.Now()) {
			m.alert = nil
		}
		return m, widgets.Tick()
	case tea.KeyMsg:
		return m.key(msg)
	case loadedMsg:
		return m.loadedMsg(msg)
	case paymentsMsg:
		m.fetching = false
		if msg.err == nil {
			m.setPayments(msg.payments)
		} else {
			m.setStatus("cannot refresh payments: "+widgets.ErrText(msg.err), true)
		}
		if m.stale {
			m.stale = false
			return m, m.refreshPayments()
		}
	case queueOrderMsg:
		if msg.err == nil {
			o := msg.order
			if o.Status.Open() && !o.Paid() {
				m.queue[o.ID] = &o
			} else {
				delete(m.queue, o.ID)
			}
		}
	case payOrderMsg:
		if m.pay != nil && msg.err == nil && msg.order.ID == m.pay.order.ID {
			m.pay.order, m.pay.full = msg.order, true
			switch {
			case msg.order.Status == domain.StatusCancelled:
				m.pay.stale = msg.order.OrderNumber + " was cancelled"
			case msg.order.Paid():
				m.pay.stale = msg.order.OrderNumber + " is already paid"
			}
		} else if m.pay != nil && msg.err != nil {
			m.pay.err = widgets.ErrText(msg.err)
		}
	case paidMsg:
		return m.paidMsg(msg)
	case refundedMsg:
		if m.refund == nil {
			return m, nil
		}
		m.refund.busy = false
		if msg.err != nil {
			m.refund.err = widgets.ErrText(msg.err)
			if ae, ok := msg.err.(*client.APIError); ok && ae.Status < 500 {
				m.refund.key = m.cfg.NewKey() // a refused request may be corrected and sent again
			}
			return m, nil
		}
		m.setStatus("refunded "+widgets.Rupiah(msg.payment.Amount)+" of "+m.refund.payment.OrderNumber+" ("+msg.payment.Reference+")", false)
		m.refund, m.mode = nil, modeMain
		return m, m.refreshPayments()
	}
	return m, nil
}

func (m *Model) loadedMsg(msg loadedMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		why, retry := m.live.Failed(msg.err)
		m.setStatus("cannot load: "+why, true)
		return m, retry
	}
	for _, c := range msg.counters {
		if c.ID == m.cfg.CounterID {
			m.counter = c.Name
		}
	}
	if len(msg.counters) > 0 && m.counter == "" {
		m.setStatus("counter "+strconv.FormatInt(m.cfg.CounterID, 10)+" does not exist on this server: payments will be refused", true)
	}
	for _, t := range msg.tenants {
		m.tenants[t.ID] = t
	}
	m.queue = map[int64]*domain.Order{}
	for i := range msg.list.Orders {
		o := msg.list.Orders[i]
		if o.Status.Open() && !o.Paid() {
			m.queue[o.ID] = &o
		}
	}
	m.setPayments(msg.payments)
	status, cmd := m.live.Done(msg.list.LastEventID)
	if status != "" {
		m.setStatus(status, false)
	}
	return m, cmd
}

func (m *Model) setPayments(ps []domain.Payment) {
	out := append([]domain.Payment(nil), ps...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	m.payments = out
}

func (m *Model) event(ev *client.Event) tea.Cmd {
	switch ev.Name {
	case domain.EventOrderCreated:
		var d domain.OrderCreatedData
		if ev.Decode(&d) == nil && d.Status.Open() {
			m.queue[d.OrderID] = &domain.Order{
				ID: d.OrderID, OrderNumber: d.OrderNumber, CustomerName: d.CustomerName,
				TotalAmount: d.TotalAmount, Status: d.Status, CreatedAt: ev.Payload.Timestamp,
			}
		}
	case domain.EventOrderStatusChanged:
		var d domain.OrderStatusChangedData
		if ev.Decode(&d) == nil {
			if f := m.pay; f != nil && f.order.ID == d.OrderID && !d.NewStatus.Open() && d.NewStatus != domain.StatusCompleted {
				f.stale = f.order.OrderNumber + " is now " + string(d.NewStatus)
			}
			if o := m.queue[d.OrderID]; o != nil {
				o.Status = d.NewStatus
				if !d.NewStatus.Open() {
					delete(m.queue, d.OrderID)
				}
			}
		}
	case domain.EventOrderCancelled:
		var d domain.OrderCancelledData
		if ev.Decode(&d) == nil {
			if _, queued := m.queue[d.OrderID]; queued && m.mode == modeMain {
				m.setStatus(d.OrderNumber+" was cancelled: "+d.Reason, false)
			}
			delete(m.queue, d.OrderID)
			if m.pay != nil && m.pay.order.ID == d.OrderID && m.mode == modePay {
				m.pay.stale = m.pay.order.OrderNumber + " was just cancelled: " + d.Reason
			}
		}
	case domain.EventPaymentProcessed:
		var d domain.PaymentProcessedData
		if ev.Decode(&d) == nil {
			delete(m.queue, d.OrderID)
			// While our own request is in flight this event may be its
			// own echo; its answer decides then.
			if f := m.pay; f != nil && f.order.ID == d.OrderID && !f.busy && m.mode == modePay {
				f.stale = f.order.OrderNumber + " was just paid elsewhere"
			}
		}
		return m.refreshPayments()
	case domain.EventPaymentRefunded:
		var d domain.PaymentRefundedData
		if ev.Decode(&d) == nil {
			return tea.Batch(m.refreshPayments(), m.fetchQueueOrder(d.OrderID))
		}
		return m.refreshPayments()
	case domain.EventAlert:
		m.alert = widgets.NewAlert(ev.Payload, m.cfg.Now())
	}
	return nil
}

// queueList is the unpaid queue, oldest first.
func (m *Model) queueList() []*domain.Order {
	out := make([]*domain.Order, 0, len(m.queue))
	for _, o := range m.queue {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (m *Model) selectedOrder() (*domain.Order, int) {
	q := m.queueList()
	for i, o := range q {
		if o.ID == m.qsel {
			return o, i
		}
	}
	if len(q) > 0 {
		return q[0], 0
	}
	return nil, -1
}

func (m *Model) selectedPayment() (*domain.Payment, int) {
	for i := range m.payments {
		if m.payments[i].ID == m.psel {
			return &m.payments[i], i
		}
	}
	if len(m.payments) > 0 {
		return &m.payments[0], 0
	}
	return nil, -1
}

func (m *Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if key.Matches(msg, m.keys.ForceQuit) {
		return m.quit()
	}
	switch m.mode {
	case modePay:
		return m.payKey(msg)
	case modeReceipt:
		if key.Matches(msg, m.keys.Confirm, m.keys.Back, m.keys.Quit) {
			m.mode, m.receipt = modeMain, nil
		}
		return m, nil
	case modeRefund:
		return m.refundKey(msg)
	}
	if m.showHelp {
		if key.Matches(msg, m.keys.Quit) {
			return m.quit()
		}
		if key.Matches(msg, m.keys.Help, m.keys.Back) {
			m.showHelp = false
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
	case key.Matches(msg, m.keys.Dismiss):
		m.alert = nil
	case key.Matches(msg, m.keys.Back):
		m.status = ""
	case key.Matches(msg, m.keys.Focus):
		m.focus = 1 - m.focus
	case key.Matches(msg, m.keys.Up), key.Matches(msg, m.keys.Down):
		d := 1
		if key.Matches(msg, m.keys.Up) {
			d = -1
		}
		if m.focus == 0 {
			q := m.queueList()
			if _, i := m.selectedOrder(); i >= 0 {
				m.qsel = q[min(max(i+d, 0), len(q)-1)].ID
			}
		} else if _, i := m.selectedPayment(); i >= 0 {
			m.psel = m.payments[min(max(i+d, 0), len(m.payments)-1)].ID
		}
	case key.Matches(msg, m.keys.Pay):
		if m.focus == 1 {
			return m, nil
		}
		o, _ := m.selectedOrder()
		if o == nil {
			m.setStatus("no unpaid order to take", true)
			return m, nil
		}
		m.qsel = o.ID
		m.pay = &payForm{order: *o, key: m.cfg.NewKey(), tendered: widgets.NewInput(amountLimit)}
		m.mode = modePay
		m.status = ""
		id, api := o.ID, m.cfg.API
		return m, func() tea.Msg {
			ctx, cancel := m.ctx()
			defer cancel()
			full, err := api.Order(ctx, id)
			return payOrderMsg{order: full, err: err}
		}
	case key.Matches(msg, m.keys.Refund):
		p, _ := m.selectedPayment()
		if m.focus != 1 || p == nil {
			m.setStatus("tab to the payments list and pick a payment to refund", true)
			return m, nil
		}
		if p.Kind != domain.KindPayment || p.Remaining() <= 0 {
			m.setStatus("nothing left to refund on that line", true)
			return m, nil
		}
		m.refund = &refundForm{payment: *p, key: m.cfg.NewKey(),
			reason: widgets.NewInput(domain.MaxReasonLen), amount: widgets.NewInput(amountLimit)}
		m.mode = modeRefund
		m.status = ""
	}
	return m, nil
}

func (m *Model) quit() (tea.Model, tea.Cmd) {
	m.live.Close()
	return m, tea.Quit
}

// tendered is what the customer hands over: typed for cash (empty: exact),
// always the exact total for the other methods.
func (f *payForm) tenderedAmount() (int64, bool) {
	if domain.Methods[f.method] != domain.MethodCash || strings.TrimSpace(f.tendered.Value()) == "" {
		return f.order.TotalAmount, true
	}
	return widgets.ParseAmount(f.tendered.Value())
}

func (m *Model) payKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	f := m.pay
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode, m.pay = modeMain, nil
		return m, nil
	case f.busy:
		return m, nil
	case f.stale != "":
		return m, nil // nothing to take: only esc leaves
	case key.Matches(msg, m.keys.PrevMethod):
		f.method = (f.method + len(domain.Methods) - 1) % len(domain.Methods)
		f.err = ""
	case key.Matches(msg, m.keys.NextMethod, m.keys.Focus):
		f.method = (f.method + 1) % len(domain.Methods)
		f.err = ""
	case key.Matches(msg, m.keys.Confirm):
		amount, ok := f.tenderedAmount()
		if !ok {
			f.err = "type the amount tendered in Rupiah, e.g. 50000"
			return m, nil
		}
		if m.live.Conn.Down() {
			f.err = "offline: payment not taken — take it when the badge says LIVE"
			return m, nil
		}
		f.busy, f.err = true, ""
		req := client.PayRequest{OrderID: f.order.ID, AmountPaid: amount, PaymentMethod: domain.Methods[f.method], CounterID: m.cfg.CounterID}
		api, k, order := m.cfg.API, f.key, f.order
		return m, func() tea.Msg {
			ctx, cancel := m.ctx()
			defer cancel()
			p, err := api.Pay(ctx, req, client.WithIdempotencyKey(k))
			return paidMsg{payment: p, order: order, err: err}
		}
	default:
		if domain.Methods[f.method] == domain.MethodCash {
			if !amountKey(msg) {
				return m, nil
			}
			if f.tendered.Key(msg) {
				f.err = ""
			}
		}
	}
	return m, nil
}

// amountKey reports whether a key may reach an amount field: typed
// characters must be digits or the thousands dot.
func amountKey(msg tea.KeyMsg) bool {
	if msg.Type != tea.KeyRunes {
		return true
	}
	for _, r := range msg.Runes {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

func (m *Model) paidMsg(msg paidMsg) (tea.Model, tea.Cmd) {
	if m.pay == nil {
		return m, nil
	}
	m.pay.busy = false
	if msg.err != nil {
		m.pay.err = widgets.ErrText(msg.err)
		if ae, ok := msg.err.(*client.APIError); ok && ae.Status < 500 {
			m.pay.key = m.cfg.NewKey() // refused: a corrected request is a new one
		}
		return m, nil
	}
	order := msg.order
	if m.pay.full {
		order = m.pay.order
	}
	delete(m.queue, msg.payment.OrderID)
	if m.cur == msg.payment.OrderID {
		m.cur = -1 // paid here: the neighbour takes the cursor quietly
		q := m.queueList()
		m.qsel = 0
		if len(q) > 0 {
			m.qsel = q[min(m.curIdx, len(q)-1)].ID
		}
	}
	m.receipt = &receipt{payment: msg.payment, order: order}
	m.pay, m.mode = nil, modeReceipt
	m.setStatus("paid "+order.OrderNumber+" — "+msg.payment.Reference, false)
	return m, m.refreshPayments()
}

func (m *Model) refundKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	f := m.refund
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode, m.refund = modeMain, nil
		return m, nil
	case f.busy:
		return m, nil
	case key.Matches(msg, m.keys.NextField):
		f.field = 1 - f.field
	case key.Matches(msg, m.keys.Confirm):
		reason := strings.TrimSpace(f.reason.Value())
		if reason == "" {
			f.err = "a refund needs a reason"
			f.field = 0
			return m, nil
		}
		var amount int64
		if strings.TrimSpace(f.amount.Value()) != "" {
			var ok bool
			if amount, ok = widgets.ParseAmount(f.amount.Value()); !ok || amount == 0 {
				f.err = "type the amount in Rupiah, or leave it empty for all that is left"
				f.field = 1
				return m, nil
			}
		}
		if m.live.Conn.Down() {
			f.err = "offline: not refunded — refund when the badge says LIVE"
			return m, nil
		}
		f.busy, f.err = true, ""
		api, id, k := m.cfg.API, f.payment.ID, f.key
		return m, func() tea.Msg {
			ctx, cancel := m.ctx()
			defer cancel()
			p, err := api.Refund(ctx, id, reason, amount, client.WithIdempotencyKey(k))
			return refundedMsg{payment: p, err: err}
		}
	default:
		in := &f.reason
		if f.field == 1 {
			in = &f.amount
			if !amountKey(msg) {
				return m, nil
			}
		}
		if in.Key(msg) {
			f.err = ""
		}
	}
	return m, nil
}

// Summary is the shift's takings.
type Summary struct {
	Count    map[domain.Method]int
	Total    map[domain.Method]int64
	Refunds  int
	Refunded map[domain.Method]int64
	Net      int64
	Drawer   int64 // cash expected in the drawer
}

// Summary totals the counter's payments and refunds since the shift began.
func (m *Model) Summary() Summary {
	s := Summary{Count: map[domain.Method]int{}, Total: map[domain.Method]int64{}, Refunded: map[domain.Method]int64{}}
	for _, p := range m.payments {
		if p.CreatedAt.Before(m.cfg.ShiftStart) {
			continue
		}
		// Saturating sums: payments taken before the server capped amounts
		// (or under a higher cap) may add up past int64, and a wrapped sum
		// would show the drawer a negative fortune.
		switch p.Kind {
		case domain.KindPayment:
			s.Count[p.Method]++
			s.Total[p.Method] = domain.AddAmount(s.Total[p.Method], p.Amount)
			s.Net = domain.AddAmount(s.Net, p.Amount)
		case domain.KindRefund:
			s.Refunds++
			s.Refunded[p.Method] = domain.AddAmount(s.Refunded[p.Method], p.Amount)
			s.Net = domain.AddAmount(s.Net, -p.Amount)
		}
	}
	s.Drawer = domain.AddAmount(domain.AddAmount(m.cfg.Float, s.Total[domain.MethodCash]), -s.Refunded[domain.MethodCash])
	return s
}
