package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// The reports through the running server: local days in the server's zone
// (a payment at 00:30 in Jakarta is the new day's, though it is still the
// day before in UTC), each stall's token sees its own stall only, bad
// queries are refused, and a closed month is frozen.
func TestReportsThroughTheAPI(t *testing.T) {
	jkt, err := time.LoadLocation("Asia/Jakarta")
	if err != nil {
		t.Fatal(err)
	}
	clock := testutil.NewClock(time.Date(2026, 12, 4, 17, 30, 0, 0, time.UTC)) // 2026-12-05 00:30 WIB
	s := servertest.Start(t, server.Config{Location: jkt, Now: clock.Now})
	for _, code := range []string{"T1", "T2"} {
		s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Stall " + code, "code": code}, nil)
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/counters", map[string]string{"name": "K1"}, nil)
	t1 := tokenFor(t, s, map[string]any{"role": "tenant", "tenant_id": 1})
	display := tokenFor(t, s, map[string]any{"role": "display", "display": true})
	for _, tenant := range []int64{1, 2} {
		var o struct {
			ID          int64 `json:"id"`
			TotalAmount int64 `json:"total_amount"`
		}
		s.MustDo(t, 201, s.Admin, "POST", "/api/orders", map[string]any{"tenant_id": tenant, "customer_name": "Budi",
			"items": []map[string]any{{"name": "Soto", "quantity": tenant, "unit_price": 20000}}}, &o)
		s.MustDo(t, 201, s.Admin, "POST", "/api/payments", map[string]any{"order_id": o.ID, "amount_paid": o.TotalAmount,
			"payment_method": "qris", "counter_id": 1}, nil)
	}

	sales := func(token, query string) report.Sales {
		t.Helper()
		var out report.Sales
		s.MustDo(t, 200, token, "GET", "/api/reports/sales?"+query, nil, &out)
		return out
	}
	if got := sales(s.Admin, ""); got.TZ != "Asia/Jakarta" || got.From != "2026-12-05" || got.Total.Orders != 2 || got.Total.Net != 60000 ||
		got.Total.ByMethod["qris"] != 60000 {
		t.Fatalf("today's sales in Jakarta: %+v", got)
	}
	if got := sales(s.Admin, "date=2026-12-04"); got.Total.Orders != 0 {
		t.Fatalf("the UTC day of the payments counted them: %+v", got.Total)
	}
	if got := sales(t1, ""); len(got.Stalls) != 1 || got.Stalls[0].TenantID != 1 || got.Total.Net != 20000 {
		t.Fatalf("stall 1's token: %+v", got)
	}
	for _, c := range []struct {
		token, query string
		status       int
	}{
		{t1, "tenant=2", 403},
		{display, "", 403},
		{s.Admin, "tenant=9", 404},
		{s.Admin, "date=2026-13-45", 400},
		{s.Admin, "from=2026-12-01", 400},
		{s.Admin, "from=2026-12-05&to=2026-12-01", 400},
	} {
		if r := s.Do(t, c.token, "GET", "/api/reports/sales?"+c.query, nil); r.Status != c.status {
			t.Errorf("sales?%s: %d %s; want %d", c.query, r.Status, r.Body, c.status)
		}
	}

	// Settlement: a 10 % share from November; close November; a share
	// change dated inside it is refused, and its figures stay as closed.
	s.MustDo(t, 201, s.Admin, "POST", "/api/tenants/1/shares", map[string]any{"from": "2026-11-01", "bp": 1000}, nil)
	clock.Set(time.Date(2026, 11, 20, 5, 0, 0, 0, time.UTC))
	var o struct {
		ID          int64 `json:"id"`
		TotalAmount int64 `json:"total_amount"`
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/orders", map[string]any{"tenant_id": 1, "customer_name": "Sari",
		"items": []map[string]any{{"name": "Soto", "quantity": 5, "unit_price": 20000}}}, &o)
	s.MustDo(t, 201, s.Admin, "POST", "/api/payments", map[string]any{"order_id": o.ID, "amount_paid": o.TotalAmount,
		"payment_method": "cash", "counter_id": 1}, nil)
	clock.Set(time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC))
	var nov report.Settlement
	s.MustDo(t, 200, s.Admin, "GET", "/api/reports/settlement?month=2026-11", nil, &nov)
	if st := nov.Stalls[0]; st.TenantID != 1 || st.Net != 100000 || st.Commission != 10000 || st.Payout != 90000 ||
		st.Commission+st.Payout+st.Fees != st.Net {
		t.Fatalf("November, stall 1: %+v", nov.Stalls)
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/reports/close", map[string]any{"month": "2026-11"}, nil)
	if r := s.Do(t, s.Admin, "POST", "/api/tenants/1/shares", map[string]any{"from": "2026-11-15", "bp": 2000}); r.Status != 409 {
		t.Fatalf("a share change inside a closed month: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, t1, "POST", "/api/reports/close", map[string]any{"month": "2026-10"}); r.Status != 403 {
		t.Fatalf("a stall's token closed a month: %d", r.Status)
	}
	var again report.Settlement
	s.MustDo(t, 200, s.Admin, "GET", "/api/reports/settlement?month=2026-11", nil, &again)
	if !again.Closed || fmt.Sprint(again.Stalls) != fmt.Sprint(nov.Stalls) {
		t.Fatalf("closed November: %+v; want %+v, closed", again, nov)
	}
}
