package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// A text that must survive storage and both echoes byte for byte.
const durHostileName = `<script>alert("x")</script> & 'Budi' "the \ one" 🍜 — nasi`

func TestIdempotentRetryActsOnce(t *testing.T) {
	s := durStart(t, nil)
	tenants, counters := durSeed(t, s, 1, 1)
	body := durOrder(tenants[0], durHostileName)

	first := s.Do(t, "", "POST", "/api/orders", body, "Idempotency-Key", "order-1")
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	if !bytes.Contains(first.Body, []byte(`"customer_name":"<script>alert(\"x\")</script> & 'Budi' \"the \\ one\" 🍜 — nasi"`)) {
		t.Fatalf("customer_name not echoed verbatim: %s", first.Body)
	}
	for i := range 3 {
		again := s.Do(t, "", "POST", "/api/orders", body, "Idempotency-Key", "order-1")
		if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
			t.Fatalf("retry %d: %d %s\nwant %d %s", i, again.Status, again.Body, first.Status, first.Body)
		}
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry %d not marked Idempotent-Replayed", i)
		}
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM events WHERE name = 'order:created'`); n != 1 {
		t.Fatalf("%d order:created events, want 1", n)
	}

	// Same key, different request: refused, nothing written.
	other := durOrder(tenants[0], "Someone else")
	r := s.Do(t, "", "POST", "/api/orders", other, "Idempotency-Key", "order-1")
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}
	// Same body on another route is a different request too.
	r = s.Do(t, "", "POST", "/api/counters", map[string]any{"name": "x"}, "Idempotency-Key", "order-1")
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "idempotency_key_reused" {
		t.Fatalf("reused key on another route: %d %s", r.Status, r.Body)
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("%d orders after a refused reuse, want 1", n)
	}

	// PATCH and DELETE too: without the key the second transition would be
	// a 409; with it, the first answer.
	patch := map[string]any{"status": "preparing"}
	p1 := s.Do(t, "", "PATCH", "/api/orders/1/status", patch, "Idempotency-Key", "st-1")
	p2 := s.Do(t, "", "PATCH", "/api/orders/1/status", patch, "Idempotency-Key", "st-1")
	if p1.Status != http.StatusOK || p2.Status != p1.Status || !bytes.Equal(p1.Body, p2.Body) {
		t.Fatalf("PATCH twice: %d %s / %d %s", p1.Status, p1.Body, p2.Status, p2.Body)
	}
	if r := s.Do(t, "", "PATCH", "/api/orders/1/status", patch); r.Status != http.StatusConflict {
		t.Fatalf("PATCH without key after the transition: %d %s (want 409)", r.Status, r.Body)
	}
	pay := map[string]any{"order_id": 1, "amount_paid": 60000, "payment_method": "cash", "counter_id": counters[0]}
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/payments", pay, nil)
	del := map[string]any{"reason": "kitchen closed"}
	d1 := s.Do(t, "", "DELETE", "/api/orders/1", del, "Idempotency-Key", "del-1")
	d2 := s.Do(t, "", "DELETE", "/api/orders/1", del, "Idempotency-Key", "del-1")
	if d1.Status != http.StatusOK || d2.Status != d1.Status || !bytes.Equal(d1.Body, d2.Body) {
		t.Fatalf("DELETE twice: %d %s / %d %s", d1.Status, d1.Body, d2.Status, d2.Body)
	}
	for name, want := range map[string]int{"order:status_changed": 1, "order:cancelled": 1, "payment:processed": 1, "payment:refunded": 1} {
		if n := durCount(t, s, `SELECT COUNT(*) FROM events WHERE name = ?`, name); n != want {
			t.Errorf("%d %s events, want %d", n, name, want)
		}
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM payments WHERE kind = 'refund'`); n != 1 {
		t.Errorf("%d refunds, want 1", n)
	}

	// The event carries the name verbatim as well, on the socket and in the
	// history, the same bytes as the API's answer.
	quoted := []byte(`"customer_name":"<script>alert(\"x\")</script> & 'Budi' \"the \\ one\" 🍜 — nasi"`)
	var evs struct {
		Events []struct {
			Payload struct {
				Data struct {
					CustomerName string `json:"customer_name"`
				}
			}
		}
	}
	hist := s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-1", nil, &evs)
	if len(evs.Events) == 0 || evs.Events[0].Payload.Data.CustomerName != durHostileName || !bytes.Contains(hist.Body, quoted) {
		t.Fatalf("event customer_name not verbatim: %s", hist.Body)
	}
	ws := s.Dial(t, "", "rooms=tenant-1&since=0")
	f := servertest.NextEvent(t, ws, 10*time.Second)
	if f.Event != "order:created" || !bytes.Contains(f.Payload, quoted) {
		t.Fatalf("socket event not verbatim: %s", f.Payload)
	}
}

// Twenty identical requests at once: one acts, all twenty get its answer.
func TestIdempotentConcurrentSameKey(t *testing.T) {
	s := durStart(t, nil)
	tenants, counters := durSeed(t, s, 1, 1)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], "Ani"), nil)

	cases := []struct {
		name, path string
		body       any
		status     int
		table      string
	}{
		{"orders", "/api/orders", durOrder(tenants[0], "Budi"), http.StatusCreated, `SELECT COUNT(*) FROM orders WHERE customer_name = 'Budi'`},
		// A second payment would be a 409: the twins must get the 201.
		{"payments", "/api/payments", map[string]any{"order_id": 1, "amount_paid": 50000, "payment_method": "qris", "counter_id": counters[0]}, http.StatusCreated, `SELECT COUNT(*) FROM payments WHERE kind = 'payment'`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 20
			var wg sync.WaitGroup
			res := make([]servertest.Response, n)
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res[i] = s.Do(t, "", "POST", tc.path, tc.body, "Idempotency-Key", "twin-"+tc.name)
				}()
			}
			close(start)
			wg.Wait()
			for i, r := range res {
				if r.Status != tc.status || !bytes.Equal(r.Body, res[0].Body) {
					t.Fatalf("request %d: %d %s\nrequest 0: %d %s", i, r.Status, r.Body, res[0].Status, res[0].Body)
				}
			}
			if got := durCount(t, s, tc.table); got != 1 {
				t.Fatalf("%d rows, want exactly 1", got)
			}
		})
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM events WHERE name = 'payment:processed'`); n != 1 {
		t.Fatalf("%d payment events, want 1", n)
	}
}

// Keys live in the database: a restart remembers them; after the TTL they
// are pruned and the key may act again.
func TestIdempotencyKeysSurviveRestartAndExpire(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	cfg := func(c *server.Config) { c.DBPath = dir + "/posd.db"; c.Now = clock }

	s1 := durStart(t, cfg)
	tenants, _ := durSeed(t, s1, 1, 0)
	body := durOrder(tenants[0], "Citra")
	first := s1.Do(t, "", "POST", "/api/orders", body, "Idempotency-Key", "persist")
	if first.Status != http.StatusCreated {
		t.Fatalf("%d %s", first.Status, first.Body)
	}
	s1.Stop(t)

	s2 := durStart(t, cfg)
	again := s2.Do(t, "", "POST", "/api/orders", body, "Idempotency-Key", "persist")
	if again.Status != first.Status || !bytes.Equal(again.Body, first.Body) {
		t.Fatalf("after restart: %d %s\nwant %d %s", again.Status, again.Body, first.Status, first.Body)
	}
	if n := durCount(t, s2, `SELECT COUNT(*) FROM orders`); n != 1 {
		t.Fatalf("%d orders after a replay across a restart, want 1", n)
	}

	// 23 h later the key still holds.
	now.Add(int64(23 * time.Hour))
	s2.Prune(context.Background())
	if n := durCount(t, s2, `SELECT COUNT(*) FROM idempotency_keys WHERE key = 'persist'`); n != 1 {
		t.Fatalf("key pruned before its 24 h")
	}
	// Past 24 h it is pruned; the same key then makes a new order.
	now.Add(int64(2 * time.Hour))
	s2.Prune(context.Background())
	if n := durCount(t, s2, `SELECT COUNT(*) FROM idempotency_keys`); n != 0 {
		t.Fatalf("%d keys left after 25 h, want 0", n)
	}
	fresh := s2.Do(t, "", "POST", "/api/orders", body, "Idempotency-Key", "persist")
	if fresh.Status != http.StatusCreated || bytes.Equal(fresh.Body, first.Body) {
		t.Fatalf("after expiry: %d %s", fresh.Status, fresh.Body)
	}
	if n := durCount(t, s2, `SELECT COUNT(*) FROM orders`); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

// A refused keyed request stores nothing: a corrected retry under the same
// key is a different request, and acts.
func TestIdempotencyFailureIsNotRemembered(t *testing.T) {
	s := durStart(t, nil)
	tenants, _ := durSeed(t, s, 1, 0)
	bad := map[string]any{"tenant_id": tenants[0], "customer_name": "", "items": []map[string]any{{"name": "x", "quantity": 1, "unit_price": 1}}}
	if r := s.Do(t, "", "POST", "/api/orders", bad, "Idempotency-Key", "k"); r.Status != http.StatusBadRequest {
		t.Fatalf("bad order: %d %s", r.Status, r.Body)
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM idempotency_keys`); n != 0 {
		t.Fatalf("a refused request stored its key")
	}
	if r := s.Do(t, "", "POST", "/api/orders", durOrder(tenants[0], "Dewi"), "Idempotency-Key", "k"); r.Status != http.StatusCreated {
		t.Fatalf("corrected retry: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, "", "POST", "/api/orders", durOrder(tenants[0], "Dewi"), "Idempotency-Key", fmt.Sprintf("%0201d", 1)); r.Status != http.StatusBadRequest {
		t.Fatalf("a 201-character key: %d %s", r.Status, r.Body)
	}
}
