package display

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Left, Right, Up, Down key.Binding
	Bump, Recall, Cancel  key.Binding
	AllDay, Help, Quit    key.Binding
	Dismiss               key.Binding
	Move                  key.Binding // help text only

	// In the cancel form, where letters are typed into the reason.
	Confirm, Back, ForceQuit key.Binding
}

func newKeys() keyMap {
	return keyMap{
		Left:    key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "previous column")),
		Right:   key.NewBinding(key.WithKeys("right", "l", "tab"), key.WithHelp("→/l", "next column")),
		Up:      key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "previous ticket")),
		Down:    key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "next ticket")),
		Bump:    key.NewBinding(key.WithKeys("enter", " ", "b"), key.WithHelp("enter", "bump")),
		Recall:  key.NewBinding(key.WithKeys("u", "r"), key.WithHelp("u", "recall")),
		Cancel:  key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "cancel")),
		AllDay:  key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "all-day")),
		Dismiss: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dismiss alert")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:    key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Move:    key.NewBinding(key.WithKeys("←↑↓→"), key.WithHelp("←↑↓→", "move")), // never typed: help text only

		Confirm:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c")),
	}
}

// ShortHelp is the line that is always visible.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Move, k.Bump, k.Recall, k.Cancel, k.AllDay, k.Help, k.Quit}
}

// FullHelp is shown by ?.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Left, k.Right, k.Up, k.Down},
		{k.Bump, k.Recall, k.Cancel},
		{k.AllDay, k.Dismiss, k.Help, k.Quit},
	}
}
