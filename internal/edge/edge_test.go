package edge

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A listener with a cap of 3 per address: the fourth connection from one
// address is answered 503 and closed, another address is still served,
// and a closed connection gives its place back.
func TestListenerCapsEachAddress(t *testing.T) {
	e := New(Config{ConnsPerAddr: 3, MaxConns: 100})
	raw, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := e.Listener(raw, true)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", raw.Addr().(*net.TCPAddr).Port)
	var held []net.Conn
	for range 3 {
		dialFrom(t, "127.0.0.2", addr)
		held = append(held, <-accepted)
	}
	over := dialFrom(t, "127.0.0.2", addr)
	_ = over.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil {
		t.Fatalf("the connection over the cap got no answer: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the cap: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	dialFrom(t, "127.0.0.1", addr)
	select {
	case c := <-accepted:
		if got := AddrKey(c.RemoteAddr().String()); got != "127.0.0.1" {
			t.Fatalf("accepted %s, want the other address", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("another address was not served while one was at its cap")
	}
	if n, total := e.conns.get("127.0.0.2"); n != 3 || total != 4 {
		t.Fatalf("held %d for the address, %d in all; want 3 and 4", n, total)
	}
	held[0].Close()
	held[0].Close() // a second close gives nothing back twice
	if n, _ := e.conns.get("127.0.0.2"); n != 2 {
		t.Fatalf("after a close the address holds %d, want 2", n)
	}
	dialFrom(t, "127.0.0.2", addr)
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("a freed place was not given to the address again")
	}
	if c, _ := e.Refused(); c != 1 {
		t.Fatalf("refused %d connections, want 1", c)
	}
}

func TestListenerCapsAll(t *testing.T) {
	e := New(Config{ConnsPerAddr: 10, MaxConns: 2, TrustedProxies: mustPrefixes(t, "127.0.0.3")})
	if ok, _ := e.conns.take("127.0.0.3", 1, true); !ok {
		t.Fatal("a trusted proxy was refused below the overall cap")
	}
	if ok, _ := e.conns.take("127.0.0.1", 1, false); !ok {
		t.Fatal("refused below the overall cap")
	}
	if ok, perAddr := e.conns.take("127.0.0.2", 1, false); ok || perAddr {
		t.Fatalf("over the overall cap: ok=%v perAddr=%v; want refused by the overall cap", ok, perAddr)
	}
}

func mustPrefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePrefixes(t *testing.T) {
	p := mustPrefixes(t, " 10.0.0.0/8, 192.0.2.1 ,2001:db8::/32,::ffff:198.51.100.2")
	want := []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "198.51.100.2/32"}
	if len(p) != len(want) {
		t.Fatalf("got %v", p)
	}
	for i := range want {
		if p[i].String() != want[i] {
			t.Errorf("%d: %s, want %s", i, p[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestForwardedClient(t *testing.T) {
	e := New(Config{TrustedProxies: mustPrefixes(t, "127.0.0.3,10.0.0.0/8")})
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"127.0.0.3:5000", []string{"198.51.100.7"}, "198.51.100.7:0"},
		// The client may write anything left of what the proxy appended.
		{"127.0.0.3:5000", []string{"1.2.3.4, 198.51.100.7"}, "198.51.100.7:0"},
		{"127.0.0.3:5000", []string{"1.2.3.4", "198.51.100.7, 10.1.1.1"}, "198.51.100.7:0"},
		{"127.0.0.3:5000", []string{"2001:db8::1"}, "[2001:db8::1]:0"},
		// An untrusted peer's header is not believed.
		{"127.0.0.2:5000", []string{"198.51.100.7"}, "127.0.0.2:5000"},
		// Nothing usable: the proxy itself.
		{"127.0.0.3:5000", nil, "127.0.0.3:5000"},
		{"127.0.0.3:5000", []string{"10.2.2.2"}, "127.0.0.3:5000"},
		{"127.0.0.3:5000", []string{"1.2.3.4, bogus"}, "127.0.0.3:5000"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		var got string
		e.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }), nil).
			ServeHTTP(httptest.NewRecorder(), r)
		if got != c.want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}

// Bodies in flight are capped per address: while one address has a body
// stalled, its next one is refused with 429 (another address still gets
// in), and a body that never completes is cut off at BodyTimeout with 408.
func TestBodiesInFlightAndTimeout(t *testing.T) {
	e := New(Config{BodyBytesPerAddr: 1500, BodyBytes: 10_000, BodyTimeout: 500 * time.Millisecond, MaxBodyBytes: 1000})
	refuse := func(w http.ResponseWriter, _ *http.Request, err error) {
		var rf *Refusal
		if errors.As(err, &rf) {
			w.Header().Set("Retry-After", "1")
		}
		code := map[domain.Code]int{domain.CodeRateLimited: 429, domain.CodeUnavailable: 503}[domain.ErrorCode(err)]
		w.WriteHeader(code)
	}
	readErr := make(chan error, 4)
	h := e.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		if domain.ErrorCode(err) == domain.CodeTimeout {
			w.WriteHeader(http.StatusRequestTimeout)
		}
	}), refuse)
	srv := httptest.NewUnstartedServer(h)
	raw, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = raw
	srv.Start()
	defer srv.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", raw.Addr().(*net.TCPAddr).Port)

	stalled := dialFrom(t, "127.0.0.2", addr)
	fmt.Fprintf(stalled, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("a", 999))
	testutil.Eventually(t, 5*time.Second, "the stalled body to be counted", func() bool { n, _ := e.bodies.get("127.0.0.2"); return n == 1000 })

	post := func(src string) int {
		c := dialFrom(t, src, addr)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n%s", strings.Repeat("b", 600))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("post from %s: %v", src, err)
		}
		return resp.StatusCode
	}
	if got := post("127.0.0.2"); got != http.StatusTooManyRequests {
		t.Fatalf("a second body from the stalled address: %d, want 429", got)
	}
	if got := post("127.0.0.1"); got != http.StatusOK {
		t.Fatalf("another address: %d, want 200", got)
	}
	<-readErr // the other address's read
	_ = stalled.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(stalled), nil)
	if err != nil {
		t.Fatalf("the stalled body got no answer: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %d, want 408", resp.StatusCode)
	}
	if err := <-readErr; domain.ErrorCode(err) != domain.CodeTimeout {
		t.Fatalf("the handler read %v, want a request_timeout error", err)
	}
	testutil.Eventually(t, 5*time.Second, "the stalled body's place to be given back", func() bool { _, all := e.bodies.get(""); return all == 0 })
}
