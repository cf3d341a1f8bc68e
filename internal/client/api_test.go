package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

func asAPIError(err error, target **APIError) bool { return errors.As(err, target) }

func TestAPIRequestsAndDecoding(t *testing.T) {
	type seen struct {
		method, path, query, auth, idem, body string
	}
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), string(b)})
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /api/orders":
			w.WriteHeader(201)
			io.WriteString(w, `{"id":7,"tenant_id":1,"order_number":"T1-007","customer_name":"Budi","status":"pending","total_amount":50000,"paid_amount":0,"refunded_amount":0,"created_at":"2026-01-02T10:00:00Z","updated_at":"2026-01-02T10:00:00Z","items":[{"id":1,"name":"Nasi Goreng","quantity":2,"unit_price":25000,"subtotal":50000}],"qr":{"id":3,"order_id":7,"token":"tok","status":"active","scanned_count":0}}`)
		case "GET /api/orders":
			io.WriteString(w, `{"orders":[{"id":7,"order_number":"T1-007","status":"pending","items":[]}],"last_event_id":42}`)
		case "POST /api/payments":
			w.WriteHeader(422)
			io.WriteString(w, `{"error":{"code":"unprocessable","message":"underpaid: order total is 50000, amount_paid is 20000 (short by 30000)"}}`)
		case "GET /api/events":
			io.WriteString(w, `{"events":[{"event":"alert","rooms":["*"],"payload":{"id":5,"type":"system_alert","severity":"warning","message":"hi","timestamp":"2026-01-02T10:00:00Z"}}],"next_since":5}`)
		case "GET /api/rooms":
			io.WriteString(w, `{"rooms":{"display":2,"kasir-1":1}}`)
		default:
			w.WriteHeader(500)
			io.WriteString(w, "boom")
		}
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL + "/", Token: "tkn"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	o, err := c.CreateOrder(ctx, OrderRequest{TenantID: 1, CustomerName: "Budi", Items: []ItemRequest{{Name: "Nasi Goreng", Quantity: 2, UnitPrice: 25000}}}, WithIdempotencyKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if o.OrderNumber != "T1-007" || len(o.Items) != 1 || o.QR == nil || o.QR.Token != "tok" || o.Status != domain.StatusPending {
		t.Fatalf("order = %+v", o)
	}
	if g := got[0]; g.auth != "Bearer tkn" || g.idem != "k1" || !strings.Contains(g.body, `"tenant_id":1`) || strings.Contains(g.body, "notes") {
		t.Fatalf("request = %+v", g)
	}

	list, err := c.Orders(ctx, OrderFilter{TenantID: 2, Open: true, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if list.LastEventID != 42 || len(list.Orders) != 1 {
		t.Fatalf("list = %+v", list)
	}
	if q := got[1].query; q != "limit=50&open=true&tenant_id=2" {
		t.Fatalf("query = %q", q)
	}

	_, err = c.Pay(ctx, PayRequest{OrderID: 7, AmountPaid: 20000, PaymentMethod: domain.MethodCash, CounterID: 1})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != "unprocessable" || !strings.HasPrefix(ae.Message, "underpaid") {
		t.Fatalf("err = %#v", err)
	}
	if !IsStatus(err, 422) {
		t.Fatal("IsStatus")
	}

	page, err := c.Events(ctx, 4, "display", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].ID() != 5 || page.Events[0].Payload.Severity != "warning" || page.NextSince != 5 {
		t.Fatalf("page = %+v", page)
	}
	rooms, err := c.Rooms(ctx)
	if err != nil || rooms["display"] != 2 {
		t.Fatalf("rooms = %v, %v", rooms, err)
	}

	_, err = c.Tenants(ctx)
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Message != "boom" {
		t.Fatalf("err = %#v", err)
	}
}

func TestUnreachable(t *testing.T) {
	addr := testutil.FreeAddr(t)
	c, err := New(Config{Server: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Tenants(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "server unreachable at http://"+addr+": ") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRejectsBadServer(t *testing.T) {
	for _, s := range []string{"ftp://x", "http://", "::"} {
		if _, err := New(Config{Server: s}); err == nil {
			t.Errorf("New(%q) accepted", s)
		}
	}
	c, err := New(Config{})
	if err != nil || c.Server() != DefaultServer {
		t.Fatalf("default: %v %v", c, err)
	}
}

func TestDecodeRoomsList(t *testing.T) {
	m, err := decodeRooms(json.RawMessage(`[{"room":"display","clients":3}]`))
	if err != nil || m["display"] != 3 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestClockOffsetFromDateHeader(t *testing.T) {
	ahead := 90 * time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
		io.WriteString(w, `{"tenants":[]}`)
	}))
	defer srv.Close()
	c, _ := New(Config{Server: srv.URL})
	if _, ok := c.ClockOffset(); ok {
		t.Fatal("offset before any answer")
	}
	if _, err := c.Tenants(context.Background()); err != nil {
		t.Fatal(err)
	}
	off, ok := c.ClockOffset()
	if !ok || off < ahead-2*time.Second || off > ahead+2*time.Second {
		t.Fatalf("offset %v, want about %v", off, ahead)
	}
}
