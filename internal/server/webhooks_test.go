package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/internal/webhook"
	"github.com/posd/posd/internal/webhook/webhooktest"
)

type hookView struct {
	ID       int64  `json:"id"`
	TenantID int64  `json:"tenant_id"`
	URL      string `json:"url"`
	State    string `json:"state"`
	Cursor   int64  `json:"cursor"`
	Secret   string `json:"secret"`
}

// roomEvents is the ids of the log's events in room, from the admin's
// view of the log.
func roomEvents(t *testing.T, s *servertest.Server, room string) []int64 {
	t.Helper()
	var page struct {
		Events []struct {
			Rooms   []string `json:"rooms"`
			Payload struct {
				ID int64 `json:"id"`
			} `json:"payload"`
		} `json:"events"`
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/events?since=0&limit=1000&room="+room, nil, &page)
	var out []int64
	for _, e := range page.Events {
		out = append(out, e.Payload.ID)
	}
	return out
}

func tokenFor(t *testing.T, s *servertest.Server, spec map[string]any) string {
	t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/tokens", spec, &tok)
	return tok.Token
}

func apiOrder(t *testing.T, s *servertest.Server, token string, tenant int64) {
	t.Helper()
	s.MustDo(t, 201, token, "POST", "/api/orders", map[string]any{"tenant_id": tenant, "customer_name": "Budi",
		"items": []map[string]any{{"name": "Nasi", "quantity": 1, "unit_price": 15000}}}, nil)
}

// A stall's token manages its stall's endpoints only, and they carry only
// its stall's events; the admin sees every endpoint. Through the API:
// add (secret once), list, test, deliveries, pause, resume, replay,
// remove.
func TestWebhooksThroughTheAPI(t *testing.T) {
	s := servertest.Start(t, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	for _, code := range []string{"T1", "T2"} {
		s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Stall " + code, "code": code}, nil)
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/counters", map[string]string{"name": "K1"}, nil)
	t1 := tokenFor(t, s, map[string]any{"role": "tenant", "tenant_id": 1})
	t2 := tokenFor(t, s, map[string]any{"role": "tenant", "tenant_id": 2})
	kasir := tokenFor(t, s, map[string]any{"role": "kasir", "counter_id": 1})
	apiOrder(t, s, s.Admin, 1) // before the endpoint: not sent

	rcv := webhooktest.New(t)
	var h hookView
	s.MustDo(t, 201, t1, "POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/posd"}, &h)
	if h.TenantID != 1 || !strings.HasPrefix(h.Secret, "whsec_") || h.State != "active" || h.Cursor != 1 {
		t.Fatalf("created %+v", h)
	}
	rcv.SetSecret(h.Secret)
	path := fmt.Sprintf("/api/webhooks/%d", h.ID)

	// Another stall's token: refused to add for stall 1, sees nothing of it.
	if r := s.Do(t, t2, "POST", "/api/webhooks", map[string]any{"url": rcv.URL, "tenant_id": 1}); r.Status != 403 {
		t.Fatalf("t2 adding for stall 1: %d %s", r.Status, r.Body)
	}
	var list struct {
		Webhooks []hookView `json:"webhooks"`
	}
	s.MustDo(t, 200, t2, "GET", "/api/webhooks", nil, &list)
	if len(list.Webhooks) != 0 {
		t.Fatalf("t2 lists %+v", list.Webhooks)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", path}, {"GET", path + "/deliveries"}, {"POST", path + "/pause"}, {"POST", path + "/resume"},
		{"POST", path + "/test"}, {"DELETE", path},
	} {
		if r := s.Do(t, t2, c.method, c.path, nil); r.Status != 404 {
			t.Fatalf("t2 %s %s: %d %s; want 404", c.method, c.path, r.Status, r.Body)
		}
	}
	if r := s.Do(t, t2, "POST", path+"/replay", map[string]any{"since": 0}); r.Status != 404 {
		t.Fatalf("t2 replay: %d", r.Status)
	}
	if r := s.Do(t, kasir, "GET", "/api/webhooks", nil); r.Status != 403 {
		t.Fatalf("kasir lists webhooks: %d", r.Status)
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/webhooks", nil, &list)
	if len(list.Webhooks) != 1 || list.Webhooks[0].Secret != "" {
		t.Fatalf("admin lists %+v (the secret is shown once, at creation)", list.Webhooks)
	}

	for i := range 10 {
		apiOrder(t, s, s.Admin, 1+int64(i%2))
	}
	want := roomEvents(t, s, "tenant-1")[1:]
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(want) })

	var ping struct {
		EventID string `json:"event_id"`
		Status  int    `json:"status"`
	}
	s.MustDo(t, 200, t1, "POST", path+"/test", nil, &ping)
	if !strings.HasPrefix(ping.EventID, "ping_") || ping.Status != 204 {
		t.Fatalf("ping %+v", ping)
	}
	var ds struct {
		Deliveries []struct {
			EventID string `json:"event_id"`
			Status  int    `json:"status"`
		} `json:"deliveries"`
	}
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		s.MustDo(t, 200, t1, "GET", path+"/deliveries?limit=50", nil, &ds)
		if len(ds.Deliveries) != len(want)+1 || ds.Deliveries[0].EventID != ping.EventID {
			return fmt.Errorf("deliveries %+v", ds.Deliveries)
		}
		return nil
	})

	// Paused: nothing goes; resumed: the backlog arrives in order.
	s.MustDo(t, 200, t1, "POST", path+"/pause", nil, &h)
	if h.State != "paused" {
		t.Fatalf("paused: %+v", h)
	}
	before := len(rcv.Messages())
	apiOrder(t, s, t1, 1)
	apiOrder(t, s, t1, 1)
	time.Sleep(300 * time.Millisecond) // a paused endpoint must stay quiet: give it the chance not to
	if n := len(rcv.Messages()); n != before {
		t.Fatalf("%d messages while paused", n-before)
	}
	s.MustDo(t, 200, t1, "POST", path+"/resume", nil, &h)
	want = roomEvents(t, s, "tenant-1")[1:]
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(append(want[:0:0], want...)) })

	// Replay from the first event of the endpoint: everything again.
	s.MustDo(t, 200, t1, "POST", path+"/replay", map[string]any{"since": want[0] - 1}, &h)
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		if n := len(rcv.Accepted()); n != 2*len(want)+1 { // and the ping
			return fmt.Errorf("%d accepted; want %d", n, 2*len(want)+1)
		}
		return nil
	})
	if r := s.Do(t, t1, "POST", path+"/replay", map[string]any{"since": 9999}); r.Status != 400 {
		t.Fatalf("replay beyond the head: %d", r.Status)
	}

	var metrics string
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		r := s.Do(t, "", "GET", "/metrics", nil)
		metrics = string(r.Body)
		if !strings.Contains(metrics, fmt.Sprintf(`posd_webhook_deliveries_total{endpoint="%d",outcome="success"}`, h.ID)) ||
			!strings.Contains(metrics, fmt.Sprintf(`posd_webhook_lag_events{endpoint="%d"} 0`, h.ID)) ||
			!strings.Contains(metrics, "posd_webhook_delivery_seconds_count") {
			return fmt.Errorf("metrics lack the webhook series")
		}
		return nil
	})
	s.MustDo(t, 200, t1, "DELETE", path, nil, nil)
	s.MustDo(t, 200, s.Admin, "GET", "/api/webhooks", nil, &list)
	if len(list.Webhooks) != 0 {
		t.Fatalf("after remove: %+v", list.Webhooks)
	}
}

// By default a webhook may not point at loopback, private, link-local or
// metadata addresses, nor use http; the API says so at registration.
func TestWebhookRegistrationRefusesPrivateDestinations(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	for _, u := range []string{
		"https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest/meta-data/",
		"https://10.0.0.1/hook", "https://localhost/hook", "http://93.184.216.34/hook",
	} {
		r := s.Do(t, s.Admin, "POST", "/api/webhooks", map[string]any{"url": u})
		if r.Status != 400 || r.ErrorCode() != "invalid" {
			t.Errorf("%s: %d %s; want 400 invalid", u, r.Status, r.Body)
		}
	}
	var list struct {
		Webhooks []hookView `json:"webhooks"`
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/webhooks", nil, &list)
	if len(list.Webhooks) != 0 {
		t.Fatalf("registered %+v", list.Webhooks)
	}
}

// A retried add (the same token, the same Idempotency-Key, the same body)
// is answered as the first was, secret included, and registers one
// endpoint; the same key for another body is refused, and another token's
// key of the same name is its own.
func TestWebhookAddHonoursIdempotencyKey(t *testing.T) {
	s := servertest.Start(t, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	rcv := webhooktest.New(t)
	body := map[string]any{"url": rcv.URL + "/posd"}
	var first, again hookView
	s.MustDo(t, 201, s.Admin, "POST", "/api/webhooks", body, &first)
	r := s.Do(t, s.Admin, "POST", "/api/webhooks", body, "Idempotency-Key", "add-1")
	if r.Status != 201 {
		t.Fatalf("keyed add: %d %s", r.Status, r.Body)
	}
	mustJSON(t, r.Body, &first)
	r = s.Do(t, s.Admin, "POST", "/api/webhooks", body, "Idempotency-Key", "add-1")
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retried add: %d %s (replayed %q)", r.Status, r.Body, r.Header.Get("Idempotent-Replayed"))
	}
	mustJSON(t, r.Body, &again)
	if again != first || !strings.HasPrefix(again.Secret, "whsec_") {
		t.Fatalf("retry answered %+v; want the first answer %+v, its secret included", again, first)
	}
	if r := s.Do(t, s.Admin, "POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/other"}, "Idempotency-Key", "add-1"); r.Status != 422 || r.ErrorCode() != "idempotency_key_reused" {
		t.Fatalf("the key reused for another body: %d %s", r.Status, r.Body)
	}
	other := tokenFor(t, s, map[string]any{"role": "admin"})
	var theirs hookView
	r = s.Do(t, other, "POST", "/api/webhooks", body, "Idempotency-Key", "add-1")
	if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another token's add-1: %d %s", r.Status, r.Body)
	}
	mustJSON(t, r.Body, &theirs)
	if theirs.ID == first.ID {
		t.Fatalf("another token's key answered with this token's endpoint %d", first.ID)
	}
	var list struct {
		Webhooks []hookView `json:"webhooks"`
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/webhooks", nil, &list)
	if len(list.Webhooks) != 3 {
		t.Fatalf("%d endpoints after an add without key, a keyed add retried once and another token's; want 3", len(list.Webhooks))
	}
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}

// A paused endpoint resumed after retention pruned events past its cursor
// is told so: the resume answer names the range, a delivery row records
// it, and what retention kept is still delivered, in order. A replay from
// below the horizon is refused with 409 naming the first id it can start
// from.
func TestWebhookResumeAfterPruneNamesWhatWasLost(t *testing.T) {
	clock := newDurClock()
	s := durStart(t, func(c *server.Config) {
		clock.config(c)
		c.Retention, c.KeepPerRoom, c.PruneEvery = time.Hour, 5, time.Hour
		c.Webhooks = webhook.Policy{AllowPrivate: true, AllowHTTP: true}
	})
	tenants, _ := durSeed(t, s, 1, 0)
	rcv := webhooktest.New(t)
	var h hookView
	s.MustDo(t, 201, "", "POST", "/api/webhooks", map[string]any{"url": rcv.URL}, &h)
	rcv.SetSecret(h.Secret)
	path := fmt.Sprintf("/api/webhooks/%d", h.ID)
	s.MustDo(t, 201, "", "POST", "/api/orders", durOrder(tenants[0], "before"), nil)
	testutil.Eventually(t, 10*time.Second, "the first order delivered", func() bool { return len(rcv.Accepted()) > 0 })
	s.MustDo(t, 200, "", "POST", path+"/pause", nil, &h)

	for i := range 20 {
		s.MustDo(t, 201, "", "POST", "/api/orders", durOrder(tenants[0], fmt.Sprint("old ", i)), nil)
	}
	clock.Add(2 * time.Hour)
	s.Prune(context.Background())
	horizon := int64(durCount(t, s, `SELECT value FROM log_meta WHERE key = 'pruned_through'`))
	if horizon <= h.Cursor {
		t.Fatalf("retention pruned through %d, not past the cursor %d: nothing to test", horizon, h.Cursor)
	}
	var delivered []int64
	for _, m := range rcv.Accepted() {
		delivered = append(delivered, m.EventID())
	}

	var resumed struct {
		hookView
		Warning string `json:"warning"`
		Pruned  struct {
			From int64 `json:"from"`
			To   int64 `json:"to"`
		} `json:"pruned"`
	}
	s.MustDo(t, 200, "", "POST", path+"/resume", nil, &resumed)
	lost := fmt.Sprintf("events %d–%d were pruned by retention before delivery", h.Cursor+1, horizon)
	if resumed.State != "active" || resumed.Pruned.From != h.Cursor+1 || resumed.Pruned.To != horizon || !strings.Contains(resumed.Warning, lost) {
		t.Fatalf("resume answered %+v; want a warning %q", resumed, lost)
	}
	// What retention kept after the cursor arrives, in order (and the
	// alert that says events were lost: an admin's endpoint gets alerts).
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		want := slices.Clone(delivered)
		for _, id := range roomEvents(t, s, "") {
			if id > h.Cursor {
				want = append(want, id)
			}
		}
		return rcv.CheckComplete(want)
	})
	var ds struct {
		Deliveries []struct {
			EventID string `json:"event_id"`
			Error   string `json:"error"`
		} `json:"deliveries"`
	}
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		s.MustDo(t, 200, "", "GET", path+"/deliveries", nil, &ds)
		for _, d := range ds.Deliveries {
			if strings.Contains(d.Error, lost) {
				return nil
			}
		}
		return fmt.Errorf("no delivery row says %q: %+v", lost, ds.Deliveries)
	})

	r := s.Do(t, "", "POST", path+"/replay", map[string]any{"since": h.Cursor})
	if r.Status != 409 || r.ErrorCode() != "conflict" || !strings.Contains(string(r.Body), fmt.Sprintf("since must be at least %d", horizon)) {
		t.Fatalf("replay from below the horizon: %d %s; want 409 naming %d", r.Status, r.Body, horizon)
	}
	s.MustDo(t, 200, "", "POST", path+"/replay", map[string]any{"since": horizon}, nil)
}
