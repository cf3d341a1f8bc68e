package api_test

// Fuzz tests of every write route's request decoder, through the real
// handler stack (auth off, a temp SQLite file, the hub running): whatever the
// body, the answer is never a 5xx, always JSON, and a 4xx writes nothing.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

type fuzzAPI struct {
	h   http.Handler
	db  *sql.DB
	key atomic.Int64
}

var fuzzTables = []string{"tenants", "counters", "orders", "order_items", "payments", "qr_codes", "events", "event_rooms", "idempotency_keys", "tokens"}

// newFuzzAPI starts a server with a tenant, two counters, three orders and
// a payment of order 1, so that every route has something to act on.
func newFuzzAPI(f *testing.F) *fuzzAPI {
	f.Helper()
	s := servertest.Start(f, server.Config{AuthOff: true})
	s.MustDo(f, http.StatusCreated, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	s.MustDo(f, http.StatusCreated, "", "POST", "/api/counters", `{"name":"Kasir 1"}`, nil)
	s.MustDo(f, http.StatusCreated, "", "POST", "/api/counters", `{"name":"Kasir 2"}`, nil)
	for range 3 {
		s.MustDo(f, http.StatusCreated, "", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Rina","items":[{"name":"Sate","quantity":2,"unit_price":20000}]}`, nil)
	}
	s.MustDo(f, http.StatusCreated, "", "POST", "/api/payments", `{"order_id":1,"amount_paid":50000,"payment_method":"cash","counter_id":1}`, nil)
	db, err := sql.Open("sqlite", "file:"+s.DBPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	return &fuzzAPI{h: s.Handler(), db: db}
}

func (a *fuzzAPI) rows(t *testing.T) string {
	var b strings.Builder
	for _, table := range fuzzTables {
		var n int
		if err := a.db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%d ", table, n)
	}
	return b.String()
}

// check sends body to method path and asserts the invariants.
func (a *fuzzAPI) check(t *testing.T, method, path string, body []byte, keyed bool) {
	before := a.rows(t)
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if keyed {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("fuzz-%d", a.key.Add(1)))
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	status := rec.Code
	if status >= 500 {
		t.Fatalf("%s %s %q: %d %s", method, path, body, status, rec.Body.Bytes())
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %s %q: %d answer is not JSON: %q", method, path, body, status, rec.Body.Bytes())
	}
	if status >= 400 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %s %q: %d without an error code and message: %s", method, path, body, status, rec.Body.Bytes())
		}
		if after := a.rows(t); after != before {
			t.Fatalf("%s %s %q: %d wrote something\nbefore %s\nafter  %s", method, path, body, status, before, after)
		}
	}
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
}

// Shared hostile seeds for every route.
var hostileSeeds = []string{
	``, ` `, `null`, `[]`, `{}`, `"x"`, `1`, `{"a":1}`, `{`, `}`, "{\"x\":\"\xff\"}", `{"x":"\u0000"}`,
	`{} {}`, `{}x`, strings.Repeat("[", 10000),
}

func FuzzCreateOrder(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, hostileSeeds...)
	addSeeds(f,
		`{"tenant_id":1,"customer_name":"Ani","items":[{"name":"Soto","quantity":1,"unit_price":15000,"notes":"no onion"}]}`,
		`{"tenant_id":1,"customer_name":"<script>","items":[{"name":"Soto","quantity":10000,"unit_price":922337203685477}]}`,
		`{"tenant_id":1,"customer_name":"Ani","items":[{"name":"A","quantity":1,"unit_price":9223372036854775807},{"name":"B","quantity":1,"unit_price":1}]}`,
		`{"tenant_id":1,"customer_name":"Ani","items":[{"name":"Soto","quantity":1,"unit_price":-1}]}`,
		`{"tenant_id":1,"customer_name":"Ani","items":[{"name":"Soto","quantity":"1","unit_price":1}]}`,
		`{"tenant_id":1,"customer_name":"Ani","items":[{"name":"Soto","quantity":1,"unit_price":1,"x":1}]}`,
		`{"tenant_id":2,"customer_name":"Ani","items":[{"name":"Soto","quantity":1,"unit_price":1}]}`,
		`{"tenant_id":1,"customer_name":"","items":[]}`,
		`{"tenant_id":1e400,"customer_name":"Ani","items":[]}`,
	)
	f.Fuzz(func(t *testing.T, body []byte, keyed bool) { a.check(t, "POST", "/api/orders", body, keyed) })
}

func FuzzPay(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, hostileSeeds...)
	addSeeds(f,
		`{"order_id":2,"amount_paid":40000,"payment_method":"qris","counter_id":1}`,
		`{"order_id":3,"amount_paid":100000,"payment_method":"cash","counter_id":2}`,
		`{"order_id":3,"amount_paid":39999,"payment_method":"cash","counter_id":2}`,
		`{"order_id":1,"amount_paid":40000,"payment_method":"card","counter_id":1}`,
		`{"order_id":2,"amount_paid":-40000,"payment_method":"ewallet","counter_id":1}`,
		`{"order_id":2,"amount_paid":40000,"payment_method":"bitcoin","counter_id":1}`,
		`{"order_id":2,"amount_paid":40000,"payment_method":"cash","counter_id":9}`,
		`{"order_id":2,"amount_paid":40000.0,"payment_method":"cash","counter_id":1}`,
	)
	f.Fuzz(func(t *testing.T, body []byte, keyed bool) { a.check(t, "POST", "/api/payments", body, keyed) })
}

func FuzzRefund(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, hostileSeeds...)
	addSeeds(f, `{"reason":"cold","amount":1000}`, `{"reason":"cold"}`, `{"reason":"cold","amount":-1}`,
		`{"reason":"cold","amount":9223372036854775807}`, `{"reason":"","amount":0}`, `{"reason":"cold","amount":"5"}`)
	f.Fuzz(func(t *testing.T, body []byte, keyed bool) { a.check(t, "POST", "/api/payments/1/refund", body, keyed) })
}

func FuzzSetStatus(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, hostileSeeds...)
	addSeeds(f, `{"status":"preparing"}`, `{"status":"ready"}`, `{"status":"completed"}`, `{"status":"cancelled"}`,
		`{"status":"PENDING"}`, `{"status":1}`, `{"status":"preparing","reason":"x"}`)
	f.Fuzz(func(t *testing.T, body []byte, keyed bool) { a.check(t, "PATCH", "/api/orders/2/status", body, keyed) })
}

func FuzzCancel(f *testing.F) {
	a := newFuzzAPI(f)
	addSeeds(f, hostileSeeds...)
	addSeeds(f, `{"reason":"customer left"}`, `{"reason":""}`, `{"reason":1}`, `{"reason":"`+strings.Repeat("x", 600)+`"}`)
	f.Fuzz(func(t *testing.T, body []byte, keyed bool) { a.check(t, "DELETE", "/api/orders/3", body, keyed) })
}

// FuzzOtherWrites covers the small bodies: tenants, counters, QR scans,
// alerts, notifications and tokens; route picks one.
func FuzzOtherWrites(f *testing.F) {
	a := newFuzzAPI(f)
	routes := []string{"/api/tenants", "/api/counters", "/api/qr/scan", "/api/alerts", "/api/notifications", "/api/tokens"}
	for r := range routes {
		for _, s := range append(append([]string{}, hostileSeeds...),
			`{"name":"Bakmi","code":"T2"}`, `{"name":"Bakmi","code":"t 2"}`, `{"name":"Kasir 3"}`, `{"token":"nope"}`,
			`{"severity":"warning","message":"closing"}`, `{"severity":"loud","message":"x"}`,
			`{"user_id":7,"type":"order_ready","data":{"order_id":1}}`, `{"user_id":7,"type":"x","data":"str"}`,
			`{"role":"display","label":"tv"}`, `{"role":"root"}`) {
			f.Add(uint8(r), []byte(s), r%2 == 0)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, keyed bool) {
		a.check(t, "POST", routes[int(route)%len(routes)], body, keyed)
	})
}
