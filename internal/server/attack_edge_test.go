package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const mib = 1 << 20

// stallPost opens a connection from a and sends a POST whose body stops
// one byte short of its Content-Length; the connection is left open.
func stallPost(a *attacker, addr, path string, size int) (net.Conn, error) {
	c, err := a.Dialer.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", path, size)
	// The server may refuse and close before the body is through: what
	// matters is what it holds, not whether this write completes.
	_, _ = c.Write([]byte(strings.Repeat("x", size-1)))
	return c, nil
}

// answered reports whether the server answered or closed c within d.
func answered(c net.Conn, d time.Duration) (status int, closed bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		return resp.StatusCode, true
	}
	var ne net.Error
	if ok := asNetErr(err, &ne); ok && ne.Timeout() {
		return 0, false
	}
	return 0, true // EOF or reset: closed by the server
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// An attacker on 127.0.0.2 opens 32 Socket.IO sessions (no token needed)
// and sends each a POST that stops one byte short of a 900 kB body, plus
// 100 such POSTs to the API. The server reads at most
// --body-bytes-per-addr of them at once (the other sessions' get 429; the
// API's are refused 401 before their bodies are read), cuts the stalled
// ones off after --body-timeout, and its memory hardly moves; a client on
// 127.0.0.1 is served throughout. (Read without a deadline, the bodies
// were held for ever.)
func TestAttackStalledBodies(t *testing.T) {
	p := attackServe(t, "--body-timeout", "2s")
	base := p.PeakRSS(t)
	evil := from("127.0.0.2")
	var paths []string
	for range 32 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, body, err := evil.Do(ctx, "GET", p.Base+"/socket.io/?EIO=4&transport=polling", "", nil)
		cancel()
		if err != nil || st != http.StatusOK {
			t.Fatalf("handshake: %d %s %v", st, body, err)
		}
		var open struct{ SID string }
		if err := json.Unmarshal(body[1:], &open); err != nil || open.SID == "" {
			t.Fatalf("handshake answer %q: %v", body, err)
		}
		paths = append(paths, "/socket.io/?EIO=4&transport=polling&sid="+open.SID)
	}
	for range 100 {
		paths = append(paths, "/api/orders")
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	sent := time.Now()
	for _, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := stallPost(evil, p.Addr, path, 900_000)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	written := time.Now() // on a loaded machine the writes themselves take a while
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	good := from("127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, body, err := good.Do(ctx, "POST", p.Base+"/api/tenants", p.Admin, `{"name":"Soto","code":"T1"}`)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("the honest client during the attack: %d %s %v", st, body, err)
	}
	// Every stalled body is answered or closed, the last ones once their
	// time is up.
	statuses := map[int]int{}
	var open int
	var last time.Duration
	for _, c := range conns {
		st, closed := answered(c, time.Until(written.Add(8*time.Second)))
		if !closed {
			open++
			continue
		}
		statuses[st]++
		last = max(last, time.Since(sent))
	}
	grew := p.PeakRSS(t) - base
	t.Logf("%d stalled 900 kB bodies from one address: peak RSS grew %.1f MiB; answers %v (0: closed); the last after %v",
		len(conns), float64(grew)/mib, statuses, last.Round(100*time.Millisecond))
	if open > 0 {
		t.Fatalf("%d of %d stalled bodies were still held 8 s after they were sent (--body-timeout 2s)", open, len(conns))
	}
	if statuses[http.StatusTooManyRequests] < 20 {
		t.Fatalf("answers %v: the sessions' bodies beyond the address's 4 MiB were not refused", statuses)
	}
	if last < 1500*time.Millisecond {
		t.Fatalf("every body was answered within %v: none was read until its timeout", last)
	}
	if grew > 48*mib {
		t.Fatalf("peak RSS grew %.1f MiB; one address must not make the server hold more than 48 MiB", float64(grew)/mib)
	}
	if !good.Healthy(p.Base) {
		t.Fatal("/healthz does not answer after the attack")
	}
}

// An attacker on 127.0.0.2 opens 600 connections and sends nothing (or a
// never-ending header): the server holds at most --max-conns-per-addr of
// them, answers the rest 503 at once, logs the refusal once, and a client
// on 127.0.0.1 still reaches /healthz, the API and both socket endpoints.
func TestAttackConnectionFlood(t *testing.T) {
	p := attackServe(t, "--max-conns-per-addr", "200")
	fds := p.FDs(t)
	evil := from("127.0.0.2")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 600 {
		c, err := evil.Dialer.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	refused := 0
	for _, c := range conns[200:] {
		if st, _ := answered(c, 2*time.Second); st == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused < 380 {
		t.Fatalf("%d of the 400 connections over the cap were answered 503", refused)
	}
	held := p.FDs(t) - fds
	t.Logf("600 idle connections from one address: the server holds %d more descriptors", held)
	if held > 200+16 {
		t.Fatalf("the server holds %d more descriptors for one address capped at 200", held)
	}
	good := from("127.0.0.1")
	if !good.Healthy(p.Base) {
		t.Fatal("/healthz does not answer during the flood")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, body, err := good.Do(ctx, "GET", p.Base+"/api/tenants", p.Admin, nil); err != nil || st != http.StatusOK {
		t.Fatalf("the API during the flood: %d %s %v", st, body, err)
	}
	if st, _, err := good.Do(ctx, "GET", p.Base+"/socket.io/?EIO=4&transport=polling", "", nil); err != nil || st != http.StatusOK {
		t.Fatalf("a Socket.IO handshake during the flood: %d %v", st, err)
	}
	ws := good.Dial(t, p.Addr)
	defer ws.Close()
	fmt.Fprintf(ws, "GET /ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", p.Admin)
	if st, _ := answered(ws, 5*time.Second); st != http.StatusSwitchingProtocols {
		t.Fatalf("/ws during the flood: %d, want 101", st)
	}
	if n := strings.Count(p.Stderr(), "this address holds too many"); n != 1 {
		t.Fatalf("the refusal was logged %d times, want once\n%s", n, tail(p.Stderr(), 2000))
	}
}

// An attacker on 127.0.0.2 sends 200 requests whose headers run on for
// 1 MB: each is answered 431 once past --max-header-bytes (32 KiB), and
// the server's memory hardly moves (with Go's default of 1 MiB it held
// hundreds of megabytes).
func TestAttackBigHeaders(t *testing.T) {
	p := attackServe(t)
	base := p.PeakRSS(t)
	evil := from("127.0.0.2")
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := evil.Dialer.Dial("tcp", p.Addr)
			if err != nil {
				return
			}
			defer c.Close()
			go func() {
				fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
				_, _ = io.Copy(c, io.LimitReader(repeatReader('a'), 1<<20))
			}()
			st, _ := answered(c, 10*time.Second)
			mu.Lock()
			statuses[st]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	grew := p.PeakRSS(t) - base
	t.Logf("200 requests with 1 MB of headers from one address: peak RSS grew %.1f MiB; answers %v", float64(grew)/mib, statuses)
	if statuses[http.StatusRequestHeaderFieldsTooLarge] < 190 {
		t.Fatalf("answers %v; want 431 for (nearly) every one", statuses)
	}
	if grew > 32*mib {
		t.Fatalf("peak RSS grew %.1f MiB", float64(grew)/mib)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// Behind --trusted-proxy the client is the address the proxy forwards:
// failed authentications from one forwarded client rate-limit that client
// only, and an untrusted peer cannot pick its address with the header.
func TestTrustedProxyForwardedFor(t *testing.T) {
	p := attackServe(t, "--trusted-proxy", "127.0.0.3")
	proxy := from("127.0.0.3")
	do := func(a *attacker, xff, token string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", p.Base+"/api/tenants", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := a.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bad := "posd_1_" + strings.Repeat("A", 43)
	for range 12 {
		do(proxy, "203.0.113.9, 198.51.100.7", bad)
	}
	if st := do(proxy, "198.51.100.7", p.Admin); st != http.StatusTooManyRequests {
		t.Fatalf("the guessing client behind the proxy: %d, want 429", st)
	}
	if st := do(proxy, "198.51.100.8", p.Admin); st != http.StatusOK {
		t.Fatalf("another client behind the same proxy: %d, want 200", st)
	}
	// An untrusted peer names 198.51.100.8 as itself: its failures are its
	// own address's, not the client it names.
	evil := from("127.0.0.2")
	for range 12 {
		do(evil, "198.51.100.8", bad)
	}
	if st := do(evil, "", p.Admin); st != http.StatusTooManyRequests {
		t.Fatalf("the untrusted peer: %d, want 429 for its own address", st)
	}
	if st := do(proxy, "198.51.100.8", p.Admin); st != http.StatusOK {
		t.Fatalf("the client an untrusted peer named: %d, want 200", st)
	}
}
