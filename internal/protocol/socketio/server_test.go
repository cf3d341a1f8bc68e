package socketio

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/testutil"
)

func TestPollingHandshake(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval, c.PingTimeout, c.MaxPayload = 25_000e6, 20_000e6, 1000 })
	_, open := e.pollHandshake()
	if got := open["upgrades"]; len(got.([]any)) != 1 || got.([]any)[0] != "websocket" {
		t.Errorf("upgrades = %v", got)
	}
	if open["pingInterval"] != float64(25000) || open["pingTimeout"] != float64(20000) || open["maxPayload"] != float64(1000) {
		t.Errorf("open = %v", open)
	}

	req, _ := http.NewRequest(http.MethodGet, e.url("EIO=4&transport=polling"), nil)
	req.Header.Set("Origin", "http://allowed.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://allowed.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials = %q", got)
	}
	if got := res.Header.Get("Content-Type"); got != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", got)
	}
}

func TestEngineErrors(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	tests := []struct {
		name, method, query, origin string
		status, code                int
		message                     string
	}{
		{"unknown transport", "GET", "EIO=4&transport=flash", "", 400, 0, "Transport unknown"},
		{"no transport", "GET", "EIO=4", "", 400, 0, "Transport unknown"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", "", 400, 1, "Session ID unknown"},
		{"post handshake", "POST", "EIO=4&transport=polling", "", 400, 2, "Bad handshake method"},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", "", 400, 3, "Bad request"},
		{"transport mismatch", "GET", "EIO=4&transport=websocket&sid=" + c.sid, "", 400, 3, "Bad request"},
		{"origin not allowed", "GET", "EIO=4&transport=polling", "http://evil.example", 403, 4, "Forbidden"},
		{"EIO 3", "GET", "EIO=3&transport=polling", "", 400, 5, "Unsupported protocol version"},
		{"no EIO", "GET", "transport=polling", "", 400, 5, "Unsupported protocol version"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, e.url(tt.query), strings.NewReader("40"))
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Code    int
			Message string
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err != nil || res.StatusCode != tt.status || body.Code != tt.code || body.Message != tt.message {
			t.Errorf("%s: %d %+v (%v), want %d {%d %s}", tt.name, res.StatusCode, body, err, tt.status, tt.code, tt.message)
		}
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s: CORS header %q for an unlisted origin", tt.name, got)
		}
	}
	// A malformed payload is a Bad request and ends the session: the next
	// GET finds no session (the Engine.IO test suite's "closes the session
	// upon invalid packet format").
	if status, _ := e.post(c.url(), "9nonsense"); status != 400 {
		t.Errorf("malformed POST: status %d, want 400", status)
	}
	if status, body := e.get(c.url(), nil); status != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Errorf("GET after a malformed POST = %d %q, want 400 Session ID unknown", status, body)
	}
}

func TestPollingConnectJoinEventAck(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.poll()[0])

	c.send(`421["join-tenant",1]`, `422["join-display"]`, `423["join-kasir","3"]`)
	c.expect(`431[{"ok":true,"room":"tenant-1"}]`, `432[{"ok":true,"room":"display"}]`, `433[{"ok":true,"room":"kasir-3"}]`)

	e.publish(domain.EventOrderCreated, "tenant-2", "display")              // display: yes
	e.publish(domain.EventPaymentProcessed, "tenant-9", "kasir-9")          // none
	ev3 := e.publish(domain.EventOrderStatusChanged, "tenant-1", "display") // both: once
	e.publish(domain.EventNotification, "user-5")                           // none
	ev5 := e.publish(domain.EventAlert, domain.RoomAll)                     // everyone
	c.expect(enc(e.log.events[0]), enc(ev3), enc(ev5))

	// leave works and is acknowledged; events of the room stop.
	c.send(`424["leave-display"]`, `425["leave-tenant",1]`)
	c.expect(`434[{"ok":true,"room":"display"}]`, `435[{"ok":true,"room":"tenant-1"}]`)
	e.publish(domain.EventOrderCreated, "tenant-1", "display")
	ev7 := e.publish(domain.EventPaymentProcessed, "tenant-1", "kasir-3", "display")
	c.expect(enc(ev7))
}

func TestRefusedJoinKeepsConnection(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	if open := w.read(); !strings.HasPrefix(open, `0{"sid":`) {
		t.Fatalf("open = %q", open)
	}
	w.send(`40{"token":"tenant1"}`)
	connectReply(t, w.next())
	w.send(`427["join-tenant",2]`)
	w.expect(`437[{"error":{"code":"forbidden","message":"this token may not join tenant-2"}}]`,
		`42["error",{"code":"forbidden","message":"this token may not join tenant-2"}]`)
	w.send(`42["join-display"]`) // no ack asked: only the error event
	w.expect(`42["error",{"code":"forbidden","message":"this token may not join display"}]`)
	w.send(`428["join-tenant","abc"]`)
	if got := w.next(); !strings.HasPrefix(got, `438[{"error":{"code":"invalid"`) {
		t.Fatalf("bad id ack = %q", got)
	}
	w.next() // its error event
	w.send(`429["no-such-event"]`)
	w.expect(`439[{"error":{"code":"invalid","message":"unknown event \"no-such-event\""}}]`)
	w.send(`4210["join-tenant",1]`)
	w.expect(`4310[{"ok":true,"room":"tenant-1"}]`)
	ev := e.publish(domain.EventOrderCreated, "tenant-1", "display")
	w.expect(enc(ev))
}

func TestConnectErrors(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"wrong"}`)
	c.expect(`44{"message":"missing or unknown token","data":{"code":"unauthorized"}}`)
	c.send(`40/admin,{"token":"admin"}`)
	c.expect(`44/admin,{"message":"Invalid namespace"}`)
	// Still usable: a good token connects on the same session.
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.poll()[0])

	// Token from the query string or the Authorization header.
	status, body := e.get(e.url("EIO=4&transport=polling&token=tenant1"), nil)
	if status != 200 {
		t.Fatal(status, body)
	}
	var open struct{ SID string }
	json.Unmarshal([]byte(body[1:]), &open)
	q := &pollClient{e: e, sid: open.SID}
	q.send("40")
	connectReply(t, q.poll()[0])
	q.send(`421["join-tenant",1]`)
	q.expect(`431[{"ok":true,"room":"tenant-1"}]`)

	status, body = e.get(e.url("EIO=4&transport=polling"), http.Header{"Authorization": {"Bearer kasir3"}})
	if status != 200 {
		t.Fatal(status, body)
	}
	json.Unmarshal([]byte(body[1:]), &open)
	h := &pollClient{e: e, sid: open.SID}
	h.send("40")
	connectReply(t, h.poll()[0])
	h.send(`421["join-kasir",3]`)
	h.expect(`431[{"ok":true,"room":"kasir-3"}]`)
}

func TestUpgradeFromPolling(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`, `421["join-tenant",1]`)
	var got []string
	for len(got) < 2 {
		got = append(got, c.poll()...)
	}
	connectReply(t, got[0])
	if got[1] != `431[{"ok":true,"room":"tenant-1"}]` {
		t.Fatalf("join ack = %q", got[1])
	}
	ev1 := e.publish(domain.EventOrderCreated, "tenant-1")
	c.expect(enc(ev1))

	pending := make(chan []string, 1)
	go func() { pending <- c.poll() }()

	w := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	w.send("2probe")
	w.expect("3probe")
	if got := <-pending; len(got) != 1 || got[0] != "6" {
		t.Fatalf("paused poll = %q, want noop", got)
	}
	ev2 := e.publish(domain.EventOrderStatusChanged, "tenant-1") // queued during the switch
	w.send("5")
	w.expect(enc(ev2))
	if status, _ := e.get(c.url(), nil); status != 400 {
		t.Errorf("GET after upgrade: %d, want 400", status)
	}
	w.send(`42["join-display"]`)
	w.send(`4211["join-user",7]`)
	w.expect(`4311[{"ok":true,"room":"user-7"}]`)
	ev3 := e.publish(domain.EventOrderCancelled, "tenant-1", "display")
	w.expect(enc(ev3))
}

// A client may send "5" and its next packets in one TCP segment: what the
// upgrade handshake read past "5" must be handled, not left waiting for
// more bytes.
func TestUpgradeFinishedInOneSegmentWithMorePackets(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.poll()[0])
	pending := make(chan []string, 1)
	go func() { pending <- c.poll() }()
	w := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	w.send("2probe")
	w.expect("3probe")
	<-pending
	var seg []byte
	for _, pkt := range []string{"5", `4212["join-user",7]`} {
		// Masked with a zero key: the payload goes as it is.
		seg = append(seg, 0x81, 0x80|byte(len(pkt)), 0, 0, 0, 0)
		seg = append(seg, pkt...)
	}
	if _, err := w.conn.NetConn().Write(seg); err != nil {
		t.Fatal(err)
	}
	w.expect(`4312[{"ok":true,"room":"user-7"}]`)
}

func TestWebSocketDirectAndDisconnect(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	var open struct {
		SID      string
		Upgrades []string
	}
	if m := w.read(); m[0] != '0' || json.Unmarshal([]byte(m[1:]), &open) != nil || open.SID == "" {
		t.Fatalf("open = %q", m)
	}
	w.send(`40{"token":"admin"}`)
	connectReply(t, w.next())
	w.send(`421["join-tenant",1]`)
	w.expect(`431[{"ok":true,"room":"tenant-1"}]`)
	if got := e.hub.Active(); got != 1 {
		t.Fatalf("hub has %d clients, want 1", got)
	}
	// DISCONNECT ends the socket, not the session; CONNECT again works.
	w.send("41")
	w.send(`40{"token":"admin"}`)
	connectReply(t, w.next())
	ev := e.publish(domain.EventAlert, domain.RoomAll)
	w.expect(enc(ev))
	e.publish(domain.EventOrderCreated, "tenant-1") // rooms were not kept
	w.send(`425["join-display"]`)
	w.expect(`435[{"ok":true,"room":"display"}]`)
}

func TestBinaryPacketsRefused(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	w.send(`40{"token":"admin"}`)
	connectReply(t, w.next())
	w.send(`451-3["join-tenant",{"_placeholder":true,"num":0}]`)
	if err := w.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	refusal := `{"error":{"code":"invalid","message":"binary packets are not supported by this server; send JSON"}}`
	w.expect(`433[`+refusal+`]`, `42["error",{"code":"invalid","message":"binary packets are not supported by this server; send JSON"}]`)
	// The attachment was swallowed, not misread; the connection is fine.
	w.send(`424["join-tenant",1]`)
	w.expect(`434[{"ok":true,"room":"tenant-1"}]`)
	// A binary frame nobody announced is a protocol error.
	w.conn.WriteMessage(websocket.BinaryMessage, []byte{9})
	w.conn.SetReadDeadline(timeoutGuard())
	for {
		if _, _, err := w.conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseProtocolError) {
				t.Fatalf("close = %v, want protocol error", err)
			}
			break
		}
	}
}

func TestMalformedSocketIOPacketClosesSession(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	w.send(`42["join-tenant"`)
	w.conn.SetReadDeadline(timeoutGuard())
	_, _, err := w.conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseProtocolError) {
		t.Fatalf("read = %v, want a protocol-error close", err)
	}
}

func TestRevokedGetsServerDisconnect(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	w.send(`40{"token":"tenant1"}`)
	connectReply(t, w.next())
	n := e.hub.CloseWhere(func(c *hub.Client) bool { return c.Tag().(auth.Principal).TokenID == 2 }, hub.Revoked)
	if n != 1 {
		t.Fatalf("closed %d, want 1", n)
	}
	w.expect(`42["error",{"code":"disconnected","message":"token revoked"}]`, "41")
	w.conn.SetReadDeadline(timeoutGuard())
	if _, _, err := w.conn.ReadMessage(); !websocket.IsCloseError(err, 4001) {
		t.Fatalf("close = %v, want 4001", err)
	}
}

func TestHeartbeat(t *testing.T) {
	// A client that answers stays connected through several pings (the
	// timeout is long so that a loaded machine cannot make it flaky).
	e := newEnv(t, func(c *Config) { c.PingInterval, c.PingTimeout = 5e6, 30e9 })
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	for range 3 {
		if got := w.read(); got != "2" {
			t.Fatalf("got %q, want ping", got)
		}
		w.send("3")
	}
	w.send(`40{"token":"admin"}`)
	connectReply(t, w.next())
	// A silent client is dropped after its ping goes unanswered.
	e = newEnv(t, func(c *Config) { c.PingInterval, c.PingTimeout = 5e6, 20e6 })
	s := e.dial("EIO=4&transport=websocket")
	s.read()
	if got := s.read(); got != "2" {
		t.Fatalf("got %q, want ping", got)
	}
	s.conn.SetReadDeadline(timeoutGuard())
	if _, _, err := s.conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("silent client: %v, want a close", err)
	}
}

func TestServerCloseEndsSessions(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	c, _ := e.pollHandshake()
	e.srv.Close()
	w.conn.SetReadDeadline(timeoutGuard())
	if _, _, err := w.conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("websocket: %v, want going away", err)
	}
	if got := c.poll(); len(got) != 1 || got[0] != "1" {
		t.Fatalf("poll after close = %q, want the close packet", got)
	}
	if status, _ := e.get(e.url("EIO=4&transport=polling"), nil); status == 200 {
		t.Fatalf("handshake after Close succeeded")
	}
}

func TestCORSPreflightAndLimits(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxPayload = 64 })
	for _, tt := range []struct {
		origin string
		listed bool
	}{{"http://allowed.example", true}, {"http://evil.example", false}} {
		req, _ := http.NewRequest(http.MethodOptions, e.url("EIO=4&transport=polling"), nil)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := res.Header.Get("Access-Control-Allow-Origin")
		if tt.listed && (got != tt.origin || res.Header.Get("Access-Control-Allow-Headers") != "authorization" ||
			!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST")) {
			t.Errorf("preflight from %s: headers %v", tt.origin, res.Header)
		}
		if !tt.listed && got != "" {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", tt.origin, got)
		}
	}

	// A POST over maxPayload is refused with 413 and ends the session.
	c, _ := e.pollHandshake()
	if status, _ := e.post(c.url(), `42["join-tenant","`+strings.Repeat("1", 100)+`"]`); status != http.StatusRequestEntityTooLarge {
		t.Errorf("large POST: %d, want 413", status)
	}
	// A websocket message over maxPayload closes the connection.
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	w.send(`42["` + strings.Repeat("x", 100) + `"]`)
	w.conn.SetReadDeadline(timeoutGuard())
	if _, _, err := w.conn.ReadMessage(); err == nil {
		t.Errorf("oversized websocket message did not close the connection")
	}

	// Two GETs at once on one session: the second is a Bad request.
	d, _ := e.pollHandshake()
	first := make(chan []string, 1)
	go func() { first <- d.poll() }()
	testutil.Eventually(t, 10*time.Second, "the first GET to be waiting", func() bool {
		d2 := e.srv.session(d.sid)
		d2.mu.Lock()
		defer d2.mu.Unlock()
		return d2.getActive
	})
	if status, _ := e.get(d.url(), nil); status != 400 {
		t.Errorf("overlapping GET: %d, want 400", status)
	}
	if got := <-first; got[len(got)-1] != "1" {
		t.Errorf("first GET after overlap = %q, want the close packet", got)
	}
}

func TestSessionLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSessions = 1 })
	e.pollHandshake()
	if status, _ := e.get(e.url("EIO=4&transport=polling"), nil); status != http.StatusServiceUnavailable {
		t.Errorf("second polling session: %d, want 503", status)
	}
	// A WebSocket over the cap is refused before the upgrade.
	u := "ws" + strings.TrimPrefix(e.url("EIO=4&transport=websocket"), "http")
	if _, res, err := websocket.DefaultDialer.Dial(u, nil); err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second websocket session: %v, want HTTP 503", err)
	}
}

func TestKickedPollingClientGetsServerDisconnect(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`, `421["join-display"]`)
	var got []string
	for len(got) < 2 {
		got = append(got, c.poll()...)
	}
	connectReply(t, got[0])
	if got[1] != `431[{"ok":true,"room":"display"}]` {
		t.Fatalf("join ack = %q", got[1])
	}
	if n := e.hub.DisconnectRoom("display"); n != 1 {
		t.Fatalf("kicked %d, want 1", n)
	}
	c.expect(`42["error",{"code":"disconnected","message":"disconnected by admin"}]`, "41", "1")
	if status, _ := e.get(c.url(), nil); status != 400 {
		t.Fatalf("session still known after the kick: %d", status)
	}
	if got := e.hub.Active(); got != 0 {
		t.Fatalf("hub still has %d clients", got)
	}
}

// Close then Wait: once Wait returns, no goroutine of the server is left,
// even for WebSocket clients that never answer the close frame (whose
// writer waits a moment for that answer). Both ways onto a WebSocket are
// covered: a fresh one, and one upgraded from polling.
func TestWaitOutlastsEveryGoroutine(t *testing.T) {
	e := newEnv(t, nil)
	fresh := e.dial("EIO=4&transport=websocket")
	fresh.read()
	fresh.send(`40{"token":"admin"}`)
	connectReply(t, fresh.next())

	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.poll()[0])
	pending := make(chan []string, 1)
	go func() { pending <- c.poll() }()
	up := e.dial("EIO=4&transport=websocket&sid=" + c.sid)
	up.send("2probe")
	up.expect("3probe")
	<-pending
	up.send("5")
	up.send(`4212["join-user",7]`)
	up.expect(`4312[{"ok":true,"room":"user-7"}]`)

	e.srv.Close()
	done := make(chan struct{})
	go func() { e.srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not return after Close")
	}
	// A goroutine that has just called Done may still be on its way out:
	// let it go a few times before looking. One still at work (a writer
	// lingering for a close answer) would be there every time.
	var left []string
	for range 100 {
		if left = serverGoroutines(); len(left) == 0 {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("goroutines left after Wait:\n%s", strings.Join(left, "\n\n"))
}

// serverGoroutines returns the stacks of goroutines running the server's
// or its WebSockets' code (not the tests').
func serverGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range []string{"wsconn.(*Conn).", "socketio.(*Server).", "socketio.(*session)."} {
			if strings.Contains(g, fn) && !strings.Contains(g, "socketio.Test") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
