package ops

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/tui/widgets"
)

// drive runs msg through the model and every Cmd it returns, at once, in
// the test's goroutine (no ticks: their Cmds would wait a second).
func drive(m *Model, msg tea.Msg) {
	queue := []tea.Msg{msg}
	for len(queue) > 0 {
		msg := queue[0]
		queue = queue[1:]
		switch msg := msg.(type) {
		case nil, tea.QuitMsg:
			continue
		case tea.BatchMsg:
			for _, c := range msg {
				if c != nil {
					queue = append(queue, c())
				}
			}
			continue
		}
		if _, cmd := m.Update(msg); cmd != nil {
			queue = append(queue, cmd())
		}
	}
}

// Every screen fills the terminal exactly, however small or large: no
// line wider than the terminal (it would wrap and push the badge off), no
// more lines than it has.
func TestEveryScreenFitsTheTerminal(t *testing.T) {
	api := newFakeAPI()
	api.nodes = append(api.nodes, client.Node{ID: "node-with-a-long-name-b", Addr: "[2001:db8::2]:5000", Connections: 5, Live: true, HeartbeatAt: t0})
	api.hooks = []client.Webhook{{ID: 4, URL: "https://accounting.example/a/very/long/path/for/posd/webhooks", State: "active", FailingSince: &failingSince, Attempt: 12, LastError: "503 Service Unavailable"}}
	stream := newFakeStream()
	close(stream.ch) // the re-arming Cmd returns at once
	m := New(Config{API: api, Now: (&clock{now: t0}).Now, NoTick: true,
		Subscribe: func(int64, []string) widgets.Stream { return stream }})
	seedRates(m)
	drive(m, m.Init()())
	if !m.live.Loaded() || !m.statsSet || !m.todaySet {
		t.Fatalf("not loaded: live %v, stats %v, today %v", m.live.Loaded(), m.statsSet, m.todaySet)
	}
	screens := []struct {
		name string
		keys []tea.KeyMsg
	}{
		{"main", nil},
		{"help", []tea.KeyMsg{runes("?")}},
		{"alert", []tea.KeyMsg{runes("a"), runes(strings.Repeat("Dapur tutup ", 20))}},
		{"rooms", []tea.KeyMsg{runes("r"), runes("x")}},
		{"tokens", []tea.KeyMsg{runes("t"), runes("x")}},
		{"sales", []tea.KeyMsg{runes("s"), runes("e")}},
		{"settlement", []tea.KeyMsg{runes("s"), {Type: tea.KeyTab}}},
	}
	for _, size := range [][2]int{{40, 12}, {60, 18}, {80, 24}, {132, 43}} {
		w, h := size[0], size[1]
		drive(m, tea.WindowSizeMsg{Width: w, Height: h})
		for _, sc := range screens {
			for _, k := range sc.keys {
				drive(m, k)
			}
			v := m.View()
			lines := strings.Split(v, "\n")
			if len(lines) != h {
				t.Errorf("%dx%d %s: %d lines", w, h, sc.name, len(lines))
			}
			for i, l := range lines {
				if lw := ansi.StringWidth(l); lw > w {
					t.Errorf("%dx%d %s: line %d is %d wide: %q", w, h, sc.name, i+1, lw, l)
				}
			}
			// Back to the main screen: esc twice closes a confirmation
			// or an export first, then the panel.
			for range 2 {
				drive(m, tea.KeyMsg{Type: tea.KeyEsc})
			}
			if m.mode != modeMain || m.showHelp {
				t.Fatalf("%s: esc did not go back to the main screen", sc.name)
			}
		}
	}
}

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }
