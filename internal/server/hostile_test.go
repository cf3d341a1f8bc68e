package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// durRows counts what a refused request must not have written.
func durRows(t testing.TB, s *servertest.Server) string {
	t.Helper()
	db := durOpen(t, s.DBPath())
	defer db.Close()
	var parts []string
	for _, table := range []string{"tenants", "counters", "orders", "order_items", "payments", "qr_codes", "events", "event_rooms", "idempotency_keys"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", table, n))
	}
	return strings.Join(parts, " ")
}

func durItems(n int) string {
	var b strings.Builder
	b.WriteString(`{"tenant_id":1,"customer_name":"Eka","items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"Teh","quantity":1,"unit_price":5000}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// Hostile API bodies get a clear 4xx and write nothing.
func TestHostileAPIBodies(t *testing.T) {
	s := durStart(t, nil)
	durSeed(t, s, 1, 1)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(1, "Fajar"), nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/payments", map[string]any{"order_id": 1, "amount_paid": 50000, "payment_method": "card", "counter_id": 1}, nil)
	before := durRows(t, s)

	big := `{"tenant_id":1,"customer_name":"` + strings.Repeat("a", 1<<20) + `","items":[]}`
	order := func(customer, items string) string {
		return `{"tenant_id":1,"customer_name":` + customer + `,"items":[` + items + `]}`
	}
	item := `{"name":"Teh","quantity":1,"unit_price":5000}`
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"over 1 MiB", "POST", "/api/orders", big, 413, "too_large"},
		{"empty body", "POST", "/api/orders", "", 400, "invalid"},
		{"whitespace body", "POST", "/api/orders", " \n\t ", 400, "invalid"},
		{"not an object", "POST", "/api/orders", `[1,2,3]`, 400, "invalid"},
		{"null", "POST", "/api/orders", `null`, 400, "invalid"},
		{"truncated", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"x"`, 400, "invalid"},
		{"trailing garbage", "POST", "/api/orders", order(`"Gita"`, item) + ` x`, 400, "invalid"},
		{"two objects", "POST", "/api/orders", order(`"Gita"`, item) + order(`"Gita"`, item), 400, "invalid"},
		{"wrong type tenant_id", "POST", "/api/orders", `{"tenant_id":"1","customer_name":"Gita","items":[` + item + `]}`, 400, "invalid"},
		{"wrong type quantity", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":"2","unit_price":5000}`), 400, "invalid"},
		{"fractional price", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":1,"unit_price":5000.5}`), 400, "invalid"},
		{"price beyond int64", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":1,"unit_price":1e30}`), 400, "invalid"},
		{"unknown field", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Gita","items":[` + item + `],"discount":100}`, 400, "invalid"},
		{"unknown field in an item", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":1,"unit_price":5000,"price":1}`), 400, "invalid"},
		{"negative price", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":1,"unit_price":-5000}`), 400, "invalid"},
		{"zero quantity", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":0,"unit_price":5000}`), 400, "invalid"},
		{"negative quantity", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":-3,"unit_price":5000}`), 400, "invalid"},
		{"quantity × price overflows", "POST", "/api/orders", order(`"Gita"`, `{"name":"Teh","quantity":10000,"unit_price":4611686018427387904}`), 400, "invalid"},
		{"total overflows", "POST", "/api/orders", order(`"Gita"`, `{"name":"A","quantity":1,"unit_price":9223372036854775807},{"name":"B","quantity":1,"unit_price":1}`), 400, "invalid"},
		{"no items", "POST", "/api/orders", order(`"Gita"`, ``), 400, "invalid"},
		{"101 items", "POST", "/api/orders", durItems(101), 400, "invalid"},
		{"10,000 items", "POST", "/api/orders", durItems(10_000), 400, "invalid"},
		{"invalid UTF-8", "POST", "/api/orders", order("\"Gi\xfft\xc3a\"", item), 400, "invalid"},
		{"NUL escape", "POST", "/api/orders", order(`"Gi\u0000ta"`, item), 400, "invalid"},
		{"raw NUL byte", "POST", "/api/orders", order("\"Gi\x00ta\"", item), 400, "invalid"},
		{"NUL in an item name", "POST", "/api/orders", order(`"Gita"`, `{"name":"T\u0000eh","quantity":1,"unit_price":5000}`), 400, "invalid"},
		{"customer name too long", "POST", "/api/orders", order(`"`+strings.Repeat("é", 201)+`"`, item), 400, "invalid"},
		{"unknown tenant", "POST", "/api/orders", `{"tenant_id":99,"customer_name":"Gita","items":[` + item + `]}`, 404, "not_found"},
		{"negative payment", "POST", "/api/payments", `{"order_id":1,"amount_paid":-1,"payment_method":"cash","counter_id":1}`, 0, ""},
		{"payment unknown field", "POST", "/api/payments", `{"order_id":1,"amount_paid":1,"payment_method":"cash","counter_id":1,"tip":5}`, 400, "invalid"},
		{"payment bad method", "POST", "/api/payments", `{"order_id":1,"amount_paid":1,"payment_method":"gold","counter_id":1}`, 400, "invalid"},
		{"payment amount string", "POST", "/api/payments", `{"order_id":1,"amount_paid":"50000","payment_method":"cash","counter_id":1}`, 400, "invalid"},
		{"second payment", "POST", "/api/payments", `{"order_id":1,"amount_paid":50000,"payment_method":"cash","counter_id":1}`, 409, "conflict"},
		{"negative refund", "POST", "/api/payments/1/refund", `{"reason":"x","amount":-5}`, 0, ""},
		{"refund beyond payment", "POST", "/api/payments/1/refund", `{"reason":"x","amount":50001}`, 0, ""},
		{"refund unknown field", "POST", "/api/payments/1/refund", `{"reason":"x","amount":5,"to":"me"}`, 400, "invalid"},
		{"status unknown", "PATCH", "/api/orders/1/status", `{"status":"eaten"}`, 400, "invalid"},
		{"status skips", "PATCH", "/api/orders/1/status", `{"status":"completed"}`, 409, "conflict"},
		{"status wrong type", "PATCH", "/api/orders/1/status", `{"status":1}`, 400, "invalid"},
		{"status id not a number", "PATCH", "/api/orders/abc/status", `{"status":"preparing"}`, 400, "invalid"},
		{"status id overflows", "PATCH", "/api/orders/99999999999999999999/status", `{"status":"preparing"}`, 400, "invalid"},
		{"cancel unknown field", "DELETE", "/api/orders/1", `{"reason":"x","force":true}`, 400, "invalid"},
		{"qr empty", "POST", "/api/qr/scan", `{"token":""}`, 0, ""},
		{"qr unknown", "POST", "/api/qr/scan", `{"token":"nope"}`, 404, "not_found"},
		{"alert bad severity", "POST", "/api/alerts", `{"severity":"panic","message":"x"}`, 400, "invalid"},
		{"alert invalid UTF-8", "POST", "/api/alerts", "{\"severity\":\"info\",\"message\":\"\xc0\xaf\"}", 400, "invalid"},
		{"notification data not an object", "POST", "/api/notifications", `{"user_id":1,"type":"x","data":[1]}`, 400, "invalid"},
		{"notification data too large", "POST", "/api/notifications", `{"user_id":1,"type":"x","data":{"a":"` + strings.Repeat("b", 70<<10) + `"}}`, 400, "invalid"},
		{"notification user 0", "POST", "/api/notifications", `{"user_id":0,"type":"x","data":{}}`, 400, "invalid"},
		{"notification user overflows", "POST", "/api/notifications", `{"user_id":18446744073709551616,"type":"x","data":{}}`, 400, "invalid"},
		{"tenant code hostile", "POST", "/api/tenants", `{"name":"x","code":"<script>"}`, 400, "invalid"},
		{"counter unknown field", "POST", "/api/counters", `{"name":"x","id":7}`, 400, "invalid"},
	}
	for _, tc := range cases {
		for _, keyed := range []bool{false, true} {
			name := tc.name
			var headers []string
			if keyed {
				name += "/keyed"
				headers = []string{"Idempotency-Key", "hostile-" + tc.name}
			}
			t.Run(name, func(t *testing.T) {
				r := s.Do(t, "", tc.method, tc.path, tc.body, headers...)
				if r.Status < 400 || r.Status > 499 {
					t.Fatalf("%d %s: want a 4xx", r.Status, durTruncate(r.Body))
				}
				if tc.status != 0 && (r.Status != tc.status || r.ErrorCode() != tc.code) {
					t.Fatalf("%d %s, want %d %s", r.Status, durTruncate(r.Body), tc.status, tc.code)
				}
				if r.ErrorCode() == "" || !strings.Contains(string(r.Body), `"message":"`) {
					t.Fatalf("no error code and message: %s", durTruncate(r.Body))
				}
				if after := durRows(t, s); after != before {
					t.Fatalf("a refused request wrote:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

func durTruncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// Hostile WebSocket input: every refusal is clear, and the connection
// survives what it should survive.
func TestHostileWebSocket(t *testing.T) {
	s := durStart(t, func(c *server.Config) {
		c.WSReadLimit = 4 << 10
		c.Hub.MaxRoomsPerConn = 3
		c.Hub.MaxConnections = 4
	})
	read := func(t *testing.T, c *websocket.Conn) servertest.Frame {
		t.Helper()
		for {
			f := servertest.Read(t, c, 10*time.Second)
			if f.Op != "ready" {
				return f
			}
		}
	}

	t.Run("bad frames get error frames", func(t *testing.T) {
		c := s.Dial(t, "", "rooms=display")
		for _, tc := range []struct {
			typ  int
			data string
		}{
			{websocket.TextMessage, `{"op":"join"`},
			{websocket.TextMessage, `not json`},
			{websocket.TextMessage, `{"op":"dance"}`},
			{websocket.TextMessage, `{"room":"display"}`},
			{websocket.TextMessage, `{"op":"join"}`},
			{websocket.TextMessage, `{"op":"join","room":"kitchen"}`},
			{websocket.TextMessage, `{"op":"resume","since":-4}`},
			{websocket.TextMessage, `{"op":"resume","since":"4"}`},
			{websocket.TextMessage, "{\"op\":\"join\",\"room\":\"\xff\"}"},
			{websocket.BinaryMessage, `{"op":"join","room":"display"}`},
		} {
			if err := c.WriteMessage(tc.typ, []byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			if f := read(t, c); f.Op != "error" || f.Code == "" || f.Message == "" {
				t.Fatalf("%q: %+v, want an error frame", tc.data, f)
			}
		}
		// Still up and serving.
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"tenant-1"}`)); err != nil {
			t.Fatal(err)
		}
		if f := read(t, c); f.Op != "joined" || f.Room != "tenant-1" {
			t.Fatalf("after the bad frames: %+v", f)
		}
	})

	t.Run("repeated abuse closes 1008", func(t *testing.T) {
		c := s.Dial(t, "", "rooms=display")
		var code int
		for i := 0; i < 100 && code == 0; i++ {
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"nope"}`))
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				_, _, err := c.ReadMessage()
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
					break
				}
				if err != nil {
					t.Fatalf("after %d bad frames: %v", i+1, err)
				}
				break
			}
		}
		if code != websocket.ClosePolicyViolation {
			t.Fatalf("close code %d, want 1008", code)
		}
	})

	t.Run("frame over the read limit closes 1009", func(t *testing.T) {
		c := s.Dial(t, "", "rooms=display")
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"`+strings.Repeat("x", 8<<10)+`"}`))
		r := durRead(c, func(durFrame) {})
		if code, _ := r.wait(t, 10*time.Second); code != websocket.CloseMessageTooBig {
			t.Fatalf("close %d (%v), want 1009", code, r.err)
		}
	})

	t.Run("unmasked client frame closes 1002", func(t *testing.T) {
		c := s.Dial(t, "", "rooms=display")
		// A client must mask its frames (RFC 6455 §5.1); gorilla always
		// does, so write this one to the socket under it.
		if _, err := c.NetConn().Write([]byte{0x81, 0x02, 'h', 'i'}); err != nil {
			t.Fatal(err)
		}
		r := durRead(c, func(durFrame) {})
		if code, _ := r.wait(t, 10*time.Second); code != websocket.CloseProtocolError {
			t.Fatalf("close %d (%v), want 1002", code, r.err)
		}
	})

	t.Run("ping is answered with its payload", func(t *testing.T) {
		c := s.Dial(t, "", "rooms=display")
		got := make(chan string, 1)
		c.SetPongHandler(func(p string) error { got <- p; return nil })
		if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		go func() {
			for { // control frames are handled inside ReadMessage
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		select {
		case p := <-got:
			if p != "are you there" {
				t.Fatalf("pong %q", p)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no pong")
		}
	})

	t.Run("room cap", func(t *testing.T) {
		c := s.Dial(t, "", "rooms=display,tenant-1,tenant-2")
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"tenant-3"}`))
		if f := read(t, c); f.Op != "error" || !strings.Contains(f.Message, "too many rooms") {
			t.Fatalf("join beyond the cap: %+v", f)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"leave","room":"tenant-2"}`))
		if f := read(t, c); f.Op != "left" {
			t.Fatalf("leave: %+v", f)
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"op":"join","room":"tenant-3"}`))
		if f := read(t, c); f.Op != "joined" {
			t.Fatalf("join after a leave: %+v", f)
		}
		// Too many at connect: refused with a reason.
		c2, resp, err := s.TryDial("", "rooms=display,tenant-1,tenant-2,tenant-3", nil)
		if err == nil {
			defer c2.Close()
			r := durRead(c2, func(durFrame) {})
			code, text := r.wait(t, 10*time.Second)
			if code != websocket.ClosePolicyViolation || !strings.Contains(text, "too many rooms") {
				t.Fatalf("4 rooms at connect: close %d %q", code, text)
			}
		} else if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("4 rooms at connect: %v %v", err, resp)
		}
	})

	t.Run("connection cap", func(t *testing.T) {
		testutil.Eventually(t, 30*time.Second, "earlier sockets to go", func() bool { return s.Hub.Active() == 0 })
		var open []*websocket.Conn
		for s.Hub.Active() < 4 {
			open = append(open, s.Dial(t, "", "rooms=display"))
			testutil.Eventually(t, 10*time.Second, "registration", func() bool { return s.Hub.Active() >= len(open) })
		}
		c, resp, err := s.TryDial("", "rooms=display", nil)
		if err != nil {
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("fifth connection: %v %v", err, resp)
			}
			return
		}
		defer c.Close()
		r := durRead(c, func(durFrame) {})
		code, text := r.wait(t, 10*time.Second)
		if code != 1013 || !strings.Contains(text, "too many connections") {
			t.Fatalf("fifth connection: close %d %q, want 1013", code, text)
		}
		if s.Hub.Active() != 4 {
			t.Fatalf("%d active", s.Hub.Active())
		}
		for _, o := range open {
			o.Close()
		}
	})
}
