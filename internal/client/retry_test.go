package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// A write with an Idempotency-Key is retried after a 503 with the same key;
// one without a key is never retried.
func TestRetriesOnlyKeyedWrites(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(keys)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"code":"unavailable","message":"busy"}}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":1,"order_number":"T1-001"}`))
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o, err := c.CreateOrder(ctx, OrderRequest{TenantID: 1}, WithIdempotencyKey("k1"), WithRetries(3))
	if err != nil || o.OrderNumber != "T1-001" {
		t.Fatalf("keyed create: %v %+v", err, o)
	}
	if len(keys) != 2 || keys[0] != "k1" || keys[1] != "k1" {
		t.Fatalf("requests carried keys %q, want the same key twice", keys)
	}
	keys = nil
	if _, err := c.CreateOrder(ctx, OrderRequest{TenantID: 1}, WithRetries(3)); !IsStatus(err, http.StatusServiceUnavailable) {
		t.Fatalf("unkeyed create: %v, want the 503 unretried", err)
	}
	if len(keys) != 1 {
		t.Fatalf("an unkeyed write was sent %d times", len(keys))
	}
}
