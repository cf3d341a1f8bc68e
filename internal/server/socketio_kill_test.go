package server_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/testutil"
)

// A node killed with SIGKILL writes nothing at its end: Socket.IO recovery
// records written as the socket connected and joined are what let the
// client recover on the restarted node, with what it missed meanwhile.
func TestSocketIORecoversAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	n := &clusterNode{t: t, port: testutil.FreePort(t), dsn: dir + "/posd.db", dir: dir}
	n.start()
	base := n.proc.Base
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var tenant struct{ ID int64 }
	if err := postJSON(ctx, base+"/api/tenants", map[string]any{"name": "Warung", "code": "T1"}, &tenant); err != nil {
		t.Fatal(err)
	}
	order := func() {
		t.Helper()
		body := map[string]any{"tenant_id": tenant.ID, "customer_name": "Budi",
			"items": []map[string]any{{"name": "Soto", "quantity": 1, "unit_price": 20000}}}
		if err := postJSON(ctx, base+"/api/orders", body, nil); err != nil {
			t.Fatal(err)
		}
	}
	c := sioDialURL(t, base, websocket.DefaultDialer)
	pid := c.connect("")
	c.joinTenant(tenant.ID)
	order()
	offset := c.orderCreated()

	n.kill() // SIGKILL: no shutdown, nothing saved at the end
	n.start()
	order() // while the client is away
	c2 := sioDialURL(t, base, websocket.DefaultDialer)
	if got := c2.connect(`{"pid":"` + pid + `","offset":"` + strconv.FormatInt(offset, 10) + `"}`); got != pid {
		t.Fatalf("reconnected as pid %s, want the recovered %s", got, pid)
	}
	if missed := c2.orderCreated(); missed != offset+1 {
		t.Fatalf("first event after recovery %d, want %d", missed, offset+1)
	}
	order()
	if live := c2.orderCreated(); live != offset+2 { // the room came back with the session
		t.Fatalf("live event %d, want %d", live, offset+2)
	}
	// Recovering again while that socket is live takes it over: its record
	// was written anew (generation 2) when it recovered.
	c3 := sioDialURL(t, base, websocket.DefaultDialer)
	if got := c3.connect(`{"pid":"` + pid + `","offset":"` + strconv.FormatInt(offset+2, 10) + `"}`); got != pid {
		t.Fatalf("second recovery as pid %s, want %s", got, pid)
	}
	order()
	if live := c3.orderCreated(); live != offset+3 {
		t.Fatalf("after the second recovery: event %d, want %d", live, offset+3)
	}
}
