package domain

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// QR code statuses.
const (
	QRActive  = "active"
	QRScanned = "scanned"
)

// QRCode is the pickup code printed for an order.
type QRCode struct {
	ID           int64      `json:"id"`
	OrderID      int64      `json:"order_id"`
	Token        string     `json:"token"`
	Code         string     `json:"code,omitempty"` // the short pickup code; empty on orders older than it
	Status       string     `json:"status"`
	ScannedCount int64      `json:"scanned_count"`
	LastScanned  *time.Time `json:"last_scanned_at,omitempty"`
}

// NewQRToken returns 128 random bits, URL-safe base64 without padding.
func NewQRToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// PickupCodeAlphabet has no 0/O, 1/I/L: the characters people misread
// or mistype when a code is read aloud or copied from a receipt.
const PickupCodeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// PickupCodeLen is the length of a pickup code: 31^6, about 887 million
// codes (29.7 bits), short enough to say across a counter.
const PickupCodeLen = 6

// NewPickupCode returns a random pickup code. It is unique only once the
// store has accepted it: callers retry on collision.
func NewPickupCode() string {
	var b [PickupCodeLen]byte
	_, _ = rand.Read(b[:])
	for i, x := range b {
		// 256 % 31 = 8: the first 8 letters come up 9/256 instead of
		// 8/256 of the time, which costs well under a bit of the code's
		// strength; the code is a convenience beside the 128-bit token.
		b[i] = PickupCodeAlphabet[int(x)%len(PickupCodeAlphabet)]
	}
	return string(b[:])
}

// NormalizePickupCode turns what a person typed into a code's stored form:
// upper case, without spaces or dashes. It reports false when the result
// cannot be a pickup code.
func NormalizePickupCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if !strings.ContainsRune(PickupCodeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != PickupCodeLen {
		return "", false
	}
	return b.String(), true
}

// CheckScan refuses a scan of a cancelled order's code.
func CheckScan(orderStatus Status) error {
	if orderStatus == StatusCancelled {
		return Errorf(CodeConflict, "this order was cancelled; its QR code is void")
	}
	return nil
}

// MaskQRToken keeps the last four characters of a QR token, enough for a
// person to match a code on a screen with the one in a customer's hand and
// nowhere near enough to present it (104 unknown bits remain). Events carry
// this form: they reach the display room, which public screens follow.
func MaskQRToken(token string) string {
	const keep = 4
	if len(token) <= keep {
		return "…"
	}
	return "…" + token[len(token)-keep:]
}
