package server_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/internal/webhook"
	"github.com/posd/posd/internal/webhook/webhooktest"
)

// retried sends the same keyed request twice and wants the second answered
// from the first: the same status and body, marked replayed.
func retried(t *testing.T, s *servertest.Server, method, path string, body any, key string) servertest.Response {
	t.Helper()
	first := s.Do(t, s.Admin, method, path, body, "Idempotency-Key", key)
	if first.Status != 200 || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("%s %s with key %s: %d %s", method, path, key, first.Status, first.Body)
	}
	again := s.Do(t, s.Admin, method, path, body, "Idempotency-Key", key)
	if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("%s %s retried: %d %s (replayed %q); want the first answer %d %s",
			method, path, again.Status, again.Body, again.Header.Get("Idempotent-Replayed"), first.Status, first.Body)
	}
	return first
}

func idemHook(t *testing.T, s *servertest.Server, rcv *webhooktest.Receiver) (hookView, string) {
	t.Helper()
	var h hookView
	s.MustDo(t, 201, s.Admin, "POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/posd"}, &h)
	rcv.SetSecret(h.Secret)
	return h, fmt.Sprintf("/api/webhooks/%d", h.ID)
}

// A test ping retried with the same key is answered with the first
// attempt and pings once; the key on another route is refused.
func TestWebhookTestHonoursIdempotencyKey(t *testing.T) {
	s := servertest.Start(t, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	rcv := webhooktest.New(t)
	_, path := idemHook(t, s, rcv)
	retried(t, s, "POST", path+"/test", nil, "ping-1")
	pings := 0
	for _, m := range rcv.Messages() {
		if strings.HasPrefix(m.ID, "ping_") {
			pings++
		}
	}
	if pings != 1 {
		t.Fatalf("%d pings for one keyed test retried once; want 1", pings)
	}
	if r := s.Do(t, s.Admin, "POST", path+"/pause", nil, "Idempotency-Key", "ping-1"); r.Status != 422 || r.ErrorCode() != "idempotency_key_reused" {
		t.Fatalf("the key reused for a pause: %d %s", r.Status, r.Body)
	}
}

// A replay retried with the same key does not move the cursor back
// again: the endpoint delivered the replay, was paused, and the retry
// leaves its cursor at the head. Pause and resume retried are answered
// as the first were.
func TestWebhookReplayHonoursIdempotencyKey(t *testing.T) {
	s := servertest.Start(t, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Stall T1", "code": "T1"}, nil)
	rcv := webhooktest.New(t)
	h, path := idemHook(t, s, rcv)
	for range 3 {
		apiOrder(t, s, s.Admin, 1)
	}
	want := roomEvents(t, s, "tenant-1")
	head := want[len(want)-1]
	cursorAt := func(c int64) func() error {
		return func() error {
			s.MustDo(t, 200, s.Admin, "GET", path, nil, &h)
			if h.Cursor != c {
				return fmt.Errorf("cursor %d; want %d", h.Cursor, c)
			}
			return nil
		}
	}
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(want) })
	testutil.EventuallyNil(t, 10*time.Second, cursorAt(head))

	since := map[string]any{"since": want[0] - 1}
	retried(t, s, "POST", path+"/replay", since, "replay-1")
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		if n := len(rcv.Accepted()); n != 2*len(want) {
			return fmt.Errorf("%d accepted; want %d", n, 2*len(want))
		}
		return nil
	})
	testutil.EventuallyNil(t, 10*time.Second, cursorAt(head))

	// Paused, the endpoint keeps whatever cursor the retry leaves.
	retried(t, s, "POST", path+"/pause", nil, "pause-1")
	if r := s.Do(t, s.Admin, "POST", path+"/replay", since, "Idempotency-Key", "replay-1"); r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay retried after the pause: %d %s, not replayed", r.Status, r.Body)
	}
	if err := cursorAt(head)(); err != nil {
		t.Fatalf("after the replay was retried: %v", err)
	}
	if r := s.Do(t, s.Admin, "POST", path+"/replay", map[string]any{"since": want[0]}, "Idempotency-Key", "replay-1"); r.Status != 422 || r.ErrorCode() != "idempotency_key_reused" {
		t.Fatalf("the key reused for another since: %d %s", r.Status, r.Body)
	}
	retried(t, s, "POST", path+"/resume", nil, "resume-1")
}

// A remove retried with the same key is answered with the first 200, not
// a 404 for the endpoint it removed.
func TestWebhookRemoveHonoursIdempotencyKey(t *testing.T) {
	s := servertest.Start(t, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	rcv := webhooktest.New(t)
	h, path := idemHook(t, s, rcv)
	r := retried(t, s, "DELETE", path, nil, "remove-1")
	if want := fmt.Sprintf(`{"id":%d,"removed":true}`, h.ID); strings.TrimSpace(string(r.Body)) != want {
		t.Fatalf("removed: %s; want %s", r.Body, want)
	}
	if r := s.Do(t, s.Admin, "DELETE", path, nil); r.Status != 404 {
		t.Fatalf("removed again without the key: %d %s; want 404", r.Status, r.Body)
	}
}
