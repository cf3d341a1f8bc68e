package socketio

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
)

// memLog is an in-memory hub.Log.
type memLog struct {
	mu      sync.Mutex
	events  []domain.Event
	horizon int64
}

func (l *memLog) ReadEvents(_ context.Context, after int64, rooms []string, limit int) ([]domain.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []domain.Event
	for _, ev := range l.events {
		if ev.ID <= after {
			continue
		}
		for _, r := range ev.Rooms {
			if r == domain.RoomAll || slices.Contains(rooms, r) {
				out = append(out, ev)
				break
			}
		}
		if len(out) == limit {
			break
		}
	}
	return out, nil
}

func (l *memLog) Horizon(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.horizon, nil
}

// fakeAuth knows a fixed set of tokens.
type fakeAuth map[string]auth.Principal

func (a fakeAuth) Authenticate(_ context.Context, token, _ string) (auth.Principal, error) {
	if p, ok := a[token]; ok {
		return p, nil
	}
	return auth.Principal{}, domain.Errorf(domain.CodeUnauthorized, "missing or unknown token")
}

var testTokens = fakeAuth{
	"admin":   {TokenID: 1, Role: auth.RoleAdmin},
	"tenant1": {TokenID: 2, Role: auth.RoleTenant, TenantID: 1},
	"kasir3":  {TokenID: 3, Role: auth.RoleKasir, CounterID: 3},
	"admin2":  {TokenID: 4, Role: auth.RoleAdmin},
}

type env struct {
	t   testing.TB
	log *memLog
	hub *hub.Hub
	srv *Server
	ts  *httptest.Server

	mu     sync.Mutex
	nextID int64
}

func newEnv(t testing.TB, tweak func(*Config)) *env {
	t.Helper()
	lg := &memLog{}
	return newEnvWithHub(t, lg, hub.New(hub.Options{Encoders: []hub.Encoder{Encode}}, lg, nil), tweak)
}

func newEnvWithHub(t testing.TB, lg *memLog, h *hub.Hub, tweak func(*Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	go h.Run(ctx)
	cfg := Config{
		Hub: h, Proto: 0, Auth: testTokens,
		Origins:      auth.NewOriginPolicy([]string{"http://allowed.example"}),
		PingInterval: time.Hour, PingTimeout: time.Hour,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv := NewServer(cfg)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		cancel()
		<-h.Done()
	})
	return &env{t: t, log: lg, hub: h, srv: srv, ts: ts}
}

// publish commits an event to the log and hands it to the hub.
func (e *env) publish(name string, rooms ...string) domain.Event {
	e.mu.Lock()
	e.nextID++
	ev := domain.Event{
		ID: e.nextID, Name: name, Type: strings.ReplaceAll(strings.ReplaceAll(name, ":", "_"), "-", "_"),
		Timestamp: time.Date(2025, 2, 3, 10, 0, 0, 0, time.UTC),
		Data:      json.RawMessage(`{"order_id":` + itoa(e.nextID) + `}`), Rooms: rooms,
	}
	e.log.mu.Lock()
	e.log.events = append(e.log.events, ev)
	e.log.mu.Unlock()
	e.mu.Unlock()
	e.hub.Publish([]domain.Event{ev})
	return ev
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (e *env) url(query string) string { return e.ts.URL + "/socket.io/?" + query }

// pollClient speaks Engine.IO long-polling.
type pollClient struct {
	e   *env
	sid string
}

func (e *env) pollHandshake() (*pollClient, map[string]any) {
	e.t.Helper()
	status, body := e.get(e.url("EIO=4&transport=polling"), nil)
	if status != 200 || !strings.HasPrefix(body, "0{") {
		e.t.Fatalf("handshake: %d %q", status, body)
	}
	var open map[string]any
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil {
		e.t.Fatal(err)
	}
	return &pollClient{e: e, sid: open["sid"].(string)}, open
}

func (e *env) get(url string, hdr http.Header) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := httpClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// httpClient bounds every test request: a hang guard, not an assertion.
var httpClient = &http.Client{Timeout: 20 * time.Second}

func (e *env) post(url, body string) (int, string) {
	e.t.Helper()
	res, err := httpClient.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (c *pollClient) url() string { return c.e.url("EIO=4&transport=polling&sid=" + c.sid) }

// send posts packets in one payload.
func (c *pollClient) send(packets ...string) {
	c.e.t.Helper()
	status, body := c.e.post(c.url(), strings.Join(packets, "\x1e"))
	if status != 200 || body != "ok" {
		c.e.t.Fatalf("POST %q: %d %q", packets, status, body)
	}
}

// poll returns the packets of one GET (it blocks until there are some).
func (c *pollClient) poll() []string {
	c.e.t.Helper()
	status, body := c.e.get(c.url(), nil)
	if status != 200 {
		c.e.t.Fatalf("GET: %d %q", status, body)
	}
	return strings.Split(body, "\x1e")
}

// expect polls until it has collected len(want) packets and compares.
func (c *pollClient) expect(want ...string) {
	c.e.t.Helper()
	var got []string
	for len(got) < len(want) {
		got = append(got, c.poll()...)
	}
	if !slices.Equal(got, want) {
		c.e.t.Fatalf("got packets\n%q\nwant\n%q", got, want)
	}
}

// wsClient speaks Engine.IO over a WebSocket.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
}

func (e *env) dial(query string) *wsClient {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.url(query), "http")
	conn, res, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		e.t.Fatalf("dial %s: %v (status %d)", u, err, status)
	}
	e.t.Cleanup(func() { conn.Close() })
	return &wsClient{t: e.t, conn: conn}
}

func (w *wsClient) send(pkt string) {
	w.t.Helper()
	if err := w.conn.WriteMessage(websocket.TextMessage, []byte(pkt)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) read() string {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard, not an assertion
	_, msg, err := w.conn.ReadMessage()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return string(msg)
}

// next answers pings and returns the next other packet.
func (w *wsClient) next() string {
	w.t.Helper()
	for {
		m := w.read()
		if m == "2" {
			w.send("3")
			continue
		}
		return m
	}
}

func (w *wsClient) expect(want ...string) {
	w.t.Helper()
	for _, pkt := range want {
		if got := w.next(); got != pkt {
			w.t.Fatalf("got packet %q, want %q", got, pkt)
		}
	}
}

// connectReply checks a CONNECT reply and returns its sid and pid.
func connectReply(t testing.TB, pkt string) (sid, pid string) {
	t.Helper()
	if !strings.HasPrefix(pkt, "40{") {
		t.Fatalf("want CONNECT reply, got %q", pkt)
	}
	var v struct{ SID, PID string }
	if err := json.Unmarshal([]byte(pkt[2:]), &v); err != nil || v.SID == "" || v.PID == "" {
		t.Fatalf("CONNECT reply %q: %v", pkt, err)
	}
	return v.SID, v.PID
}

func enc(ev domain.Event) string { return string(Encode(nil, &ev)) }

// timeoutGuard bounds a read that must end; it is a hang guard, not an assertion.
func timeoutGuard() time.Time { return time.Now().Add(10 * time.Second) }
