package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/demo"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// The demo against a real server: a short, fast run of a fixed number of
// orders (it ends when they are all finished, not after some time), then the
// server's own records are checked.
func TestDemoAgainstServer(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := servertest.Start(t, server.Config{Logger: quiet})

	// A pickup screen watching the display room while the demo runs.
	ws := srv.Dial(t, srv.Admin, "rooms=display&since=0")
	var mu sync.Mutex
	seen := map[string]int{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f servertest.Frame
			if json.Unmarshal(data, &f) == nil && f.Op == "event" {
				mu.Lock()
				seen[f.Event]++
				mu.Unlock()
			}
		}
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second) // a safety net, not an assertion
	defer cancel()
	opts := demo.Options{Rate: 3000, Speed: 400, Seed: 11, MaxOrders: 40, Logger: quiet}
	if err := demo.RunAt(ctx, srv.URL, srv.Admin, opts); err != nil {
		t.Fatalf("demo: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the demo did not finish its 40 orders")
	}

	c, err := client.New(client.Config{Server: srv.URL, Token: srv.Admin})
	if err != nil {
		t.Fatal(err)
	}
	tenants, err := c.Tenants(t.Context())
	if err != nil || len(tenants) != 6 {
		t.Fatalf("tenants = %d (%v), want the 6 stalls", len(tenants), err)
	}
	counters, err := c.Counters(t.Context())
	if err != nil || len(counters) != 2 {
		t.Fatalf("counters = %d (%v), want 2", len(counters), err)
	}
	list, err := c.Orders(t.Context(), client.OrderFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(list.Orders); got != 40 {
		t.Fatalf("orders = %d, want 40", got)
	}
	var completed int
	for _, o := range list.Orders {
		full, err := c.Order(t.Context(), o.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch full.Status {
		case domain.StatusCompleted:
			completed++
			if full.PaidAmount != full.TotalAmount {
				t.Errorf("%s completed with %d paid of %d", full.OrderNumber, full.PaidAmount, full.TotalAmount)
			}
			if full.QR == nil || full.QR.ScannedCount < 1 {
				t.Errorf("%s completed without a QR scan: %+v", full.OrderNumber, full.QR)
			}
		case domain.StatusCancelled:
			if full.Refunded != full.PaidAmount {
				t.Errorf("%s cancelled with %d paid, %d refunded", full.OrderNumber, full.PaidAmount, full.Refunded)
			}
		default:
			t.Errorf("%s left %s", full.OrderNumber, full.Status)
		}
		for _, p := range full.Payments {
			if p.Kind != domain.KindPayment {
				continue
			}
			if p.AmountPaid < full.TotalAmount || (p.Method != domain.MethodCash && p.AmountPaid != full.TotalAmount) {
				t.Errorf("%s: %s payment of %d for %d", full.OrderNumber, p.Method, p.AmountPaid, full.TotalAmount)
			}
			if p.Change != p.AmountPaid-full.TotalAmount {
				t.Errorf("%s: change %d for %d paid on %d", full.OrderNumber, p.Change, p.AmountPaid, full.TotalAmount)
			}
		}
	}
	if completed == 0 {
		t.Error("no order was completed")
	}

	// The event log has the whole story, and the screen saw it live.
	logged := map[string]int{}
	for since := int64(0); ; {
		page, err := c.Events(t.Context(), since, "", 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			logged[ev.Name]++
		}
		if len(page.Events) == 0 || page.NextSince <= since {
			break
		}
		since = page.NextSince
	}
	if logged[domain.EventOrderCreated] != 40 || logged[domain.EventPaymentProcessed] == 0 ||
		logged[domain.EventQRScanned] != completed || logged[domain.EventOrderStatusChanged] < 3*completed {
		t.Errorf("event log: %v (completed %d)", logged, completed)
	}
	// Live delivery: the display room carries every order, payment and QR
	// event. Wait for the socket to catch up with the log, then compare.
	want := logged[domain.EventOrderCreated] + logged[domain.EventOrderStatusChanged] + logged[domain.EventOrderCancelled] +
		logged[domain.EventPaymentProcessed] + logged[domain.EventPaymentRefunded] + logged[domain.EventQRScanned]
	total := 0
	testutil.Await(10*time.Second, testutil.Poll, func() bool {
		mu.Lock()
		defer mu.Unlock()
		total = 0
		for name, n := range seen {
			if name != domain.EventAlert {
				total += n
			}
		}
		return total >= want
	})
	if total != want {
		t.Errorf("display socket saw %d order/payment/QR events, the log has %d", total, want)
	}
	ws.Close()
	<-readDone

	// A second run reuses the food court.
	opts.MaxOrders, opts.Seed = 3, 12
	if err := demo.RunAt(ctx, srv.URL, srv.Admin, opts); err != nil {
		t.Fatalf("second demo: %v", err)
	}
	if tenants, _ := c.Tenants(t.Context()); len(tenants) != 6 {
		t.Errorf("second run: %d tenants, want the same 6", len(tenants))
	}
}
