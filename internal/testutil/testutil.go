// Package testutil holds what tests of several packages share and that no
// production code may use.
package testutil

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Poll is how often Eventually checks its condition: often enough that a
// test waits about as long as the code it watches takes, cheap enough
// that a waiting test does not compete with that code for a core.
const Poll = time.Millisecond

// Eventually waits until cond holds and fails tb if it does not within
// timeout. The timeout is a guard against a hang, not a claim about speed:
// give it a generous margin. what names the condition in the failure; use
// EventuallyNil when the failure should say what was seen instead.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Await(timeout, Poll, cond) {
		tb.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// EventuallyNil waits until check returns nil and fails tb with the last
// error it returned if it does not within timeout, so the failure says
// what was seen last rather than only what was awaited.
func EventuallyNil(tb testing.TB, timeout time.Duration, check func() error) {
	tb.Helper()
	var last error
	if !Await(timeout, Poll, func() bool { last = check(); return last == nil }) {
		tb.Fatalf("timed out after %v: %v", timeout, last)
	}
}

// Await waits until cond holds, checking it every interval, and reports
// whether it did within timeout. It is the wait under Eventually, for the
// waits Eventually does not fit: a failure that must show state only the
// caller has (a child's stderr, the first difference of two logs), a
// timeout that is not a failure (stop waiting, then report what came), or
// a condition too costly to check every Poll (a request to another
// process, a browser's evaluation), which deserves a longer interval.
// cond runs on the caller's goroutine, so it may itself end the test.
func Await(timeout, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// FreePort is a loopback TCP port nothing listened on a moment ago, for a
// child process told to listen there. Another process may take it in
// between.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is FreePort as a host:port on 127.0.0.1.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(tb))
}

// Clock is a time source the test moves by hand, safe to read from the
// goroutines of the code under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock is a Clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Buffer is a bytes.Buffer that goroutines may write while the test reads
// it: a logger's sink, a child process's output.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TCPPair is a connected loopback TCP pair, closed when the test ends:
// peer is the dialling side, srv the accepted one.
func TCPPair(tb testing.TB) (peer, srv net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	srv, err = ln.Accept()
	if err != nil {
		peer.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { peer.Close(); srv.Close() })
	return peer, srv
}
