// Package webhooktest is a webhook receiver for tests: a real HTTP server
// on loopback that checks every message's Standard Webhooks signature
// with its own HMAC (not the sender's code) and records what arrived.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one request the receiver took.
type Message struct {
	ID        string
	Timestamp int64
	Body      []byte
	// SignatureOK: the webhook-signature header holds a v1 signature of
	// "id.timestamp.body" under the receiver's secret.
	SignatureOK bool
	// Answered is the status the receiver sent back.
	Answered int
}

// EventID is the message's body "id" as a number (0 for a ping's).
func (m Message) EventID() int64 {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(m.Body, &v)
	n, _ := strconv.ParseInt(string(v.ID), 10, 64)
	return n
}

// Receiver records messages and answers with Respond's status.
type Receiver struct {
	*httptest.Server
	mu      sync.Mutex
	secret  string
	msgs    []Message
	respond func(Message) int
}

// New starts a receiver that answers 204; Secret sets the secret it
// checks signatures against.
func New(tb testing.TB) *Receiver {
	tb.Helper()
	r := &Receiver{respond: func(Message) int { return http.StatusNoContent }}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	tb.Cleanup(r.Close)
	return r
}

// SetSecret is the secret signatures are checked against.
func (r *Receiver) SetSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

// Respond makes the receiver answer each message with f's status.
func (r *Receiver) Respond(f func(Message) int) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	m := Message{ID: req.Header.Get("webhook-id"), Body: body}
	m.Timestamp, _ = strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
	r.mu.Lock()
	m.SignatureOK = verify(r.secret, m.ID, req.Header.Get("webhook-timestamp"), body, req.Header.Get("webhook-signature"))
	respond := r.respond
	r.mu.Unlock()
	m.Answered = respond(m)
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	w.WriteHeader(m.Answered)
}

// verify is the receiving side of the specification, written from it.
func verify(secret, id, ts string, body []byte, header string) bool {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(key) == 0 {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(header) {
		if v, ok := strings.CutPrefix(sig, "v1,"); ok && hmac.Equal([]byte(v), []byte(want)) {
			return true
		}
	}
	return false
}

// Messages is every message so far, in arrival order.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// Accepted is the messages answered 2xx, in arrival order.
func (r *Receiver) Accepted() []Message {
	return r.accepted(true)
}

// events is Accepted without test pings.
func (r *Receiver) events() []Message { return r.accepted(false) }

func (r *Receiver) accepted(pings bool) []Message {
	var out []Message
	for _, m := range r.Messages() {
		if !pings && strings.HasPrefix(m.ID, "ping_") {
			continue
		}
		if m.Answered >= 200 && m.Answered < 300 {
			out = append(out, m)
		}
	}
	return out
}

// CheckInOrder reports whether the accepted messages (test pings aside) carry want's event
// ids in order, each signed and with webhook-id equal to the body's id
// and a timestamp within a minute of now; duplicates of the message just
// accepted (a retry after a lost answer) are allowed.
func (r *Receiver) CheckInOrder(want []int64) error {
	var got []int64
	for _, m := range r.events() {
		if !m.SignatureOK {
			return fmt.Errorf("message %s: bad signature", m.ID)
		}
		if id := m.EventID(); strconv.FormatInt(id, 10) != m.ID {
			return fmt.Errorf("webhook-id %s for body id %d", m.ID, id)
		}
		if d := time.Since(time.Unix(m.Timestamp, 0)); d > time.Minute || d < -time.Minute {
			return fmt.Errorf("message %s: timestamp %d is %v off", m.ID, m.Timestamp, d)
		}
		if n := len(got); n > 0 && got[n-1] == m.EventID() {
			continue
		}
		got = append(got, m.EventID())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("got events %v; want %v", got, want)
	}
	return nil
}

// CheckComplete reports whether every event of want was accepted, with
// first arrivals in want's order; repeats (a restart redelivering what it
// had not recorded) are allowed, each under its event's own webhook-id.
func (r *Receiver) CheckComplete(want []int64) error {
	seen := map[int64]bool{}
	var first []int64
	for _, m := range r.events() {
		if !m.SignatureOK {
			return fmt.Errorf("message %s: bad signature", m.ID)
		}
		id := m.EventID()
		if strconv.FormatInt(id, 10) != m.ID {
			return fmt.Errorf("webhook-id %s for body id %d", m.ID, id)
		}
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		return fmt.Errorf("first arrivals %v; want %v", first, want)
	}
	return nil
}
