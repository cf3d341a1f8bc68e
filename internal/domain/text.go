package domain

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckText validates a free-text field: valid UTF-8, nothing that acts on a
// terminal or breaks a line, no U+FFFD, at least one visible character when
// not empty, bounded length. Text is stored and echoed verbatim; this only
// refuses what cannot be shown honestly on a ticket, a receipt or a TV.
func CheckText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return Errorf(CodeInvalid, "%s is required", field)
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s is not valid UTF-8", field)
	}
	visible := false
	for _, r := range s {
		switch {
		case isControl(r):
			return Errorf(CodeInvalid, "%s contains a control, line-break or direction-override character (U+%04X)", field, r)
		case r == utf8.RuneError:
			// encoding/json turns a lone surrogate such as "\ud800" into
			// U+FFFD without a word; the API refuses those escapes before
			// decoding, and this catches the character sent as itself.
			return Errorf(CodeInvalid, "%s contains U+FFFD, the mark of text that was not valid Unicode (a lone surrogate such as \\ud800?)", field)
		case !visible && isVisible(r):
			visible = true
		}
	}
	if s != "" && !visible {
		// A name of zero-width spaces or fillers prints as nothing: a
		// ticket nobody can call out, a tenant that cannot be told apart.
		return Errorf(CodeInvalid, "%s has no visible character (only spaces or invisible characters)", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return Errorf(CodeInvalid, "%s is %d characters long (at most %d)", field, n, max)
	}
	return nil
}

// isControl reports characters that would let text act on a terminal,
// reorder what a cashier reads or break a line where the reader expects one
// line: C0 and C1 controls, DEL, the Unicode line and paragraph separators
// (U+2028, U+2029: new lines to a browser and to some terminals, and string
// terminators to older JavaScript), and the bidirectional overrides and
// isolates. Text reaches kitchen consoles of other stalls, so it must be inert.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7F && r <= 0x9F) || r == 0x2028 || r == 0x2029 ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// isVisible reports whether r leaves ink: a letter, digit, punctuation mark or
// symbol, except the ones Unicode says to render as nothing (the Hangul
// fillers, which are "letters") and the blank Braille pattern. Zero-width
// joiners, variation selectors and combining marks are allowed inside text
// (emoji sequences and many scripts need them) but do not count as ink.
func isVisible(r rune) bool {
	if r == 0x2800 || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) {
		return false
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
}

// Rupiah formats whole Rupiah the Indonesian way: Rp 50.000, -Rp 1.500.
func Rupiah(n int64) string {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u // also right for the most negative int64
	}
	s := strconv.FormatUint(u, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString("Rp ")
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(r)
	}
	return b.String()
}
