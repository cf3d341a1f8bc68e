package ops

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/tui/widgets"
)

var (
	sectionTitle = lipgloss.NewStyle().Bold(true).Foreground(widgets.ColorAccent)
	rowSel       = lipgloss.NewStyle().Reverse(true)
	sevSel       = lipgloss.NewStyle().Bold(true).Reverse(true)
	sevOther     = lipgloss.NewStyle().Foreground(widgets.ColorMuted).Padding(0, 1)
	spark        = lipgloss.NewStyle().Foreground(widgets.ColorInfo)
)

// View renders the whole screen.
func (m *Model) View() string {
	w, h := max(m.width, 40), max(m.height, 12)
	bodyH := h - 3
	var body string
	switch {
	case m.showHelp:
		body = m.fullHelp(w, bodyH)
	case m.mode == modeAlert:
		body = m.alertView(w)
	case m.mode == modeRooms:
		body = m.roomsView(w, bodyH)
	case m.mode == modeTokens:
		body = m.tokensView(w, bodyH)
	case m.mode == modeReport:
		body = m.reportView(w, bodyH)
	default:
		body = m.mainView(w, bodyH)
	}
	return m.header(w) + "\n" + m.statusLine(w) + "\n" + widgets.FitLines(body, bodyH) + "\n" + widgets.Truncate(m.helpLine(), w)
}

func (m *Model) helpLine() string {
	k := m.keys
	switch {
	case m.showHelp:
		return m.help.ShortHelpView(helpFor{k.Back, k.Quit})
	case m.mode == modeAlert:
		return m.help.ShortHelpView(helpFor{k.Severity, k.Confirm, k.Back})
	case m.mode == modeRooms && m.roomsP.confirm, m.mode == modeTokens && m.tokensP.confirm:
		return m.help.ShortHelpView(helpFor{k.Yes, k.No})
	case m.mode == modeRooms:
		return m.help.ShortHelpView(helpFor{k.Move, k.Disconnect, k.Back, k.Quit})
	case m.mode == modeTokens:
		return m.help.ShortHelpView(helpFor{k.Move, k.Revoke, k.Back, k.Quit})
	case m.mode == modeReport && m.report.export != nil:
		return m.help.ShortHelpView(helpFor{k.Write, k.Back})
	case m.mode == modeReport:
		return m.help.ShortHelpView(helpFor{k.PrevDay, k.Kind, k.Export, k.Reload, k.Back})
	}
	return m.help.ShortHelpView(k.ShortHelp())
}

func (m *Model) header(w int) string {
	now := m.cfg.Now()
	badge := m.live.Conn.Badge(now)
	nodes := ""
	if n := m.stats.Nodes; n > 1 {
		nodes = " · " + strconv.Itoa(n) + " nodes"
	}
	for _, left := range []string{
		widgets.Title.Render("posd ops") + " · " + widgets.Clock(now) + nodes,
		widgets.Title.Render("ops") + " · " + widgets.Clock(now),
	} {
		if lipgloss.Width(left)+lipgloss.Width(badge)+1 <= w {
			return widgets.Spread(left, badge, w)
		}
	}
	return widgets.Spread(widgets.Clock(now), badge, w)
}

func (m *Model) statusLine(w int) string {
	return m.live.StatusLine(w, m.cfg.Now(), m.alert, "loading…", widgets.Status{Text: m.status, IsError: m.isError, OK: widgets.Good})
}

// title is a section's title followed by a rule across the width.
func title(text string, w int) string {
	t := sectionTitle.Render(widgets.Truncate(" "+text+" ", w))
	return t + widgets.Muted.Render(strings.Repeat("─", max(w-lipgloss.Width(t), 0)))
}

func (m *Model) mainView(w, h int) string {
	var lines []string
	add := func(s ...string) {
		for _, l := range s {
			lines = append(lines, widgets.Truncate(l, w))
		}
	}
	// Connections, rooms and, with several, the nodes.
	switch {
	case !m.statsSet && m.statsErr != "":
		add(widgets.Error.Render("counts unavailable: " + m.statsErr))
	case !m.statsSet:
		add(widgets.Muted.Render(" counting connections…"))
	default:
		line := fmt.Sprintf(" %s · rooms %s · slow-consumer closes %s",
			widgets.Bold.Render("Connections "+strconv.Itoa(m.stats.Active)),
			widgets.Bold.Render(strconv.Itoa(len(m.roomNames()))),
			widgets.Bold.Render(strconv.FormatInt(m.stats.SlowConsumerCloses, 10)))
		if m.statsErr != "" {
			line += widgets.Error.Render(" (stale: " + m.statsErr + ")")
		}
		add(line)
		var rooms []string
		for _, r := range m.roomNames() {
			rooms = append(rooms, r+" "+strconv.Itoa(m.rooms[r]))
		}
		if len(rooms) == 0 {
			rooms = []string{"no room has a client"}
		}
		add(widgets.Muted.Render(" " + strings.Join(rooms, " · ")))
	}
	if len(m.nodes.Nodes) > 1 {
		add(title("NODES ("+strconv.Itoa(len(m.nodes.Nodes))+")", w))
		for _, n := range m.nodes.Nodes {
			state := widgets.Good.Render("●")
			if !n.Live {
				state = widgets.Error.Render("○")
			}
			line := fmt.Sprintf(" %s %s %s · %d conns · lag %d · beat %s", state, n.ID, n.Addr, n.Connections, n.Lag, widgets.Clock(n.HeartbeatAt))
			if !n.Live {
				line += widgets.Error.Render(" DOWN")
			}
			add(line)
		}
	}
	if len(m.hooks) > 0 {
		add(title("FAILING WEBHOOKS ("+strconv.Itoa(len(m.hooks))+")", w))
		for _, wh := range m.hooks {
			// As posd webhook list words it, shorter: a disabled endpoint
			// says why it was disabled, a retrying one its last error.
			why := strconv.Itoa(wh.Attempt) + " failures"
			detail := wh.LastError
			if wh.State == "disabled" {
				why, detail = "DISABLED", wh.DisabledReason
			}
			if detail != "" {
				why += ": " + detail
			}
			add(widgets.Error.Render(" ✗ ") + "#" + strconv.FormatInt(wh.ID, 10) + " " + wh.URL + " · " + why)
		}
	}
	lines = append(lines, m.eventsView(w)...)
	rest := h - len(lines)
	if rest > 0 {
		lines = append(lines, m.stallsView(w, rest)...)
	}
	return strings.Join(lines, "\n")
}

// eventsView draws a sparkline per event type: one cell a second, the
// newest at the right, and the count of the last minute.
func (m *Model) eventsView(w int) []string {
	const nameW, countW = 22, 8
	sw := max(w-nameW-countW-2, 4)
	now := m.cfg.Now()
	lines := []string{widgets.Spread(title("EVENTS PER SECOND · last "+strconv.Itoa(sw)+" s", w-countW-1), widgets.Muted.Render("last min"), w)}
	for _, name := range m.eventTypes {
		n := m.rates.perMinute(name, now)
		count := strconv.Itoa(n)
		label := " " + name
		if n == 0 {
			label, count = widgets.Muted.Render(label), widgets.Muted.Render(count)
		}
		line := padRight(label, nameW) + spark.Render(widgets.Sparkline(m.rates.series(name, sw, now), sw)) + " " + padLeft(count, countW)
		lines = append(lines, widgets.Truncate(line, w))
	}
	return lines
}

func padRight(s string, w int) string {
	s = widgets.Truncate(s, w)
	return s + strings.Repeat(" ", max(w-lipgloss.Width(s), 0))
}

func padLeft(s string, w int) string {
	return strings.Repeat(" ", max(w-lipgloss.Width(s), 0)) + s
}

// stallsView is the table of the stalls' day, cut to h lines.
func (m *Model) stallsView(w, h int) []string {
	day := "TODAY"
	if m.todayErr == "" && m.sales.From != "" {
		day += " · " + m.sales.From
		if m.sales.TZ != "" {
			day += " (" + m.sales.TZ + ")"
		}
	}
	head := title("STALLS "+day, w)
	if m.todayErr != "" {
		t := sectionTitle.Render(" STALLS TODAY ")
		head = widgets.Truncate(t+widgets.Warn.Render(m.todayErr), w)
	}
	cols := []int{6, 14, 5, 5, 9} // paid orders, net, open, late, to ready
	fixed := 0
	for _, c := range cols {
		fixed += c + 1
	}
	nameW := max(w-fixed-1, 8)
	row := func(name string, cells ...string) string {
		s := " " + padRight(name, nameW)
		for i, c := range cells {
			s += " " + padLeft(c, cols[i])
		}
		return widgets.Truncate(s, w)
	}
	lines := []string{head, widgets.Muted.Render(row("stall", "paid", "net", "open", "late", "to ready"))}
	rows := m.stalls()
	if len(rows) == 0 {
		if m.live.Loaded() {
			lines = append(lines, widgets.Muted.Render(" no stalls yet"))
		}
		return cut(lines, h)
	}
	for _, r := range rows {
		orders, net, ready := "—", "—", "—"
		if r.hasSales {
			orders, net = strconv.FormatInt(r.orders, 10), widgets.Rupiah(r.net)
		}
		if r.hasTime {
			ready = widgets.Elapsed(r.avgReady)
		}
		late := strconv.Itoa(r.late)
		if r.late > 0 {
			late = widgets.Error.Render(late)
		}
		lines = append(lines, row(r.name, orders, net, strconv.Itoa(r.open), late, ready))
	}
	return cut(lines, h)
}

// cut keeps at most h lines, saying how many were left out.
func cut(lines []string, h int) []string {
	if len(lines) <= h {
		return lines
	}
	if h <= 0 {
		return nil
	}
	out := append([]string(nil), lines[:h-1]...)
	return append(out, widgets.Muted.Render(fmt.Sprintf(" ↓ %d more", len(lines)-h+1)))
}

func (m *Model) alertView(w int) string {
	f := m.compose
	var sevs []string
	for i, s := range domain.Severities {
		if i == f.severity {
			sevs = append(sevs, sevSel.Render("["+strings.ToUpper(s)+"]"))
		} else {
			sevs = append(sevs, sevOther.Render(strings.ToUpper(s)))
		}
	}
	lines := []string{
		title("SEND AN ALERT TO EVERY CONNECTION", w),
		"",
		" Severity " + strings.Join(sevs, " "),
		" Message  " + widgets.Truncate(f.message.View(), w-11),
		"",
		widgets.Muted.Render(widgets.Truncate(" Every console and screen shows it; an error stays until dismissed.", w)),
	}
	switch {
	case f.busy:
		lines = append(lines, widgets.Muted.Render(" sending…"))
	case f.err != "":
		lines = append(lines, widgets.Error.Render(lipgloss.NewStyle().Width(w).Render(" ✗ "+f.err)))
	}
	return strings.Join(lines, "\n")
}

// scroll returns the window [start, end) of n rows of which sel must show.
func scroll(n, sel, h int) (int, int) {
	if h <= 0 || n <= h {
		return 0, n
	}
	start := max(sel-h+1, 0)
	return start, min(start+h, n)
}

func (m *Model) roomsView(w, h int) string {
	p := m.roomsP
	names := m.roomNames()
	lines := []string{title("ROOMS ("+strconv.Itoa(len(names))+") · "+strconv.Itoa(m.stats.Active)+" connections", w)}
	if len(names) == 0 {
		lines = append(lines, widgets.Muted.Render(" no room has a client"))
	}
	sel := 0
	for i, r := range names {
		if r == p.sel {
			sel = i
		}
	}
	start, end := scroll(len(names), sel, h-3)
	for i := start; i < end; i++ {
		r := names[i]
		line := widgets.Spread(" "+r, strconv.Itoa(m.rooms[r])+" ", min(w-1, 40))
		if r == p.sel {
			line = rowSel.Render("▸" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	switch {
	case p.busy:
		lines = append(lines, widgets.Muted.Render(" disconnecting "+p.sel+"…"))
	case p.confirm:
		lines = append(lines, widgets.Warn.Render(widgets.Truncate(fmt.Sprintf(" Disconnect every connection of %s (%d)? They may reconnect. y/n", p.sel, m.rooms[p.sel]), w)))
	case p.err != "":
		lines = append(lines, widgets.Error.Render(widgets.Truncate(" ✗ "+p.err, w)))
	}
	return strings.Join(lines, "\n")
}

// scope says what a token may reach.
func scope(role string, tenant, counter, user int64, display bool) string {
	var parts []string
	if tenant != 0 {
		parts = append(parts, "tenant "+strconv.FormatInt(tenant, 10))
	}
	if counter != 0 {
		parts = append(parts, "counter "+strconv.FormatInt(counter, 10))
	}
	if user != 0 {
		parts = append(parts, "user "+strconv.FormatInt(user, 10))
	}
	if display {
		parts = append(parts, "display")
	}
	if len(parts) == 0 {
		if role == "admin" {
			return "everything"
		}
		return "—"
	}
	return strings.Join(parts, ", ")
}

func (m *Model) tokensView(w, h int) string {
	p := m.tokensP
	lines := []string{title("TOKENS ("+strconv.Itoa(len(p.list))+")", w)}
	if !p.loaded {
		if p.err != "" {
			return strings.Join(append(lines, widgets.Error.Render(widgets.Truncate(" ✗ "+p.err, w))), "\n")
		}
		return strings.Join(append(lines, widgets.Muted.Render(" loading…")), "\n")
	}
	now := m.cfg.Now()
	_, sel := p.selected()
	start, end := scroll(len(p.list), sel, h-3)
	for i := start; i < end; i++ {
		t := p.list[i]
		state := "active"
		switch {
		case t.RevokedAt != nil:
			state = "revoked " + t.RevokedAt.Local().Format("01-02 15:04")
		case t.ExpiresAt != nil && !t.ExpiresAt.After(now):
			state = "expired"
		case t.ExpiresAt != nil:
			state = "until " + t.ExpiresAt.Local().Format("01-02 15:04")
		}
		rest := scope(t.Role, t.TenantID, t.CounterID, t.UserID, t.Display)
		if t.Name != "" {
			rest += " · " + t.Name
		}
		line := widgets.Row(fmt.Sprintf("#%-3d %-7s", t.ID, t.Role), rest, state, w-2)
		if t.RevokedAt != nil {
			line = widgets.Muted.Render(line)
		}
		if i == sel {
			line = rowSel.Render("▸" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	tok, _ := p.selected()
	switch {
	case p.busy:
		lines = append(lines, widgets.Muted.Render(" working…"))
	case p.confirm && tok != nil:
		lines = append(lines, widgets.Warn.Render(widgets.Truncate(fmt.Sprintf(" Revoke token #%d (%s)? Its connections close on every node. y/n", tok.ID, tok.Role), w)))
	case p.err != "":
		lines = append(lines, widgets.Error.Render(widgets.Truncate(" ✗ "+p.err, w)))
	}
	return strings.Join(lines, "\n")
}

func (m *Model) reportView(w, h int) string {
	p := m.report
	var lines []string
	switch p.kind {
	case kindSettlement:
		t := "SETTLEMENT · " + p.period()
		if p.settlement != nil {
			t += " (" + p.settlement.From + " – " + p.settlement.To
			if p.settlement.Closed {
				t += ", closed"
			} else {
				t += ", open"
			}
			t += ")"
		}
		lines = append(lines, title(t, w))
	default:
		t := "SALES · " + p.period()
		if p.sales != nil && p.sales.TZ != "" {
			t += " (" + p.sales.TZ + ")"
		}
		lines = append(lines, title(t, w))
	}
	switch {
	case p.loading:
		lines = append(lines, widgets.Muted.Render(" loading…"))
	case p.err != "" && p.sales == nil && p.settlement == nil:
		lines = append(lines, widgets.Warn.Render(widgets.Truncate(" "+p.err, w)))
	case p.sales != nil:
		lines = append(lines, salesTable(*p.sales, w)...)
	case p.settlement != nil:
		lines = append(lines, settlementTable(*p.settlement, w)...)
	}
	var foot []string
	switch {
	case p.export != nil:
		foot = append(foot, " Write CSV to "+widgets.Truncate(p.export.View(), w-15))
		if p.err != "" {
			foot = append(foot, widgets.Error.Render(widgets.Truncate(" ✗ "+p.err, w)))
		}
	case p.written != "":
		foot = append(foot, widgets.Good.Render(widgets.Truncate(" ✓ written to "+p.written, w)))
	case p.err != "" && (p.sales != nil || p.settlement != nil):
		foot = append(foot, widgets.Error.Render(widgets.Truncate(" ✗ "+p.err, w)))
	}
	lines = cut(lines, h-len(foot))
	return strings.Join(append(lines, foot...), "\n")
}

// table lays out rows under a header: the first column takes what the
// others leave.
func table(w int, cols []int, head []string, rows [][]string) []string {
	fixed := 0
	for _, c := range cols {
		fixed += c + 1
	}
	nameW := max(w-fixed-1, 8)
	line := func(cells []string) string {
		s := " " + padRight(cells[0], nameW)
		for i, c := range cells[1:] {
			s += " " + padLeft(c, cols[i])
		}
		return widgets.Truncate(s, w)
	}
	out := []string{widgets.Muted.Render(line(head))}
	for i, r := range rows {
		l := line(r)
		if i == len(rows)-1 {
			l = widgets.Bold.Render(l) // the total
		}
		out = append(out, l)
	}
	return out
}

func salesTable(s report.Sales, w int) []string {
	rp := widgets.Rupiah
	var rows [][]string
	for _, st := range s.Stalls {
		rows = append(rows, []string{st.Tenant, strconv.FormatInt(st.Orders, 10), rp(st.Gross), rp(st.Refunds), rp(st.Net), rp(st.AvgTicket)})
	}
	t := s.Total
	rows = append(rows, []string{"Total", strconv.FormatInt(t.Orders, 10), rp(t.Gross), rp(t.Refunds), rp(t.Net), rp(t.AvgTicket)})
	out := table(w, []int{6, 13, 11, 13, 10}, []string{"stall", "paid", "gross", "refunds", "net", "avg"}, rows)
	var methods []string
	for _, md := range domain.Methods {
		methods = append(methods, widgets.MethodLabel(md)+" "+rp(t.ByMethod[string(md)]))
	}
	out = append(out, "",
		widgets.Truncate(" Net by method: "+strings.Join(methods, " · "), w),
		widgets.Truncate(fmt.Sprintf(" Cancelled %d (%s)", t.Cancelled, rp(t.CancelledValue)), w))
	return out
}

func settlementTable(s report.Settlement, w int) []string {
	rp := widgets.Rupiah
	var rows [][]string
	for _, st := range s.Stalls {
		share := fmt.Sprintf("%d.%02d%%", st.ShareBP/100, st.ShareBP%100)
		rows = append(rows, []string{st.Tenant, share, rp(st.Net), rp(st.Fees), rp(st.Commission), rp(st.Payout)})
	}
	t := s.Total
	rows = append(rows, []string{"Total", "", rp(t.Net), rp(t.Fees), rp(t.Commission), rp(t.Payout)})
	out := table(w, []int{7, 13, 10, 12, 13}, []string{"stall", "share", "net", "fees", "commission", "payout"}, rows)
	if !s.Closed {
		out = append(out, "", widgets.Muted.Render(widgets.Truncate(" Not closed: the figures may still change (posd report close).", w)))
	}
	return out
}

func (m *Model) fullHelp(w, h int) string {
	return widgets.HelpBox(w, h, sectionTitle.Render(" KEYS "), m.help.FullHelpView(m.keys.FullHelp()),
		"a composes an alert (←/→ severity) that every connection receives. r lists the rooms: x disconnects the selected one after y (its clients may reconnect). t lists the tokens: x revokes one after y; its sockets close on every node. s opens the day's sales: ←/→ a day, tab the month's settlement (←/→ a month), e writes it as CSV.",
		"Late orders are open orders older than the display's --late. While the badge is not LIVE, alerts, disconnects and revokes are refused.",
	)
}
