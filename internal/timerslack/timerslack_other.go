//go:build !linux

package timerslack

import "time"

func current() time.Duration { return 0 }

// ensure: no timer slack to set outside Linux.
func ensure(time.Duration) error { return nil }
