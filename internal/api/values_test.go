package api_test

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// Every text field of every write route refuses text that shows as nothing,
// breaks a line or is not Unicode, and every amount has a cap: 400 invalid,
// a message naming the field, and nothing written (no row, no event).
func TestBadValuesAreRefused(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/counters", `{"name":"Kasir 1"}`, nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Rina","items":[{"name":"Sate","quantity":2,"unit_price":20000}]}`, nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Soto","quantity":1,"unit_price":15000}]}`, nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/payments", `{"order_id":1,"amount_paid":40000,"payment_method":"cash","counter_id":1}`, nil)
	db, err := sql.Open("sqlite", "file:"+s.DBPath()+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := &fuzzAPI{db: db}

	// Each bad text, as it appears between the quotes of a JSON string.
	badTexts := map[string]string{
		"zero-width spaces only":        `\u200b\u200b`,
		"zero-width joiners only":       `\u200d\u200c`,
		"hangul fillers only":           `\u3164\u3164`,
		"braille blank only":            `\u2800`,
		"soft hyphen and word joiner":   `\u00ad\u2060`,
		"line separator":                `Siti\u2028Budi`,
		"paragraph separator":           `Siti\u2029`,
		"lone high surrogate":           `Siti\ud800`,
		"lone low surrogate":            `\udc00Siti`,
		"high surrogate then a letter":  `\ud83d\u0041`,
		"replacement character as such": "Siti\uFFFD",
	}
	// Each text field of each route, with %s where the text goes.
	fields := []struct{ field, method, path, body string }{
		{"name", "POST", "/api/tenants", `{"name":"%s","code":"T9"}`},
		{"name", "POST", "/api/counters", `{"name":"%s"}`},
		{"customer_name", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"%s","items":[{"name":"Teh","quantity":1,"unit_price":5000}]}`},
		{"items[1].name", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Eka","items":[{"name":"Teh","quantity":1,"unit_price":5000},{"name":"%s","quantity":1,"unit_price":5000}]}`},
		{"items[0].notes", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Eka","items":[{"name":"Teh","quantity":1,"unit_price":5000,"notes":"%s"}]}`},
		{"reason", "DELETE", "/api/orders/2", `{"reason":"%s"}`},
		{"reason", "POST", "/api/payments/1/refund", `{"reason":"%s","amount":1000}`},
		{"message", "POST", "/api/alerts", `{"severity":"info","message":"%s"}`},
		{"type", "POST", "/api/notifications", `{"user_id":7,"type":"%s","data":{}}`},
		{"name", "POST", "/api/tokens", `{"role":"display","display":true,"name":"%s"}`},
	}
	type refusal struct{ name, method, path, body, field string }
	var cases []refusal
	for _, f := range fields {
		for what, text := range badTexts {
			cases = append(cases, refusal{f.field + ": " + what, f.method, f.path, strings.Replace(f.body, "%s", text, 1), f.field})
		}
	}
	cases = append(cases,
		refusal{"surrogate deep in notification data", "POST", "/api/notifications", `{"user_id":7,"type":"x","data":{"order":{"lines":["ok","\udfff"]}}}`, "data.order.lines[1]"},
		refusal{"unit price of max int64", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Eka","items":[{"name":"Teh","quantity":1,"unit_price":9223372036854775807}]}`, "items[0].unit_price"},
		refusal{"unit price over the cap", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Eka","items":[{"name":"Teh","quantity":1,"unit_price":10000001}]}`, "items[0].unit_price"},
		refusal{"quantity over the cap", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Eka","items":[{"name":"Teh","quantity":1001,"unit_price":1}]}`, "items[0].quantity"},
		refusal{"total over the cap", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Eka","items":[{"name":"Nasi kotak","quantity":1000,"unit_price":100001}]}`, "order total"},
		refusal{"payment of max int64", "POST", "/api/payments", `{"order_id":2,"amount_paid":9223372036854775807,"payment_method":"cash","counter_id":1}`, "amount_paid"},
		refusal{"payment over the cap", "POST", "/api/payments", `{"order_id":2,"amount_paid":100000001,"payment_method":"cash","counter_id":1}`, "amount_paid"},
	)
	before := a.rows(t)
	for _, tc := range cases {
		r := s.Do(t, "", tc.method, tc.path, tc.body)
		var e struct {
			Error struct{ Code, Message string }
		}
		r.JSON(t, &e)
		if r.Status != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("%s: %d %s, want 400 invalid", tc.name, r.Status, r.Body)
			continue
		}
		if !strings.Contains(e.Error.Message, tc.field) {
			t.Errorf("%s: message %q does not name %s", tc.name, e.Error.Message, tc.field)
		}
	}
	if after := a.rows(t); after != before {
		t.Fatalf("a refused request wrote something\nbefore %s\nafter  %s", before, after)
	}

	// The same routes take text that only looks unusual, and amounts at the caps.
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"\ud83d\udc68\u200d\ud83c\udf73 Bu\u200bdi","items":[{"name":"Nasi kotak","quantity":1000,"unit_price":100000,"notes":"\u2615\ufe0f"}]}`, nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/payments", `{"order_id":3,"amount_paid":100000000,"payment_method":"card","counter_id":1}`, nil)
}
