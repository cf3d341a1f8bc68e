package bench

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

// serverFrame encodes an unmasked server frame.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var out []byte
	switch n := len(payload); {
	case n < 126:
		out = []byte{b0, byte(n)}
	case n < 1<<16:
		out = []byte{b0, 126, byte(n >> 8), byte(n)}
	default:
		out = []byte{b0, 127}
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

func TestAppendFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 300, 70000} {
		payload := bytes.Repeat([]byte("x"), n)
		f := appendFrame(nil, opText, payload)
		if f[1]&0x80 == 0 {
			t.Fatalf("%d: client frame not masked", n)
		}
		fin, op, got, size, err := parseFrame(f)
		if err != nil || !fin || op != opText || size != len(f) || !bytes.Equal(got, payload) {
			t.Errorf("%d bytes: fin %v op %d size %d/%d err %v equal %v", n, fin, op, size, len(f), err, bytes.Equal(got, payload))
		}
	}
}

// feed must handle frames split anywhere across reads, several frames per
// read, fragmented messages, and control frames between fragments.
func TestFeedSplitsAndFragments(t *testing.T) {
	var stream []byte
	want := []string{}
	for i := 0; i < 5; i++ {
		m := strings.Repeat(string(rune('a'+i)), 100*i+3)
		want = append(want, m)
		stream = append(stream, serverFrame(true, opText, []byte(m))...)
	}
	// A fragmented message with a pong in the middle.
	stream = append(stream, serverFrame(false, opText, []byte("hel"))...)
	stream = append(stream, serverFrame(true, opPong, nil)...)
	stream = append(stream, serverFrame(true, opCont, []byte("lo"))...)
	want = append(want, "hello")
	big := strings.Repeat("z", 70000)
	stream = append(stream, serverFrame(true, opText, []byte(big))...)
	want = append(want, big)

	for _, chunk := range []int{1, 2, 3, 7, 64, 1000, len(stream)} {
		c := &wsConn{}
		var got []string
		data := append([]byte(nil), stream...)
		for off := 0; off < len(data); off += chunk {
			end := min(off+chunk, len(data))
			// The caller reuses its buffer: copy through a scratch slice.
			scratch := append([]byte(nil), data[off:end]...)
			if err := c.feed(scratch, func(m []byte) error {
				got = append(got, string(m))
				return nil
			}); err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
			for i := range scratch {
				scratch[i] = 0 // must not be referenced later
			}
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d messages, want %d", chunk, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("chunk %d: message %d = %.20q (len %d), want %.20q (len %d)", chunk, i, got[i], len(got[i]), want[i], len(want[i]))
			}
		}
		if len(c.rbuf) != 0 {
			t.Errorf("chunk %d: %d bytes left over", chunk, len(c.rbuf))
		}
	}
}

func TestFeedCloseFrame(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	echoed := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := b.Read(buf)
		echoed <- buf[:n]
	}()
	c := &wsConn{nc: a}
	payload := append([]byte{0x0f, 0xa8}, "slow consumer"...) // 4008
	err := c.feed(serverFrame(true, opClose, payload), func([]byte) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "4008") || !strings.Contains(err.Error(), "slow consumer") {
		t.Errorf("err = %v, want the close code and reason", err)
	}
	_, op, p, _, perr := parseFrame(<-echoed)
	if perr != nil || op != opClose || !bytes.Equal(p, []byte{0x0f, 0xa8}) {
		t.Errorf("close reply: op %d payload %v err %v", op, p, perr)
	}
}

func TestParseFrameLimits(t *testing.T) {
	huge := []byte{0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0}
	if _, _, _, _, err := parseFrame(huge); err == nil || err == errIncomplete {
		t.Errorf("oversized frame: err = %v", err)
	}
	if _, _, _, _, err := parseFrame([]byte{0x81}); err != errIncomplete {
		t.Errorf("one byte: err = %v, want incomplete", err)
	}
}
