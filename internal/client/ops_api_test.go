package client

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/posd/posd/internal/report"
)

// The calls the operator's console makes: the reports' query parameters
// as the contract names them, the connection counts with the slow closes,
// and webhooks that a server without them answers with 404.
func TestOpsCalls(t *testing.T) {
	var queries []string
	webhooks := http.StatusNotFound
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.Path+"?"+r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/reports/sales":
			io.WriteString(w, `{"tz":"Asia/Jakarta","from":"2026-12-04","to":"2026-12-04","stalls":[{"tenant_id":1,"tenant":"Bakso Pak Kumis","orders":12,"gross":540000,"refunds":20000,"net":520000,"by_method":{"cash":300000,"qris":200000,"card":20000,"ewallet":0},"cancelled":2,"cancelled_value":45000,"avg_ticket":45000}],"total":{"orders":12,"net":520000}}`)
		case "/api/reports/speed":
			io.WriteString(w, `{"tz":"UTC","from":"2026-12-04","to":"2026-12-04","stalls":[{"tenant_id":1,"tenant":"B","orders":40,"late":3,"to_preparing":{"p50_ms":60000,"p90_ms":120000},"avg_to_ready_ms":372000,"hours":[{"hour":12,"orders":9,"late":1}]}]}`)
		case "/api/reports/settlement":
			io.WriteString(w, `{"tz":"UTC","from":"2026-11-01","to":"2026-11-30","closed":true,"stalls":[{"tenant_id":1,"tenant":"B","share_bp":1500,"net":100000,"fees":700,"commission":15000,"payout":84300}],"total":{"net":100000,"fees":700,"commission":15000,"payout":84300}}`)
		case "/api/reports/events":
			io.WriteString(w, `{"tz":"UTC","from":"2026-12-04","to":"2026-12-04","types":{"order:created":{"total":3,"hours":[{"hour":"2026-12-04T12","count":3}]}},"peak_hour":"2026-12-04T12","alerts":5}`)
		case "/api/connections":
			io.WriteString(w, `{"active":7,"nodes":2,"slow_consumer_closes":3}`)
		case "/api/webhooks":
			w.WriteHeader(webhooks)
			if webhooks == http.StatusNotFound {
				io.WriteString(w, `{"error":{"code":"not_found","message":"no such API route"}}`)
				return
			}
			io.WriteString(w, `{"webhooks":[{"id":1,"url":"https://a.example/hook","state":"active"},{"id":2,"url":"https://b.example/hook","state":"active","failing_since":"2026-12-04T05:00:00Z","attempt":4,"last_error":"503"},{"id":3,"url":"https://c.example/hook","state":"paused"}]}`)
		}
	}))
	defer srv.Close()
	c, err := New(Config{Server: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	sales, err := c.SalesReport(ctx, report.Query{Date: "2026-12-04", TenantID: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(sales.Stalls) != 1 || sales.Stalls[0].Net != 520000 || sales.Stalls[0].ByMethod["qris"] != 200000 || sales.Total.Orders != 12 {
		t.Fatalf("sales = %+v", sales)
	}
	speed, err := c.SpeedReport(ctx, report.Query{From: "2026-12-01", To: "2026-12-04"})
	if err != nil {
		t.Fatal(err)
	}
	if s := speed.Stalls[0]; s.AvgToReady != 372000 || s.Late != 3 || s.ToPreparing.P90 != 120000 || s.Hours[0].Hour != 12 {
		t.Fatalf("speed = %+v", speed)
	}
	set, err := c.SettlementReport(ctx, report.Query{Month: "2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	if !set.Closed || set.Stalls[0].ShareBP != 1500 || set.Total.Payout != 84300 {
		t.Fatalf("settlement = %+v", set)
	}
	ev, err := c.EventsReport(ctx, report.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Types["order:created"].Total != 3 || ev.Alerts != 5 || ev.PeakHour != "2026-12-04T12" {
		t.Fatalf("events = %+v", ev)
	}
	want := []string{
		"/api/reports/sales?date=2026-12-04&tenant=1",
		"/api/reports/speed?from=2026-12-01&to=2026-12-04",
		"/api/reports/settlement?month=2026-11",
		"/api/reports/events?",
	}
	for i, w := range want {
		if queries[i] != w {
			t.Errorf("request %d = %s, want %s", i, queries[i], w)
		}
	}

	st, err := c.ConnectionStats(ctx)
	if err != nil || st != (ConnectionStats{Active: 7, Nodes: 2, SlowConsumerCloses: 3}) {
		t.Fatalf("connection stats = %+v, %v", st, err)
	}

	hooks, err := c.FailingWebhooks(ctx)
	if err != nil || hooks != nil {
		t.Fatalf("without webhooks: %+v, %v; want none and no error", hooks, err)
	}
	webhooks = http.StatusOK
	hooks, err = c.FailingWebhooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].ID != 2 || hooks[0].LastError != "503" {
		t.Fatalf("failing webhooks = %+v, %v; want only the failing one", hooks, err)
	}
	webhooks = http.StatusForbidden
	if _, err := c.FailingWebhooks(ctx); !IsStatus(err, http.StatusForbidden) {
		t.Fatalf("a refusal must not read as no webhooks: %v", err)
	}
}
