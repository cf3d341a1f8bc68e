package server_test

// Security beyond the tables: revocation and expiry on live sockets, the
// admin token file, rate limiting, CORS and Origin, TLS, logs, --auth=off.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/auth/authtest"
	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// azClose reads until the connection ends and returns its close error.
func azClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("connection ended without a close frame: %v", err)
			}
			return ce
		}
	}
}

func azIssue(t *testing.T, s *servertest.Server, spec auth.TokenSpec) (int64, string) {
	t.Helper()
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/tokens", spec, &out)
	return out.ID, out.Token
}

func TestRevocationClosesLiveSockets(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	s.MustDo(t, 201, s.Admin, "POST", "/api/counters", map[string]string{"name": "Kasir 1"}, nil)
	id, tok := azIssue(t, s, auth.TokenSpec{Role: auth.RoleKasir, CounterID: 1})
	_, keep := azIssue(t, s, auth.TokenSpec{Role: auth.RoleKasir, CounterID: 1})
	// Two sockets of the revoked token (query and header), one of another.
	a := s.Dial(t, tok, "rooms=kasir-1")
	b, _, err := s.TryDial("", "rooms=display", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other := s.Dial(t, keep, "rooms=kasir-1")
	for _, c := range []*websocket.Conn{a, b, other} {
		if f := servertest.Read(t, c, wait); f.Op != "ready" {
			t.Fatalf("first frame %+v", f)
		}
	}
	s.MustDo(t, 200, s.Admin, "DELETE", fmt.Sprintf("/api/tokens/%d", id), nil, nil)
	for _, c := range []*websocket.Conn{a, b} {
		if ce := azClose(t, c); ce.Code != 4001 || ce.Text != "token revoked" {
			t.Fatalf("close %d %q, want 4001 token revoked", ce.Code, ce.Text)
		}
	}
	// Refused from then on, on the socket and the API.
	if _, resp, err := s.TryDial(tok, "", nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("redial with the revoked token: %v", err)
	}
	if r := s.Do(t, tok, "GET", "/api/orders", nil); r.Status != 401 {
		t.Fatalf("API with the revoked token: %d", r.Status)
	}
	// The other token's socket is untouched.
	_ = other.WriteJSON(map[string]string{"op": "ping"})
	if f := servertest.Read(t, other, wait); f.Op != "pong" {
		t.Fatalf("the other socket: %+v", f)
	}
	var list struct {
		Tokens []struct {
			ID      int64   `json:"id"`
			Revoked *string `json:"revoked_at"`
		}
	}
	s.MustDo(t, 200, s.Admin, "GET", "/api/tokens", nil, &list)
	for _, k := range list.Tokens {
		if (k.ID == id) != (k.Revoked != nil) {
			t.Fatalf("token %d revoked_at %v", k.ID, k.Revoked)
		}
	}
}

func TestExpiredTokens(t *testing.T) {
	clk := testutil.NewClock(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	s := servertest.Start(t, server.Config{Now: clk.Now, ExpiryCheckEvery: time.Hour})
	s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Stall", "code": "T1"}, nil)
	_, short := azIssue(t, s, auth.TokenSpec{Role: auth.RoleTenant, TenantID: 1, ExpiresIn: "1h"})
	_, long := azIssue(t, s, auth.TokenSpec{Role: auth.RoleTenant, TenantID: 1, ExpiresIn: "3h"})
	c := s.Dial(t, short, "")
	keep := s.Dial(t, long, "")
	servertest.Read(t, c, wait)
	servertest.Read(t, keep, wait)
	// The handler rechecks a token once its socket is registered, after the
	// ready frame went out; a pong means that recheck is behind us, so the
	// clock below moves for the sweep alone.
	for _, ws := range []*websocket.Conn{c, keep} {
		_ = ws.WriteJSON(map[string]string{"op": "ping"})
		if f := servertest.Read(t, ws, wait); f.Op != "pong" {
			t.Fatalf("before expiry: %+v", f)
		}
	}
	if n := s.CloseExpired(); n != 0 {
		t.Fatalf("closed %d before expiry", n)
	}
	clk.Add(time.Hour)
	// Refused at connect and on the API...
	_, resp, err := s.TryDial(short, "", nil)
	if err == nil || resp.StatusCode != 401 {
		t.Fatalf("dial with an expired token: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "expired") {
		t.Fatalf("refusal body %s", body)
	}
	if r := s.Do(t, short, "GET", "/api/orders", nil); r.Status != 401 {
		t.Fatalf("API: %d", r.Status)
	}
	// ...and an open socket of it is closed by the expiry sweep.
	if n := s.CloseExpired(); n != 1 {
		t.Fatalf("sweep closed %d, want 1", n)
	}
	if ce := azClose(t, c); ce.Code != 4001 || ce.Text != "token expired" {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	_ = keep.WriteJSON(map[string]string{"op": "ping"})
	if f := servertest.Read(t, keep, wait); f.Op != "pong" {
		t.Fatalf("unexpired socket: %+v", f)
	}
}

func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "posd.db")
	// Whatever sits at the token path is replaced, never written through.
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, db+".token"); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, server.Config{DBPath: db})
	if s.TokenFile() != db+".token" || s.Admin == "" {
		t.Fatalf("token file %q, admin token made: %v", s.TokenFile(), s.Admin != "")
	}
	fi, err := os.Lstat(s.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want a regular file with 0600", fi.Mode())
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	b, err := os.ReadFile(s.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if tok != s.Admin || string(b) != tok+"\n" {
		t.Fatalf("token file holds %q", b)
	}
	s.MustDo(t, 200, tok, "GET", "/api/tokens", nil, nil)
	if entries, _ := filepath.Glob(filepath.Join(dir, ".posd.db.token*")); len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// A restart keeps the token and the file; no second admin is made.
	s.Stop(t)
	s2 := servertest.Start(t, server.Config{DBPath: db})
	if s2.Admin != "" {
		t.Fatal("a restart created another admin token")
	}
	if b2, _ := os.ReadFile(db + ".token"); string(b2) != string(b) {
		t.Fatal("a restart rewrote the token file")
	}
	var list struct{ Tokens []json.RawMessage }
	s2.MustDo(t, 200, tok, "GET", "/api/tokens", nil, &list)
	if len(list.Tokens) != 1 {
		t.Fatalf("%d tokens after restart", len(list.Tokens))
	}
	// With auth off no token is made at all.
	off := servertest.Start(t, server.Config{AuthOff: true})
	if off.Admin != "" {
		t.Fatal("auth off created a token")
	}
	if _, err := os.Stat(off.TokenFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("auth off wrote a token file: %v", err)
	}
}

// fromAddr is an HTTP client whose connections come from local address ip.
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func TestRateLimit(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthFailBurst: 3, AuthFailEvery: time.Hour})
	get := func(hc *http.Client, tok string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/api/tokens", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	attacker := fromAddr("127.0.0.2")
	if r := get(attacker, s.Admin); r.StatusCode != 200 {
		t.Skipf("cannot send from 127.0.0.2 here (status %d)", r.StatusCode)
	}
	for i := 0; i < 3; i++ {
		if r := get(attacker, fmt.Sprintf("posd_1_guess%d", i)); r.StatusCode != 401 {
			t.Fatalf("guess %d: %d", i, r.StatusCode)
		}
	}
	r := get(attacker, "posd_1_guess")
	if r.StatusCode != 429 {
		t.Fatalf("after the burst: %d, want 429", r.StatusCode)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 3600 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// The address is blocked for good tokens too, and on the socket.
	if r := get(attacker, s.Admin); r.StatusCode != 429 {
		t.Fatalf("good token from the blocked address: %d", r.StatusCode)
	}
	u := strings.Replace(s.URL, "http", "ws", 1) + "/ws?token=" + url.QueryEscape(s.Admin)
	d := websocket.Dialer{NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	if _, resp, err := d.Dial(u, nil); err == nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("socket from the blocked address: %v", err)
	}
	// Everyone else is unaffected.
	if r := get(http.DefaultClient, s.Admin); r.StatusCode != 200 {
		t.Fatalf("another address: %d", r.StatusCode)
	}
	c := s.Dial(t, s.Admin, "")
	if f := servertest.Read(t, c, wait); f.Op != "ready" {
		t.Fatalf("socket from another address: %+v", f)
	}
}

func TestCORSAndOrigin(t *testing.T) {
	const good, evil = "http://good.example", "http://evil.example"
	s := servertest.Start(t, server.Config{CORSOrigins: []string{good}})
	preflight := func(origin, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("OPTIONS", s.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, idempotency-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/api/orders", "/api/orders/1/status", "/api/tokens"} {
		r := preflight(good, path)
		h := r.Header
		if r.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != good || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("preflight from %s to %s: %d %v", good, path, r.StatusCode, h)
		}
		for _, want := range []string{"POST", "PATCH", "DELETE"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), want) {
				t.Errorf("allow-methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), want)
			}
		}
		for _, want := range []string{"Authorization", "Content-Type", "Idempotency-Key"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("allow-headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("no Vary: Origin")
		}
	}
	// Foreign origins, look-alikes included, get 403 and no CORS header.
	for _, o := range []string{evil, "null", "http://good.example.evil.example", "https://good.example", "http://good.example:8080", good + ".", "http://evil.example/http://good.example"} {
		r := preflight(o, "/api/orders")
		if r.StatusCode != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("preflight from %q: %d %v", o, r.StatusCode, r.Header)
		}
	}
	// Actual requests: the good origin gets its exact echo, never "*";
	// a foreign one is refused even for a "simple" request (no preflight).
	r := s.Do(t, s.Admin, "GET", "/api/tenants", nil, "Origin", good)
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != good || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("GET from the good origin: %d %v", r.Status, r.Header)
	}
	for _, method := range []string{"GET", "POST"} {
		r := s.Do(t, s.Admin, method, "/api/alerts", `{"severity":"info","message":"csrf"}`, "Origin", evil, "Content-Type", "text/plain")
		if r.Status != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s from %s: %d %v", method, evil, r.Status, r.Header)
		}
	}
	var evs struct{ Events []json.RawMessage }
	s.MustDo(t, 200, s.Admin, "GET", "/api/events?since=0", nil, &evs)
	if len(evs.Events) != 0 {
		t.Fatal("a cross-site request sent an alert")
	}
	// The server's own pages (the board) are same-origin and need no listing.
	host := strings.TrimPrefix(s.URL, "http://")
	if r := s.Do(t, s.Admin, "GET", "/api/orders", nil, "Origin", "http://"+host); r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same-origin GET: %d %v", r.Status, r.Header)
	}
	// WebSocket upgrades: good and same-origin accepted, foreign refused
	// before the upgrade.
	for _, o := range []string{good, "http://" + host, ""} {
		h := http.Header{}
		if o != "" {
			h.Set("Origin", o)
		}
		c, _, err := s.TryDial(s.Admin, "", h)
		if err != nil {
			t.Fatalf("upgrade with Origin %q: %v", o, err)
		}
		c.Close()
	}
	for _, o := range []string{evil, "null", "https://good.example", "http://" + host + ".evil.example"} {
		_, resp, err := s.TryDial(s.Admin, "", http.Header{"Origin": {o}})
		if err == nil || resp == nil || resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("upgrade with Origin %q: %v", o, err)
		}
	}
	// No listed origins at all: only same-origin and non-browser clients.
	bare := servertest.Start(t, server.Config{})
	if r := bare.Do(t, bare.Admin, "GET", "/api/tenants", nil, "Origin", good); r.Status != 403 {
		t.Fatalf("no allow-list, foreign origin: %d", r.Status)
	}
	// "*" is never an allowed origin.
	star := servertest.Start(t, server.Config{CORSOrigins: []string{"*"}})
	if r := star.Do(t, star.Admin, "GET", "/api/tenants", nil, "Origin", evil); r.Status != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("wildcard list: %d %v", r.Status, r.Header)
	}
}

// azCerts writes a private CA and a server certificate for 127.0.0.1
// signed by it; it returns the paths of the CA, the cert and the key.
func azCerts(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "EC PRIVATE KEY", keyDER)
}

func TestTLS(t *testing.T) {
	caFile, certFile, keyFile := azCerts(t)
	s := servertest.Start(t, server.Config{TLSCert: certFile, TLSKey: keyFile})
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("URL %s", s.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.New(client.Config{Server: s.URL, Token: s.Admin, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTenant(ctx, "Stall", "T1"); err != nil {
		t.Fatalf("HTTPS API: %v", err)
	}
	// WSS with the same CA: live events.
	st := c.Subscribe(ctx, client.StreamOptions{Rooms: []string{"tenant-1"}})
	defer st.Close()
	live := false
	for !live {
		select {
		case u := <-st.Updates():
			if u.State != nil && u.State.Conn == client.Live {
				live = true
			} else if u.State != nil && u.State.Err != nil && u.State.Fatal {
				t.Fatalf("stream: %v", u.State.Err)
			}
		case <-ctx.Done():
			t.Fatal("stream over wss never went live")
		}
	}
	o, err := c.CreateOrder(ctx, client.OrderRequest{TenantID: 1, CustomerName: "Ani", Items: []client.ItemRequest{{Name: "Soto", Quantity: 1, UnitPrice: 20000}}})
	if err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		select {
		case u := <-st.Updates():
			if u.Event != nil && u.Event.Name == "order:created" {
				var d struct {
					OrderID int64 `json:"order_id"`
				}
				if err := u.Event.Decode(&d); err != nil || d.OrderID != o.ID {
					t.Fatalf("event %+v", u.Event)
				}
				got = true
			}
		case <-ctx.Done():
			t.Fatal("no event over wss")
		}
	}
	// Without the CA the client refuses the certificate, and says so.
	bare, err := client.New(client.Config{Server: s.URL, Token: s.Admin})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bare.Tenants(ctx)
	var ue *client.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want an unreachable error about the certificate", err)
	}
	if strings.Contains(err.Error(), s.Admin) {
		t.Fatal("the error shows the token")
	}
	// A wrong CA file is a clear local error.
	if _, err := client.New(client.Config{Server: s.URL, CAFile: keyFile}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("key as CA: %v", err)
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if resp, err := http.Get(strings.Replace(s.URL, "https", "http", 1) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
}

func TestTokensNeverLogged(t *testing.T) {
	var logs testutil.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := servertest.Start(t, server.Config{Logger: lg, AuthFailBurst: 4, AuthFailEvery: time.Hour, Pprof: true})
	s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Stall", "code": "T1"}, nil)
	id, tok := azIssue(t, s, auth.TokenSpec{Role: auth.RoleTenant, TenantID: 1})
	secrets := []string{s.Admin, tok}
	// Good and bad tokens through every door: header, ?token=, refused
	// joins, malformed frames, revocation, rate limiting, pprof.
	c := s.Dial(t, tok, "rooms=tenant-1")
	_ = c.WriteJSON(map[string]string{"op": "join", "room": "tenant-2"})
	_ = c.WriteMessage(websocket.TextMessage, []byte("{"+tok))
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	c2, _, err := s.TryDial("", "rooms=tenant-1", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, q := range []string{"rooms=tenant-2", "rooms=nope", "since=x"} {
		if _, _, err := s.TryDial(tok, q, nil); err == nil {
			t.Fatalf("dial %s succeeded", q)
		}
	}
	bad := tok[:len(tok)-4] + "AAAA"
	secrets = append(secrets, bad)
	s.Do(t, bad, "GET", "/api/orders", nil)
	s.TryDial(bad, "", nil)
	s.Do(t, tok, "GET", "/api/orders/999", nil)
	s.Do(t, tok, "POST", "/api/orders", `{"tenant_id":1,`+tok+`}`)
	s.Do(t, tok, "GET", "/debug/pprof/", nil)
	s.Do(t, "", "GET", "/api/orders?token="+tok, nil)
	s.MustDo(t, 200, s.Admin, "DELETE", fmt.Sprintf("/api/tokens/%d", id), nil, nil)
	azClose(t, c)
	for i := 0; i < 6; i++ {
		s.Do(t, tok, "GET", "/api/orders", nil) // revoked: failures, then 429
	}
	s.TryDial(tok, "", nil)
	// A garbage request line and a broken TLS attempt reach ErrorLog.
	if conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://")); err == nil {
		fmt.Fprintf(conn, "GET /ws?token=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\x00\r\n\r\n", tok, tok)
		io.Copy(io.Discard, conn)
		conn.Close()
	}
	c2.Close()
	s.Stop(t)
	out := logs.String()
	if !strings.Contains(out, "token revoked") {
		t.Fatalf("the log is not being captured:\n%s", out)
	}
	for _, sec := range secrets {
		_, secret, _ := strings.Cut(strings.TrimPrefix(sec, "posd_"), "_")
		if strings.Contains(out, secret) {
			t.Fatalf("a token secret is in the log:\n%s", out)
		}
	}
}

func TestAuthOff(t *testing.T) {
	var logs testutil.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, nil))
	s := servertest.Start(t, server.Config{AuthOff: true, Logger: lg})
	var h struct {
		Auth    string `json:"auth"`
		Warning string `json:"warning"`
	}
	s.MustDo(t, 200, "", "GET", "/healthz", nil, &h)
	if h.Auth != "off" || !strings.Contains(h.Warning, "OFF") {
		t.Fatalf("healthz %+v", h)
	}
	if !testutil.Await(wait, testutil.Poll, func() bool { return strings.Contains(logs.String(), "AUTHENTICATION IS OFF") }) {
		t.Fatalf("no start-up warning in:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatal("the warning is not at WARN level")
	}
	// Everything is allowed, with or without a token, even a made-up one.
	s.MustDo(t, 201, "", "POST", "/api/tenants", map[string]string{"name": "Stall", "code": "T1"}, nil)
	s.MustDo(t, 201, "garbage", "POST", "/api/alerts", map[string]string{"severity": "info", "message": "hi"}, nil)
	s.MustDo(t, 200, "", "GET", "/api/events?since=0", nil, nil)
	s.MustDo(t, 200, "", "GET", "/api/rooms", nil, nil)
	c := s.Dial(t, "", "rooms=tenant-1,kasir-9,user-4,display")
	if f := servertest.Read(t, c, wait); f.Op != "ready" {
		t.Fatalf("socket: %+v", f)
	}
	// The browser rules still hold: a foreign origin is refused.
	if r := s.Do(t, "", "POST", "/api/alerts", `{"severity":"info","message":"csrf"}`, "Origin", "http://evil.example", "Content-Type", "text/plain"); r.Status != 403 {
		t.Fatalf("cross-site POST with auth off: %d", r.Status)
	}
	// DNS rebinding: a page on a host name the attacker controls, resolved
	// to this server, is "same-origin" by its Host header. With auth off
	// only IP addresses and localhost count as the server's own pages.
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	rebind := func(srv *servertest.Server, host string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/api/alerts", strings.NewReader(`{"severity":"info","message":"rebound"}`))
		req.Host = host + ":" + port
		req.Header.Set("Origin", "http://"+host+":"+port)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := rebind(s, "rebind.example"); st != 403 {
		t.Fatalf("rebound POST with auth off: %d, want 403", st)
	}
	if st := rebind(s, "localhost"); st != 201 {
		t.Fatalf("same-origin POST from localhost with auth off: %d", st)
	}

	// With auth on, healthz says so and carries no warning.
	on := servertest.Start(t, server.Config{})
	var h2 map[string]any
	on.MustDo(t, 200, "", "GET", "/healthz", nil, &h2)
	if h2["auth"] != "on" || h2["warning"] != nil {
		t.Fatalf("healthz with auth on: %v", h2)
	}
}

// TestIssuedSecretsNeverStored: POST /api/tokens with an Idempotency-Key
// must not park the response (the secret) in the idempotency table; no
// secret is anywhere in the database files.
func TestIssuedSecretsNeverStored(t *testing.T) {
	db := filepath.Join(t.TempDir(), "posd.db")
	s := servertest.Start(t, server.Config{DBPath: db})
	var secrets []string
	for i := 0; i < 3; i++ {
		var out struct{ Token string }
		r := s.Do(t, s.Admin, "POST", "/api/tokens", map[string]any{"role": "tenant", "tenant_id": 1}, "Idempotency-Key", "same-key")
		if r.Status != 201 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("create %d: %d %v %s", i, r.Status, r.Header, r.Body)
		}
		r.JSON(t, &out)
		secrets = append(secrets, out.Token)
	}
	r := s.Do(t, s.Admin, "POST", "/api/tokens", map[string]any{"role": "user", "user_id": 1})
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("token response headers %v", r.Header)
	}
	if secrets[0] == secrets[1] {
		t.Fatal("a token secret was replayed from storage")
	}
	secrets = append(secrets, s.Admin)
	s.Stop(t) // checkpoint and close, so everything is in the files
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db + suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for _, tok := range secrets {
			_, secret, _ := strings.Cut(strings.TrimPrefix(tok, "posd_"), "_")
			if bytes.Contains(b, []byte(secret)) {
				t.Fatalf("a token secret is stored in %s", db+suffix)
			}
		}
	}
}

// TestIdempotencyKeyIsPerToken: keys belong to the token that sent them.
// Another token reusing a key neither reads the first token's stored
// answer nor is refused for it: its request is judged on its own, and
// keeps its own key.
func TestIdempotencyKeyIsPerToken(t *testing.T) {
	e := newAZ(t, server.Config{})
	body := map[string]any{"tenant_id": 1, "customer_name": "Ani", "items": []map[string]any{{"name": "Sate", "quantity": 1, "unit_price": 1000}}}
	first := e.s.Do(t, e.tokens[authtest.Tenant], "POST", "/api/orders", body, "Idempotency-Key", "k1")
	if first.Status != 201 {
		t.Fatalf("first: %d %s", first.Status, first.Body)
	}
	for name, want := range map[string]int{authtest.Admin: 201, authtest.Kasir: 403, authtest.User: 403} {
		r := e.s.Do(t, e.tokens[name], "POST", "/api/orders", body, "Idempotency-Key", "k1")
		if r.Status != want || bytes.Equal(r.Body, first.Body) || r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s reusing the key: %d %s (want its own %d)", name, r.Status, r.Body, want)
		}
	}
	if r := e.s.Do(t, e.tokens[authtest.Tenant], "POST", "/api/orders", body, "Idempotency-Key", "k1"); r.Status != 201 || !bytes.Equal(r.Body, first.Body) {
		t.Fatalf("the same token's retry: %d %s", r.Status, r.Body)
	}
	var list struct{ Orders []json.RawMessage }
	e.s.MustDo(t, 200, e.tokens[authtest.Admin], "GET", "/api/orders", nil, &list)
	if len(list.Orders) != 2 {
		t.Fatalf("%d orders, want 2 (the tenant's and the admin's)", len(list.Orders))
	}
}

// TestTokenRequestsCannotSmuggleFields: the token spec is exactly its
// fields; anything else is refused, and scope fields are checked per role.
func TestTokenRequestsCannotSmuggleFields(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	for _, body := range []string{
		`{"role":"tenant","tenant_id":1,"id":1}`,
		`{"role":"tenant","tenant_id":1,"hash":"00"}`,
		`{"role":"tenant","tenant_id":1,"token":"posd_1_x"}`,
		`{"role":"tenant","tenant_id":1,"revoked_at":null}`,
		`{"role":"tenant","tenant_id":1,"display":true}`,
		`{"role":"kasir","counter_id":1,"tenant_id":2}`,
		`{"role":"superuser"}`,
		`{"role":"admin","expires_in":"-5m"}`,
		`{"role":"tenant","tenant_id":"1"}`,
		`{"role":"tenant","tenant_id":1}{"role":"admin"}`,
	} {
		if r := s.Do(t, s.Admin, "POST", "/api/tokens", body); r.Status != 400 {
			t.Errorf("%s: %d %s", body, r.Status, r.Body)
		}
	}
	var list struct{ Tokens []json.RawMessage }
	s.MustDo(t, 200, s.Admin, "GET", "/api/tokens", nil, &list)
	if len(list.Tokens) != 1 {
		t.Fatalf("%d tokens after refused requests", len(list.Tokens))
	}
	for _, path := range []string{"/api/tokens/0", "/api/tokens/-1", "/api/tokens/abc", "/api/tokens/1%2F..%2F2"} {
		if r := s.Do(t, s.Admin, "DELETE", path, nil); r.Status != 400 && r.Status != 404 {
			t.Errorf("DELETE %s: %d", path, r.Status)
		}
	}
	if r := s.Do(t, s.Admin, "DELETE", "/api/tokens/999", nil); r.Status != 404 {
		t.Errorf("revoke unknown: %d", r.Status)
	}
}

func TestPprofIsAdminOnly(t *testing.T) {
	s := servertest.Start(t, server.Config{Pprof: true})
	_, tenant := azIssue(t, s, auth.TokenSpec{Role: auth.RoleTenant, TenantID: 1})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
		if r := s.Do(t, "", "GET", path, nil); r.Status != 401 {
			t.Errorf("%s without a token: %d", path, r.Status)
		}
		if r := s.Do(t, tenant, "GET", path, nil); r.Status != 403 {
			t.Errorf("%s as a tenant: %d", path, r.Status)
		}
		if r := s.Do(t, s.Admin, "GET", path, nil); r.Status != 200 {
			t.Errorf("%s as admin: %d", path, r.Status)
		}
	}
	// The command line (which could hold --token) is not served at all.
	if r := s.Do(t, s.Admin, "GET", "/debug/pprof/cmdline", nil); r.Status == 200 {
		t.Errorf("cmdline served")
	}
	off := servertest.Start(t, server.Config{})
	if r := off.Do(t, off.Admin, "GET", "/debug/pprof/", nil); r.Status == 200 {
		t.Errorf("pprof served without --pprof")
	}
}

// TestRevokedInDatabaseClosesSockets: a revocation written straight to the
// database (posd token revoke --db) refuses the token at once and closes its
// sockets at the next sweep.
func TestRevokedInDatabaseClosesSockets(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	id, tok := azIssue(t, s, auth.TokenSpec{Role: auth.RoleUser, UserID: 1})
	_, keep := azIssue(t, s, auth.TokenSpec{Role: auth.RoleUser, UserID: 1})
	c := s.Dial(t, tok, "")
	k := s.Dial(t, keep, "")
	servertest.Read(t, c, wait)
	servertest.Read(t, k, wait)
	if n := s.CloseRevoked(context.Background()); n != 0 {
		t.Fatalf("sweep closed %d before any revocation", n)
	}
	if ok, err := s.Store.RevokeToken(context.Background(), id, time.Now()); err != nil || !ok {
		t.Fatalf("revoke in the store: %v %v", ok, err)
	}
	if r := s.Do(t, tok, "GET", "/api/events?room=user-1", nil); r.Status != 401 {
		t.Fatalf("API after a database revocation: %d", r.Status)
	}
	if n := s.CloseRevoked(context.Background()); n != 1 {
		t.Fatalf("sweep closed %d, want 1", n)
	}
	if ce := azClose(t, c); ce.Code != 4001 {
		t.Fatalf("close %d %q", ce.Code, ce.Text)
	}
	_ = k.WriteJSON(map[string]string{"op": "ping"})
	if f := servertest.Read(t, k, wait); f.Op != "pong" {
		t.Fatalf("the other socket: %+v", f)
	}
}
