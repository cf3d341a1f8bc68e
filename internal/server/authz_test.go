package server_test

// The authorization contract (docs/security.md, Roles): every role × every API
// route × own scope / other scope, with the exact status; and every role ×
// every room kind on the native socket, at connect and by join op.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/auth/authtest"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

// azEnv is a server with auth on, tenants 1 and 2, counters 1 and 2, and a
// token for every authtest identity.
type azEnv struct {
	s      *servertest.Server
	admin  string
	tokens map[string]string
	seq    int
}

func newAZ(t *testing.T, cfg server.Config) *azEnv {
	t.Helper()
	if cfg.AuthFailBurst == 0 {
		cfg.AuthFailBurst = 1 << 20 // the tables send many bad tokens from one address
	}
	s := servertest.Start(t, cfg)
	e := &azEnv{s: s, admin: s.Admin}
	for _, code := range []string{"T1", "T2"} {
		s.MustDo(t, 201, e.admin, "POST", "/api/tenants", map[string]string{"name": "Stall " + code, "code": code}, nil)
	}
	for _, name := range []string{"Kasir 1", "Kasir 2"} {
		s.MustDo(t, 201, e.admin, "POST", "/api/counters", map[string]string{"name": name}, nil)
	}
	e.tokens = authtest.Issue(t, e.issue)
	return e
}

// issue creates a token through the API with the admin token.
func (e *azEnv) issue(tb testing.TB, spec auth.TokenSpec) string {
	tb.Helper()
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	e.s.MustDo(tb, 201, e.admin, "POST", "/api/tokens", spec, &out)
	if out.Token == "" {
		tb.Fatalf("no token issued for %+v", spec)
	}
	return out.Token
}

type azOrder struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Total  int64  `json:"total_amount"`
	QR     struct {
		Token string `json:"token"`
	} `json:"qr"`
}

func (e *azEnv) order(t *testing.T, tenant int64) azOrder {
	t.Helper()
	e.seq++
	var o azOrder
	e.s.MustDo(t, 201, e.admin, "POST", "/api/orders", map[string]any{
		"tenant_id": tenant, "customer_name": fmt.Sprintf("Customer %d", e.seq),
		"items": []map[string]any{{"name": "Mie Ayam", "quantity": 1, "unit_price": 15000}},
	}, &o)
	return o
}

// payment pays a new order of tenant at counter and returns the payment id.
func (e *azEnv) payment(t *testing.T, tenant, counter int64) int64 {
	t.Helper()
	o := e.order(t, tenant)
	var p struct{ ID int64 }
	e.s.MustDo(t, 201, e.admin, "POST", "/api/payments", map[string]any{
		"order_id": o.ID, "amount_paid": o.Total, "payment_method": "qris", "counter_id": counter,
	}, &p)
	return p.ID
}

// snapshot is what a refused request must leave as it was.
func (e *azEnv) snapshot(t *testing.T) string {
	t.Helper()
	var orders struct {
		Head int64 `json:"last_event_id"`
	}
	e.s.MustDo(t, 200, e.admin, "GET", "/api/orders?limit=1", nil, &orders)
	var tenants struct{ Tenants []json.RawMessage }
	e.s.MustDo(t, 200, e.admin, "GET", "/api/tenants", nil, &tenants)
	var counters struct{ Counters []json.RawMessage }
	e.s.MustDo(t, 200, e.admin, "GET", "/api/counters", nil, &counters)
	var tokens struct {
		Tokens []struct {
			Revoked *string `json:"revoked_at"`
		}
	}
	e.s.MustDo(t, 200, e.admin, "GET", "/api/tokens", nil, &tokens)
	revoked := 0
	for _, k := range tokens.Tokens {
		if k.Revoked != nil {
			revoked++
		}
	}
	return fmt.Sprintf("head=%d tenants=%d counters=%d tokens=%d revoked=%d",
		orders.Head, len(tenants.Tenants), len(counters.Counters), len(tokens.Tokens), revoked)
}

type azRequest struct {
	method, path string
	body         any
}

// azRoute is one API route; req builds a request against side 1 (the
// identities' own scope) or side 2 (someone else's), creating what it needs.
type azRoute struct {
	name string
	req  func(t *testing.T, e *azEnv, side int64) azRequest
	want map[string][2]int // identity → status for side 1, side 2
}

func azBoth(s int) [2]int { return [2]int{s, s} }

// only gives status ok to the listed identities and 403 to the rest.
func azOnly(ok [2]int, names ...string) map[string][2]int {
	m := map[string][2]int{}
	for _, id := range authtest.Identities() {
		m[id.Name] = azBoth(403)
	}
	for _, n := range names {
		m[n] = ok
	}
	return m
}

func azWith(m map[string][2]int, name string, s [2]int) map[string][2]int {
	m[name] = s
	return m
}

func azRoutes() []azRoute {
	const (
		A, T, K, D, DT, U = authtest.Admin, authtest.Tenant, authtest.Kasir, authtest.Display, authtest.DisplayTenant, authtest.User
	)
	all := func(s [2]int) map[string][2]int { return azOnly(s, A, T, K, D, DT, U) }
	fixed := func(method, path string, body any) func(*testing.T, *azEnv, int64) azRequest {
		return func(*testing.T, *azEnv, int64) azRequest { return azRequest{method, path, body} }
	}
	return []azRoute{
		{"create tenant", func(t *testing.T, e *azEnv, _ int64) azRequest {
			e.seq++
			return azRequest{"POST", "/api/tenants", map[string]string{"name": "New", "code": fmt.Sprintf("N%d", e.seq)}}
		}, azOnly(azBoth(201), A)},
		{"list tenants", fixed("GET", "/api/tenants", nil), all(azBoth(200))},
		{"create counter", fixed("POST", "/api/counters", map[string]string{"name": "Kasir X"}), azOnly(azBoth(201), A)},
		{"list counters", fixed("GET", "/api/counters", nil), all(azBoth(200))},
		{"create order", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"POST", "/api/orders", map[string]any{"tenant_id": side, "customer_name": "Ani",
				"items": []map[string]any{{"name": "Sate", "quantity": 2, "unit_price": 10000}}}}
		}, azWith(azOnly(azBoth(201), A), T, [2]int{201, 403})},
		{"list orders of a tenant", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/orders?tenant_id=%d", side), nil}
		}, azWith(azWith(azOnly(azBoth(200), A, K, D), T, [2]int{200, 403}), DT, [2]int{200, 403})},
		{"list orders", fixed("GET", "/api/orders", nil), azOnly(azBoth(200), A, T, K, D, DT)},
		{"get order", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/orders/%d", e.order(t, side).ID), nil}
		}, azWith(azWith(azOnly(azBoth(200), A, K, D), T, [2]int{200, 404}), DT, [2]int{200, 404})},
		{"advance order", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"PATCH", fmt.Sprintf("/api/orders/%d/status", e.order(t, side).ID), map[string]string{"status": "preparing"}}
		}, azWith(azOnly(azBoth(200), A), T, [2]int{200, 404})},
		{"cancel order", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"DELETE", fmt.Sprintf("/api/orders/%d", e.order(t, side).ID), map[string]string{"reason": "changed mind"}}
		}, azWith(azOnly(azBoth(200), A), T, [2]int{200, 404})},
		{"pay (order and counter of the side)", func(t *testing.T, e *azEnv, side int64) azRequest {
			o := e.order(t, side)
			return azRequest{"POST", "/api/payments", map[string]any{"order_id": o.ID, "amount_paid": o.Total, "payment_method": "cash", "counter_id": side}}
		}, azWith(azOnly(azBoth(201), A), K, [2]int{201, 403})},
		{"pay at counter 1 (any stall's order)", func(t *testing.T, e *azEnv, side int64) azRequest {
			o := e.order(t, side)
			return azRequest{"POST", "/api/payments", map[string]any{"order_id": o.ID, "amount_paid": o.Total, "payment_method": "card", "counter_id": 1}}
		}, azOnly(azBoth(201), A, K)},
		{"list payments of a counter", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/payments?counter_id=%d", side), nil}
		}, azWith(azOnly(azBoth(200), A), K, [2]int{200, 403})},
		{"list payments", fixed("GET", "/api/payments", nil), azOnly(azBoth(200), A, K)},
		{"refund (any counter's payment)", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"POST", fmt.Sprintf("/api/payments/%d/refund", e.payment(t, side, side)), map[string]any{"reason": "cold"}}
		}, azOnly(azBoth(201), A, K)},
		{"scan QR", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"POST", "/api/qr/scan", map[string]string{"token": e.order(t, side).QR.Token}}
		}, azWith(azOnly(azBoth(200), A, K), T, [2]int{200, 404})},
		{"alert", fixed("POST", "/api/alerts", map[string]string{"severity": "info", "message": "hello"}), azOnly(azBoth(201), A)},
		{"notify", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"POST", "/api/notifications", map[string]any{"user_id": side, "type": "order_ready", "data": map[string]int{"order_id": 1}}}
		}, azOnly(azBoth(201), A)},
		{"events of a tenant room", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/events?since=0&room=tenant-%d", side), nil}
		}, azWith(azWith(azOnly(azBoth(200), A), T, [2]int{200, 403}), DT, [2]int{200, 403})},
		{"events of a kasir room", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/events?room=kasir-%d", side), nil}
		}, azWith(azOnly(azBoth(200), A), K, [2]int{200, 403})},
		{"events of a user room", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/events?room=user-%d", side), nil}
		}, azWith(azOnly(azBoth(200), A), U, [2]int{200, 403})},
		{"events of the display room", fixed("GET", "/api/events?room=display", nil), azOnly(azBoth(200), A, K, D)},
		{"events of every room", fixed("GET", "/api/events?since=0", nil), azOnly(azBoth(200), A)},
		{"connections", fixed("GET", "/api/connections", nil), azOnly(azBoth(200), A)},
		{"rooms", fixed("GET", "/api/rooms", nil), azOnly(azBoth(200), A)},
		{"one room", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"GET", fmt.Sprintf("/api/rooms/tenant-%d", side), nil}
		}, azOnly(azBoth(200), A)},
		{"disconnect a room", func(t *testing.T, e *azEnv, side int64) azRequest {
			return azRequest{"DELETE", fmt.Sprintf("/api/rooms/tenant-%d/connections", side), nil}
		}, azOnly(azBoth(200), A)},
		{"create an admin token", fixed("POST", "/api/tokens", map[string]string{"role": "admin"}), azOnly(azBoth(201), A)},
		{"create a token for one's own scope", fixed("POST", "/api/tokens", map[string]any{"role": "tenant", "tenant_id": 1}), azOnly(azBoth(201), A)},
		{"list tokens", fixed("GET", "/api/tokens", nil), azOnly(azBoth(200), A)},
		{"revoke a token", func(t *testing.T, e *azEnv, _ int64) azRequest {
			var out struct{ ID int64 }
			e.s.MustDo(t, 201, e.admin, "POST", "/api/tokens", auth.TokenSpec{Role: auth.RoleUser, UserID: 9}, &out)
			return azRequest{"DELETE", fmt.Sprintf("/api/tokens/%d", out.ID), nil}
		}, azOnly(azBoth(200), A)},
		{"unknown route", fixed("GET", "/api/secrets", nil), all(azBoth(404))},
		{"wrong method on a route", fixed("PUT", "/api/orders", `{}`), all(azBoth(404))},
	}
}

// TestEveryRoleEveryRoute is the authorization table: for each route, each
// identity on its own side and on the other side gets exactly the status
// of the contract; a refused request changes nothing.
func TestEveryRoleEveryRoute(t *testing.T) {
	e := newAZ(t, server.Config{})
	for _, rt := range azRoutes() {
		if len(rt.want) != len(authtest.Identities()) {
			t.Fatalf("%s: table has %d identities", rt.name, len(rt.want))
		}
		for _, id := range authtest.Identities() {
			for side := int64(1); side <= 2; side++ {
				name := fmt.Sprintf("%s/%s/side%d", rt.name, id.Name, side)
				t.Run(name, func(t *testing.T) {
					req := rt.req(t, e, side)
					want := rt.want[id.Name][side-1]
					check := want >= 400 && req.method != "GET" // a refused write changes nothing
					var before string
					if check {
						before = e.snapshot(t)
					}
					r := e.s.Do(t, e.tokens[id.Name], req.method, req.path, req.body)
					if r.Status != want {
						t.Fatalf("%s %s as %s: status %d, want %d: %s", req.method, req.path, id.Name, r.Status, want, r.Body)
					}
					if want >= 400 {
						wantCode := map[int]string{403: "forbidden", 404: "not_found"}[want]
						if got := r.ErrorCode(); got != wantCode {
							t.Fatalf("error code %q, want %q: %s", got, wantCode, r.Body)
						}
						if !check {
							return
						}
						if after := e.snapshot(t); after != before {
							t.Fatalf("refused request changed state: %s → %s", before, after)
						}
					}
				})
			}
		}
	}
}

// TestNoOrBadTokenOnEveryRoute: 401 everywhere under /api without a token,
// with a malformed one and with a well-formed one that is not ours.
func TestNoOrBadTokenOnEveryRoute(t *testing.T) {
	e := newAZ(t, server.Config{})
	_, secret, _ := strings.Cut(strings.TrimPrefix(e.admin, "posd_"), "_")
	bad := map[string]string{
		"none":          "",
		"garbage":       "garbage",
		"unknown id":    "posd_999_" + secret,
		"wrong secret":  "posd_1_" + strings.Repeat("A", len(secret)),
		"another's row": "posd_2_" + secret,
	}
	for _, rt := range azRoutes() {
		t.Run(rt.name, func(t *testing.T) {
			req := rt.req(t, e, 1)
			before := e.snapshot(t)
			for name, tok := range bad {
				r := e.s.Do(t, tok, req.method, req.path, req.body)
				if r.Status != http.StatusUnauthorized || r.ErrorCode() != "unauthorized" {
					t.Errorf("%s %s with %s token: %d %s, want 401 unauthorized", req.method, req.path, name, r.Status, r.Body)
				}
			}
			if after := e.snapshot(t); after != before {
				t.Fatalf("state changed: %s → %s", before, after)
			}
		})
	}
	// Other spellings of the header.
	for _, h := range []string{"Basic " + e.admin, "Bearer", "Bearer  ", e.admin, "Token " + e.admin} {
		r := e.s.Do(t, "", "GET", "/api/tokens", nil, "Authorization", h)
		if r.Status != http.StatusUnauthorized {
			t.Errorf("Authorization %.12q…: %d", h, r.Status)
		}
	}
	if r := e.s.Do(t, "", "GET", "/api/tokens", nil, "Authorization", "bearer "+e.admin); r.Status != 200 {
		t.Errorf("lower-case bearer: %d", r.Status)
	}
	// The API does not take ?token= (it would end up in proxy logs).
	if r := e.s.Do(t, "", "GET", "/api/tokens?token="+e.admin, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("?token= on the API: %d", r.Status)
	}
	// Liveness needs no token.
	if r := e.s.Do(t, "", "GET", "/healthz", nil); r.Status != 200 {
		t.Errorf("healthz: %d", r.Status)
	}
}

// TestNoLeakBetweenStalls: what a tenant token learns about another stall's
// orders is exactly what it learns about orders that do not exist.
func TestNoLeakBetweenStalls(t *testing.T) {
	e := newAZ(t, server.Config{})
	tok := e.tokens[authtest.Tenant]
	dt := e.tokens[authtest.DisplayTenant]
	foreign := e.order(t, 2)
	missing := foreign.ID + 1000
	type probe struct {
		name         string
		method, path string
		body         any
	}
	probes := func(id int64) []probe {
		return []probe{
			{"get", "GET", fmt.Sprintf("/api/orders/%d", id), nil},
			{"advance", "PATCH", fmt.Sprintf("/api/orders/%d/status", id), map[string]string{"status": "preparing"}},
			{"advance too far", "PATCH", fmt.Sprintf("/api/orders/%d/status", id), map[string]string{"status": "completed"}},
			{"cancel", "DELETE", fmt.Sprintf("/api/orders/%d", id), map[string]string{"reason": "x"}},
		}
	}
	for _, token := range []string{tok, dt} {
		for i, p := range probes(foreign.ID) {
			q := probes(missing)[i]
			a := e.s.Do(t, token, p.method, p.path, p.body)
			b := e.s.Do(t, token, q.method, q.path, q.body)
			norm := func(s []byte) string {
				return strings.ReplaceAll(string(s), fmt.Sprint(missing), fmt.Sprint(foreign.ID))
			}
			if a.Status != b.Status || norm(b.Body) != string(a.Body) {
				t.Errorf("%s: another stall's order answers %d %s, a missing one %d %s", p.name, a.Status, a.Body, b.Status, b.Body)
			}
		}
	}
	// QR tokens: another stall's code reads like an unknown one.
	a := e.s.Do(t, tok, "POST", "/api/qr/scan", map[string]string{"token": foreign.QR.Token})
	b := e.s.Do(t, tok, "POST", "/api/qr/scan", map[string]string{"token": "0123456789abcdef0123456789abcdef"})
	if a.Status != 404 || b.Status != 404 || string(a.Body) != string(b.Body) {
		t.Errorf("QR scan: foreign %d %s, unknown %d %s", a.Status, a.Body, b.Status, b.Body)
	}
	// Creating an order for another stall is 403 whether or not it exists,
	// with the same message shape; listing likewise.
	item := []map[string]any{{"name": "x", "quantity": 1, "unit_price": 1}}
	for _, tenant := range []int64{2, 99} {
		r := e.s.Do(t, tok, "POST", "/api/orders", map[string]any{"tenant_id": tenant, "customer_name": "a", "items": item})
		if r.Status != 403 {
			t.Errorf("create for tenant %d: %d %s", tenant, r.Status, r.Body)
		}
		if r := e.s.Do(t, tok, "GET", fmt.Sprintf("/api/orders?tenant_id=%d", tenant), nil); r.Status != 403 {
			t.Errorf("list tenant %d: %d %s", tenant, r.Status, r.Body)
		}
		if r := e.s.Do(t, tok, "GET", fmt.Sprintf("/api/events?room=tenant-%d", tenant), nil); r.Status != 403 {
			t.Errorf("events of tenant %d: %d %s", tenant, r.Status, r.Body)
		}
	}
	// Roles that may change no order get 403 whatever the id.
	for _, name := range []string{authtest.Kasir, authtest.Display, authtest.DisplayTenant, authtest.User} {
		for _, id := range []int64{foreign.ID, missing} {
			r := e.s.Do(t, e.tokens[name], "PATCH", fmt.Sprintf("/api/orders/%d/status", id), map[string]string{"status": "preparing"})
			if r.Status != 403 {
				t.Errorf("%s advancing order %d: %d", name, id, r.Status)
			}
		}
	}
	// A tenant's own listing never includes another stall's orders.
	var list struct {
		Orders []struct {
			TenantID int64 `json:"tenant_id"`
		}
	}
	e.s.MustDo(t, 200, tok, "GET", "/api/orders", nil, &list)
	for _, o := range list.Orders {
		if o.TenantID != 1 {
			t.Fatalf("tenant 1 lists an order of tenant %d", o.TenantID)
		}
	}
	// A refund by payment id is the kasir's; a tenant cannot probe ids.
	pid := e.payment(t, 2, 2)
	x := e.s.Do(t, tok, "POST", fmt.Sprintf("/api/payments/%d/refund", pid), map[string]string{"reason": "x"})
	y := e.s.Do(t, tok, "POST", fmt.Sprintf("/api/payments/%d/refund", pid+1000), map[string]string{"reason": "x"})
	if x.Status != 403 || y.Status != 403 || string(x.Body) != string(y.Body) {
		t.Errorf("refund probes: %d %s / %d %s", x.Status, x.Body, y.Status, y.Body)
	}
}

// --- sockets ---

// azTrigger makes an event that reaches room and returns a matcher for it.
func (e *azEnv) azTrigger(t *testing.T, room string) func(servertest.Frame) bool {
	t.Helper()
	var payload struct {
		Type string `json:"type"`
		Data struct {
			OrderID   int64 `json:"order_id"`
			PaymentID int64 `json:"payment_id"`
		} `json:"data"`
	}
	decode := func(f servertest.Frame) bool { return json.Unmarshal(f.Payload, &payload) == nil }
	switch {
	case room == "display":
		o := e.order(t, 2) // not tenant 1: keeps tenant-1 identities out of it
		return func(f servertest.Frame) bool {
			return f.Event == "order:created" && decode(f) && payload.Data.OrderID == o.ID
		}
	case strings.HasPrefix(room, "tenant-"):
		var n int64
		fmt.Sscanf(room, "tenant-%d", &n)
		o := e.order(t, n)
		return func(f servertest.Frame) bool {
			return f.Event == "order:created" && decode(f) && payload.Data.OrderID == o.ID
		}
	case strings.HasPrefix(room, "kasir-"):
		var n int64
		fmt.Sscanf(room, "kasir-%d", &n)
		pid := e.payment(t, 2, n)
		return func(f servertest.Frame) bool {
			return f.Event == "payment:processed" && decode(f) && payload.Data.PaymentID == pid
		}
	case strings.HasPrefix(room, "user-"):
		var n int64
		fmt.Sscanf(room, "user-%d", &n)
		e.seq++
		typ := fmt.Sprintf("marker_%d", e.seq)
		e.s.MustDo(t, 201, e.admin, "POST", "/api/notifications", map[string]any{"user_id": n, "type": typ, "data": map[string]any{}}, nil)
		return func(f servertest.Frame) bool { return f.Event == "notification" && decode(f) && payload.Type == typ }
	}
	t.Fatalf("no trigger for room %s", room)
	return nil
}

func (e *azEnv) head(t *testing.T) int64 {
	t.Helper()
	var o struct {
		Head int64 `json:"last_event_id"`
	}
	e.s.MustDo(t, 200, e.admin, "GET", "/api/orders?limit=1", nil, &o)
	return o.Head
}

// expectEvent reads until match; every event before it must be one the log
// routed to one of rooms after since (nothing from a refused room sneaks in).
func (e *azEnv) expectEvent(t *testing.T, c *websocket.Conn, since int64, rooms []string, match func(servertest.Frame) bool) {
	t.Helper()
	legit := map[int64]bool{}
	for _, room := range rooms {
		var page struct {
			Events []struct {
				Payload struct{ ID int64 } `json:"payload"`
			} `json:"events"`
		}
		e.s.MustDo(t, 200, e.admin, "GET", fmt.Sprintf("/api/events?since=%d&room=%s", since, room), nil, &page)
		for _, ev := range page.Events {
			legit[ev.Payload.ID] = true
		}
	}
	for {
		f := servertest.NextEvent(t, c, wait)
		if !legit[f.EventID()] {
			t.Fatalf("received event %d (%s) that is not routed to %v", f.EventID(), f.Event, rooms)
		}
		if match(f) {
			return
		}
	}
}

func azReadOp(t *testing.T, c *websocket.Conn, op string) servertest.Frame {
	t.Helper()
	for {
		f := servertest.Read(t, c, wait)
		if f.Op == "event" {
			t.Fatalf("event %s (%d) while waiting for %s", f.Event, f.EventID(), op)
		}
		if f.Op == op || f.Op == "error" {
			return f
		}
	}
}

// TestEveryRoleEveryRoomAtConnect: /ws?rooms=R is refused with HTTP 403
// before the upgrade outside the token's scope, and works inside it.
func TestEveryRoleEveryRoomAtConnect(t *testing.T) {
	e := newAZ(t, server.Config{})
	for _, jc := range authtest.JoinCases() {
		t.Run(jc.Identity+"/"+jc.Room, func(t *testing.T) {
			c, resp, err := e.s.TryDial(e.tokens[jc.Identity], "rooms="+jc.Room, nil)
			if !jc.Allowed {
				if err == nil {
					c.Close()
					t.Fatal("connected to a room outside the token's scope")
				}
				if resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Fatalf("refusal: %v, response %+v; want HTTP 403", err, resp)
				}
				var body struct {
					Error struct{ Code string } `json:"error"`
				}
				if json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Code != "forbidden" {
					t.Fatalf("refusal body code %q", body.Error.Code)
				}
				resp.Body.Close()
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			var ready servertest.Frame
			_, data, err := c.ReadMessage()
			if err != nil || json.Unmarshal(data, &ready) != nil || ready.Op != "ready" || !slices.Equal(ready.Rooms, []string{jc.Room}) {
				t.Fatalf("ready frame %s, %v", data, err)
			}
			since := e.head(t)
			e.expectEvent(t, c, since, []string{jc.Room}, e.azTrigger(t, jc.Room))
		})
	}
	// One foreign room among allowed ones refuses the whole connection.
	if _, resp, err := e.s.TryDial(e.tokens[authtest.Tenant], "rooms=tenant-1,tenant-2", nil); err == nil || resp.StatusCode != 403 {
		t.Fatalf("tenant-1,tenant-2 as tenant 1: %v", err)
	}
	// Without rooms=, a token joins its own rooms.
	c := e.s.Dial(t, e.tokens[authtest.DisplayTenant], "")
	if f := servertest.Read(t, c, wait); f.Op != "ready" {
		t.Fatalf("first frame %+v", f)
	}
	since := e.head(t)
	e.expectEvent(t, c, since, []string{"tenant-1"}, e.azTrigger(t, "tenant-1"))
}

// TestEveryRoleEveryRoomByJoin: {"op":"join"} outside the scope gets an
// error frame with code forbidden, and the connection stays usable: a later
// allowed join works and its events arrive, and nothing of the refused room.
func TestEveryRoleEveryRoomByJoin(t *testing.T) {
	e := newAZ(t, server.Config{})
	for _, jc := range authtest.JoinCases() {
		t.Run(jc.Identity+"/"+jc.Room, func(t *testing.T) {
			c := e.s.Dial(t, e.tokens[jc.Identity], "rooms=")
			if f := azReadOp(t, c, "ready"); f.Op != "ready" {
				t.Fatalf("first frame %+v", f)
			}
			since := e.head(t)
			if err := c.WriteJSON(map[string]string{"op": "join", "room": jc.Room}); err != nil {
				t.Fatal(err)
			}
			f := azReadOp(t, c, "joined")
			if jc.Allowed {
				if f.Op != "joined" || f.Room != jc.Room {
					t.Fatalf("join %s: %+v", jc.Room, f)
				}
				e.expectEvent(t, c, since, []string{jc.Room}, e.azTrigger(t, jc.Room))
				return
			}
			if f.Op != "error" || f.Code != "forbidden" {
				t.Fatalf("join %s: %+v, want error forbidden", jc.Room, f)
			}
			// The refused room's traffic, then an allowed join.
			e.azTrigger(t, jc.Room)
			own := authtest.OwnRoom(jc.Identity)
			if err := c.WriteJSON(map[string]string{"op": "join", "room": own}); err != nil {
				t.Fatal(err)
			}
			if f := azReadOp(t, c, "joined"); f.Op != "joined" || f.Room != own {
				t.Fatalf("join %s after a refusal: %+v", own, f)
			}
			e.expectEvent(t, c, since, []string{own}, e.azTrigger(t, own))
		})
	}
}

// TestRepeatedRefusalsCloseTheConnection: a client that keeps asking for
// rooms it may not join is eventually closed for policy violation, and a
// handful of refusals is not enough for that.
func TestRepeatedRefusalsCloseTheConnection(t *testing.T) {
	e := newAZ(t, server.Config{})
	c := e.s.Dial(t, e.tokens[authtest.User], "")
	azReadOp(t, c, "ready")
	for i := 0; i < 5; i++ {
		_ = c.WriteJSON(map[string]string{"op": "join", "room": "user-2"})
		if f := azReadOp(t, c, "joined"); f.Code != "forbidden" {
			t.Fatalf("refusal %d: %+v", i, f)
		}
	}
	_ = c.WriteJSON(map[string]string{"op": "join", "room": "user-1"})
	if f := azReadOp(t, c, "joined"); f.Op != "joined" {
		t.Fatalf("allowed join after refusals: %+v", f)
	}
	for i := 0; i < 100; i++ {
		if err := c.WriteJSON(map[string]string{"op": "join", "room": "display"}); err != nil {
			break
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("end of connection: %v, want close 1008", err)
			}
			return
		}
	}
}

// TestResumeStaysInScope: replay (since= at connect, or the resume op)
// delivers only the events of the rooms the token joined, plus alerts.
func TestResumeStaysInScope(t *testing.T) {
	e := newAZ(t, server.Config{})
	e.order(t, 1)
	e.order(t, 2)
	e.payment(t, 2, 2)
	e.s.MustDo(t, 201, e.admin, "POST", "/api/notifications", map[string]any{"user_id": 2, "type": "secret", "data": map[string]any{}}, nil)
	e.s.MustDo(t, 201, e.admin, "POST", "/api/notifications", map[string]any{"user_id": 1, "type": "mine", "data": map[string]any{}}, nil)
	e.s.MustDo(t, 201, e.admin, "POST", "/api/alerts", map[string]string{"severity": "info", "message": "everyone"}, nil)
	for _, id := range authtest.Identities() {
		if id.Name == authtest.Admin {
			continue
		}
		t.Run(id.Name, func(t *testing.T) {
			for _, how := range []string{"since", "resume"} {
				var c *websocket.Conn
				if how == "since" {
					c = e.s.Dial(t, e.tokens[id.Name], "since=0") // the token's default rooms
				} else {
					c = e.s.Dial(t, e.tokens[id.Name], "")
					azReadOp(t, c, "ready")
					if err := c.WriteJSON(map[string]any{"op": "resume", "since": 0}); err != nil {
						t.Fatal(err)
					}
				}
				var own []string
				for _, jc := range authtest.JoinCases() {
					if jc.Identity == id.Name && jc.Allowed {
						own = append(own, jc.Room)
					}
				}
				// Everything up to the alert must be routed to a room the
				// token may join (the alert goes to all).
				legit := map[int64]bool{}
				for _, room := range own {
					var page struct {
						Events []struct {
							Payload struct{ ID int64 } `json:"payload"`
						} `json:"events"`
					}
					e.s.MustDo(t, 200, e.admin, "GET", "/api/events?since=0&room="+room, nil, &page)
					for _, ev := range page.Events {
						legit[ev.Payload.ID] = true
					}
				}
				for {
					f := servertest.NextEvent(t, c, wait)
					if f.Event == "alert" {
						break
					}
					if !legit[f.EventID()] {
						t.Fatalf("%s replay delivered event %d (%s) outside %v", how, f.EventID(), f.Event, own)
					}
				}
				c.Close()
			}
		})
	}
}
