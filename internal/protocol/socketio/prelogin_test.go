package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

// gone reports whether the server has forgotten sid: a GET gets 400
// "Session ID unknown".
func (c *pollClient) gone(t *testing.T) {
	t.Helper()
	if status, body := c.e.get(c.url(), nil); status != 400 || !strings.Contains(body, "Session ID unknown") {
		t.Fatalf("GET = %d %q, want 400 Session ID unknown", status, body)
	}
}

func (e *env) closed(sid string) bool {
	sess := e.srv.session(sid)
	return sess == nil || sess.isClosed()
}

func TestWebSocketFirstAdvertisesNoUpgrades(t *testing.T) {
	e := newEnv(t, nil)
	w := e.dial("EIO=4&transport=websocket")
	open := w.read()
	var v struct{ Upgrades []string }
	if !strings.HasPrefix(open, "0{") || json.Unmarshal([]byte(open[1:]), &v) != nil {
		t.Fatalf("open packet %q", open)
	}
	if v.Upgrades == nil || len(v.Upgrades) != 0 || !strings.Contains(open, `"upgrades":[]`) {
		t.Fatalf("open packet %q, want upgrades: []", open)
	}
}

// The Engine.IO test suite's "forcefully closes the session": the client's
// close packet releases the waiting GET with a noop, and the session is
// gone for the next one.
func TestClientCloseReleasesTheWaitingPollWithANoop(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.pollHandshake()
	got := make(chan []string, 1)
	go func() { got <- c.poll() }()
	testutil.Eventually(t, 10*time.Second, "the GET to wait", func() bool {
		s := e.srv.session(c.sid)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.getActive
	})
	c.send("1")
	if p := <-got; len(p) != 1 || p[0] != "6" {
		t.Fatalf("waiting GET got %q, want the noop", p)
	}
	c.gone(t)
}

// The test suite's "closes the session upon ping timeout": nobody polled,
// so the next GET finds no session, not the ping and a close packet.
func TestPingTimeoutForgetsAnUnpolledSession(t *testing.T) {
	// The timeout outlasts the test's wait, so a session kept for a later
	// GET would still be there.
	e := newEnv(t, func(c *Config) { c.PingInterval, c.PingTimeout = 10*time.Millisecond, 300*time.Millisecond })
	c, _ := e.pollHandshake()
	testutil.Eventually(t, 10*time.Second, "the ping timeout", func() bool { return e.closed(c.sid) })
	c.gone(t)
}

// revokingAuth knows the tokens, but every recheck finds the token revoked:
// a revocation that landed between Authenticate and the hub's Register.
type revokingAuth struct{ fakeAuth }

func (revokingAuth) Recheck(context.Context, auth.Principal) error {
	return domain.Errorf(domain.CodeUnauthorized, "token revoked")
}

func TestConnectRechecksTheTokenAfterRegister(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Auth = revokingAuth{testTokens} })
	c, _ := e.pollHandshake()
	c.send(`40{"token":"admin"}`)
	c.expect(`44{"message":"token revoked","data":{"code":"unauthorized"}}`)
	if n := e.hub.Active(); n != 0 {
		t.Fatalf("hub holds %d clients after a revoked CONNECT", n)
	}
	if sess := e.srv.session(c.sid); sess.socket() != nil {
		t.Fatal("the session has a socket")
	}
}

// countingAuth records the failures it is told of.
type countingAuth struct {
	fakeAuth
	mu    sync.Mutex
	fails []string
}

func (a *countingAuth) CountFailure(remote string) {
	a.mu.Lock()
	a.fails = append(a.fails, remote)
	a.mu.Unlock()
}

func (a *countingAuth) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.fails)
}

func TestConnectWithoutTokenCountsAsAFailure(t *testing.T) {
	a := &countingAuth{fakeAuth: testTokens}
	e := newEnv(t, func(c *Config) { c.Auth = a })
	c, _ := e.pollHandshake()
	c.send("40")
	c.expect(`44{"message":"missing or unknown token","data":{"code":"unauthorized"}}`)
	if n := a.count(); n != 1 || !strings.HasPrefix(a.fails[0], "127.0.0.1:") {
		t.Fatalf("failures counted: %q, want one from 127.0.0.1", a.fails)
	}
	// A wrong token is the authenticator's to count; a good one is no failure.
	c.send(`40{"token":"wrong"}`)
	c.expect(`44{"message":"missing or unknown token","data":{"code":"unauthorized"}}`)
	c.send(`40{"token":"admin"}`)
	connectReply(t, c.poll()[0])
	if n := a.count(); n != 1 {
		t.Fatalf("failures counted: %d, want 1", n)
	}
}

func TestRefusedConnectsCloseTheSession(t *testing.T) {
	e := newEnv(t, nil) // 5 refusals allowed
	c, _ := e.pollHandshake()
	// One payload of many refused CONNECTs, never polled: the sixth
	// refusal closes the session and the rest of the payload is not read.
	c.send(strings.Repeat(`40{"token":"wrong"}`+"\x1e", 1000) + "3")
	if !e.closed(c.sid) {
		t.Fatal("session still open after 1000 refused CONNECTs")
	}
	c.gone(t)

	// Five refusals leave it usable.
	d, _ := e.pollHandshake()
	for range 5 {
		d.send(`40{"token":"wrong"}`)
	}
	d.send(`40{"token":"admin"}`)
	var got []string
	for len(got) < 6 {
		got = append(got, d.poll()...)
	}
	connectReply(t, got[5])
}

func TestPreloginQueueIsBounded(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxRefusedConnects, c.MaxPreloginQueue, c.MaxPreloginBytes = 100, 4, 1000 })
	// Packets: four refusals wait, the fifth overflows.
	c, _ := e.pollHandshake()
	for range 4 {
		c.send(`40/nope,`)
	}
	if e.closed(c.sid) {
		t.Fatal("closed with 4 packets queued, the limit")
	}
	c.send(`40/nope,`)
	if !e.closed(c.sid) {
		t.Fatal("open with 5 packets queued")
	}
	c.gone(t)
	// Bytes: a refusal that echoes a 2,000-byte namespace overflows 1,000.
	d, _ := e.pollHandshake()
	d.send(`40/` + strings.Repeat("n", 2000) + `,`)
	if !e.closed(d.sid) {
		t.Fatal("open with 2 KB queued")
	}
	d.gone(t)
}

// logBuffer collects a Server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPreloginSessionsAreCappedPerAddress(t *testing.T) {
	var logs logBuffer
	e := newEnv(t, func(c *Config) {
		c.MaxPreloginPerAddr = 2
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	a, _ := e.pollHandshake()
	e.pollHandshake()
	for range 3 {
		res, err := httpClient.Get(e.url("EIO=4&transport=polling"))
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Code    int
			Message string
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusTooManyRequests || body.Code != 3 || res.Header.Get("Retry-After") != "45" {
			t.Fatalf("third pre-login session: %d %+v Retry-After %q (%v), want 429, code 3, Retry-After 45",
				res.StatusCode, body, res.Header.Get("Retry-After"), err)
		}
	}
	u := "ws" + strings.TrimPrefix(e.url("EIO=4&transport=websocket"), "http")
	if _, res, err := websocket.DefaultDialer.Dial(u, nil); err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("WebSocket-first session over the cap: %v, want HTTP 429 before the upgrade", err)
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"Socket.IO handshake refused\""); n != 1 {
		t.Fatalf("%d WARN lines for 4 refusals from one address within a minute, want 1:\n%s", n, logs.String())
	}
	if n := e.srv.Prelogin(); n != 2 {
		t.Fatalf("Prelogin() = %d, want 2", n)
	}

	// A session that connects frees its slot...
	a.send(`40{"token":"admin"}`)
	connectReply(t, a.poll()[0])
	e.pollHandshake()
	// ...and takes one again when its socket disconnects: with none left,
	// the session is closed.
	a.send("41")
	if !e.closed(a.sid) {
		t.Fatal("a disconnected session stayed open over its address's cap")
	}
	if n := e.srv.Prelogin(); n != 2 {
		t.Fatalf("Prelogin() = %d, want 2", n)
	}
}

func TestConnectTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ConnectTimeout = 100 * time.Millisecond })
	c, _ := e.pollHandshake()
	w := e.dial("EIO=4&transport=websocket")
	w.read()
	ok, _ := e.pollHandshake()
	ok.send(`40{"token":"admin"}`)
	connectReply(t, ok.poll()[0])

	w.conn.SetReadDeadline(timeoutGuard())
	if _, _, err := w.conn.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) || !strings.Contains(err.Error(), "connect timeout") {
		t.Fatalf("WebSocket session without a socket: %v, want close 1000 connect timeout", err)
	}
	testutil.Eventually(t, 10*time.Second, "the polling session's connect timeout", func() bool { return e.closed(c.sid) })
	c.gone(t)
	// The connected session outlives the timeout.
	time.Sleep(200 * time.Millisecond)
	ok.send(`421["join-display"]`)
	ok.expect(`431[{"ok":true,"room":"display"}]`)
	if n := e.srv.Prelogin(); n != 0 {
		t.Fatalf("Prelogin() = %d, want 0", n)
	}
}
