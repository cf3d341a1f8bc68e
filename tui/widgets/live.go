package widgets

import (
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/posd/posd/internal/client"
)

// RetryLoadMsg asks a console to load again after a load that may succeed
// next time (the server was unreachable or busy).
type RetryLoadMsg struct{}

// StreamStartedMsg hands a freshly subscribed stream to the Live that asked
// for it; subscribing dials, so it runs as a Cmd, off the Update loop.
type StreamStartedMsg struct{ Stream Stream }

// LoadRetry is how long a console waits before loading again after a failure.
const LoadRetry = 2 * time.Second

// Live is the connection cycle every console runs: load its state from the
// API, subscribe to the event stream from the last event that load saw,
// reload (and resume the stream from the new position) when the server says
// the history has a gap, and keep the badge's Conn honest throughout — even
// before a stream exists, so a console whose first load keeps failing says
// RECONNECTING or OFFLINE rather than CONNECTING for ever.
//
// The console owns what it loads and how events change it; Live owns when to
// load and where the stream resumes, so both consoles get the same
// guarantees from one copy of the rules.
type Live struct {
	// Load fetches the console's state; its message comes back to the
	// console, which calls Failed or Done.
	Load func() tea.Cmd
	// Subscribe starts the event stream after since in rooms; nil: no stream.
	Subscribe func(since int64, rooms []string) Stream
	Rooms     []string
	Now       func() time.Time

	// Conn is what the badge shows.
	Conn Conn

	stream Stream
	loaded bool
	reload bool      // a gap: reload, then Reset the stream
	fails  int       // failed loads before the stream started
	failed time.Time // when loading first failed
}

// Loaded reports whether a load has succeeded.
func (l *Live) Loaded() bool { return l.loaded }

// Stream is the running stream, nil before the first load succeeds.
func (l *Live) Stream() Stream { return l.stream }

// Close stops the stream, if one runs.
func (l *Live) Close() {
	if l.stream != nil {
		l.stream.Close()
	}
}

// Failed takes a failed load. It returns the error's words for the status
// line and, unless the server refused outright, the Cmd that loads again.
func (l *Live) Failed(err error) (string, tea.Cmd) {
	if Refused(err) {
		l.Conn = Conn{Set: true, State: client.State{Conn: client.Offline, Fatal: true, Err: err, Since: l.Now()}}
		return ErrText(err), nil // the server said no: asking again will not help
	}
	if l.stream == nil { // the badge must not say CONNECTING for ever
		if l.fails == 0 {
			l.failed = l.Now()
		}
		l.fails++
		l.Conn = Conn{Set: true, State: client.State{Conn: client.Reconnecting, Attempt: l.fails, Since: l.failed, Err: err}}
	}
	return ErrText(err) + " — retrying", tea.Tick(LoadRetry, func(time.Time) tea.Msg { return RetryLoadMsg{} })
}

// Done takes a successful load whose state is current up to event since. It
// returns the Cmd that starts the stream there, or, after a gap, resumes the
// running stream there; status is for the status line ("" when nothing to say).
func (l *Live) Done(since int64) (status string, cmd tea.Cmd) {
	l.loaded = true
	if l.reload {
		l.reload = false
		s := l.stream
		return "reloaded after a gap in the event history", func() tea.Msg { s.Reset(since); return nil }
	}
	if l.stream == nil && l.Subscribe != nil {
		sub, rooms := l.Subscribe, l.Rooms
		return "", func() tea.Msg { return StreamStartedMsg{Stream: sub(since, rooms)} }
	}
	return "", nil
}

// Update takes the cycle's own messages (ok is false for any other). Events
// go to apply, lines for the status bar to say; connection states, gaps and
// stale streams are handled here.
func (l *Live) Update(msg tea.Msg, apply func(*client.Event) tea.Cmd, say func(text string, isErr bool)) (cmd tea.Cmd, ok bool) {
	switch msg := msg.(type) {
	case RetryLoadMsg:
		return l.Load(), true
	case StreamStartedMsg:
		l.stream = msg.Stream
		return Next(msg.Stream), true
	case UpdateMsg:
		if msg.Stream != l.stream {
			return nil, true // a stream this console no longer reads
		}
		return tea.Batch(l.update(msg.Update, apply, say), Next(msg.Stream)), true
	case StreamClosedMsg:
		return nil, true
	}
	return nil, false
}

func (l *Live) update(u client.Update, apply func(*client.Event) tea.Cmd, say func(string, bool)) tea.Cmd {
	switch {
	case u.State != nil:
		l.Conn = Conn{State: *u.State, Set: true}
	case u.Gap != nil:
		l.reload = true
		say("event history too old to resume: reloading", true)
		return l.Load()
	case u.Notice != nil:
		if u.Notice.Op == "error" {
			say("server: "+u.Notice.Message, true)
		}
	case u.Event != nil:
		return apply(u.Event)
	}
	return nil
}

// Status is what a console last said on its bottom line; OK is the style of
// a status that is not an error (kasir and ops say done in green, the
// display says it muted).
type Status struct {
	Text    string
	IsError bool
	OK      lipgloss.Style
}

// StatusLine is a console's bottom line, most urgent first: the stream's
// problem, a visible alert, loading (until the first load, when the console
// has nothing to say), then the console's own status.
func (l *Live) StatusLine(w int, now time.Time, alert *Alert, loading string, s Status) string {
	switch {
	case l.Conn.Problem() != "":
		return Error.Render(Truncate("⚠ "+l.Conn.Problem(), w))
	case alert.Visible(now):
		return alert.Banner(w)
	case !l.Loaded() && s.Text == "":
		return Muted.Render(loading)
	case s.Text != "" && s.IsError:
		return Error.Render(Truncate(s.Text, w))
	case s.Text != "":
		return s.OK.Render(Truncate(s.Text, w))
	}
	return ""
}
