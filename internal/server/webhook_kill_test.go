package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/internal/webhook/webhooktest"
)

// posd serve killed with SIGKILL in the middle of a webhook burst: after a
// restart on the same database every event arrives, first arrivals in
// order; what the killed process sent but had not recorded comes again
// under the same webhook-id.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	flags := []string{"--allow-private", "--allow-http"}
	p := attackServe(t, flags...)
	c := from("127.0.0.1")
	ctx := context.Background()
	do := func(base, method, path, token string, body any, want int) []byte {
		t.Helper()
		st, raw, err := c.Do(ctx, method, base+path, token, body)
		if err != nil || st != want {
			t.Fatalf("%s %s: %d %s %v", method, path, st, raw, err)
		}
		return raw
	}
	do(p.Base, "POST", "/api/tenants", p.Admin, map[string]string{"name": "Soto", "code": "T1"}, 201)
	rcv := webhooktest.New(t)
	// A receiver that takes a few ms per message: the burst is still
	// being delivered when the process dies.
	rcv.Respond(func(webhooktest.Message) int { time.Sleep(3 * time.Millisecond); return http.StatusOK })
	var h struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(do(p.Base, "POST", "/api/webhooks", p.Admin, map[string]any{"url": rcv.URL}, 201), &h); err != nil {
		t.Fatal(err)
	}
	rcv.SetSecret(h.Secret)
	const n = 200
	for range n {
		do(p.Base, "POST", "/api/orders", p.Admin, map[string]any{"tenant_id": 1, "customer_name": "Budi",
			"items": []map[string]any{{"name": "Soto", "quantity": 1, "unit_price": 20000}}}, 201)
	}
	testutil.Eventually(t, 20*time.Second, "a third of the burst delivered", func() bool { return len(rcv.Accepted()) >= n/3 })
	p.Signal(syscall.SIGKILL)
	<-p.exited
	at := len(rcv.Accepted())
	if at >= n {
		t.Fatalf("the whole burst (%d) was delivered before the kill; the test proves nothing", at)
	}

	q := serveOn(t, p.DB, flags...)
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1) // the orders' events: the tenant made none
	}
	testutil.EventuallyNil(t, 30*time.Second, func() error { return rcv.CheckComplete(want) })
	var list struct {
		Webhooks []struct {
			Cursor int64 `json:"cursor"`
		} `json:"webhooks"`
	}
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		if err := json.Unmarshal(do(q.Base, "GET", "/api/webhooks", q.Admin, nil, 200), &list); err != nil {
			return err
		}
		if len(list.Webhooks) != 1 || list.Webhooks[0].Cursor != n {
			return fmt.Errorf("webhooks %+v; want the cursor at %d", list.Webhooks, n)
		}
		return nil
	})
	t.Logf("killed after %d of %d accepted; %d messages in all (%d repeats)", at, n, len(rcv.Accepted()), len(rcv.Accepted())-n)
}
