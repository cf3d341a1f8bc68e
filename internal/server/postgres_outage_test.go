package server_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/store/postgres/pgtest"
)

// PostgreSQL has a bad minute: while it is away writes answer 503
// unavailable and change nothing, /healthz says degraded, a live socket
// stays open (it still answers pings), and once it is back the socket
// gets the next order's event, with no event lost or repeated.
func TestPostgresBadMinute(t *testing.T) {
	dsn, outage := pgtest.Through(t, pgtest.DSN(t))
	s := servertest.Start(t, server.Config{DBPath: dsn, TokenFile: filepath.Join(t.TempDir(), "admin.token")})
	s.MustDo(t, http.StatusCreated, s.Admin, "POST", "/api/tenants", `{"name":"Soto","code":"T1"}`, nil)
	order := `{"tenant_id":1,"customer_name":"Budi","items":[{"name":"Soto","quantity":1,"unit_price":20000}]}`
	ws := s.Dial(t, s.Admin, "rooms=tenant-1&since=0")
	frames := make(chan servertest.Frame, 64)
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				close(frames)
				return
			}
			var f servertest.Frame
			_ = json.Unmarshal(data, &f)
			frames <- f
		}
	}()
	next := func(op string) servertest.Frame {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatalf("the socket closed while waiting for %q", op)
				}
				if f.Op == op {
					return f
				}
			case <-timeout:
				t.Fatalf("no %q frame", op)
			}
		}
	}
	next("ready")
	s.MustDo(t, http.StatusCreated, s.Admin, "POST", "/api/orders", order, nil)
	first := next("event").EventID()

	outage.Cut()
	if r := s.Do(t, s.Admin, "POST", "/api/orders", order); r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "unavailable" {
		t.Fatalf("a write with the database away: %d %s, want 503 unavailable", r.Status, r.Body)
	}
	if r := s.Do(t, "", "GET", "/healthz", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("/healthz with the database away: %d %s, want 503 degraded", r.Status, r.Body)
	}
	if err := ws.WriteMessage(1, []byte(`{"op":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	next("pong") // the socket is alive through the outage

	outage.Restore()
	var r servertest.Response
	if !testutil.Await(20*time.Second, 100*time.Millisecond, func() bool {
		r = s.Do(t, s.Admin, "POST", "/api/orders", order)
		return r.Status == http.StatusCreated
	}) {
		t.Fatalf("writes did not come back: %d %s", r.Status, r.Body)
	}
	if got := next("event").EventID(); got != first+1 {
		t.Fatalf("after the outage the socket got event %d, want %d: the refused write took no id and nothing was lost", got, first+1)
	}
	var list struct {
		Orders []struct{ ID int64 } `json:"orders"`
	}
	s.MustDo(t, http.StatusOK, s.Admin, "GET", "/api/orders", nil, &list)
	if len(list.Orders) != 2 {
		t.Fatalf("%d orders, want 2: the refused write changed something", len(list.Orders))
	}
}
