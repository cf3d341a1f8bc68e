package testutil

import (
	"errors"
	"fmt"
	"strings"
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
