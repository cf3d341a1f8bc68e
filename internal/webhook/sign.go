// Package webhook delivers the event log to HTTP endpoints: every event an
// endpoint may see, in log order, at least once, signed per the Standard
// Webhooks specification. A Dispatcher on each node claims endpoints by
// lease in the database and runs one worker per endpoint it holds; a
// worker reads the log after the endpoint's cursor in pages (a backlog
// costs disk, not memory), sends one event at a time and moves the cursor
// on only after a 2xx. A guarded HTTP client refuses private destinations
// at connect time.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as Standard Webhooks libraries
// expect; the rest is the key, base64.
const SecretPrefix = "whsec_"

// NewSecret makes a random 24-byte signing key.
func NewSecret() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// key is the HMAC key a secret stands for.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook secret is not whsec_ followed by base64")
	}
	return k, nil
}

// Sign is the webhook-signature header for a message: v1, then the base64
// HMAC-SHA256 of "id.timestamp.body".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Headers names the three headers of a signed message.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)
