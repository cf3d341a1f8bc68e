package display

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/tui/widgets"
)

var (
	colTitle    = lipgloss.NewStyle().Bold(true).Foreground(widgets.ColorAccent)
	colTitleSel = lipgloss.NewStyle().Bold(true).Reverse(true)
	ticketBox   = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(widgets.ColorMuted)
	ticketSel   = lipgloss.NewStyle().Border(lipgloss.ThickBorder()).BorderForeground(widgets.ColorAccent)
	ticketNew   = lipgloss.NewStyle().Border(lipgloss.DoubleBorder()).BorderForeground(widgets.ColorWarn)
	ticketGone  = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).BorderForeground(widgets.ColorBad)
	noteStyle   = lipgloss.NewStyle().Foreground(widgets.ColorMuted).Italic(true)
	strike      = lipgloss.NewStyle().Strikethrough(true).Foreground(widgets.ColorMuted)
)

// Age is how old a ticket is relative to the thresholds.
type Age int

const (
	AgeOK Age = iota
	AgeWarn
	AgeLate
)

// AgeOf classifies an elapsed time.
func (m *Model) AgeOf(d time.Duration) Age {
	switch {
	case d >= m.cfg.Late:
		return AgeLate
	case d >= m.cfg.Warn:
		return AgeWarn
	}
	return AgeOK
}

// ageStyle colours a timer: green, yellow from Warn, red and bold from Late.
func ageStyle(a Age) lipgloss.Style {
	switch a {
	case AgeLate:
		return lipgloss.NewStyle().Foreground(widgets.ColorBad).Bold(true).Reverse(true)
	case AgeWarn:
		return lipgloss.NewStyle().Foreground(widgets.ColorWarn).Bold(true)
	}
	return lipgloss.NewStyle().Foreground(widgets.ColorOK)
}

// timer renders the elapsed time with a marker that survives a colourless
// terminal: "4:12", "6:30 !", "12:04 !!".
func (m *Model) timer(created time.Time) string {
	d := m.cfg.Now().Add(m.skew).Sub(created)
	a := m.AgeOf(d)
	text := widgets.Elapsed(d)
	switch a {
	case AgeWarn:
		text += " !"
	case AgeLate:
		text += " !!"
	}
	return ageStyle(a).Render(text)
}

// View renders the whole screen.
func (m *Model) View() string {
	w, h := max(m.width, 40), max(m.height, 10)
	var b strings.Builder
	b.WriteString(m.header(w))
	b.WriteByte('\n')
	b.WriteString(m.statusLine(w))
	b.WriteByte('\n')
	bodyH := h - 3
	var body string
	switch {
	case m.showHelp:
		body = m.fullHelp(w, bodyH)
	case m.allDay && w < 110:
		body = m.allDayPanel(w, bodyH)
	case m.allDay:
		pw := 30
		body = lipgloss.JoinHorizontal(lipgloss.Top, m.columns(w-pw, bodyH), m.allDayPanel(pw, bodyH))
	default:
		body = m.columns(w, bodyH)
	}
	b.WriteString(widgets.FitLines(body, bodyH))
	b.WriteByte('\n')
	b.WriteString(widgets.Truncate(m.help.ShortHelpView(m.keys.ShortHelp()), w))
	return b.String()
}

func (m *Model) scope() string {
	if m.cfg.TenantID == 0 {
		return "all stalls"
	}
	if t, ok := m.tenants[m.cfg.TenantID]; ok {
		return t.Name + " (" + t.Code + ")"
	}
	return "tenant " + strconv.FormatInt(m.cfg.TenantID, 10)
}

func (m *Model) header(w int) string {
	n := m.counts()
	badge := m.live.Conn.Badge(m.cfg.Now())
	parts := []string{
		widgets.Title.Render("posd display"),
		widgets.Bold.Render(m.scope()),
		widgets.Clock(m.cfg.Now()),
		fmt.Sprintf("open %d (%d/%d/%d)", n[0]+n[1]+n[2], n[0], n[1], n[2]),
	}
	// Drop the least needed parts first when the badge needs the room.
	for _, drop := range [][]int{nil, {0}, {0, 3}} {
		var keep []string
		for i, p := range parts {
			if !slices.Contains(drop, i) {
				keep = append(keep, p)
			}
		}
		left := strings.Join(keep, " · ")
		if lipgloss.Width(left)+lipgloss.Width(badge)+1 <= w {
			return widgets.Spread(left, badge, w)
		}
	}
	return widgets.Spread(widgets.Bold.Render(m.scope())+" · "+widgets.Clock(m.cfg.Now()), badge, w)
}

func (m *Model) statusLine(w int) string {
	now := m.cfg.Now()
	switch {
	case m.cancelFor != 0:
		num := ""
		if t := m.tickets[m.cancelFor]; t != nil {
			num = t.order.OrderNumber
		}
		return widgets.Truncate(widgets.Warn.Render("Cancel "+num+" — reason: ")+m.reason.View()+widgets.Muted.Render("  enter confirm · esc back"), w)
	case m.refused:
		return widgets.Error.Render(widgets.Truncate(m.status, w))
	}
	return m.live.StatusLine(w, now, m.alert, "loading open orders…", widgets.Status{Text: m.status, IsError: m.isError, OK: widgets.Muted})
}

func (m *Model) columns(w, h int) string {
	base := w / 3
	parts := make([]string, 3)
	for c := range 3 {
		cw := base
		if c == 2 {
			cw = w - 2*base
		}
		// The count is of what the column holds (a cancelled ticket still on
		// show, a recalled one), so it agrees with the tickets and "more".
		title := columnTitle(c, len(m.column(c)), cw)
		if c == m.col {
			title = colTitleSel.Render(title)
		} else {
			title = colTitle.Render(title)
		}
		body := m.columnBody(c, cw, h-1)
		parts[c] = lipgloss.NewStyle().Width(cw).MaxWidth(cw).Render(widgets.FitLines(title+"\n"+body, h))
	}
	return lipgloss.JoinHorizontal(lipgloss.Top, parts...)
}

var shortNames = [3]string{"PEND", "PREP", "READY"}

// columnTitle fits a column's name and count in w: the name shortens first,
// then goes, so the count always shows.
func columnTitle(c, n, w int) string {
	for _, name := range []string{strings.ToUpper(string(columns[c])), shortNames[c]} {
		if t := fmt.Sprintf(" %s (%d) ", name, n); lipgloss.Width(t) <= w {
			return t
		}
	}
	return fmt.Sprintf("(%d)", n)
}

// ticketMinWidth is the narrowest a ticket gets before a column stops
// putting tickets side by side.
const ticketMinWidth = 25

// columnBody lays out the tickets of column c in width w and height h: one
// per row, or side by side when the column is wide, scrolled so the selected
// ticket is visible, with a "more" marker when some do not fit.
func (m *Model) columnBody(c, w, h int) string {
	ts := m.column(c)
	if len(ts) == 0 {
		if !m.live.Loaded() {
			return ""
		}
		return widgets.Muted.Render(" —")
	}
	sel, si := m.selected(c)
	per := max(w/ticketMinWidth, 1)
	tw := w / per
	type row struct {
		text       string
		first, end int // ticket indexes [first, end)
	}
	var rows []row
	selRow := 0
	for i := 0; i < len(ts); i += per {
		end := min(i+per, len(ts))
		var cells []string
		for j := i; j < end; j++ {
			cells = append(cells, m.ticket(ts[j], tw-1, c == m.col && ts[j] == sel)+" ")
		}
		if si >= i && si < end {
			selRow = len(rows)
		}
		rows = append(rows, row{lipgloss.JoinHorizontal(lipgloss.Top, cells...), i, end})
	}
	heights := make([]int, len(rows))
	for i, r := range rows {
		heights[i] = lipgloss.Height(r.text)
	}
	// Start as late as needed for the selected row to fit, leaving a line
	// for the marker.
	avail := h - 1
	start := 0
	for {
		used := 0
		for i := start; i <= selRow; i++ {
			used += heights[i]
		}
		if used <= avail || start >= selRow {
			break
		}
		start++
	}
	var out []string
	used, end := 0, start
	for end < len(rows) && used+heights[end] <= avail {
		out = append(out, rows[end].text)
		used += heights[end]
		end++
	}
	if end == start { // one row taller than the column
		out = append(out, widgets.FitLines(rows[start].text, avail))
		end = start + 1
	}
	above, below := rows[start].first, 0
	if end < len(rows) {
		below = len(ts) - rows[end].first
	}
	if above > 0 || below > 0 {
		more := ""
		if above > 0 {
			more += fmt.Sprintf("↑%d ", above)
		}
		if below > 0 {
			more += fmt.Sprintf("↓%d ", below)
		}
		out = append(out, widgets.Muted.Render(more+"more"))
	}
	return strings.Join(out, "\n")
}

func (m *Model) ticket(t *ticket, w int, selected bool) string {
	iw := max(w-2, 8)
	o := t.order
	now := m.cfg.Now()
	isNew := !t.arrived.IsZero() && now.Sub(t.arrived) < m.cfg.Highlight
	cancelled := o.Status == domain.StatusCancelled

	num := widgets.Bold.Render(o.OrderNumber)
	if isNew {
		num = widgets.Warn.Render("★" + o.OrderNumber)
	}
	if t.busy {
		num += "…"
	}
	// The order number is what the cook calls out: the customer's name gives
	// way first, then the timer, and the number only when nothing else is left.
	right := m.timer(o.CreatedAt)
	if lipgloss.Width(num)+1+lipgloss.Width(right) > iw {
		right = ""
	}
	first := num
	if room := iw - lipgloss.Width(num) - lipgloss.Width(right) - 2; room > 1 && o.CustomerName != "" {
		first += " " + widgets.Truncate(o.CustomerName, room)
	}
	lines := []string{widgets.Spread(first, right, iw)}
	if m.cfg.TenantID == 0 {
		if tn, ok := m.tenants[o.TenantID]; ok {
			lines = append(lines, widgets.Muted.Render(widgets.Truncate(tn.Name, iw)))
		}
	}
	if t.full {
		for _, it := range o.Items {
			line := widgets.Truncate(strconv.FormatInt(it.Quantity, 10)+"× "+it.Name, iw)
			if cancelled {
				line = strike.Render(line)
			}
			lines = append(lines, line)
			if it.Notes != "" {
				lines = append(lines, noteStyle.Render(widgets.Truncate("  ↳ "+it.Notes, iw)))
			}
		}
	} else {
		lines = append(lines, widgets.Muted.Render("loading items…"))
	}
	var pay string
	switch {
	case o.Refunded > 0 && o.Refunded >= o.PaidAmount:
		pay = widgets.Warn.Render("REFUNDED")
	case o.Paid():
		pay = widgets.Good.Render("PAID")
	default:
		pay = widgets.Muted.Render("UNPAID")
	}
	lines = append(lines, widgets.Spread(widgets.Rupiah(o.TotalAmount), pay, iw))
	switch {
	case cancelled:
		text := "✗ CANCELLED"
		if o.CancelReason != "" {
			text += ": " + o.CancelReason
		}
		lines = append(lines, widgets.Error.Render(widgets.Truncate(text, iw)))
	case t.recalled:
		lines = append(lines, widgets.Warn.Render(widgets.Truncate("↺ RECALLED ("+string(o.Status)+")", iw)))
	}
	style := ticketBox
	switch {
	case selected:
		style = ticketSel
	case cancelled:
		style = ticketGone
	case isNew:
		style = ticketNew
	}
	return style.Width(iw).Render(strings.Join(lines, "\n"))
}

func (m *Model) allDayPanel(w, h int) string {
	items := m.allDayItems()
	lines := []string{colTitle.Render(" ALL DAY ") + widgets.Muted.Render(" open orders")}
	if len(items) == 0 {
		lines = append(lines, widgets.Muted.Render(" nothing to make"))
	}
	for _, it := range items {
		q := fmt.Sprintf("%4d× ", it.qty)
		lines = append(lines, widgets.Bold.Render(q)+widgets.Truncate(it.name, w-len(q)-3))
	}
	box := lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(widgets.ColorAccent).Width(w - 2)
	return box.Render(widgets.FitLines(strings.Join(lines, "\n"), max(min(len(lines), h-2), 1)))
}

func (m *Model) fullHelp(w, h int) string {
	return widgets.HelpBox(w, h, colTitle.Render(" KEYS "), m.help.FullHelpView(m.keys.FullHelp()),
		fmt.Sprintf("Timers count from the order's creation on the server: yellow (!) from %s, red (!!) from %s.", m.cfg.Warn, m.cfg.Late),
		"Bump moves a ticket pending → preparing → ready → completed. Recall brings back the last bumped ticket.",
		"★ and a double border mark a new order; the badge top right says whether the screen is live.",
	)
}
