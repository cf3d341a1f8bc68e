package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// TestDeliveryOutlivesWriteTimeout: events written straight from the
// fan-out long after the socket's last queued write (whose deadline has
// passed) still arrive. A stale write deadline once closed every idle
// socket WSWriteTimeout after its last queued frame.
func TestDeliveryOutlivesWriteTimeout(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true, WSWriteTimeout: 50 * time.Millisecond})
	s.MustDo(t, 201, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	c := dialReady(t, s, "tenant-1")
	for round := range 3 {
		time.Sleep(200 * time.Millisecond) // well past any deadline armed so far
		o := createOrder(t, s, 1)
		f := servertest.NextEvent(t, c, wait)
		var id struct {
			Data struct {
				OrderID int64 `json:"order_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(f.Payload, &id); err != nil || id.Data.OrderID != o.ID {
			t.Fatalf("round %d: got %s (%v), want order %d", round, f.Payload, err, o.ID)
		}
	}
}
