//go:build unix

package bench

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// SelfSample is this process's CPU time (getrusage RUSAGE_SELF) and RSS.
func SelfSample() ProcSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := ProcSample{CPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	if p, err := SampleProc(os.Getpid()); err == nil {
		s.RSSKiB = p.RSSKiB
	}
	return s
}

// RaiseFileLimit lifts RLIMIT_NOFILE's soft limit to at least want (and the
// hard limit too when the process may), returning the soft limit in force.
func RaiseFileLimit(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("get file limit: %w", err)
	}
	if rl.Cur >= want {
		return rl.Cur, nil
	}
	if rl.Max < want {
		up := rl
		up.Max, up.Cur = want, want
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			return want, nil
		}
	}
	rl.Cur = rl.Max
	if want < rl.Cur {
		rl.Cur = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("raise file limit: %w", err)
	}
	return rl.Cur, nil
}
