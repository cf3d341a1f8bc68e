package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// These tests run the client against a real posd server in-process.

func newLive(t *testing.T, cfg server.Config) (*servertest.Server, *client.Client) {
	t.Helper()
	ts := servertest.Start(t, cfg)
	c, err := client.New(client.Config{Server: ts.URL, Token: ts.Admin})
	if err != nil {
		t.Fatal(err)
	}
	return ts, c
}

// must returns v, failing the test (by panic, which the test reports with
// its stack) when err is set; it keeps the happy path short.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// next returns the stream's next event, skipping state changes and notices.
func next(t *testing.T, s *client.Stream) *client.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case u, ok := <-s.Updates():
			if !ok {
				t.Fatal("stream closed")
			}
			if u.Event != nil {
				return u.Event
			}
			if u.Gap != nil {
				t.Fatalf("unexpected gap %+v", u.Gap)
			}
		case <-timeout:
			t.Fatal("no event")
		}
	}
}

func TestLiveAPIAndStream(t *testing.T) {
	_, c := newLive(t, server.Config{})
	ctx := context.Background()
	tenant := must(c.CreateTenant(ctx, "Warung Nasi Goreng", "NG"))
	counter := must(c.CreateCounter(ctx, "Kasir 1"))
	if ts := must(c.Tenants(ctx)); len(ts) != 1 || ts[0].Code != "NG" {
		t.Fatalf("tenants %+v", ts)
	}
	if cs := must(c.Counters(ctx)); len(cs) != 1 || cs[0].Name != "Kasir 1" {
		t.Fatalf("counters %+v", cs)
	}
	start := must(c.Orders(ctx, client.OrderFilter{Open: true}))

	s := c.Subscribe(ctx, client.StreamOptions{Rooms: []string{domain.RoomDisplay, domain.KasirRoom(counter.ID)}, Since: start.LastEventID})
	defer s.Close()

	req := client.OrderRequest{TenantID: tenant.ID, CustomerName: "Budi", Items: []client.ItemRequest{{Name: "Nasi Goreng", Quantity: 2, UnitPrice: 25000, Notes: "pedas"}}}
	o1 := must(c.CreateOrder(ctx, req, client.WithIdempotencyKey("order-1")))
	again := must(c.CreateOrder(ctx, req, client.WithIdempotencyKey("order-1")))
	if again.ID != o1.ID || o1.TotalAmount != 50000 || o1.QR == nil {
		t.Fatalf("order %+v, retry %+v", o1, again)
	}
	ev := next(t, s)
	var created domain.OrderCreatedData
	if ev.Name != domain.EventOrderCreated || ev.Decode(&created) != nil || created.OrderNumber != "NG-001" || ev.OrderID() != o1.ID {
		t.Fatalf("event %+v", ev)
	}

	if o := must(c.SetStatus(ctx, o1.ID, domain.StatusPreparing)); o.Status != domain.StatusPreparing {
		t.Fatalf("status %s", o.Status)
	}
	if ev := next(t, s); ev.Name != domain.EventOrderStatusChanged {
		t.Fatalf("event %s", ev.Name)
	}
	var ae *client.APIError
	if _, err := c.SetStatus(ctx, o1.ID, domain.StatusCompleted); !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("illegal transition: %v", err)
	}
	if _, err := c.Pay(ctx, client.PayRequest{OrderID: o1.ID, AmountPaid: 20000, PaymentMethod: domain.MethodCash, CounterID: counter.ID}); !errors.As(err, &ae) || ae.Status != 422 || ae.Message == "" {
		t.Fatalf("underpaid: %v", err)
	}
	p := must(c.Pay(ctx, client.PayRequest{OrderID: o1.ID, AmountPaid: 100000, PaymentMethod: domain.MethodCash, CounterID: counter.ID}))
	if p.Change != 50000 || p.Amount != 50000 || p.Reference == "" {
		t.Fatalf("payment %+v", p)
	}
	if ev := next(t, s); ev.Name != domain.EventPaymentProcessed {
		t.Fatalf("event %s", ev.Name)
	}
	r := must(c.Refund(ctx, p.ID, "salah pesan", 10000))
	if r.Kind != domain.KindRefund || r.Amount != 10000 {
		t.Fatalf("refund %+v", r)
	}
	if ev := next(t, s); ev.Name != domain.EventPaymentRefunded {
		t.Fatalf("event %s", ev.Name)
	}
	ps := must(c.Payments(ctx, counter.ID, time.Now().Add(-time.Hour)))
	if len(ps) != 2 {
		t.Fatalf("payments %+v", ps)
	}
	full := must(c.Order(ctx, o1.ID))
	if _, err := c.ScanQR(ctx, full.QR.Token); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, s); ev.Name != domain.EventQRScanned {
		t.Fatalf("event %s", ev.Name)
	}
	if _, err := c.Alert(ctx, "warning", "System maintenance in 5 minutes"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, s); ev.Name != domain.EventAlert || ev.Payload.Severity != "warning" || ev.Payload.Message == "" {
		t.Fatalf("alert %+v", ev)
	}
	if _, err := c.Notify(ctx, 7, "order_ready", json.RawMessage(`{"order_id":1}`)); err != nil {
		t.Fatal(err)
	}
	cancelled := must(c.Cancel(ctx, o1.ID, "customer left"))
	if cancelled.Status != domain.StatusCancelled {
		t.Fatalf("cancel %+v", cancelled)
	}
	// Cancelling a paid order refunds what is left, then cancels.
	if a, b := next(t, s), next(t, s); a.Name != domain.EventPaymentRefunded || b.Name != domain.EventOrderCancelled || b.ID() <= a.ID() {
		t.Fatalf("events %d %s, %d %s", a.ID(), a.Name, b.ID(), b.Name)
	}

	page := must(c.Events(ctx, start.LastEventID, domain.RoomDisplay, 100))
	if len(page.Events) < 6 || page.NextSince <= start.LastEventID {
		t.Fatalf("events page %d, next %d", len(page.Events), page.NextSince)
	}
	if n := must(c.Connections(ctx)); n < 1 {
		t.Fatalf("connections %d", n)
	}
	if rooms := must(c.Rooms(ctx)); rooms[domain.RoomDisplay] != 1 {
		t.Fatalf("rooms %v", rooms)
	}

	// A kasir token's stream ends for good when the token is revoked.
	tok := must(c.CreateToken(ctx, client.TokenRequest{Role: "kasir", CounterID: counter.ID, Name: "test"}))
	if tok.Secret == "" {
		t.Fatal("no secret")
	}
	if ts := must(c.ListTokens(ctx)); len(ts) < 2 {
		t.Fatalf("tokens %+v", ts)
	}
	kc := must(client.New(client.Config{Server: c.Server(), Token: tok.Secret}))
	ks := kc.Subscribe(ctx, client.StreamOptions{Rooms: []string{domain.KasirRoom(counter.ID)}})
	for u := range ks.Updates() {
		if u.State != nil && u.State.Conn == client.Live {
			break
		}
	}
	if err := c.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	var last client.State
	for u := range ks.Updates() {
		if u.State != nil {
			last = *u.State
		}
	}
	if last.Conn != client.Offline || !last.Fatal {
		t.Fatalf("after revoke: %+v", last)
	}
}

func TestLiveGapAndReset(t *testing.T) {
	clock := testutil.NewClock(time.Now().UTC())
	ts, c := newLive(t, server.Config{Retention: time.Minute, KeepPerRoom: 1, Now: clock.Now})
	ctx := context.Background()
	tenant := must(c.CreateTenant(ctx, "Bakso Pak Kumis", "BK"))
	for range 5 {
		must(c.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Sari", Items: []client.ItemRequest{{Name: "Bakso", Quantity: 1, UnitPrice: 22000}}}))
	}
	clock.Add(time.Hour)
	ts.Prune(ctx)
	if page := must(c.Events(ctx, 0, "", 10)); !page.Gap || page.OldestID <= 1 {
		t.Fatalf("history page %+v: no gap reported", page)
	}

	s := c.Subscribe(ctx, client.StreamOptions{Rooms: []string{domain.RoomDisplay}, Since: 0})
	defer s.Close()
	var gap *client.Gap
	for gap == nil {
		select {
		case u := <-s.Updates():
			if u.Event != nil {
				t.Fatalf("event %d delivered across a gap", u.Event.ID())
			}
			gap = u.Gap
		case <-time.After(20 * time.Second):
			t.Fatal("no gap")
		}
	}
	if gap.OldestID <= 1 {
		t.Fatalf("gap %+v", gap)
	}
	// The consumer reloads, then continues from the reloaded head.
	list := must(c.Orders(ctx, client.OrderFilter{Open: true}))
	if len(list.Orders) != 5 {
		t.Fatalf("reloaded %d orders", len(list.Orders))
	}
	s.Reset(list.LastEventID)
	o := must(c.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Joko", Items: []client.ItemRequest{{Name: "Mie Ayam", Quantity: 1, UnitPrice: 18000}}}))
	ev := next(t, s)
	if ev.OrderID() != o.ID || ev.ID() != list.LastEventID+1 {
		t.Fatalf("after reset: event %d for order %d, want %d for %d", ev.ID(), ev.OrderID(), list.LastEventID+1, o.ID)
	}
}
