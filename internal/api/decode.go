package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/posd/posd/internal/domain"
)

// readBody reads the whole (size-limited) body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) || domain.ErrorCode(err) != domain.CodeInternal {
			return nil, err // too large, or a body that did not arrive in time
		}
		return nil, domain.Errorf(domain.CodeInvalid, "reading request body: %v", err)
	}
	return b, nil
}

// decodeJSON decodes exactly one JSON object into v, refusing unknown
// fields, wrong types, trailing data and invalid UTF-8 (which encoding/json
// would otherwise silently replace).
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.Errorf(domain.CodeInvalid, "request body is empty; expected a JSON object")
	}
	if !utf8.Valid(body) {
		return domain.Errorf(domain.CodeInvalid, "request body is not valid UTF-8")
	}
	if off := loneSurrogate(body); off >= 0 {
		// encoding/json would turn the escape into U+FFFD without a word,
		// and json.RawMessage fields (notification data) would carry it on
		// verbatim to every browser of the room.
		return domain.Errorf(domain.CodeInvalid, "%s contains a lone surrogate escape (%s): not a Unicode character", fieldAt(body, off), body[off:off+6])
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return domain.Errorf(domain.CodeInvalid, "malformed JSON: %s", describeJSONError(err))
	}
	if dec.More() {
		return domain.Errorf(domain.CodeInvalid, "malformed JSON: unexpected data after the object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.CodeInvalid, "malformed JSON: unexpected data after the object")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %s must be %s, not %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("expected %s, not %s", typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of input"
	}
	return err.Error()
}

// pathID parses the {id} path value.
func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.Errorf(domain.CodeInvalid, "%s must be a positive integer, not %q", name, s)
	}
	return id, nil
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, domain.Errorf(domain.CodeInvalid, "query parameter %s must be a non-negative integer, not %q", name, s)
	}
	return v, nil
}

// loneSurrogate returns the offset of the first \uD800–\uDFFF escape in body
// that is not half of a high-low pair, or -1. A backslash only occurs inside
// JSON strings, so the body needs no parsing; malformed JSON is refused by
// the decoder anyway.
func loneSurrogate(body []byte) int {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		if body[i+1] != 'u' {
			i++ // \\, \" and the like: skip the escaped character
			continue
		}
		r, ok := hex4(body, i+2)
		if !ok {
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if j := i + 6; j+1 < len(body) && body[j] == '\\' && body[j+1] == 'u' {
				if lo, ok := hex4(body, j+2); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i = j + 5 // a pair: one character outside the BMP
					continue
				}
			}
			return i
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 5
	}
	return -1
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// fieldAt names the JSON field whose key or value holds byte off of body,
// as items[0].name, so that a refusal says where the bad text is.
func fieldAt(body []byte, off int) string {
	type frame struct {
		array bool
		index int
		key   string
		isKey bool // an object's next string is a key
	}
	var stack []frame
	path := func() string {
		var b []byte
		for i, f := range stack {
			switch {
			case f.array:
				b = strconv.AppendInt(append(b, '['), int64(f.index), 10)
				b = append(b, ']')
			case f.key != "":
				if i > 0 {
					b = append(b, '.')
				}
				b = append(b, f.key...)
			}
		}
		if len(b) == 0 {
			return "the request body"
		}
		return string(b)
	}
	// A value completes: the enclosing array moves on, the object awaits a key.
	done := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].isKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "the request body"
		}
		end := int(dec.InputOffset())
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{isKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].isKey {
				stack[n-1].key, stack[n-1].isKey = t, false
				if end > off {
					return path() + " (a key)"
				}
				continue
			}
			if end > off {
				return path()
			}
			done()
		default:
			done()
		}
	}
}
