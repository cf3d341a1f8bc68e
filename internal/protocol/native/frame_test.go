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
		// Decoded independently of ServerFrame on purpose: this checks the
		// bytes on the wire, not the type clients share.
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

// TestServerFrameDecodesEveryFrame: every frame the server writes decodes
// into ServerFrame with no field left over, so the one type clients and
// tests read frames with cannot silently miss a field the server sends.
func TestServerFrameDecodesEveryFrame(t *testing.T) {
	ev := domain.NewEvent(domain.EventOrderCreated, "order_created", time.Unix(0, 0), map[string]int{"order_id": 5}, "tenant-1")
	ev.ID = 42
	for _, c := range []struct {
		name  string
		frame []byte
		want  func(ServerFrame) bool
	}{
		{"event", Encode(nil, &ev), func(f ServerFrame) bool {
			return f.Op == "event" && f.Event == domain.EventOrderCreated && f.EventID() == 42
		}},
		{"ready", readyFrame([]string{"tenant-1", "display"}, 41, true), func(f ServerFrame) bool {
			return f.Op == "ready" && len(f.Rooms) == 2 && f.LastID == 41 && f.Resumed
		}},
		{"joined", joinedFrame("joined", "tenant-1"), func(f ServerFrame) bool { return f.Op == "joined" && f.Room == "tenant-1" }},
		{"left", joinedFrame("left", "tenant-1"), func(f ServerFrame) bool { return f.Op == "left" && f.Room == "tenant-1" }},
		{"resumed", resumedFrame(40), func(f ServerFrame) bool { return f.Op == "resumed" && f.Since == 40 }},
		{"pong", appPongFrame, func(f ServerFrame) bool { return f.Op == "pong" }},
		{"error", errorFrame("gap", "pruned", 17), func(f ServerFrame) bool {
			return f.Op == "error" && f.Code == "gap" && f.Message == "pruned" && f.OldestID == 17
		}},
	} {
		hdr := 2 // server frames are unmasked; 126 says a 16-bit length follows
		if c.frame[1] == 126 {
			hdr = 4
		}
		dec := json.NewDecoder(strings.NewReader(string(c.frame[hdr:])))
		dec.DisallowUnknownFields()
		var f ServerFrame
		if err := dec.Decode(&f); err != nil || !c.want(f) {
			t.Errorf("%s: %s decoded as %+v, %v", c.name, c.frame[hdr:], f, err)
		}
	}
}
