// Package testutil holds what tests of several packages share and that no
// production code may use.
package testutil

import (
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
