package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// TestAPIErrors checks the status and error code of every refusal the API
// makes, and that a refused request changes nothing.
func TestAPIErrors(t *testing.T) {
	s := fixture(t)
	o := createOrder(t, s, 1)
	paid := createOrder(t, s, 1)
	var pay struct{ ID int64 }
	s.MustDo(t, 201, "", "POST", "/api/payments", map[string]any{"order_id": paid.ID, "amount_paid": 50000, "payment_method": "qris", "counter_id": 1}, &pay)
	done := createOrder(t, s, 2)
	for _, st := range []string{"preparing", "ready", "completed"} {
		s.MustDo(t, 200, "", "PATCH", fmt.Sprintf("/api/orders/%d/status", done.ID), map[string]string{"status": st}, nil)
	}
	cancelled := createOrder(t, s, 2)
	s.MustDo(t, 200, "", "DELETE", fmt.Sprintf("/api/orders/%d", cancelled.ID), `{"reason":"x"}`, nil)

	item := `[{"name":"a","quantity":1,"unit_price":1}]`
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", "/api/orders", `{"tenant_id":1,`, 400, "invalid"},
		{"not an object", "POST", "/api/orders", `[1,2]`, 400, "invalid"},
		{"empty body", "POST", "/api/orders", ``, 400, "invalid"},
		{"trailing data", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":` + item + `} {}`, 400, "invalid"},
		{"unknown field", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":` + item + `,"discount":5}`, 400, "invalid"},
		{"unknown item field", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":[{"name":"a","quantity":1,"unit_price":1,"price":2}]}`, 400, "invalid"},
		{"wrong type", "POST", "/api/orders", `{"tenant_id":"1","customer_name":"a","items":` + item + `}`, 400, "invalid"},
		{"float money", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":[{"name":"a","quantity":1,"unit_price":1.5}]}`, 400, "invalid"},
		{"negative price", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":[{"name":"a","quantity":1,"unit_price":-1}]}`, 400, "invalid"},
		{"overflow", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":[{"name":"a","quantity":2,"unit_price":9223372036854775807}]}`, 400, "invalid"},
		{"no items", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"a","items":[]}`, 400, "invalid"},
		{"no customer", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"  ","items":` + item + `}`, 400, "invalid"},
		{"invalid utf8", "POST", "/api/orders", "{\"tenant_id\":1,\"customer_name\":\"\xff\",\"items\":" + item + "}", 400, "invalid"},
		{"unknown tenant", "POST", "/api/orders", `{"tenant_id":99,"customer_name":"a","items":` + item + `}`, 404, "not_found"},
		{"unknown order", "GET", "/api/orders/9999", "", 404, "not_found"},
		{"bad order id", "GET", "/api/orders/abc", "", 400, "invalid"},
		{"unknown route", "GET", "/api/nope", "", 404, "not_found"},
		{"unknown status", "PATCH", fmt.Sprintf("/api/orders/%d/status", o.ID), `{"status":"eaten"}`, 400, "invalid"},
		{"skip a step", "PATCH", fmt.Sprintf("/api/orders/%d/status", o.ID), `{"status":"ready"}`, 409, "conflict"},
		{"backwards", "PATCH", fmt.Sprintf("/api/orders/%d/status", done.ID), `{"status":"ready"}`, 409, "conflict"},
		{"status to cancelled", "PATCH", fmt.Sprintf("/api/orders/%d/status", o.ID), `{"status":"cancelled"}`, 400, "invalid"},
		{"cancel completed", "DELETE", fmt.Sprintf("/api/orders/%d", done.ID), `{"reason":"x"}`, 409, "conflict"},
		{"cancel twice", "DELETE", fmt.Sprintf("/api/orders/%d", cancelled.ID), `{"reason":"x"}`, 409, "conflict"},
		{"cancel without reason", "DELETE", fmt.Sprintf("/api/orders/%d", o.ID), `{"reason":""}`, 400, "invalid"},
		{"underpaid cash", "POST", "/api/payments", fmt.Sprintf(`{"order_id":%d,"amount_paid":49999,"payment_method":"cash","counter_id":1}`, o.ID), 422, "unprocessable"},
		{"overpaid card", "POST", "/api/payments", fmt.Sprintf(`{"order_id":%d,"amount_paid":50001,"payment_method":"card","counter_id":1}`, o.ID), 422, "unprocessable"},
		{"unknown method", "POST", "/api/payments", fmt.Sprintf(`{"order_id":%d,"amount_paid":50000,"payment_method":"gold","counter_id":1}`, o.ID), 400, "invalid"},
		{"unknown counter", "POST", "/api/payments", fmt.Sprintf(`{"order_id":%d,"amount_paid":50000,"payment_method":"cash","counter_id":9}`, o.ID), 404, "not_found"},
		{"pay unknown order", "POST", "/api/payments", `{"order_id":9999,"amount_paid":50000,"payment_method":"cash","counter_id":1}`, 404, "not_found"},
		{"pay cancelled order", "POST", "/api/payments", fmt.Sprintf(`{"order_id":%d,"amount_paid":50000,"payment_method":"cash","counter_id":1}`, cancelled.ID), 409, "conflict"},
		{"second payment", "POST", "/api/payments", fmt.Sprintf(`{"order_id":%d,"amount_paid":50000,"payment_method":"cash","counter_id":1}`, paid.ID), 409, "conflict"},
		{"refund too much", "POST", fmt.Sprintf("/api/payments/%d/refund", pay.ID), `{"reason":"x","amount":50001}`, 422, "unprocessable"},
		{"refund negative", "POST", fmt.Sprintf("/api/payments/%d/refund", pay.ID), `{"reason":"x","amount":-1}`, 400, "invalid"},
		{"refund unknown", "POST", "/api/payments/9999/refund", `{"reason":"x"}`, 404, "not_found"},
		{"scan unknown", "POST", "/api/qr/scan", `{"token":"nope"}`, 404, "not_found"},
		{"scan cancelled", "POST", "/api/qr/scan", fmt.Sprintf(`{"token":%q}`, cancelled.QR.Token), 409, "conflict"},
		{"scan cancelled by code", "POST", "/api/qr/scan", fmt.Sprintf(`{"code":%q}`, cancelled.QR.Code), 409, "conflict"},
		{"scan malformed code", "POST", "/api/qr/scan", `{"code":"0O1IL5"}`, 400, "invalid"},
		{"scan token and code", "POST", "/api/qr/scan", fmt.Sprintf(`{"token":%q,"code":%q}`, paid.QR.Token, paid.QR.Code), 400, "invalid"},
		{"bad severity", "POST", "/api/alerts", `{"severity":"fatal","message":"x"}`, 400, "invalid"},
		{"notify non-object", "POST", "/api/notifications", `{"user_id":1,"type":"t","data":[1]}`, 400, "invalid"},
		{"notify bad user", "POST", "/api/notifications", `{"user_id":0,"type":"t"}`, 400, "invalid"},
		{"bad tenant code", "POST", "/api/tenants", `{"name":"x","code":"lower"}`, 400, "invalid"},
		{"duplicate tenant code", "POST", "/api/tenants", `{"name":"x","code":"T1"}`, 409, "conflict"},
		{"bad room", "GET", "/api/rooms/lobby", "", 400, "invalid"},
		{"bad query", "GET", "/api/orders?tenant_id=x", "", 400, "invalid"},
		{"too large", "POST", "/api/orders", `{"customer_name":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "too_large"},
	}
	before := eventCount(t, s)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, "", tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Fatalf("%s %s: %d %s, want %d %s", tc.method, tc.path, r.Status, r.Body, tc.status, tc.code)
			}
		})
	}
	if after := eventCount(t, s); after != before {
		t.Fatalf("refused requests wrote %d events", after-before)
	}
	var list struct{ Orders []order }
	s.MustDo(t, 200, "", "GET", "/api/orders", nil, &list)
	if len(list.Orders) != 4 {
		t.Fatalf("%d orders after refused requests, want 4", len(list.Orders))
	}
}

func eventCount(t *testing.T, s *servertest.Server) int {
	t.Helper()
	var page struct{ Events []any }
	s.MustDo(t, 200, "", "GET", "/api/events?since=0&limit=1000", nil, &page)
	return len(page.Events)
}

func TestOrderListFilters(t *testing.T) {
	s := fixture(t)
	a := createOrder(t, s, 1)
	createOrder(t, s, 2)
	c := createOrder(t, s, 1)
	s.MustDo(t, 200, "", "PATCH", fmt.Sprintf("/api/orders/%d/status", c.ID), `{"status":"preparing"}`, nil)
	var list struct {
		Orders      []struct{ ID, TenantID int64 }
		LastEventID int64 `json:"last_event_id"`
	}
	s.MustDo(t, 200, "", "GET", "/api/orders?tenant_id=1&status=pending", nil, &list)
	if len(list.Orders) != 1 || list.Orders[0].ID != a.ID {
		t.Fatalf("pending of tenant 1: %+v", list.Orders)
	}
	if list.LastEventID != 4 {
		t.Fatalf("last_event_id %d, want 4", list.LastEventID)
	}
	s.MustDo(t, 200, "", "GET", "/api/orders?open=true", nil, &list)
	if len(list.Orders) != 3 {
		t.Fatalf("open orders %d", len(list.Orders))
	}
	s.MustDo(t, 201, "", "POST", "/api/payments", map[string]any{"order_id": a.ID, "amount_paid": 50000, "payment_method": "card", "counter_id": 1}, nil)
	s.MustDo(t, 200, "", "GET", "/api/orders?open=true&unpaid=true", nil, &list)
	if len(list.Orders) != 2 {
		t.Fatalf("unpaid open orders %d, want 2", len(list.Orders))
	}
	for _, o := range list.Orders {
		if o.ID == a.ID {
			t.Fatalf("paid order %d listed as unpaid", a.ID)
		}
	}
	var full struct {
		Items []struct{ Name string }
		QR    struct{ Token string }
	}
	s.MustDo(t, 200, "", "GET", fmt.Sprintf("/api/orders/%d", a.ID), nil, &full)
	if len(full.Items) != 2 || full.QR.Token == "" {
		t.Fatalf("order detail %+v", full)
	}
}

func TestHealthz(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	var h map[string]any
	s.MustDo(t, 200, "", "GET", "/healthz", nil, &h)
	if h["status"] != "ok" || h["auth"] != "on" {
		t.Fatalf("healthz %v", h)
	}
}
