package ops

import (
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/tui/widgets"
)

// alertForm composes an alert to every connection.
type alertForm struct {
	severity int // index in domain.Severities
	message  widgets.Input
	err      string
	busy     bool
	key      string
}

// confirmed is the state of a list whose selected item is acted on only
// after a y: the question open, the action under way, its error.
type confirmed struct {
	confirm bool
	busy    bool
	err     string
}

// confirmKey handles a key while the question is open: y runs act (unless
// the badge is not LIVE: refused then says what was not done), n closes it.
func (m *Model) confirmKey(msg tea.KeyMsg, c *confirmed, refused string, act func() tea.Msg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Yes):
		if why := m.down(refused); why != "" {
			c.confirm, c.err = false, why
			return m, nil
		}
		c.busy = true
		return m, act
	case key.Matches(msg, m.keys.No):
		c.confirm = false
	}
	return m, nil
}

// roomsPanel lists the rooms; a room is disconnected after a confirmation.
type roomsPanel struct {
	confirmed
	sel string
}

// tokensPanel lists the tokens; one is revoked after a confirmation.
type tokensPanel struct {
	confirmed
	list   []client.Token
	loaded bool
	sel    int64
}

type reportKind int

const (
	kindSales reportKind = iota
	kindSettlement
)

// reportPanel shows the sales of a day or the settlement of a month.
type reportPanel struct {
	kind       reportKind
	day        time.Time // a civil date, at midnight UTC
	month      time.Time // the first of a month, at midnight UTC
	sales      *report.Sales
	settlement *report.Settlement
	loading    bool
	err        string
	seq        int // answers to an earlier request are dropped
	export     *widgets.Input
	written    string
}

const dayLayout, monthLayout = "2006-01-02", "2006-01"

// period is the panel's day or month, as the query names it.
func (p *reportPanel) period() string {
	if p.kind == kindSettlement {
		return p.month.Format(monthLayout)
	}
	return p.day.Format(dayLayout)
}

type (
	alertSentMsg    struct{ err error }
	disconnectedMsg struct {
		room string
		n    int
		err  error
	}
	tokensMsg struct {
		list []client.Token
		err  error
	}
	revokedMsg struct {
		id  int64
		err error
	}
	reportMsg struct {
		seq        int
		sales      report.Sales
		settlement report.Settlement
		err        error
	}
	exportedMsg struct {
		path string
		err  error
	}
)

func (m *Model) panelMsg(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case alertSentMsg:
		f := m.compose
		if f == nil {
			return m, nil
		}
		f.busy = false
		if msg.err != nil {
			f.err = widgets.ErrText(msg.err)
			if widgets.Refused(msg.err) {
				f.key = m.cfg.NewKey() // refused: a corrected alert is a new one
			}
			return m, nil
		}
		m.setStatus(domain.Severities[f.severity]+" alert sent to every connection", false)
		m.compose, m.mode = nil, modeMain
	case disconnectedMsg:
		p := m.roomsP
		if p == nil {
			return m, nil
		}
		p.busy, p.confirm = false, false
		if msg.err != nil {
			p.err = widgets.ErrText(msg.err)
			return m, nil
		}
		p.err = ""
		m.setStatus("disconnected "+msg.room+": "+strconv.Itoa(msg.n)+" connection(s) closed here, the other nodes close theirs", false)
		return m, m.poll()
	case tokensMsg:
		p := m.tokensP
		if p == nil {
			return m, nil
		}
		p.busy = false
		if msg.err != nil {
			p.err = widgets.ErrText(msg.err)
			return m, nil
		}
		p.list, p.loaded, p.err = msg.list, true, ""
		sort.Slice(p.list, func(i, j int) bool { return p.list[i].ID < p.list[j].ID })
	case revokedMsg:
		p := m.tokensP
		if p == nil {
			return m, nil
		}
		p.busy, p.confirm = false, false
		if msg.err != nil {
			p.err = widgets.ErrText(msg.err)
			return m, nil
		}
		m.setStatus("revoked token #"+strconv.FormatInt(msg.id, 10)+": its connections close on every node", false)
		return m, m.loadTokens()
	case reportMsg:
		p := m.report
		if p == nil || msg.seq != p.seq {
			return m, nil
		}
		p.loading = false
		if msg.err != nil {
			p.err = reportsErr(msg.err)
			p.sales, p.settlement = nil, nil
			return m, nil
		}
		p.err = ""
		if p.kind == kindSales {
			p.sales = &msg.sales
		} else {
			p.settlement = &msg.settlement
		}
	case exportedMsg:
		p := m.report
		if p == nil {
			return m, nil
		}
		if msg.err != nil {
			p.err = msg.err.Error()
			return m, nil
		}
		p.export, p.written, p.err = nil, msg.path, ""
		m.setStatus("CSV written to "+msg.path, false)
	}
	return m, nil
}

func (m *Model) key(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if key.Matches(msg, m.keys.ForceQuit) {
		return m.quit()
	}
	switch m.mode {
	case modeAlert:
		return m.alertKey(msg)
	case modeRooms:
		return m.roomsKey(msg)
	case modeTokens:
		return m.tokensKey(msg)
	case modeReport:
		return m.reportKey(msg)
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
	case key.Matches(msg, m.keys.Alert):
		m.compose = &alertForm{severity: len(domain.Severities) - 1, message: widgets.NewInput(domain.MaxAlertLen), key: m.cfg.NewKey()}
		m.mode, m.status = modeAlert, ""
	case key.Matches(msg, m.keys.Rooms):
		m.roomsP = &roomsPanel{}
		if names := m.roomNames(); len(names) > 0 {
			m.roomsP.sel = names[0]
		}
		m.mode, m.status = modeRooms, ""
		return m, m.poll()
	case key.Matches(msg, m.keys.Tokens):
		m.tokensP = &tokensPanel{}
		m.mode, m.status = modeTokens, ""
		return m, m.loadTokens()
	case key.Matches(msg, m.keys.Reports):
		return m, m.openReport()
	}
	return m, nil
}

// down refuses an action while the stream is down, as the other consoles
// do: the screen it was chosen on may be stale.
func (m *Model) down(what string) string {
	if m.live.Conn.Down() {
		return "offline: " + what + " — try again when the badge says LIVE"
	}
	return ""
}

func (m *Model) alertKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	f := m.compose
	switch {
	case key.Matches(msg, m.keys.Back):
		m.compose, m.mode = nil, modeMain
	case f.busy:
	case key.Matches(msg, m.keys.PrevSev):
		f.severity = (f.severity + len(domain.Severities) - 1) % len(domain.Severities)
	case key.Matches(msg, m.keys.NextSev):
		f.severity = (f.severity + 1) % len(domain.Severities)
	case key.Matches(msg, m.keys.Confirm):
		text := strings.TrimSpace(f.message.Value())
		if text == "" {
			f.err = "type the message first"
			return m, nil
		}
		if why := m.down("alert not sent"); why != "" {
			f.err = why
			return m, nil
		}
		f.busy, f.err = true, ""
		api, sev, k := m.cfg.API, domain.Severities[f.severity], f.key
		return m, func() tea.Msg {
			ctx, cancel := m.ctx()
			defer cancel()
			_, err := api.Alert(ctx, sev, text, client.WithIdempotencyKey(k))
			return alertSentMsg{err: err}
		}
	default:
		if f.message.Key(msg) {
			f.err = ""
		}
	}
	return m, nil
}

// move steps a selection through n items by d, clamped.
func move(i, d, n int) int { return min(max(i+d, 0), n-1) }

func (m *Model) roomsKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.roomsP
	names := m.roomNames()
	idx := -1
	for i, r := range names {
		if r == p.sel {
			idx = i
		}
	}
	if p.confirm {
		api, room := m.cfg.API, p.sel
		return m.confirmKey(msg, &p.confirmed, room+" not disconnected", func() tea.Msg {
			ctx, cancel := m.ctx()
			defer cancel()
			n, err := api.DisconnectRoom(ctx, room)
			return disconnectedMsg{room: room, n: n, err: err}
		})
	}
	switch {
	case p.busy:
	case key.Matches(msg, m.keys.Back):
		m.roomsP, m.mode = nil, modeMain
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Up, m.keys.Down) && len(names) > 0:
		d := 1
		if key.Matches(msg, m.keys.Up) {
			d = -1
		}
		p.sel = names[move(max(idx, 0), d, len(names))]
	case key.Matches(msg, m.keys.Act):
		if idx < 0 {
			p.err = "no room to disconnect"
			return m, nil
		}
		p.confirm, p.err = true, ""
	}
	return m, nil
}

func (m *Model) loadTokens() tea.Cmd {
	if m.tokensP != nil {
		m.tokensP.busy = true
	}
	api := m.cfg.API
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		list, err := api.ListTokens(ctx)
		return tokensMsg{list: list, err: err}
	}
}

func (p *tokensPanel) selected() (*client.Token, int) {
	for i := range p.list {
		if p.list[i].ID == p.sel {
			return &p.list[i], i
		}
	}
	if len(p.list) > 0 {
		return &p.list[0], 0
	}
	return nil, -1
}

func (m *Model) tokensKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.tokensP
	tok, idx := p.selected()
	if p.confirm && tok == nil { // the list emptied meanwhile: nothing to confirm
		p.confirm = false
		return m, nil
	}
	if p.confirm {
		api, id := m.cfg.API, tok.ID
		return m.confirmKey(msg, &p.confirmed, "token not revoked", func() tea.Msg {
			ctx, cancel := m.ctx()
			defer cancel()
			return revokedMsg{id: id, err: api.RevokeToken(ctx, id)}
		})
	}
	switch {
	case p.busy:
	case key.Matches(msg, m.keys.Back):
		m.tokensP, m.mode = nil, modeMain
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Up, m.keys.Down) && idx >= 0:
		d := 1
		if key.Matches(msg, m.keys.Up) {
			d = -1
		}
		p.sel = p.list[move(idx, d, len(p.list))].ID
	case key.Matches(msg, m.keys.Act):
		switch {
		case tok == nil:
			p.err = "no token to revoke"
		case tok.RevokedAt != nil:
			p.err = "token #" + strconv.FormatInt(tok.ID, 10) + " is already revoked"
		default:
			p.sel, p.confirm, p.err = tok.ID, true, ""
		}
	}
	return m, nil
}

// openReport opens the sales of the day the console's figures are for
// (the server's today), or of the console's today before they arrive.
func (m *Model) openReport() tea.Cmd {
	day, err := time.Parse(dayLayout, m.sales.From)
	if err != nil || m.todayErr != "" {
		y, mo, d := m.cfg.Now().Date()
		day = time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	}
	m.report = &reportPanel{kind: kindSales, day: day, month: time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)}
	m.mode, m.status = modeReport, ""
	return m.fetchReport()
}

func (m *Model) fetchReport() tea.Cmd {
	p := m.report
	p.seq++
	p.loading, p.err, p.written = true, "", ""
	p.sales, p.settlement = nil, nil
	api, seq, kind := m.cfg.API, p.seq, p.kind
	q := report.Query{Date: p.period()}
	if kind == kindSettlement {
		q = report.Query{Month: p.period()}
	}
	return func() tea.Msg {
		ctx, cancel := m.ctx()
		defer cancel()
		msg := reportMsg{seq: seq}
		if kind == kindSales {
			msg.sales, msg.err = api.SalesReport(ctx, q)
		} else {
			msg.settlement, msg.err = api.SettlementReport(ctx, q)
		}
		return msg
	}
}

func (m *Model) reportKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	p := m.report
	if p.export != nil {
		switch {
		case key.Matches(msg, m.keys.Back):
			p.export = nil
		case key.Matches(msg, m.keys.Confirm):
			path := strings.TrimSpace(p.export.Value())
			if path == "" {
				p.err = "type the file to write"
				return m, nil
			}
			return m, m.exportReport(path)
		default:
			p.export.Key(msg)
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Back):
		m.report, m.mode = nil, modeMain
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Prev, m.keys.Next):
		d := 1
		if key.Matches(msg, m.keys.Prev) {
			d = -1
		}
		if p.kind == kindSettlement {
			p.month = p.month.AddDate(0, d, 0)
		} else {
			p.day = p.day.AddDate(0, 0, d)
		}
		return m, m.fetchReport()
	case key.Matches(msg, m.keys.Kind):
		p.kind = 1 - p.kind
		if p.kind == kindSettlement {
			p.month = time.Date(p.day.Year(), p.day.Month(), 1, 0, 0, 0, 0, time.UTC)
		}
		return m, m.fetchReport()
	case key.Matches(msg, m.keys.Reload):
		return m, m.fetchReport()
	case key.Matches(msg, m.keys.Export):
		if p.sales == nil && p.settlement == nil {
			if p.err == "" { // a report that failed keeps saying why
				p.err = "nothing to export yet"
			}
			return m, nil
		}
		in := widgets.NewInput(0)
		name := "sales-" + p.period() + ".csv"
		if p.kind == kindSettlement {
			name = "settlement-" + p.period() + ".csv"
		}
		in.SetValue(m.exportPath(name))
		p.export, p.err = &in, ""
	}
	return m, nil
}

func (m *Model) exportReport(path string) tea.Cmd {
	p := m.report
	var write func(io.Writer) error
	switch {
	case p.sales != nil:
		s := *p.sales
		write = func(w io.Writer) error { return writeSalesCSV(w, s) }
	case p.settlement != nil:
		s := *p.settlement
		write = func(w io.Writer) error { return writeSettlementCSV(w, s) }
	default:
		return nil
	}
	return func() tea.Msg {
		abs, err := writeFile(path, write)
		return exportedMsg{path: abs, err: err}
	}
}
