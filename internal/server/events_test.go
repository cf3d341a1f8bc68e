package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
)

const wait = 10 * time.Second

// fixture creates two tenants, two counters and returns the server.
func fixture(t *testing.T) *servertest.Server {
	t.Helper()
	s := servertest.Start(t, server.Config{AuthOff: true})
	for _, code := range []string{"T1", "T2"} {
		s.MustDo(t, 201, "", "POST", "/api/tenants", map[string]string{"name": "Stall " + code, "code": code}, nil)
	}
	for _, name := range []string{"Kasir 1", "Kasir 2"} {
		s.MustDo(t, 201, "", "POST", "/api/counters", map[string]string{"name": name}, nil)
	}
	return s
}

type order struct {
	ID          int64  `json:"id"`
	OrderNumber string `json:"order_number"`
	TotalAmount int64  `json:"total_amount"`
	QR          struct {
		Token string `json:"token"`
		Code  string `json:"code"`
	} `json:"qr"`
}

func createOrder(t *testing.T, s *servertest.Server, tenant int64) order {
	t.Helper()
	var o order
	s.MustDo(t, 201, "", "POST", "/api/orders", map[string]any{
		"tenant_id": tenant, "customer_name": "John Doe",
		"items": []map[string]any{{"name": "Nasi Goreng", "quantity": 2, "unit_price": 20000}, {"name": "Es Teh", "quantity": 1, "unit_price": 10000}},
	}, &o)
	return o
}

// dialReady connects with rooms and waits for the ready frame.
func dialReady(t *testing.T, s *servertest.Server, rooms string) *websocket.Conn {
	t.Helper()
	c := s.Dial(t, s.Admin, "rooms="+rooms)
	if f := servertest.Read(t, c, wait); f.Op != "ready" {
		t.Fatalf("first frame %+v, want ready", f)
	}
	return c
}

// until reads event frames until an alert with message marker arrives and
// returns the events before it.
func until(t *testing.T, c *websocket.Conn, marker string) []servertest.Frame {
	t.Helper()
	var got []servertest.Frame
	for {
		f := servertest.NextEvent(t, c, wait)
		if f.Event == "alert" {
			var a struct{ Message string }
			_ = json.Unmarshal(f.Payload, &a)
			if a.Message == marker {
				return got
			}
		}
		got = append(got, f)
	}
}

func names(fs []servertest.Frame) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Event)
	}
	return strings.Join(out, ",")
}

var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// TestEveryEventInExactlyItsRooms drives each of the eight events and checks
// that every kind of room receives exactly the events docs/protocol.md routes
// to it (Rooms), with exactly the fields it lists (Events), once each.
func TestEveryEventInExactlyItsRooms(t *testing.T) {
	s := fixture(t)
	clients := map[string]*websocket.Conn{}
	for _, rooms := range []string{"tenant-1", "tenant-2", "kasir-1", "kasir-2", "display", "user-7", "user-8", "", "tenant-1,display,kasir-1"} {
		clients[rooms] = dialReady(t, s, rooms)
	}

	o := createOrder(t, s, 1)                                                                                // order:created
	s.MustDo(t, 200, "", "PATCH", fmt.Sprintf("/api/orders/%d/status", o.ID), `{"status":"preparing"}`, nil) // order:status_changed
	var pay struct{ ID int64 }
	s.MustDo(t, 201, "", "POST", "/api/payments", map[string]any{"order_id": o.ID, "amount_paid": 60000, "payment_method": "cash", "counter_id": 1}, &pay) // payment:processed
	s.MustDo(t, 201, "", "POST", fmt.Sprintf("/api/payments/%d/refund", pay.ID), `{"reason":"Customer requested","amount":10000}`, nil)                    // payment:refunded
	s.MustDo(t, 200, "", "POST", "/api/qr/scan", map[string]string{"token": o.QR.Token}, nil)                                                              // qr:scanned
	s.MustDo(t, 200, "", "DELETE", fmt.Sprintf("/api/orders/%d", o.ID), `{"reason":"Out of stock"}`, nil)                                                  // payment:refunded + order:cancelled
	s.MustDo(t, 201, "", "POST", "/api/notifications", `{"user_id":7,"type":"order_ready","data":{"order_id":1,"order_number":"T1-001"}}`, nil)            // notification
	for _, sev := range []string{"error", "warning", "info"} {
		s.MustDo(t, 201, "", "POST", "/api/alerts", map[string]string{"severity": sev, "message": "System maintenance in 5 minutes"}, nil) // alert
	}
	s.MustDo(t, 201, "", "POST", "/api/alerts", `{"severity":"info","message":"END"}`, nil)

	orderEvents := "order:created,order:status_changed,payment:processed,payment:refunded,qr:scanned,payment:refunded,order:cancelled"
	alerts := "alert,alert,alert"
	want := map[string]string{
		"tenant-1":                 orderEvents + "," + alerts,
		"display":                  orderEvents + "," + alerts,
		"tenant-1,display,kasir-1": orderEvents + "," + alerts, // in three target rooms: still once each
		"kasir-1":                  "payment:processed,payment:refunded,payment:refunded," + alerts,
		"tenant-2":                 alerts,
		"kasir-2":                  alerts,
		"user-7":                   "notification," + alerts,
		"user-8":                   alerts,
		"":                         alerts,
	}
	var all []servertest.Frame
	for rooms, c := range clients {
		got := until(t, c, "END")
		if names(got) != want[rooms] {
			t.Errorf("rooms %q got\n  %s\nwant\n  %s", rooms, names(got), want[rooms])
		}
		all = append(all, got...)
	}

	fields := map[string][]string{
		"order:created":        {"order_id", "order_number", "customer_name", "total_amount", "items_count", "status"},
		"order:status_changed": {"order_id", "order_number", "previous_status", "new_status", "transition", "customer_name"},
		"order:cancelled":      {"order_id", "order_number", "reason", "customer_name", "refund_amount"},
		"payment:processed":    {"payment_id", "order_id", "order_number", "amount_paid", "payment_method", "transaction_reference", "status", "change", "customer_name"},
		"payment:refunded":     {"refund_id", "order_id", "order_number", "refund_amount", "transaction_reference", "original_payment_id", "reason", "customer_name"},
		"qr:scanned":           {"qr_id", "order_id", "order_number", "token", "status", "scanned_count", "customer_name"},
		"notification":         {"order_id", "order_number"},
	}
	types := map[string]string{
		"order:created": "order_created", "order:status_changed": "order_status_changed", "order:cancelled": "order_cancelled",
		"payment:processed": "payment_processed", "payment:refunded": "payment_refunded", "qr:scanned": "qr_scanned",
		"notification": "order_ready", "alert": "system_alert",
	}
	for _, f := range all {
		var env map[string]json.RawMessage
		if err := json.Unmarshal(f.Payload, &env); err != nil {
			t.Fatal(err)
		}
		var typ, ts string
		_ = json.Unmarshal(env["type"], &typ)
		_ = json.Unmarshal(env["timestamp"], &ts)
		if typ != types[f.Event] {
			t.Errorf("%s has type %q", f.Event, typ)
		}
		if !rfc3339UTC.MatchString(ts) {
			t.Errorf("%s timestamp %q is not RFC 3339 UTC", f.Event, ts)
		}
		if f.EventID() <= 0 {
			t.Errorf("%s has no id", f.Event)
		}
		if f.Event == "alert" {
			keys := sortedKeys(env)
			if keys != "id,message,severity,timestamp,type" {
				t.Errorf("alert envelope keys %s", keys)
			}
			continue
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(env["data"], &data); err != nil {
			t.Fatalf("%s data: %v", f.Event, err)
		}
		wantKeys := append([]string(nil), fields[f.Event]...)
		sort.Strings(wantKeys)
		if got := sortedKeys(data); got != strings.Join(wantKeys, ",") {
			t.Errorf("%s data fields\n  %s\nwant\n  %s", f.Event, got, strings.Join(wantKeys, ","))
		}
	}

	// Spot-check values against the seed's examples.
	var created, changed, processed, cancelled struct {
		Data map[string]any `json:"data"`
	}
	for _, f := range all {
		switch f.Event {
		case "order:created":
			_ = json.Unmarshal(f.Payload, &created)
		case "order:status_changed":
			_ = json.Unmarshal(f.Payload, &changed)
		case "payment:processed":
			_ = json.Unmarshal(f.Payload, &processed)
		case "order:cancelled":
			_ = json.Unmarshal(f.Payload, &cancelled)
		}
	}
	if created.Data["order_number"] != "T1-001" || created.Data["total_amount"] != float64(50000) || created.Data["items_count"] != float64(3) || created.Data["status"] != "pending" {
		t.Errorf("order:created data %v", created.Data)
	}
	if changed.Data["transition"] != "pending → preparing" {
		t.Errorf("transition %v", changed.Data["transition"])
	}
	if processed.Data["change"] != float64(10000) || processed.Data["status"] != "success" ||
		!regexp.MustCompile(`^PAY-\d+-[A-Z0-9]{6}$`).MatchString(processed.Data["transaction_reference"].(string)) {
		t.Errorf("payment:processed data %v", processed.Data)
	}
	if cancelled.Data["refund_amount"] != float64(40000) || cancelled.Data["reason"] != "Out of stock" {
		t.Errorf("order:cancelled data %v (refund_amount must be what was left after the partial refund)", cancelled.Data)
	}
}

func sortedKeys[V any](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func TestJoinLeaveAndRoomCounts(t *testing.T) {
	s := fixture(t)
	c := dialReady(t, s, "")
	for _, room := range []string{"tenant-1", "kasir-1", "display"} {
		if err := c.WriteJSON(map[string]string{"op": "join", "room": room}); err != nil {
			t.Fatal(err)
		}
		if f := servertest.Read(t, c, wait); f.Op != "joined" || f.Room != room {
			t.Fatalf("join %s: %+v", room, f)
		}
	}
	d := dialReady(t, s, "display")
	_ = d
	var rooms struct{ Rooms map[string]int }
	s.MustDo(t, 200, "", "GET", "/api/rooms", nil, &rooms)
	if rooms.Rooms["display"] != 2 || rooms.Rooms["tenant-1"] != 1 || rooms.Rooms["kasir-1"] != 1 {
		t.Fatalf("rooms %v", rooms.Rooms)
	}
	var one struct {
		Room    string
		Clients int
	}
	s.MustDo(t, 200, "", "GET", "/api/rooms/display", nil, &one)
	if one.Clients != 2 {
		t.Fatalf("display clients %d", one.Clients)
	}
	var active struct{ Active int }
	s.MustDo(t, 200, "", "GET", "/api/connections", nil, &active)
	if active.Active != 2 {
		t.Fatalf("active %d, want 2", active.Active)
	}
	if err := c.WriteJSON(map[string]string{"op": "leave", "room": "tenant-1"}); err != nil {
		t.Fatal(err)
	}
	if f := servertest.Read(t, c, wait); f.Op != "left" || f.Room != "tenant-1" {
		t.Fatalf("leave: %+v", f)
	}
	// After leaving, tenant-1's events no longer arrive; display's still do.
	createOrder(t, s, 1)
	s.MustDo(t, 201, "", "POST", "/api/alerts", `{"severity":"info","message":"END"}`, nil)
	if got := names(until(t, c, "END")); got != "order:created" {
		t.Fatalf("after leave got %s, want one order:created (via display)", got)
	}
	if err := c.WriteJSON(map[string]string{"op": "leave", "room": "display"}); err != nil {
		t.Fatal(err)
	}
	servertest.Read(t, c, wait)
	createOrder(t, s, 1)
	s.MustDo(t, 201, "", "POST", "/api/alerts", `{"severity":"info","message":"END2"}`, nil)
	if got := names(until(t, c, "END2")); got != "" {
		t.Fatalf("after leaving display got %s", got)
	}

	// Disconnecting a room closes its clients with 4002.
	var disc struct{ Disconnected int }
	s.MustDo(t, 200, "", "DELETE", "/api/rooms/display/connections", nil, &disc)
	if disc.Disconnected != 1 {
		t.Fatalf("disconnected %d", disc.Disconnected)
	}
	_ = d.SetReadDeadline(time.Now().Add(wait))
	for {
		if _, _, err := d.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, 4002) {
				t.Fatalf("display client closed with %v, want 4002", err)
			}
			break
		}
	}
}

func TestAPIWorksWithNoClients(t *testing.T) {
	s := fixture(t)
	o := createOrder(t, s, 2)
	s.MustDo(t, 200, "", "PATCH", fmt.Sprintf("/api/orders/%d/status", o.ID), `{"status":"preparing"}`, nil)
	var active struct{ Active int }
	s.MustDo(t, 200, "", "GET", "/api/connections", nil, &active)
	if active.Active != 0 {
		t.Fatalf("active %d", active.Active)
	}
}

// TestClientDyingMidBroadcast: clients whose TCP connections vanish while
// events flow do not fail the API nor cost the others a single event.
func TestClientDyingMidBroadcast(t *testing.T) {
	s := fixture(t)
	good := dialReady(t, s, "display")
	var doomed []*websocket.Conn
	for range 5 {
		doomed = append(doomed, dialReady(t, s, "display"))
	}
	const n = 40
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if i == n/4 {
				for _, d := range doomed {
					d.UnderlyingConn().Close() // the peer dies without a close frame
				}
			}
			r := s.Do(t, "", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"x","items":[{"name":"a","quantity":1,"unit_price":1}]}`)
			if r.Status != http.StatusCreated {
				t.Errorf("order %d: %d %s", i, r.Status, r.Body)
			}
		}
		s.MustDo(t, 201, "", "POST", "/api/alerts", `{"severity":"info","message":"END"}`, nil)
	}()
	got := until(t, good, "END")
	wg.Wait()
	if len(got) != n {
		t.Fatalf("surviving client got %d events, want %d", len(got), n)
	}
	for i := 1; i < len(got); i++ {
		if got[i].EventID() <= got[i-1].EventID() {
			t.Fatalf("ids out of order: %d after %d", got[i].EventID(), got[i-1].EventID())
		}
	}
}
