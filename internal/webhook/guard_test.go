package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/webhook"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:4700::1111": true, "8.8.8.8": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "0.0.0.0": false, "::": false,
		"10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "100.64.0.1": false, "100.100.100.200": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "fd00:ec2::254": false,
		"::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "64:ff9b::7f00:1": false, "64:ff9b::808:808": true,
		"224.0.0.1": false, "ff02::1": false, "255.255.255.255": false, "198.18.0.1": false,
	} {
		if got := webhook.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v; want %v", addr, got, want)
		}
	}
}

func TestCheckURLAtRegistration(t *testing.T) {
	ctx := context.Background()
	strict := webhook.Policy{}
	for _, raw := range []string{
		"https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/",
		"https://localhost:8443/hook", // a name that resolves to loopback
		"https://[::ffff:127.0.0.1]/", "http://example.com/hook", "ftp://example.com/", "https://user:pw@example.com/",
		"https:///nohost", "", "https://example.com/" + strings.Repeat("a", webhook.MaxURLLen),
	} {
		if _, err := strict.CheckURL(ctx, raw); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("CheckURL(%q) = %v; want invalid", raw, err)
		}
	}
	if _, err := strict.CheckURL(ctx, "https://93.184.216.34/hook"); err != nil {
		t.Errorf("a public address refused: %v", err)
	}
	open := webhook.Policy{AllowPrivate: true, AllowHTTP: true}
	for _, raw := range []string{"http://127.0.0.1:9000/hook", "https://localhost/x", "http://10.0.0.1/"} {
		if _, err := open.CheckURL(ctx, raw); err != nil {
			t.Errorf("with --allow-private --allow-http, CheckURL(%q) = %v", raw, err)
		}
	}
}

// The guard runs on the address being dialed, after resolution: a URL
// that passed registration (or was never checked, as here) still cannot
// reach loopback, private or metadata addresses, and nothing reaches the
// loopback listener. The refused connections are never attempted, so no
// traffic leaves for 10.0.0.1 or 169.254.169.254.
func TestDialTimeGuard(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := webhook.NewClient(webhook.Policy{AllowHTTP: true})
	for _, raw := range []string{
		"http://127.0.0.1:" + port + "/", "http://[::1]:" + port + "/", "http://localhost:" + port + "/",
		"http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::ffff:127.0.0.1]:" + port + "/",
	} {
		res := c.Send(context.Background(), raw, webhook.NewSecret(), "1", time.Now(), []byte(`{}`))
		if res.OK() || !res.Refused || !errors.Is(res.Err, webhook.ErrRefused) {
			t.Errorf("Send(%s) = %+v; want refused", raw, res)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	// https is required unless allowed, at send time too.
	res := webhook.NewClient(webhook.Policy{AllowPrivate: true}).Send(context.Background(), srv.URL, webhook.NewSecret(), "1", time.Now(), []byte(`{}`))
	if !res.Refused || hits.Load() != 0 {
		t.Fatalf("http without --allow-http: %+v", res)
	}
}

// A redirect is never followed, even to an address the policy allows: a
// 3xx is a failure, and the target hears nothing.
func TestRedirectNotFollowed(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { targetHits.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	c := webhook.NewClient(webhook.Policy{AllowPrivate: true, AllowHTTP: true})
	res := c.Send(context.Background(), redirector.URL, webhook.NewSecret(), "1", time.Now(), []byte(`{}`))
	if res.OK() || res.Status != http.StatusTemporaryRedirect {
		t.Fatalf("redirect: %+v; want a 307 failure", res)
	}
	if targetHits.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// Only a short prefix of a response body is kept, however large it is.
func TestResponseBodyBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	}))
	defer srv.Close()
	c := webhook.NewClient(webhook.Policy{AllowPrivate: true, AllowHTTP: true})
	res := c.Send(context.Background(), srv.URL, webhook.NewSecret(), "1", time.Now(), []byte(`{}`))
	if res.OK() || res.Status != 400 || len(res.Err.Error()) > webhook.SnippetLen+40 {
		t.Fatalf("result %d, error of %d bytes", res.Status, len(res.Err.Error()))
	}
}
