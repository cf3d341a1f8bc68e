package native

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/posd/posd/internal/domain"
)

// FuzzDecodeOp: whatever a client sends, DecodeOp returns either an op the
// reader can act on (known name, the fields it needs) or an invalid-input
// error with a short, printable message; it never panics.
func FuzzDecodeOp(f *testing.F) {
	for _, s := range []string{
		`{"op":"join","room":"tenant-1"}`, `{"op":"leave","room":"display"}`, `{"op":"resume","since":42}`,
		`{"op":"ping"}`, `{"op":"resume","since":-1}`, `{"op":"resume"}`, `{"op":"join"}`, `{"op":""}`, `{}`,
		`{"op":"dance"}`, `not json`, `{"op":"join","room":"tenant-1"} trailing`, `[]`, `null`, `"join"`,
		`{"op":"resume","since":9223372036854775808}`, `{"op":"resume","since":1.5}`, `{"op":"join","room":1}`,
		"{\"op\":\"join\",\"room\":\"\xff\"}", `{"op":"` + strings.Repeat("x", 100) + `"}`, `{"op":"join","room":"a","room":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		op, err := DecodeOp(data)
		if err != nil {
			if domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("error code %q for %q", domain.ErrorCode(err), data)
			}
			msg := domain.ErrorMessage(err)
			if msg == "" || len(msg) > 200 {
				t.Fatalf("error message %q (%d bytes) for %q", msg, len(msg), data)
			}
			if !utf8.ValidString(msg) {
				t.Fatalf("error message is not UTF-8: %q", msg)
			}
			return
		}
		switch op.Op {
		case "join", "leave":
			if op.Room == "" {
				t.Fatalf("%s without a room from %q", op.Op, data)
			}
		case "resume":
			if op.Since == nil || *op.Since < 0 {
				t.Fatalf("resume without a valid since from %q", data)
			}
		case "ping":
		default:
			t.Fatalf("accepted unknown op %q from %q", op.Op, data)
		}
	})
}
