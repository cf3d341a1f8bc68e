package server_test

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// metricValue finds `name{labels} value` in a scrape.
func metricValue(t *testing.T, scrape, series string) string {
	t.Helper()
	for _, line := range strings.Split(scrape, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	t.Fatalf("no series %s in scrape", series)
	return ""
}

func TestMetricsScrape(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	s.MustDo(t, 201, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	display := dialReady(t, s, "display")
	tenant := dialReady(t, s, "tenant-1")
	for range 43 {
		createOrder(t, s, 1)
	}
	// Both clients must have had every event before the scrape counts them.
	for range 43 {
		servertest.NextEvent(t, display, wait)
		servertest.NextEvent(t, tenant, wait)
	}
	r := s.Do(t, "", "GET", "/metrics", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	body := string(r.Body)
	if v := metricValue(t, body, `posd_events_total{event="order:created"}`); v != "43" {
		t.Errorf("order:created count %s, want 43", v)
	}
	if v := metricValue(t, body, `posd_events_total{event="alert"}`); v != "0" {
		t.Errorf("alert count %s", v)
	}
	if v := metricValue(t, body, "posd_room_joins_total"); v != "2" {
		t.Errorf("joins %s, want 2", v)
	}
	if !strings.Contains(body, `posd_http_request_duration_seconds_count{route="POST /api/orders",status="201"} 43`) {
		t.Errorf("no latency histogram for POST /api/orders 201 ×43")
	}
	for _, series := range []string{"posd_connections", "posd_deliveries_total", "posd_slow_consumer_closes_total", "posd_queue_depth_frames", "posd_rooms", "go_goroutines", "process_resident_memory_bytes"} {
		metricValue(t, body, series)
	}
	if v := metricValue(t, body, "posd_connections"); v != "2" {
		t.Errorf("connections %s, want 2", v)
	}
	// 43 events to two clients each, plus nothing else.
	if v := metricValue(t, body, "posd_deliveries_total"); v != "86" {
		t.Errorf("deliveries %s, want 86", v)
	}
}
