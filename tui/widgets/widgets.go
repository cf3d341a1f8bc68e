// Package widgets holds what the posd consoles share: styles, the connection
// badge, Rupiah formatting, stream plumbing for Bubble Tea and layout helpers.
package widgets

import (
	"errors"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
)

// Palette. Adaptive colours keep both light and dark terminals readable.
var (
	ColorOK      = lipgloss.Color("2") // green
	ColorWarn    = lipgloss.Color("3") // yellow
	ColorBad     = lipgloss.Color("1") // red
	ColorInfo    = lipgloss.Color("4") // blue
	ColorAccent  = lipgloss.Color("5") // magenta
	ColorMuted   = lipgloss.Color("8") // grey
	ColorOnColor = lipgloss.Color("0") // black text on a coloured badge
	ColorBright  = lipgloss.Color("15")
)

// Styles shared by both consoles.
var (
	Header = lipgloss.NewStyle().Bold(true)
	Muted  = lipgloss.NewStyle().Foreground(ColorMuted)
	Bold   = lipgloss.NewStyle().Bold(true)
	Error  = lipgloss.NewStyle().Foreground(ColorBad).Bold(true)
	Good   = lipgloss.NewStyle().Foreground(ColorOK).Bold(true)
	Warn   = lipgloss.NewStyle().Foreground(ColorWarn).Bold(true)
	Title  = lipgloss.NewStyle().Bold(true).Foreground(ColorAccent)

	badgeBase = lipgloss.NewStyle().Bold(true).Padding(0, 1)
)

// Rupiah formats whole Rupiah the Indonesian way: Rp 50.000, -Rp 1.500.
func Rupiah(n int64) string { return domain.Rupiah(n) }

// MethodLabel is how a payment method is shown on the consoles.
func MethodLabel(m domain.Method) string {
	switch m {
	case domain.MethodCash:
		return "Cash"
	case domain.MethodQRIS:
		return "QRIS"
	case domain.MethodCard:
		return "Card"
	case domain.MethodEWallet:
		return "E-wallet"
	}
	return string(m)
}

// Conn is what a console knows about its live connection, for the badge.
type Conn struct {
	State client.State
	Set   bool // a state has been received
}

// Live reports whether the console is receiving events right now.
func (c Conn) Live() bool { return c.Set && c.State.Conn == client.Live }

// Badge renders LIVE, CONNECTING, RECONNECTING (attempt n, since hh:mm:ss) or
// OFFLINE — never a screen that looks live when it is not.
func (c Conn) Badge(now time.Time) string {
	st := c.State
	if !c.Set {
		st = client.State{Conn: client.Connecting}
	}
	switch st.Conn {
	case client.Live:
		return badgeBase.Background(ColorOK).Foreground(ColorOnColor).Render("● LIVE")
	case client.Connecting:
		return badgeBase.Background(ColorWarn).Foreground(ColorOnColor).Render("◌ CONNECTING")
	case client.Reconnecting:
		return badgeBase.Background(ColorWarn).Foreground(ColorOnColor).Render(
			"◌ RECONNECTING (attempt " + strconv.Itoa(st.Attempt) + ", since " + Clock(st.Since) + ")")
	default:
		text := "○ OFFLINE since " + Clock(st.Since)
		if st.Fatal {
			text = "○ OFFLINE"
		} else if st.Attempt > 0 {
			text += ", retrying"
		}
		return badgeBase.Background(ColorBad).Foreground(ColorBright).Render(text)
	}
}

// Down reports whether a live connection was lost (reconnecting or offline).
// The consoles refuse actions then instead of sending them: a request made
// while the screen may be stale could act on an order that has changed, and
// its answer might come long after the person stopped looking.
func (c Conn) Down() bool {
	return c.Set && (c.State.Conn == client.Reconnecting || c.State.Conn == client.Offline)
}

// Problem explains a connection that is not live, for a status line; "" when live.
func (c Conn) Problem() string {
	if !c.Set || c.State.Conn == client.Live || c.State.Conn == client.Connecting {
		return ""
	}
	st := c.State
	why := ""
	switch {
	case st.CloseCode != 0:
		why = client.CloseText(st.CloseCode)
	case st.Err != nil:
		why = st.Err.Error()
	}
	msg := "no updates since " + Clock(st.Since) + ", screen may be out of date"
	if st.Fatal {
		return "stopped, not receiving updates: " + why
	}
	if why != "" {
		msg += " (" + why + ")"
	}
	return msg
}

// Clock renders a wall-clock time as hh:mm:ss in local time.
func Clock(t time.Time) string {
	if t.IsZero() {
		return "--:--:--"
	}
	return t.Local().Format("15:04:05")
}

// Elapsed renders a duration as m:ss (or h:mm:ss), never negative.
func Elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	h, m, sec := s/3600, (s/60)%60, s%60
	if h > 0 {
		return strconv.FormatInt(h, 10) + ":" + pad2(m) + ":" + pad2(sec)
	}
	return strconv.FormatInt(m, 10) + ":" + pad2(sec)
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// Truncate cuts s to at most w cells, ending in … when cut.
func Truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && lipgloss.Width(string(r))+1 > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// Spread puts left and right on one line of width w, padding between them.
func Spread(left, right string, w int) string {
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		left = Truncate(left, w-lipgloss.Width(right)-1)
		gap = w - lipgloss.Width(left) - lipgloss.Width(right)
		if gap < 0 {
			return Truncate(left+" "+right, w)
		}
	}
	return left + strings.Repeat(" ", gap) + right
}

// Row lays out one list line of width w: key (an order number) is the last
// thing cut, right (an amount) goes before it, and rest (a name, a method)
// gives way first. A person finds an order by its number, so a narrow screen
// must never leave "NG-0…" beside an amount.
func Row(key, rest, right string, w int) string {
	kw := lipgloss.Width(key)
	if kw >= w {
		return Truncate(key, w)
	}
	if right != "" && kw+1+lipgloss.Width(right) > w {
		right = ""
	}
	left := key
	room := w - kw - 1 // the space before rest
	if right != "" {
		room -= lipgloss.Width(right) + 1
	}
	if rest != "" && room > 1 {
		left += " " + Truncate(rest, room)
	}
	return Spread(left, right, w)
}

// FitLines pads or cuts the text to exactly h lines.
func FitLines(s string, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// Stream is what a console needs of a client.Stream (a fake in tests).
type Stream interface {
	Updates() <-chan client.Update
	Reset(since int64)
	Close()
}

// UpdateMsg carries one stream update into a program.
type UpdateMsg struct {
	Stream Stream
	client.Update
}

// StreamClosedMsg says a stream stopped delivering.
type StreamClosedMsg struct{ Stream Stream }

// Next is the re-arming Cmd that waits for the stream's next update; the
// program's Update returns it again after handling each UpdateMsg.
func Next(s Stream) tea.Cmd {
	return func() tea.Msg {
		u, ok := <-s.Updates()
		if !ok {
			return StreamClosedMsg{Stream: s}
		}
		return UpdateMsg{Stream: s, Update: u}
	}
}

// TickMsg is the once-a-second clock tick that moves timers and badges.
type TickMsg time.Time

// Tick schedules the next TickMsg.
func Tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return TickMsg(t) })
}

// ParseAmount reads a Rupiah amount typed at the counter: digits with
// optional dots, "Rp" and spaces ("50.000", "Rp 50000"); ok is false for
// anything else.
func ParseAmount(s string) (int64, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "Rp"))
	s = strings.ReplaceAll(strings.ReplaceAll(s, ".", ""), " ", "")
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// Alert is a system alert on show. Errors stay until dismissed; warnings
// and info fade after AlertFade.
type Alert struct {
	Severity string
	Message  string
	At       time.Time // when it arrived (local clock)
}

// AlertFade is how long a warning or info alert stays up.
const AlertFade = 15 * time.Second

// NewAlert takes an alert envelope in.
func NewAlert(env client.Envelope, now time.Time) *Alert {
	return &Alert{Severity: env.Severity, Message: env.Message, At: now}
}

// Visible reports whether the alert is still on show at now.
func (a *Alert) Visible(now time.Time) bool {
	if a == nil {
		return false
	}
	return a.Severity == "error" || now.Sub(a.At) < AlertFade
}

// Banner renders the alert across width w, coloured by severity.
func (a *Alert) Banner(w int) string {
	var bg lipgloss.Color
	fg := ColorOnColor
	label, icon := "INFO", "ℹ"
	switch a.Severity {
	case "error":
		bg, fg, label, icon = ColorBad, ColorBright, "ERROR", "✖"
	case "warning":
		bg, label, icon = ColorWarn, "WARNING", "⚠"
	default:
		bg = ColorInfo
		fg = ColorBright
	}
	text := icon + " " + label + ": " + a.Message
	if a.Severity == "error" {
		text += "  (d: dismiss)"
	}
	return lipgloss.NewStyle().Background(bg).Foreground(fg).Bold(true).Width(w).
		Render(Truncate(text, w))
}

// ErrText is what a console shows for a failed call: a sentence for people
// when the server said why (client.APIError.Words), its own
// message otherwise, else the error (e.g. "server unreachable …").
func ErrText(err error) string {
	var ae *client.APIError
	if errors.As(err, &ae) {
		if w := ae.Words(); w != "" {
			return w
		}
		if ae.Message != "" {
			return ae.Message
		}
	}
	return err.Error()
}

// Refused reports whether err is the server refusing the request itself
// (a 4xx other than a timeout or rate limit): asking again will not help.
func Refused(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != 408 && ae.Status != 429
}

// HelpBox is a console's full help in a rounded box of width w that fits
// in h lines: its title, the key list, then notes, one paragraph each,
// wrapped first and then cut to the room there is.
func HelpBox(w, h int, title, keys string, notes ...string) string {
	lines := append([]string{title, keys, ""}, notes...)
	lines = append(lines, "", Muted.Render("? or esc closes this help"))
	box := lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1).Width(w - 2)
	text := lipgloss.NewStyle().Width(max(w-4, 1)).Render(strings.Join(lines, "\n"))
	return box.Render(FitLines(text, max(min(lipgloss.Height(text), h-2), 1)))
}
