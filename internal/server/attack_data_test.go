package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dataEnv is a running posd with a stall, a counter, a token of each role
// and orders in every state: paid, refunded, scanned, cancelled, open.
type dataEnv struct {
	p       *attackProc
	ctx     context.Context
	honest  *attacker // 127.0.0.1: admin, tenant and kasir
	attack  *attacker // 127.0.0.2: the display token (it sits in a TV's URL)
	tokens  map[string]string
	qr      []string // every order's QR token
	codes   []string // every order's short pickup code
	refs    []string // every payment's and refund's transaction reference
	reasons []string // refund reasons
}

func (e *dataEnv) do(t *testing.T, f *attacker, want int, method, path, token string, body, out any) []byte {
	t.Helper()
	st, raw, err := f.Do(e.ctx, method, e.p.Base+path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if st != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, st, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return raw
}

func newDataEnv(t *testing.T) *dataEnv {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	e := &dataEnv{p: attackServe(t), ctx: ctx, honest: from("127.0.0.1"), attack: from("127.0.0.2"), tokens: map[string]string{}}
	admin := e.p.Admin
	e.do(t, e.honest, 201, "POST", "/api/tenants", admin, map[string]any{"name": "Warung Sate", "code": "T1"}, nil)
	e.do(t, e.honest, 201, "POST", "/api/counters", admin, map[string]any{"name": "Kasir 1"}, nil)
	for role, spec := range map[string]map[string]any{
		"display": {"role": "display", "display": true, "tenant_id": 1, "name": "TV at the pickup window"},
		"tenant":  {"role": "tenant", "tenant_id": 1},
		"kasir":   {"role": "kasir", "counter_id": 1},
		"user":    {"role": "user", "user_id": 7},
	} {
		var tok struct{ Token string }
		e.do(t, e.honest, 201, "POST", "/api/tokens", admin, spec, &tok)
		e.tokens[role] = tok.Token
	}
	tenant, kasir := e.tokens["tenant"], e.tokens["kasir"]
	for i, who := range []string{"Siti", "Budi", "Ayu", "Rina"} {
		var o struct {
			QR struct{ Token, Code string }
		}
		e.do(t, e.honest, 201, "POST", "/api/orders", tenant, map[string]any{
			"tenant_id": 1, "customer_name": who,
			"items": []map[string]any{{"name": "Sate Ayam", "quantity": i + 1, "unit_price": 25000, "notes": "no peanut sauce"}},
		}, &o)
		if o.QR.Token == "" {
			t.Fatal("order created without a QR token")
		}
		if len(o.QR.Code) != 6 {
			t.Fatalf("order created with pickup code %q, want 6 characters", o.QR.Code)
		}
		e.qr = append(e.qr, o.QR.Token)
		e.codes = append(e.codes, o.QR.Code)
	}
	pay := func(order, amount int) int64 {
		var p struct {
			ID        int64
			Reference string `json:"transaction_reference"`
		}
		e.do(t, e.honest, 201, "POST", "/api/payments", kasir, map[string]any{"order_id": order, "amount_paid": amount, "payment_method": "cash", "counter_id": 1}, &p)
		e.refs = append(e.refs, p.Reference)
		return p.ID
	}
	p1 := pay(1, 30000)
	pay(2, 50000)
	reason := "customer found a hair in it"
	var ref struct {
		Reference string `json:"transaction_reference"`
	}
	e.do(t, e.honest, 201, "POST", fmt.Sprintf("/api/payments/%d/refund", p1), kasir, map[string]any{"reason": reason, "amount": 5000}, &ref)
	e.refs, e.reasons = append(e.refs, ref.Reference), append(e.reasons, reason)
	e.do(t, e.honest, 200, "PATCH", "/api/orders/2/status", tenant, map[string]any{"status": "preparing"}, nil)
	e.do(t, e.honest, 200, "POST", "/api/qr/scan", tenant, map[string]any{"token": e.qr[1]}, nil)
	e.do(t, e.honest, 200, "DELETE", "/api/orders/3", tenant, map[string]any{"reason": "customer left"}, nil)
	return e
}

// A display token lives in a TV's URL: whoever reads it off the screen must
// not learn anything that collects food or identifies a payment. Every
// route it may read, and its sockets' replay, carry no QR token; the order
// routes no payment reference or refund reason either. The honest kasir and
// stall still read the QR tokens.
func TestDisplayTokenReadsNoPickupCodes(t *testing.T) {
	e := newDataEnv(t)
	display := e.tokens["display"]
	leaks := func(body []byte, secrets []string) []string {
		var found []string
		for _, s := range secrets {
			if s != "" && strings.Contains(string(body), s) {
				found = append(found, s)
			}
		}
		return found
	}
	orderRoutes := []string{"/api/orders?open=true", "/api/orders", "/api/orders?tenant_id=1", "/api/orders?unpaid=true", "/api/orders?status=cancelled",
		"/api/orders/1", "/api/orders/2", "/api/orders/3", "/api/orders/4"}
	for _, path := range orderRoutes {
		body := e.do(t, e.attack, 200, "GET", path, display, nil, nil)
		if l := leaks(body, slices.Concat(e.qr, e.codes, e.refs, e.reasons)); len(l) > 0 {
			t.Errorf("display token, GET %s: leaks %q in %s", path, l, body)
		}
		for _, field := range []string{`"qr"`, `"payments"`, `"token"`} {
			if strings.Contains(string(body), field) {
				t.Errorf("display token, GET %s: has %s: %s", path, field, body)
			}
		}
	}
	// What the pickup board and the kitchen display need is all there.
	var open struct {
		Orders []struct {
			OrderNumber  string `json:"order_number"`
			CustomerName string `json:"customer_name"`
			Status       string
			TotalAmount  int64     `json:"total_amount"`
			PaidAmount   int64     `json:"paid_amount"`
			CreatedAt    time.Time `json:"created_at"`
			Items        []struct{ Name, Notes string }
		}
	}
	e.do(t, e.attack, 200, "GET", "/api/orders?open=true", display, nil, &open)
	if len(open.Orders) != 3 {
		t.Fatalf("display sees %d open orders, want 3", len(open.Orders))
	}
	for _, o := range open.Orders {
		if o.OrderNumber == "" || o.CustomerName == "" || o.Status == "" || o.TotalAmount == 0 || o.CreatedAt.IsZero() ||
			len(o.Items) != 1 || o.Items[0].Notes != "no peanut sauce" {
			t.Errorf("display lost what a screen shows: %+v", o)
		}
	}
	if open.Orders[0].PaidAmount != 25000 {
		t.Errorf("order 1 shows paid %d, want 25000 (30000 less the 5000 refund is still paid)", open.Orders[0].PaidAmount)
	}

	// History of both of its rooms, and the same events replayed on /ws.
	var displayEvents int
	for _, room := range []string{"display", "tenant-1"} {
		var h struct{ Events []json.RawMessage }
		body := e.do(t, e.attack, 200, "GET", "/api/events?room="+room, display, nil, &h)
		if l := leaks(body, slices.Concat(e.qr, e.codes)); len(l) > 0 {
			t.Errorf("display token, history of %s: leaks QR tokens or pickup codes %q", room, l)
		}
		if !strings.Contains(string(body), "qr_scanned") {
			t.Errorf("history of %s lacks the scan: %s", room, body)
		}
		if room == "display" {
			displayEvents = len(h.Events)
		}
	}
	u := url.URL{Scheme: "ws", Host: e.p.Addr, Path: "/ws", RawQuery: url.Values{"token": {display}, "rooms": {"display,tenant-1"}, "since": {"0"}}.Encode()}
	d := websocket.Dialer{NetDialContext: e.attack.Dialer.DialContext, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.DialContext(e.ctx, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var events int
	for events < displayEvents {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d replayed events: %v", events, displayEvents, err)
		}
		if l := leaks(msg, slices.Concat(e.qr, e.codes)); len(l) > 0 {
			t.Errorf("display socket: frame leaks QR token: %s", msg)
		}
		if strings.Contains(string(msg), `"op":"event"`) {
			events++
		}
	}

	// The stall and the kasir still read every QR token: they scan them.
	for _, role := range []string{"tenant", "kasir"} {
		body := e.do(t, e.honest, 200, "GET", "/api/orders", e.tokens[role], nil, nil)
		for i, tok := range e.qr {
			if !strings.Contains(string(body), tok) || !strings.Contains(string(body), e.codes[i]) {
				t.Errorf("%s token: order %d's QR token or pickup code missing from GET /api/orders", role, i+1)
			}
		}
		var o struct {
			QR       struct{ Token string }
			Payments []struct {
				Reference string `json:"transaction_reference"`
				Reason    string
			}
		}
		e.do(t, e.honest, 200, "GET", "/api/orders/1", e.tokens[role], nil, &o)
		if o.QR.Token != e.qr[0] || len(o.Payments) != 2 || o.Payments[1].Reason != e.reasons[0] {
			t.Errorf("%s token: order 1 read as %+v", role, o)
		}
	}
	// A user token reads no order at all.
	for _, path := range []string{"/api/orders", "/api/orders/1"} {
		e.do(t, e.attack, http.StatusForbidden, "GET", path, e.tokens["user"], nil, nil)
	}
}
