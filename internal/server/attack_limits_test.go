package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// With sockets at --max-connections, the next socket is refused while
// /healthz and the API still answer: the socket cap leaves room below the
// connection cap.
func TestAttackSocketsAtTheirCapLeaveTheAPI(t *testing.T) {
	p := attackServe(t, "--max-connections", "20")
	evil := from("127.0.0.2")
	d := websocket.Dialer{NetDialContext: evil.Dialer.DialContext, HandshakeTimeout: 5 * time.Second}
	hdr := http.Header{"Authorization": {"Bearer " + p.Admin}}
	var open []*websocket.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	refused := 0
	for range 30 {
		c, resp, err := d.Dial("ws://"+p.Addr+"/ws?rooms=display", hdr)
		if err != nil {
			if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
				refused++
			}
			continue
		}
		// A socket over the hub's cap is upgraded, then closed with 1013.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _, rerr := c.ReadMessage() // the ready frame, or the close
		if ce, ok := rerr.(*websocket.CloseError); ok && ce.Code == 1013 {
			refused++
			c.Close()
			continue
		}
		open = append(open, c)
	}
	if len(open) != 20 || refused != 10 {
		t.Fatalf("%d sockets open and %d refused; want 20 and 10", len(open), refused)
	}
	good := from("127.0.0.1")
	if !good.Healthy(p.Base) {
		t.Fatal("/healthz does not answer with sockets at their cap")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, body, err := good.Do(ctx, "POST", p.Base+"/api/tenants", p.Admin, `{"name":"Soto","code":"T1"}`); err != nil || st != http.StatusCreated {
		t.Fatalf("the API with sockets at their cap: %d %s %v", st, body, err)
	}
}

// Values no food court has, sent to the real binary, are refused with 400
// and change nothing: a total of 2^63-1 Rupiah, a name of zero-width
// characters, a line separator, a JSON lone surrogate.
func TestAttackEdgeValuesAreRefused(t *testing.T) {
	p := attackServe(t)
	good := from("127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if st, body, err := good.Do(ctx, "POST", p.Base+"/api/tenants", p.Admin, `{"name":"Soto","code":"T1"}`); err != nil || st != http.StatusCreated {
		t.Fatalf("tenant: %d %s %v", st, body, err)
	}
	for name, body := range map[string]string{
		"max int64 price":   `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Soto","quantity":1,"unit_price":9223372036854775807}]}`,
		"overflowing total": `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Soto","quantity":1000,"unit_price":9223372036854775}]}`,
		"zero-width name":   `{"tenant_id":1,"customer_name":"\u200b\u200c\u200d","items":[{"name":"Soto","quantity":1,"unit_price":20000}]}`,
		"line separator":    `{"tenant_id":1,"customer_name":"Bu\u2028di","items":[{"name":"Soto","quantity":1,"unit_price":20000}]}`,
		"lone surrogate":    `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"So\ud800to","quantity":1,"unit_price":20000}]}`,
		"invisible item":    `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"\u2060\u2060","quantity":1,"unit_price":20000}]}`,
		"negative quantity": `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Soto","quantity":-1,"unit_price":20000}]}`,
	} {
		st, raw, err := good.Do(ctx, "POST", p.Base+"/api/orders", p.Admin, body)
		if err != nil || st != http.StatusBadRequest || !strings.Contains(string(raw), `"invalid"`) {
			t.Errorf("%s: %d %s %v; want 400 invalid", name, st, raw, err)
		}
	}
	st, raw, err := good.Do(ctx, "GET", p.Base+"/api/events?since=0", p.Admin, nil)
	if err != nil || st != http.StatusOK || !strings.Contains(string(raw), `"events":[]`) {
		t.Fatalf("the refused orders left events: %d %s %v", st, raw, err)
	}
}

// Orders written as fast as the binary takes them, for five seconds, with
// readers listing orders all the while: the WAL stays near --wal-limit
// instead of growing with every order (about 72 kB each).
func TestAttackWALStaysBounded(t *testing.T) {
	const limit = 4 << 20
	p := attackServe(t, "--wal-limit", fmt.Sprint(limit))
	good := from("127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, body, err := good.Do(ctx, "POST", p.Base+"/api/tenants", p.Admin, `{"name":"Soto","code":"T1"}`); err != nil || st != http.StatusCreated {
		t.Fatalf("tenant: %d %s %v", st, body, err)
	}
	stop := time.Now().Add(5 * time.Second)
	var orders atomic.Int64
	var largest atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				st, _, err := good.Do(ctx, "POST", p.Base+"/api/orders", p.Admin,
					`{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Soto","quantity":1,"unit_price":20000}]}`)
				if err == nil && st == http.StatusCreated {
					orders.Add(1)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				_, _, _ = good.Do(ctx, "GET", p.Base+"/api/orders?limit=50", p.Admin, nil)
				if fi, err := os.Stat(p.DB + "-wal"); err == nil && fi.Size() > largest.Load() {
					largest.Store(fi.Size())
				}
			}
		}()
	}
	wg.Wait()
	n := orders.Load()
	t.Logf("%d orders in 5 s with readers throughout: the WAL was at most %.1f MiB (--wal-limit %d MiB)", n, float64(largest.Load())/mib, limit>>20)
	if n < 200 {
		t.Fatalf("only %d orders went in", n)
	}
	// A bound, not an average: the limit plus about a second of orders at
	// the rate measured (a checkpoint round is 200 ms; a restart a reader
	// outlasts waits for the next). Unbounded, the WAL would hold every
	// order: about 72 kB each.
	perSecond := n / 5
	if bound := int64(limit) + perSecond*80<<10; largest.Load() > bound {
		t.Fatalf("the WAL reached %.1f MiB for %d orders; bound %.1f MiB (without one: about %.0f MiB)", float64(largest.Load())/mib, n, float64(bound)/mib, float64(n*72<<10)/mib)
	}
}
