package kasir

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/tui/widgets"
)

var (
	paneStyle    = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(widgets.ColorMuted)
	paneFocus    = lipgloss.NewStyle().Border(lipgloss.ThickBorder()).BorderForeground(widgets.ColorAccent)
	paneTitle    = lipgloss.NewStyle().Bold(true).Foreground(widgets.ColorAccent)
	rowSel       = lipgloss.NewStyle().Reverse(true)
	methodSel    = lipgloss.NewStyle().Bold(true).Reverse(true)
	methodOther  = lipgloss.NewStyle().Foreground(widgets.ColorMuted).Padding(0, 1)
	refundAmount = lipgloss.NewStyle().Foreground(widgets.ColorBad)
)

// View renders the whole screen.
func (m *Model) View() string {
	w, h := max(m.width, 40), max(m.height, 12)
	var b strings.Builder
	b.WriteString(m.header(w))
	b.WriteByte('\n')
	b.WriteString(m.statusLine(w))
	b.WriteByte('\n')
	sum := m.summaryView(w)
	bodyH := h - 3 - lipgloss.Height(sum)
	var body string
	if m.showHelp {
		body = m.fullHelp(w, bodyH)
	} else {
		lw := w * 2 / 5
		left := m.pane(m.queueView(lw-2, bodyH-3), queueTitle(len(m.queue), lw-4), lw, bodyH, m.focus == 0 && m.mode == modeMain)
		var right string
		rw := w - lw
		switch m.mode {
		case modePay:
			right = m.pane(m.payView(rw-2), "PAYMENT", rw, bodyH, true)
		case modeReceipt:
			right = m.pane(m.receiptView(rw-2), "RECEIPT", rw, bodyH, true)
		case modeRefund:
			right = m.pane(m.refundView(rw-2), "REFUND", rw, bodyH, true)
		default:
			right = m.pane(m.feedView(rw-2, bodyH-3), "PAYMENTS · COUNTER "+strconv.FormatInt(m.cfg.CounterID, 10), rw, bodyH, m.focus == 1)
		}
		body = lipgloss.JoinHorizontal(lipgloss.Top, left, right)
	}
	b.WriteString(widgets.FitLines(body, bodyH))
	b.WriteByte('\n')
	b.WriteString(sum)
	b.WriteByte('\n')
	b.WriteString(widgets.Truncate(m.helpLine(), w))
	return b.String()
}

func (m *Model) helpLine() string {
	switch m.mode {
	case modePay:
		return m.help.ShortHelpView(payKeys{m.keys}.ShortHelp())
	case modeRefund:
		return m.help.ShortHelpView(refundKeys{m.keys}.ShortHelp())
	case modeReceipt:
		return m.help.ShortHelpView(nil) + widgets.Muted.Render("enter close")
	}
	return m.help.ShortHelpView(m.keys.ShortHelp())
}

func (m *Model) pane(content, title string, w, h int, focused bool) string {
	st := paneStyle
	if focused {
		st = paneFocus
	}
	inner := paneTitle.Render(widgets.Truncate(" "+title, w-2)) + "\n" + content
	return st.Width(w - 2).Render(widgets.FitLines(inner, max(h-2, 1)))
}

func (m *Model) header(w int) string {
	name := "counter " + strconv.FormatInt(m.cfg.CounterID, 10)
	if m.counter != "" {
		name = m.counter + " (" + name + ")"
	}
	now := m.cfg.Now()
	badge := m.live.Conn.Badge(now)
	for _, left := range []string{
		widgets.Title.Render("posd kasir") + " · " + widgets.Bold.Render(name) + " · " + widgets.Clock(now) +
			" · shift since " + widgets.Clock(m.cfg.ShiftStart)[:5],
		widgets.Bold.Render(name) + " · " + widgets.Clock(now),
	} {
		if lipgloss.Width(left)+lipgloss.Width(badge)+1 <= w {
			return widgets.Spread(left, badge, w)
		}
	}
	return widgets.Spread("counter "+strconv.FormatInt(m.cfg.CounterID, 10)+" · "+widgets.Clock(now), badge, w)
}

func (m *Model) statusLine(w int) string {
	return m.live.StatusLine(w, m.cfg.Now(), m.alert, "loading…", widgets.Status{Text: m.status, IsError: m.isError, OK: widgets.Good})
}

// scroll returns the window [start, end) of n rows of which sel must show.
func scroll(n, sel, h int) (int, int) {
	if h <= 0 || n <= h {
		return 0, n
	}
	start := max(sel-h+1, 0)
	return start, min(start+h, n)
}

// queueTitle keeps the count when the pane is narrow: the words go first.
func queueTitle(n, w int) string {
	t := "UNPAID ORDERS (" + strconv.Itoa(n) + ")"
	if lipgloss.Width(t) > w {
		t = "UNPAID (" + strconv.Itoa(n) + ")"
	}
	return t
}

func (m *Model) queueView(w, h int) string {
	q := m.queueList()
	if len(q) == 0 {
		if !m.live.Loaded() {
			return ""
		}
		return widgets.Muted.Render("no unpaid orders")
	}
	_, si := m.selectedOrder()
	start, end := scroll(len(q), si, h)
	var lines []string
	for i := start; i < end; i++ {
		o := q[i]
		amount := widgets.Rupiah(o.TotalAmount)
		line := widgets.Row(o.OrderNumber, o.CustomerName, amount, w-1)
		if i == si {
			line = rowSel.Render("▸" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	if end < len(q) {
		lines[len(lines)-1] = widgets.Muted.Render(fmt.Sprintf("↓ %d more", len(q)-end+1))
	}
	return strings.Join(lines, "\n")
}

func (m *Model) feedView(w, h int) string {
	if len(m.payments) == 0 {
		if !m.live.Loaded() {
			return ""
		}
		return widgets.Muted.Render("no payments this shift yet")
	}
	_, si := m.selectedPayment()
	start, end := scroll(len(m.payments), si, h)
	var lines []string
	for i := start; i < end; i++ {
		p := m.payments[i]
		t := widgets.Clock(p.CreatedAt)[:5]
		var num, left, right string
		if p.Kind == domain.KindRefund {
			num, left = "↩ "+p.OrderNumber, "refund"
			if p.Reason != "" {
				left += ": " + p.Reason
			}
			right = refundAmount.Render(widgets.Rupiah(-p.Amount))
		} else {
			num, left = p.OrderNumber, widgets.MethodLabel(p.Method)
			if p.Change > 0 {
				left += " ch " + strings.TrimPrefix(widgets.Rupiah(p.Change), "Rp ")
			}
			if p.Refunded > 0 {
				left += " (↩)"
			}
			right = widgets.Rupiah(p.Amount)
		}
		// The time goes before the number does.
		if lipgloss.Width(t+" "+num)+1+lipgloss.Width(right) <= w-1 {
			num = t + " " + num
		}
		line := widgets.Row(num, left, right, w-1)
		if i == si && m.focus == 1 {
			line = rowSel.Render("▸" + line)
		} else {
			line = " " + line
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

func (m *Model) items(o domain.Order, w int) []string {
	var lines []string
	for _, it := range o.Items {
		lines = append(lines, widgets.Spread(widgets.Truncate(strconv.FormatInt(it.Quantity, 10)+"× "+it.Name, w-12), widgets.Rupiah(it.Subtotal), w))
	}
	return lines
}

func (m *Model) tenantName(o domain.Order) string {
	if t, ok := m.tenants[o.TenantID]; ok {
		return t.Name
	}
	return ""
}

func (m *Model) payView(w int) string {
	f := m.pay
	o := f.order
	lines := []string{widgets.Bold.Render(widgets.Truncate(o.OrderNumber+" · "+o.CustomerName, w))}
	if tn := m.tenantName(o); tn != "" {
		lines = append(lines, widgets.Muted.Render(widgets.Truncate(tn, w)))
	}
	if f.full {
		lines = append(lines, m.items(o, w)...)
	} else {
		lines = append(lines, widgets.Muted.Render("loading items…"))
	}
	lines = append(lines, widgets.Spread(widgets.Bold.Render("Total"), widgets.Bold.Render(widgets.Rupiah(o.TotalAmount)), w))
	var methods []string
	for i, md := range domain.Methods {
		if i == f.method {
			methods = append(methods, methodSel.Render("["+widgets.MethodLabel(md)+"]"))
		} else {
			methods = append(methods, methodOther.Render(widgets.MethodLabel(md)))
		}
	}
	lines = append(lines, "", widgets.Truncate("Method "+strings.Join(methods, ""), w))
	cash := domain.Methods[f.method] == domain.MethodCash
	if cash {
		typed := f.tendered.View()
		if n, ok := widgets.ParseAmount(f.tendered.Value()); ok {
			typed = strings.TrimPrefix(widgets.Rupiah(n), "Rp ") + widgets.Cursor()
		}
		lines = append(lines, "Tendered Rp "+typed+widgets.Muted.Render(" (empty: exact)"))
	} else {
		lines = append(lines, "Amount   "+widgets.Rupiah(o.TotalAmount)+widgets.Muted.Render(" (exact)"))
	}
	if amount, ok := f.tenderedAmount(); ok {
		switch {
		case amount >= o.TotalAmount:
			lines = append(lines, widgets.Good.Render("Change   "+widgets.Rupiah(amount-o.TotalAmount)))
		default:
			lines = append(lines, widgets.Warn.Render("Short by "+widgets.Rupiah(o.TotalAmount-amount)))
		}
	}
	switch {
	case f.stale != "":
		lines = append(lines, widgets.Error.Render(lipgloss.NewStyle().Width(w).Render("✗ "+f.stale+" — no payment can be taken here; esc to go back")))
	case f.busy:
		lines = append(lines, widgets.Muted.Render("sending…"))
	case f.err != "":
		lines = append(lines, widgets.Error.Render(lipgloss.NewStyle().Width(w).Render("✗ "+f.err)))
	}
	return strings.Join(lines, "\n")
}

func (m *Model) receiptView(w int) string {
	r := m.receipt
	p, o := r.payment, r.order
	lines := []string{
		widgets.Bold.Render(widgets.Truncate(p.Reference, w)),
		widgets.Truncate(o.OrderNumber+" · "+o.CustomerName+" · "+widgets.Clock(p.CreatedAt), w),
	}
	if tn := m.tenantName(o); tn != "" {
		lines = append(lines, widgets.Muted.Render(widgets.Truncate(tn, w)))
	}
	lines = append(lines, m.items(o, w)...)
	lines = append(lines,
		strings.Repeat("─", w),
		widgets.Spread("Total", widgets.Rupiah(p.Amount), w),
		widgets.Spread("Paid ("+widgets.MethodLabel(p.Method)+")", widgets.Rupiah(max(p.AmountPaid, p.Amount)), w),
		widgets.Good.Render(widgets.Spread("Change", widgets.Rupiah(p.Change), w)),
	)
	// The short code is what the customer says or types at pickup; the QR
	// token is for a scanner and means nothing read off a screen. Orders
	// older than pickup codes have only the token.
	switch {
	case o.QR != nil && o.QR.Code != "":
		lines = append(lines, widgets.Good.Render(widgets.Truncate("Pickup code "+o.QR.Code, w)))
	case o.QR != nil && o.QR.Token != "":
		lines = append(lines, widgets.Muted.Render(widgets.Truncate("QR token "+o.QR.Token, w)))
	}
	lines = append(lines,
		"",
		widgets.Muted.Render("Terima kasih! · enter to close"),
	)
	return strings.Join(lines, "\n")
}

func (m *Model) refundView(w int) string {
	f := m.refund
	p := f.payment
	lines := []string{
		widgets.Bold.Render(widgets.Truncate(p.OrderNumber+" · "+p.Reference, w)),
		widgets.Truncate("Paid "+widgets.Rupiah(p.Amount)+" "+widgets.MethodLabel(p.Method)+" · refundable "+widgets.Rupiah(p.Remaining()), w),
		"",
	}
	label := func(i int, s string) string {
		if f.field == i {
			return widgets.Bold.Render("▸ " + s)
		}
		return "  " + s
	}
	reason := f.reason.Value()
	if f.field == 0 {
		reason = f.reason.View()
	}
	amount := f.amount.Value()
	if n, ok := widgets.ParseAmount(f.amount.Value()); ok {
		amount = strings.TrimPrefix(widgets.Rupiah(n), "Rp ")
	}
	if f.field == 1 {
		amount += widgets.Cursor() // the cursor
	}
	lines = append(lines,
		label(0, "Reason ")+widgets.Truncate(reason, w-10),
		label(1, "Amount Rp ")+amount+widgets.Muted.Render(" (empty: all "+widgets.Rupiah(p.Remaining())+")"),
	)
	switch {
	case f.busy:
		lines = append(lines, widgets.Muted.Render("sending…"))
	case f.err != "":
		lines = append(lines, widgets.Error.Render(lipgloss.NewStyle().Width(w).Render("✗ "+f.err)))
	}
	return strings.Join(lines, "\n")
}

func (m *Model) summaryView(w int) string {
	s := m.Summary()
	title := paneTitle.Render(" SHIFT since "+widgets.Clock(m.cfg.ShiftStart)[:5]+" ") + widgets.Muted.Render(strings.Repeat("─", max(w-20, 0)))
	var parts []string
	for _, md := range domain.Methods {
		parts = append(parts, fmt.Sprintf("%s %d %s", widgets.MethodLabel(md), s.Count[md], widgets.Rupiah(s.Total[md])))
	}
	var refunded int64
	for _, v := range s.Refunded {
		refunded += v
	}
	line2 := fmt.Sprintf("Refunds %d %s · Net %s · ", s.Refunds, widgets.Rupiah(-refunded), widgets.Rupiah(s.Net)) +
		widgets.Bold.Render("Cash in drawer "+widgets.Rupiah(s.Drawer))
	if m.cfg.Float != 0 {
		line2 += widgets.Muted.Render(" (float " + widgets.Rupiah(m.cfg.Float) + ")")
	}
	methods := " " + strings.Join(parts, " · ")
	if lipgloss.Width(methods) > w {
		half := len(parts) / 2
		methods = " " + strings.Join(parts[:half], " · ") + "\n " + strings.Join(parts[half:], " · ")
	}
	var lines []string
	for _, l := range strings.Split(title+"\n"+methods+"\n "+line2, "\n") {
		lines = append(lines, widgets.Truncate(l, w))
	}
	return strings.Join(lines, "\n")
}

func (m *Model) fullHelp(w, h int) string {
	return widgets.HelpBox(w, h, paneTitle.Render(" KEYS "), m.help.FullHelpView(m.keys.FullHelp()),
		"enter on an order opens the payment: pick the method with ←/→; for cash type the amount tendered (empty: exact) and the change is shown. The server refuses an underpayment and says why. After a payment its receipt is shown.",
		"tab to the payments list, pick a payment and press r to refund it (reason, amount; empty amount: all that is left).",
	)
}
