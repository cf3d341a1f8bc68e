// Package domain holds posd's vocabulary and rules: orders, payments, QR codes,
// events and rooms. It does no I/O and imports nothing else of posd, so every
// rule here can be tested as a pure function.
package domain

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients; the API maps each code to one HTTP status.
type Code string

const (
	CodeInvalid       Code = "invalid"         // malformed or out-of-range input
	CodeUnauthorized  Code = "unauthorized"    // no or bad credentials
	CodeForbidden     Code = "forbidden"       // valid credentials, outside their scope
	CodeNotFound      Code = "not_found"       // no such thing (in the caller's scope)
	CodeConflict      Code = "conflict"        // state forbids it: illegal transition, second payment
	CodeUnprocessable Code = "unprocessable"   // well-formed but refused by a rule: underpaid cash
	CodeTooLarge      Code = "too_large"       // body over the limit
	CodeRateLimited   Code = "rate_limited"    // too many failed attempts
	CodeUnavailable   Code = "unavailable"     // shutting down, over capacity
	CodeTimeout       Code = "request_timeout" // the request body did not arrive in time
	CodeStorageFull   Code = "storage_full"    // the database's disk is full: nothing was written, retry later
	CodeInternal      Code = "internal"        // our fault; details are logged, never sent
	CodeIdemMismatch  Code = "idempotency_key_reused"
)

// Error is the one error type that carries a client-facing code and message.
// Anything else that reaches the API boundary is reported as internal.
type Error struct {
	Code    Code
	Message string
	// Details are the facts behind Message (a "reason" key naming the rule,
	// amounts in whole Rupiah, ids), so a client can word the refusal for a
	// person instead of showing Message, which is written for programmers.
	Details map[string]any
}

// With adds a detail and returns e, for chaining after Errorf.
func (e *Error) With(key string, value any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = value
	return e
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds a coded error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode reports the code of err, or CodeInternal when err carries none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorDetails reports the details of err, or nil.
func ErrorDetails(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}

// Reasons named in an error's details.
const (
	ReasonUnderpaid         = "underpaid"
	ReasonNotExact          = "not_exact"
	ReasonRefundOfRefund    = "refund_of_refund"
	ReasonFullyRefunded     = "fully_refunded"
	ReasonRefundExceeds     = "refund_exceeds_remaining"
	ReasonIllegalTransition = "illegal_transition"
	ReasonNotCancellable    = "not_cancellable"
	ReasonPruned            = "pruned" // the events asked for were deleted by retention
)

// ErrorMessage reports the client-facing message of err; internal errors get
// a fixed text so that driver or file-system details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
