//go:build !unix

package bench

import (
	"os"
	"time"
)

// SelfSample reports only RSS where getrusage is not available.
func SelfSample() ProcSample {
	s := ProcSample{CPU: time.Duration(0)}
	if p, err := SampleProc(os.Getpid()); err == nil {
		s.RSSKiB = p.RSSKiB
	}
	return s
}

// RaiseFileLimit is a no-op where there is no RLIMIT_NOFILE.
func RaiseFileLimit(want uint64) (uint64, error) { return want, nil }
