package testutil

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	r := &recorder{TB: t}
	Eventually(r, 10*time.Second, "three checks", func() bool { return n.Add(1) >= 3 })
	if r.failed != "" || n.Load() != 3 {
		t.Fatalf("failed %q after %d checks, want success after 3", r.failed, n.Load())
	}
}

func TestEventuallyFailsNamingTheCondition(t *testing.T) {
	r := &recorder{TB: t}
	Eventually(r, 20*time.Millisecond, "the impossible", func() bool { return false })
	if !strings.Contains(r.failed, "waiting for the impossible") {
		t.Fatalf("failure %q does not name the condition", r.failed)
	}
}

func TestEventuallyNilFailsWithTheLastError(t *testing.T) {
	var n atomic.Int32
	r := &recorder{TB: t}
	EventuallyNil(r, 20*time.Millisecond, func() error { return fmt.Errorf("seen %d", n.Add(1)) })
	if want := fmt.Sprintf("seen %d", n.Load()); !strings.HasSuffix(r.failed, want) {
		t.Fatalf("failure %q, want it to end with the last error %q", r.failed, want)
	}
	r = &recorder{TB: t}
	n.Store(0)
	EventuallyNil(r, 10*time.Second, func() error {
		if n.Add(1) < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.failed != "" {
		t.Fatalf("failed %q, want success on the second check", r.failed)
	}
}

func TestAwaitReportsWithoutFailing(t *testing.T) {
	var n atomic.Int32
	if !Await(10*time.Second, time.Microsecond, func() bool { return n.Add(1) >= 3 }) || n.Load() != 3 {
		t.Fatalf("Await gave up after %d checks, want success after 3", n.Load())
	}
	n.Store(0)
	if Await(20*time.Millisecond, time.Millisecond, func() bool { n.Add(1); return false }) {
		t.Fatal("Await reported a condition that never held")
	}
	if n.Load() < 2 {
		t.Fatalf("%d checks in the timeout, want the condition checked until it passed", n.Load())
	}
}

func TestAwaitChecksAtItsInterval(t *testing.T) {
	// Sleeps only ever run long, so 100 ms at a 30 ms interval allows at
	// most five checks (at 0, 30, 60, 90 and 120 ms); at Poll it would be
	// about a hundred.
	var n atomic.Int32
	Await(100*time.Millisecond, 30*time.Millisecond, func() bool { n.Add(1); return false })
	if got := n.Load(); got < 2 || got > 5 {
		t.Fatalf("%d checks in 100 ms at a 30 ms interval, want 2 to 5", got)
	}
}

func TestFreeAddrIsFree(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	l.Close()
}

func TestClockMovesOnlyWhenTold(t *testing.T) {
	t0 := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	c := NewClock(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	c.Add(90 * time.Second)
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("after Add: %v", got)
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("after Set: %v", got)
	}
}

func TestBufferTakesConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes, want 800", n)
	}
}
