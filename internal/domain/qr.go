package domain

import (
	"crypto/rand"
	"encoding/base64"
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
