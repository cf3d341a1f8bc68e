package ops

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Alert, Rooms, Tokens, Reports key.Binding
	Dismiss, Help, Quit           key.Binding

	// In the lists and the report.
	Up, Down, Act      key.Binding
	Yes, No            key.Binding
	Prev, Next, Kind   key.Binding
	PrevSev, NextSev   key.Binding // in the alert form, where letters are typed
	Export, Reload     key.Binding
	Confirm, Back      key.Binding
	ForceQuit          key.Binding // quits even where q is typed
	Move, Severity     key.Binding // help text only
	PrevDay            key.Binding // help text only
	Disconnect, Revoke key.Binding // help text only
	Write              key.Binding // help text only
}

func newKeys() keyMap {
	return keyMap{
		Alert:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "alert")),
		Rooms:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rooms")),
		Tokens:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "tokens")),
		Reports:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sales")),
		Dismiss:    key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "dismiss")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Act:        key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "act")),
		Yes:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		No:         key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n", "no")),
		Prev:       key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←", "earlier")),
		Next:       key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→", "later")),
		PrevSev:    key.NewBinding(key.WithKeys("left", "shift+tab")),
		NextSev:    key.NewBinding(key.WithKeys("right", "tab")),
		Kind:       key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "sales/settlement")),
		Export:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export CSV")),
		Reload:     key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "reload")),
		Confirm:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Write:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "write")),
		ForceQuit:  key.NewBinding(key.WithKeys("ctrl+c")),
		Move:       key.NewBinding(key.WithKeys("↑↓"), key.WithHelp("↑↓", "move")),                     // never typed
		Severity:   key.NewBinding(key.WithKeys("←→"), key.WithHelp("←/→", "severity · type message")), // never typed
		PrevDay:    key.NewBinding(key.WithKeys("←"), key.WithHelp("←/→", "day (month)")),              // never typed
		Disconnect: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "disconnect")),                 // help text only
		Revoke:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "revoke")),                     // help text only
	}
}

// ShortHelp is the line that is always visible on the main screen.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Alert, k.Rooms, k.Tokens, k.Reports, k.Dismiss, k.Help, k.Quit}
}

// FullHelp is shown by ?.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Alert, k.Rooms, k.Tokens, k.Reports},
		{k.Up, k.Down, k.Disconnect, k.Revoke, k.Yes, k.No},
		{k.PrevDay, k.Kind, k.Export, k.Reload},
		{k.Dismiss, k.Back, k.Help, k.Quit},
	}
}

// helpFor is a panel's short help line.
type helpFor []key.Binding

func (h helpFor) ShortHelp() []key.Binding  { return h }
func (h helpFor) FullHelp() [][]key.Binding { return [][]key.Binding{h} }
