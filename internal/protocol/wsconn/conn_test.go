package wsconn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/wsframe"
	"github.com/posd/posd/internal/testutil"
)

// source is a Source the test fills; each Pull takes everything queued.
type source struct {
	mu     sync.Mutex
	frames [][]byte
	done   bool
	reason hub.CloseReason
	pulls  int
	failed chan error
}

func newSource() *source { return &source{failed: make(chan error, 1)} }

func (s *source) add(c *Conn, frames ...string) {
	s.mu.Lock()
	for _, f := range frames {
		s.frames = append(s.frames, []byte(f))
	}
	s.mu.Unlock()
	c.Wake()
}

func (s *source) end(c *Conn, reason hub.CloseReason) {
	s.mu.Lock()
	s.done, s.reason = true, reason
	s.mu.Unlock()
	c.Wake()
}

func (s *source) Pull(dst [][]byte) ([][]byte, bool, hub.CloseReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pulls++
	dst = append(dst, s.frames...)
	s.frames = nil
	return dst, s.done, s.reason
}

func (s *source) Idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.frames) == 0 && !s.done
}

func (s *source) WriteFailed(err error) { s.failed <- err }

// handler records what the reader hands it.
type handler struct {
	msgs  chan string
	ended chan error
}

func newHandler() *handler { return &handler{msgs: make(chan string, 16), ended: make(chan error, 1)} }

func (h *handler) Message(op byte, p []byte) bool {
	h.msgs <- fmt.Sprintf("%d:%s", op, p)
	return string(p) != "stop"
}

func (h *handler) ReadEnded(err error) { h.ended <- err }

// start runs a Conn on a loopback pair; its goroutines must all have ended
// when the test does.
func start(t *testing.T, cfg Config) (*Conn, *source, *handler, net.Conn) {
	t.Helper()
	var g sync.WaitGroup
	cfg.Group = &g
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = 1 << 10
	}
	peer, srv := testutil.TCPPair(t)
	c := New(srv, &cfg)
	src, h := newSource(), newHandler()
	c.Start(src, h)
	t.Cleanup(func() {
		c.Close()
		waitGroup(t, &g)
	})
	return c, src, h, peer
}

func waitGroup(t *testing.T, g *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { g.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Conn's goroutines outlived it")
	}
}

type frame struct {
	op      byte
	payload string
}

// readFrame reads one server frame (unmasked) off the peer's side.
func readFrame(t *testing.T, r *bufio.Reader) frame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(r, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(r, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatalf("reading a frame's payload: %v", err)
	}
	return frame{h[0] & 0x0f, string(p)}
}

func peerReader(t *testing.T, peer net.Conn) *bufio.Reader {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hang guard
	return bufio.NewReader(peer)
}

// clientFrame is a masked client frame.
func clientFrame(op byte, payload string) []byte {
	out := []byte{0x80 | op, 0x80 | byte(len(payload))}
	mask := []byte{1, 2, 3, 4}
	out = append(out, mask...)
	for i := range len(payload) {
		out = append(out, payload[i]^mask[i&3])
	}
	return out
}

func closeCode(f frame) (int, string) {
	return int(binary.BigEndian.Uint16([]byte(f.payload[:2]))), f.payload[2:]
}

func TestDirectWriteWritesThenRefusesAfterClose(t *testing.T) {
	c, _, _, peer := start(t, Config{})
	if took, err := c.TryWrite(wsframe.AppendText(nil, []byte("hello"))); !took || err != nil {
		t.Fatalf("TryWrite = %v, %v; want true, nil", took, err)
	}
	r := peerReader(t, peer)
	if f := readFrame(t, r); f != (frame{wsframe.OpText, "hello"}) {
		t.Fatalf("peer read %+v", f)
	}
	c.Close()
	if took, err := c.TryWrite([]byte("late")); took || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TryWrite after Close = %v, %v; want false, net.ErrClosed", took, err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("peer read after Close: %v; want EOF", err)
	}
}

// The descriptor number of a closed connection is soon given to the next
// one: a direct write after Close must never reach it.
func TestDirectWriteAfterCloseNeverReachesTheNextConnection(t *testing.T) {
	c, _, _, _ := start(t, Config{})
	c.Close()
	// Open connections until one reuses the descriptor (Linux hands out
	// the lowest free number, so usually the first).
	var peers []net.Conn
	for range 8 {
		p, s := testutil.TCPPair(t)
		peers = append(peers, p)
		if socketFD(s) == c.fd {
			break
		}
	}
	if _, err := c.TryWrite([]byte("stray")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TryWrite after Close: %v; want net.ErrClosed", err)
	}
	for _, p := range peers {
		_ = p.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, _ := p.Read(make([]byte, 16)); n != 0 {
			t.Fatalf("a later connection received %d bytes written to a closed one", n)
		}
	}
}

// A frame the socket takes only in part: TryWrite keeps the rest and
// returns at once, nothing else may be written directly meanwhile, and the
// writer sends the rest before anything the Source has, so the peer reads
// whole frames in order.
func TestPartialFrameGoesOutFirst(t *testing.T) {
	// Far more than the socket buffers hold while the peer does not read.
	// (A small receive buffer set after connecting would stall loopback
	// TCP, whose segments are larger than it.)
	c, src, _, peer := start(t, Config{SendBuffer: 4096})
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	first := wsframe.AppendText(nil, big)
	if took, err := c.TryWrite(first); !took || err != nil {
		t.Fatalf("TryWrite of a frame larger than the buffers = %v, %v", took, err)
	}
	if took, _ := c.TryWrite(wsframe.AppendText(nil, []byte("jump"))); took {
		t.Fatal("a direct write went ahead of the rest of a partly written frame")
	}
	src.add(c, string(wsframe.AppendText(nil, []byte("head"))), string(wsframe.AppendText(nil, []byte("next"))))
	r := peerReader(t, peer)
	for _, want := range []string{string(big), "head", "next"} {
		if f := readFrame(t, r); f.payload != want {
			t.Fatalf("peer read %.20q (%d bytes), want %.20q", f.payload, len(f.payload), want)
		}
	}
}

// Text wraps each payload in a text frame, on both paths; a part written
// directly is kept framed.
func TestTextFramesPayloads(t *testing.T) {
	c, src, _, peer := start(t, Config{Text: true, SendBuffer: 4096})
	big := string(make([]byte, 4<<20))
	if took, err := c.TryWrite([]byte(big)); !took || err != nil {
		t.Fatalf("TryWrite = %v, %v", took, err)
	}
	src.add(c, "42[\"a\"]", "3")
	r := peerReader(t, peer)
	for _, want := range []frame{{wsframe.OpText, big}, {wsframe.OpText, "42[\"a\"]"}, {wsframe.OpText, "3"}} {
		if f := readFrame(t, r); f != want {
			t.Fatalf("peer read op %d %.20q, want op %d %.20q", f.op, f.payload, want.op, want.payload)
		}
	}
}

// A Wake before Start is not lost: the writer runs once the connection
// starts.
func TestWakeBeforeStart(t *testing.T) {
	var g sync.WaitGroup
	cfg := Config{WriteTimeout: 10 * time.Second, ReadLimit: 1 << 10, Group: &g}
	peer, srv := testutil.TCPPair(t)
	c := New(srv, &cfg)
	src := newSource()
	src.add(c, string(wsframe.AppendText(nil, []byte("first"))))
	c.Start(src, newHandler())
	if f := readFrame(t, peerReader(t, peer)); f.payload != "first" {
		t.Fatalf("peer read %+v", f)
	}
	src.end(c, hub.GoingAway)
	waitGroup(t, &g)
}

// The peer's messages reach the Handler, its pings are answered by the
// writer with the latest payload, and a close frame from it ends reading.
func TestReaderHandsOverMessagesAndAnswersPings(t *testing.T) {
	c, src, h, peer := start(t, Config{})
	if _, err := peer.Write(append(append(clientFrame(wsframe.OpText, "one"), clientFrame(wsframe.OpPing, "p1")...), clientFrame(wsframe.OpBinary, "two")...)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1:one", "2:two"} {
		if got := <-h.msgs; got != want {
			t.Fatalf("handler got %q, want %q", got, want)
		}
	}
	r := peerReader(t, peer)
	if f := readFrame(t, r); f != (frame{wsframe.OpPong, "p1"}) {
		t.Fatalf("peer read %+v, want the pong", f)
	}
	if _, err := peer.Write(clientFrame(wsframe.OpClose, "\x03\xe8")); err != nil {
		t.Fatal(err)
	}
	if err := <-h.ended; err != nil {
		t.Fatalf("ReadEnded(%v) after a close frame", err)
	}
	src.end(c, hub.GoingAway)
	if code, text := closeCode(readFrame(t, r)); code != 1001 || text != "going away" {
		t.Fatalf("close %d %q", code, text)
	}
}

// What breaks the protocol or the read limit reaches ReadEnded.
func TestReaderReportsBrokenFrames(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		{clientFrame(wsframe.OpText, string(make([]byte, 100))), wsframe.ErrTooLarge},
		{[]byte{0x81, 0x02, 'h', 'i'}, wsframe.ErrProtocol}, // unmasked
	} {
		_, _, h, peer := start(t, Config{ReadLimit: 64})
		if _, err := peer.Write(tc.in); err != nil {
			t.Fatal(err)
		}
		if err := <-h.ended; !errors.Is(err, tc.want) {
			t.Fatalf("ReadEnded(%v), want %v", err, tc.want)
		}
	}
}

// The Source's end: its last frames, then the close frame (a code the
// wire may not carry goes out as 1011), then the socket closes.
func TestDoneWritesCloseFrame(t *testing.T) {
	for _, tc := range []struct {
		reason hub.CloseReason
		code   int
	}{
		{hub.SlowConsumer, 4008},
		{hub.CloseReason{Code: 1006, Text: "transport error"}, 1011},
	} {
		c, src, _, peer := start(t, Config{Text: true})
		src.add(c, "last")
		src.end(c, tc.reason)
		r := peerReader(t, peer)
		if f := readFrame(t, r); f.payload != "last" {
			t.Fatalf("peer read %+v", f)
		}
		f := readFrame(t, r)
		if code, text := closeCode(f); f.op != wsframe.OpClose || code != tc.code || text != tc.reason.Text {
			t.Fatalf("peer read op %d %d %q, want close %d %q", f.op, code, text, tc.code, tc.reason.Text)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("after the close frame: %v, want EOF", err)
		}
	}
}

// A peer that stops reading makes a write time out: the Source hears of
// it and the socket closes without a close frame.
func TestWriteTimeoutReachesTheSource(t *testing.T) {
	c, src, _, _ := start(t, Config{WriteTimeout: 50 * time.Millisecond, SendBuffer: 4096})
	src.add(c, string(make([]byte, 16<<20)))
	var err error
	select {
	case err = <-src.failed:
	case <-time.After(20 * time.Second):
		t.Fatal("no write failure reported")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("WriteFailed(%v), want a timeout", err)
	}
	// The socket closes right after the Source hears of it.
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		if took, err := c.TryWrite([]byte("x")); took || !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("TryWrite after the failure = %v, %v; want false, net.ErrClosed", took, err)
		}
		return nil
	})
}

// With keepalive on, the peer gets pings, and a peer that answers nothing
// is dropped once PingInterval + PongTimeout have passed since it last
// sent anything.
func TestKeepalive(t *testing.T) {
	_, _, h, peer := start(t, Config{PingInterval: 20 * time.Millisecond, PongTimeout: 20 * time.Millisecond})
	r := peerReader(t, peer)
	if f := readFrame(t, r); f.op != wsframe.OpPing {
		t.Fatalf("peer read %+v, want a ping", f)
	}
	select {
	case err := <-h.ended:
		if !errors.Is(err, os.ErrDeadlineExceeded) && err != nil {
			t.Fatalf("ReadEnded(%v)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a silent peer was not dropped")
	}
}

// Handshakes before Start: ReadText answers pings and skips pongs on the
// way to the next text message; WriteText frames what it writes.
func TestHandshake(t *testing.T) {
	var g sync.WaitGroup
	cfg := Config{WriteTimeout: 10 * time.Second, ReadLimit: 1 << 10, Text: true, Group: &g}
	peer, srv := testutil.TCPPair(t)
	c := New(srv, &cfg)
	defer c.Close()
	in := slices.Concat(clientFrame(wsframe.OpPing, "x"), clientFrame(wsframe.OpPong, ""), clientFrame(wsframe.OpText, "2probe"), clientFrame(wsframe.OpBinary, "?"))
	if _, err := peer.Write(in); err != nil {
		t.Fatal(err)
	}
	if msg, err := c.ReadText(time.Now().Add(10 * time.Second)); msg != "2probe" || err != nil {
		t.Fatalf("ReadText = %q, %v", msg, err)
	}
	if err := c.WriteText([]byte("3probe")); err != nil {
		t.Fatal(err)
	}
	r := peerReader(t, peer)
	for _, want := range []frame{{wsframe.OpPong, "x"}, {wsframe.OpText, "3probe"}} {
		if f := readFrame(t, r); f != want {
			t.Fatalf("peer read %+v, want %+v", f, want)
		}
	}
	if _, err := c.ReadText(time.Now().Add(10 * time.Second)); err == nil {
		t.Fatal("ReadText took a binary message")
	}
}

// Reject answers before Start with a close frame and closes.
func TestReject(t *testing.T) {
	var g sync.WaitGroup
	peer, srv := testutil.TCPPair(t)
	c := New(srv, &Config{WriteTimeout: time.Second, Group: &g})
	c.Reject(hub.TryAgainLater)
	r := peerReader(t, peer)
	if code, text := closeCode(readFrame(t, r)); code != 1013 || text != "too many connections" {
		t.Fatalf("close %d %q", code, text)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the close frame: %v", err)
	}
}

// Direct writes race a close: each one went out whole or was refused
// (go test -race watches the rest), and the peer reads whole frames.
func TestDirectWritesRaceClose(t *testing.T) {
	c, _, _, peer := start(t, Config{})
	got := make(chan int, 1)
	go func() {
		r := bufio.NewReader(peer)
		n := 0
		for {
			var h [3]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				got <- n
				return
			}
			if h != [3]byte{0x81, 1, 'x'} {
				got <- -1
				return
			}
			n++
		}
	}()
	var wrote int
	writing := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			took, err := c.TryWrite([]byte{0x81, 1, 'x'})
			if err != nil {
				return
			}
			if took {
				if wrote++; wrote == 100 {
					close(writing)
				}
			}
		}
	}()
	<-writing
	c.Close()
	<-done
	if n := <-got; n < 100 || n > wrote {
		t.Fatalf("peer read %d whole frames of %d written (-1: a broken frame)", n, wrote)
	}
}
