// Package timerslack gives the process a timer slack of its choosing, so
// that the Go runtime's monitor thread (sysmon) wakes less often.
//
// sysmon sleeps 20 µs at a time for the first millisecond after the
// process goes from idle to busy, and a server delivering an order's events
// goes from idle to busy on every order: at 100 orders/s that is thousands
// of wake-ups a second, each a context switch on the core the server runs
// on. perf put it at 8 % of posd's CPU at 2,000 clients (BENCHMARKS.md;
// golang/go#18236). The kernel's timer slack is how late a timed sleep may
// end; with 1 ms sysmon wakes a few times per order instead of ~50, and its
// duties (preempting a goroutine after 10 ms, taking a processor back from
// a long system call) lose nothing that matters here. posd's own timers
// (pings, deadlines) are seconds long.
//
// sysmon starts before any package's code runs and takes the slack the
// process started with, so the slack cannot be changed for it afterwards
// (short of CAP_SYS_NICE): Ensure sets it and executes the binary again.
package timerslack

import "time"

// Ensure makes the process run with a timer slack of at least min. When the
// slack is already that (or min is 0), it returns nil at once. Otherwise it
// sets the slack and re-executes the running binary with the same arguments
// and environment, in the same process (same pid, same open standard
// streams): on success it does not return. An error means the process goes
// on with the slack it has; the caller says so and carries on.
func Ensure(min time.Duration) error {
	if min <= 0 {
		return nil
	}
	return ensure(min)
}

// Current is the calling thread's timer slack (every thread's, when the
// process was started with it), or 0 where there is no such setting.
func Current() time.Duration { return current() }
