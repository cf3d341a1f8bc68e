package widgets

import (
	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Input is a one-line text field for the consoles' forms: typed runes,
// backspace, ctrl+u to clear, with a block cursor at the end. It is a
// bubbles/textinput with a key map cut down to those keys: arrows, tab and
// enter move between fields and methods in the forms, so the field must not
// take them for cursor movement or completion.
type Input struct {
	ti textinput.Model
}

// NewInput returns a focused field holding at most limit runes (0: no limit).
func NewInput(limit int) Input {
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = limit
	ti.KeyMap = textinput.KeyMap{
		DeleteCharacterBackward: key.NewBinding(key.WithKeys("backspace")),
		DeleteBeforeCursor:      key.NewBinding(key.WithKeys("ctrl+u")),
	}
	ti.Cursor.SetMode(cursor.CursorStatic) // a blinking cursor would redraw the console twice a second
	ti.Focus()
	return Input{ti: ti}
}

// Value is the text typed so far.
func (in *Input) Value() string { return in.ti.Value() }

// SetValue replaces the text, the cursor at its end (a proposed file name
// the person may edit).
func (in *Input) SetValue(s string) { in.ti.SetValue(s); in.ti.CursorEnd() }

// Reset empties the field.
func (in *Input) Reset() { in.ti.Reset() }

// Key applies a key press; it reports whether the key belongs to the field
// (a rune, space, backspace or ctrl+u), even when it changed nothing.
func (in *Input) Key(msg tea.KeyMsg) bool {
	switch {
	case msg.Type == tea.KeyRunes || msg.Type == tea.KeySpace:
		r := msg.Runes
		if msg.Type == tea.KeySpace {
			r = []rune{' '}
		}
		// A paste that does not fit is dropped whole, not cut to fit: a cut
		// amount or reason would be wrong without looking wrong.
		if in.ti.CharLimit > 0 && len([]rune(in.ti.Value()))+len(r) > in.ti.CharLimit {
			return true
		}
		msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: r}
	case key.Matches(msg, in.ti.KeyMap.DeleteCharacterBackward, in.ti.KeyMap.DeleteBeforeCursor):
	default:
		return false
	}
	in.ti, _ = in.ti.Update(msg)
	return true
}

// View renders the value with a block cursor.
func (in *Input) View() string { return in.ti.View() }

// Cursor is the block cursor an Input draws, for fields that render their
// value themselves (an amount shown with thousands separators).
func Cursor() string { return lipgloss.NewStyle().Reverse(true).Render(" ") }
