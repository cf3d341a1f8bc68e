package kasir

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Up, Down, Focus     key.Binding
	Pay, Refund         key.Binding
	Dismiss, Help, Quit key.Binding
	Move                key.Binding // help text only

	// In a form.
	PrevMethod, NextMethod, NextField key.Binding
	Confirm, Back                     key.Binding
	ForceQuit                         key.Binding // quits even where q is typed
	Methods                           key.Binding // help text only
}

func newKeys() keyMap {
	return keyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Focus:      key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "switch list")),
		Move:       key.NewBinding(key.WithKeys("↑↓"), key.WithHelp("↑↓", "move")), // never typed
		Pay:        key.NewBinding(key.WithKeys("enter", "p"), key.WithHelp("enter", "pay")),
		Refund:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refund")),
		Dismiss:    key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dismiss")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		PrevMethod: key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "method")),
		NextMethod: key.NewBinding(key.WithKeys("right"), key.WithHelp("→", "method")),
		NextField:  key.NewBinding(key.WithKeys("tab", "shift+tab", "up", "down"), key.WithHelp("tab", "next field")),
		Methods:    key.NewBinding(key.WithKeys("←→"), key.WithHelp("←/→", "method · digits: tendered")), // never typed
		Confirm:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		ForceQuit:  key.NewBinding(key.WithKeys("ctrl+c")),
	}
}

// ShortHelp is the line that is always visible.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Move, k.Focus, k.Pay, k.Refund, k.Dismiss, k.Help, k.Quit}
}

// FullHelp is shown by ?.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Focus},
		{k.Pay, k.Refund, k.Dismiss},
		{k.PrevMethod, k.NextMethod, k.NextField, k.Confirm, k.Back},
		{k.Help, k.Quit},
	}
}

type payKeys struct{ k keyMap }

func (p payKeys) ShortHelp() []key.Binding {
	return []key.Binding{p.k.Methods, p.k.Confirm, p.k.Back}
}
func (p payKeys) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

type refundKeys struct{ k keyMap }

func (r refundKeys) ShortHelp() []key.Binding {
	return []key.Binding{r.k.NextField, r.k.Confirm, r.k.Back}
}
func (r refundKeys) FullHelp() [][]key.Binding { return [][]key.Binding{r.ShortHelp()} }
