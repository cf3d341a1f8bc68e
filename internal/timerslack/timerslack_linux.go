package timerslack

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func current() time.Duration {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0
	}
	return time.Duration(ns)
}

func ensure(min time.Duration) error {
	if current() >= min {
		return nil
	}
	// The running binary's own inode, even if its path was replaced since.
	const exe = "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		return fmt.Errorf("timer slack: %w", err)
	}
	// The slack is a thread's, and execve continues as the calling thread:
	// set it and execute on the same one. Every thread of the new image is
	// created from it and inherits the slack.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := current()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(min.Nanoseconds()), 0, 0, 0); err != nil {
		return fmt.Errorf("timer slack: set: %w", err)
	}
	err := syscall.Exec(exe, os.Args, os.Environ())
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(prev.Nanoseconds()), 0, 0, 0)
	return fmt.Errorf("timer slack: re-execute %s: %w", exe, err)
}
