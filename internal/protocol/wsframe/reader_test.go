package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/testutil"
)

// clientFrame builds a masked client frame (RFC 6455 §5.2).
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	mask := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, mask...)
	for i, c := range payload {
		out = append(out, c^mask[i&3])
	}
	return out
}

type frameOut struct {
	op      byte
	payload string
}

// readAll drives r as the handler does until an error other than ErrWait.
func readAll(t *testing.T, r *Reader) ([]frameOut, error) {
	t.Helper()
	var got []frameOut
	for {
		op, p, err := r.Next()
		if err == ErrWait {
			if err := r.WaitReadable(); err != nil {
				return got, err
			}
			continue
		}
		if err != nil {
			return got, err
		}
		got = append(got, frameOut{op, string(p)})
	}
}

// stream writes data to a pipe in chunks of size (0: all at once), then
// closes it, and returns a reader of the other end.
func stream(t *testing.T, data []byte, size int, limit int64) *Reader {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() {
		defer a.Close()
		if size == 0 {
			size = len(data)
		}
		for len(data) > 0 {
			n := min(size, len(data))
			if _, err := a.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
	}()
	return NewReader(b, limit)
}

func TestReaderMessages(t *testing.T) {
	big := strings.Repeat("x", 5000) // larger than a pooled buffer
	var in []byte
	in = append(in, clientFrame(true, OpText, []byte(`{"op":"ping"}`))...)
	in = append(in, clientFrame(true, OpPing, []byte("p1"))...)
	in = append(in, clientFrame(false, OpText, []byte("ab"))...)
	in = append(in, clientFrame(true, OpPong, nil)...) // control frames may interleave
	in = append(in, clientFrame(false, OpContinuation, []byte("cd"))...)
	in = append(in, clientFrame(true, OpContinuation, []byte("ef"))...)
	in = append(in, clientFrame(true, OpBinary, []byte{1, 2, 3})...)
	in = append(in, clientFrame(true, OpText, []byte(big))...)
	in = append(in, clientFrame(true, OpClose, []byte{0x03, 0xE8})...)
	want := []frameOut{
		{OpText, `{"op":"ping"}`}, {OpPing, "p1"}, {OpPong, ""}, {OpText, "abcdef"},
		{OpBinary, "\x01\x02\x03"}, {OpText, big}, {OpClose, "\x03\xe8"},
	}
	for _, size := range []int{0, 1, 7, 1000} {
		got, err := readAll(t, stream(t, in, size, 64<<10))
		if !errors.Is(err, io.EOF) {
			t.Errorf("chunks of %d: ended with %v, want EOF", size, err)
		}
		if len(got) != len(want) {
			t.Fatalf("chunks of %d: %d messages, want %d", size, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("chunks of %d: message %d = %d %.20q, want %d %.20q", size, i, got[i].op, got[i].payload, want[i].op, want[i].payload)
			}
		}
	}
}

func TestReaderRefuses(t *testing.T) {
	unmasked := clientFrame(true, OpText, []byte("hi"))
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, OpText, []byte("hi"))
	rsv[0] |= 0x40
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"unmasked", unmasked, ErrProtocol},
		{"extension bit", rsv, ErrProtocol},
		{"unknown opcode", clientFrame(true, 0x3, nil), ErrProtocol},
		{"long control frame", clientFrame(true, OpPing, bytes.Repeat([]byte("p"), 126)), ErrProtocol},
		{"fragmented control frame", clientFrame(false, OpPing, nil), ErrProtocol},
		{"continuation first", clientFrame(true, OpContinuation, []byte("x")), ErrProtocol},
		{"new message inside a fragmented one", append(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpText, []byte("b"))...), ErrProtocol},
		{"frame over the limit", clientFrame(true, OpText, bytes.Repeat([]byte("x"), 17)), ErrTooLarge},
		{"frame over the limit by its header alone", clientFrame(true, OpText, bytes.Repeat([]byte("x"), 70000))[:20], ErrTooLarge},
		{"fragments over the limit", append(clientFrame(false, OpText, bytes.Repeat([]byte("x"), 10)), clientFrame(true, OpContinuation, bytes.Repeat([]byte("x"), 10))...), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, stream(t, tc.in, 3, 16))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v after %v, want %v", err, got, tc.want)
			}
		})
	}
}

// Over a real socket the reader waits without a buffer: once it has handed
// out what arrived, it holds nothing until the peer sends again.
func TestReaderTCPHoldsNoBufferWhileIdle(t *testing.T) {
	peer, srv := testutil.TCPPair(t)
	r := NewReader(srv, 64<<10)
	if r.wait == nil {
		t.Skip("no readiness wait on this platform")
	}
	next := func() frameOut {
		t.Helper()
		for {
			op, p, err := r.Next()
			if err == ErrWait {
				if err := r.WaitReadable(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			return frameOut{op, string(p)}
		}
	}
	big := strings.Repeat("y", 9000)
	if _, err := peer.Write(append(clientFrame(true, OpText, []byte("one")), clientFrame(true, OpText, []byte("two"))...)); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"one", "two"} {
		if got := next(); got.payload != w {
			t.Fatalf("got %q, want %q", got.payload, w)
		}
	}
	if _, _, err := r.Next(); err != ErrWait || r.store != nil {
		t.Fatalf("after draining: err %v, buffer held %v; want ErrWait and none", err, r.store != nil)
	}
	// A frame larger than the pooled buffer, arriving in two parts.
	f := clientFrame(true, OpText, []byte(big))
	go func() {
		_, _ = peer.Write(f[:3000])
		time.Sleep(20 * time.Millisecond)
		_, _ = peer.Write(f[3000:])
	}()
	if got := next(); got.payload != big {
		t.Fatalf("big frame: got %d bytes, want %d", len(got.payload), len(big))
	}
	if _, _, err := r.Next(); err != ErrWait || r.store != nil {
		t.Fatalf("after the big frame: err %v, buffer held %v", err, r.store != nil)
	}
	// The read deadline ends the wait.
	_ = srv.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if err := r.WaitReadable(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("wait past the deadline: %v", err)
	}
}

// Serve handles each time the socket is readable, and stops when the
// handler says so or the wait fails.
func TestServe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	r := NewReader(b, 1<<10)
	var got []string
	calls := 0
	handle := func() bool {
		calls++
		for {
			op, p, err := r.Next()
			if err == ErrWait {
				return true
			}
			if err != nil {
				return false
			}
			if op == OpText && string(p) == "stop" {
				return false
			}
			got = append(got, string(p))
		}
	}
	go func() {
		for _, m := range []string{"one", "two", "stop", "never"} {
			if _, err := a.Write(clientFrame(true, OpText, []byte(m))); err != nil {
				return
			}
		}
	}()
	r.Serve(handle)
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("handled %q, want one,two and a stop", got)
	}
	if calls < 1 {
		t.Fatalf("handle called %d times", calls)
	}

	// A failed wait (here the read deadline on a real socket) ends Serve too.
	_, srv := testutil.TCPPair(t)
	_ = srv.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	done := make(chan struct{})
	go func() { NewReader(srv, 1<<10).Serve(func() bool { return true }); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not end when its wait failed")
	}
}
