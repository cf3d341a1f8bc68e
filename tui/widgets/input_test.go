package widgets

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

func TestInputKeys(t *testing.T) {
	in := NewInput(9)
	for _, k := range []tea.KeyMsg{runes("stok"), {Type: tea.KeySpace}, runes("habi"), {Type: tea.KeyBackspace}} {
		if !in.Key(k) {
			t.Fatalf("key %v not used", k)
		}
	}
	if in.Value() != "stok hab" {
		t.Fatalf("value %q, want %q", in.Value(), "stok hab")
	}
	// A paste that does not fit is dropped whole.
	if !in.Key(runes("is")) || in.Value() != "stok hab" {
		t.Fatalf("over the limit: %q", in.Value())
	}
	// Keys the forms use for themselves are left to them.
	for _, k := range []tea.KeyMsg{{Type: tea.KeyLeft}, {Type: tea.KeyTab}, {Type: tea.KeyEnter}, {Type: tea.KeyEsc}, {Type: tea.KeyUp}, {Type: tea.KeyCtrlA}} {
		if in.Key(k) {
			t.Errorf("key %v taken by the field", k)
		}
	}
	if in.Value() != "stok hab" {
		t.Fatalf("value %q changed by form keys", in.Value())
	}
	in.Key(runes("i")) // the cursor must still be at the end
	if in.Value() != "stok habi" {
		t.Fatalf("value %q after typing on", in.Value())
	}
	in.Key(tea.KeyMsg{Type: tea.KeyCtrlU})
	if in.Value() != "" {
		t.Fatalf("ctrl+u left %q", in.Value())
	}
	in.Key(runes("x"))
	in.Reset()
	if in.Value() != "" {
		t.Fatalf("Reset left %q", in.Value())
	}
}

// The field draws exactly what the consoles drew before it was a
// textinput: the value, then a reversed space, with no prompt.
func TestInputView(t *testing.T) {
	prev := lipgloss.ColorProfile()
	lipgloss.SetColorProfile(termenv.ANSI)
	defer lipgloss.SetColorProfile(prev)
	in := NewInput(0)
	in.Key(runes("Rp 50.000"))
	want := "Rp 50.000" + lipgloss.NewStyle().Reverse(true).Render(" ")
	if got := in.View(); got != want {
		t.Fatalf("view %q, want %q", got, want)
	}
	if Cursor() != lipgloss.NewStyle().Reverse(true).Render(" ") || Cursor() == " " {
		t.Fatalf("cursor %q", Cursor())
	}
}
