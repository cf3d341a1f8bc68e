package native

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
)

func TestEncodeIsOneTextFrame(t *testing.T) {
	for _, size := range []int{10, 200, 70_000} {
		ev := domain.NewEvent(domain.EventNotification, "order_ready", time.Unix(0, 0), map[string]string{"note": strings.Repeat("x", size)}, "user-1")
		ev.ID = 7
		f := Encode(nil, &ev)
		if f[0] != 0x81 {
			t.Fatalf("first byte %#x, want FIN+text", f[0])
		}
		var n, hdr int
		switch l := int(f[1]); {
		case l < 126:
			n, hdr = l, 2
		case l == 126:
			n, hdr = int(binary.BigEndian.Uint16(f[2:])), 4
		default:
			n, hdr = int(binary.BigEndian.Uint64(f[2:])), 10
		}
		if hdr+n != len(f) {
			t.Fatalf("size %d: header says %d payload bytes, frame has %d", size, n, len(f)-hdr)
		}
		var msg struct {
			Op, Event string
			Payload   struct{ ID int64 }
		}
		if err := json.Unmarshal(f[hdr:], &msg); err != nil || msg.Op != "event" || msg.Event != "notification" || msg.Payload.ID != 7 {
			t.Fatalf("payload %s: %v", f[hdr:], err)
		}
	}
}

func TestDecodeOp(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"op":"join","room":"tenant-1"}`: true,
		`{"op":"leave","room":"display"}`: true,
		`{"op":"resume","since":0}`:       true,
		`{"op":"ping"}`:                   true,
		`{"op":"join"}`:                   false,
		`{"op":"resume"}`:                 false,
		`{"op":"resume","since":-1}`:      false,
		`{"op":"shout"}`:                  false,
		`{}`:                              false,
		`not json`:                        false,
		`[1]`:                             false,
	} {
		if _, err := DecodeOp([]byte(in)); (err == nil) != ok {
			t.Errorf("%s: err %v, want ok=%v", in, err, ok)
		}
	}
}
