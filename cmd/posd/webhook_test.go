package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/internal/webhook"
	"github.com/posd/posd/internal/webhook/webhooktest"
)

// posd webhook add, list, pause, resume and remove against a real server:
// the secret is printed once, at add, and never by list; list says what
// state each endpoint is in, and for a disabled one since when and why,
// for a retrying one since when, how many attempts failed, when the next
// is, and the last error.
func TestWebhookCommands(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true, Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	webhookCLI := func(args ...string) string {
		t.Helper()
		out, stderr, code := run(t, append(append([]string{"webhook"}, args...), "--server", s.URL)...)
		if code != 0 {
			t.Fatalf("posd webhook %v: exit %d, %q %q", args, code, out, stderr)
		}
		return out
	}
	ok, gone, down := webhooktest.New(t), webhooktest.New(t), webhooktest.New(t)
	gone.Respond(func(webhooktest.Message) int { return http.StatusGone })
	down.Respond(func(webhooktest.Message) int { return http.StatusServiceUnavailable })

	out := webhookCLI("add", "--url", ok.URL+"/posd", "--event", "order:created")
	m := regexp.MustCompile(`^webhook 1 added: (\S+)\nsecret \(shown once; receivers verify signatures with it\):\n(whsec_\S+)\n$`).FindStringSubmatch(out)
	if m == nil || m[1] != ok.URL+"/posd" {
		t.Fatalf("add printed %q", out)
	}
	secret := m[2]
	// The same key again (a retry after a lost answer): the same endpoint
	// and secret, not a second endpoint.
	for range 2 {
		if out := webhookCLI("add", "--url", gone.URL, "--idempotency-key", "gone-1"); !strings.Contains(out, "webhook 2 added") {
			t.Fatalf("keyed add printed %q", out)
		}
	}
	webhookCLI("add", "--url", down.URL)

	// An order: endpoint 2 answers 410 (disabled), 3 answers 503 (retrying).
	s.MustDo(t, 201, "", "POST", "/api/tenants", map[string]string{"name": "Warung", "code": "T1"}, nil)
	s.MustDo(t, 201, "", "POST", "/api/orders", map[string]any{"tenant_id": 1, "customer_name": "Siti",
		"items": []map[string]any{{"name": "Nasi", "quantity": 1, "unit_price": 15000}}}, nil)
	testutil.EventuallyNil(t, 10*time.Second, func() error {
		var hooks struct {
			Webhooks []struct {
				State        string `json:"state"`
				FailingSince any    `json:"failing_since"`
			} `json:"webhooks"`
		}
		s.MustDo(t, 200, "", "GET", "/api/webhooks", nil, &hooks)
		if len(hooks.Webhooks) != 3 || hooks.Webhooks[1].State != "disabled" || hooks.Webhooks[2].FailingSince == nil {
			return fmt.Errorf("endpoints 2 and 3 not failing yet: %+v", hooks.Webhooks)
		}
		return nil
	})
	list := webhookCLI("list")
	if strings.Contains(list, secret) || strings.Contains(list, "whsec_") {
		t.Fatalf("list shows a secret: %q", list)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list %q; want a header and 3 endpoints", list)
	}
	for _, c := range []struct {
		line int
		want string
	}{
		{1, `^1\s+all\s+` + regexp.QuoteMeta(ok.URL) + `/posd\s+\[order:created\]\s+\d+\s+active$`},
		{2, `^2\s+all\s+` + regexp.QuoteMeta(gone.URL) + `\s+all\s+\d+\s+DISABLED since \w{3} +\d+ \d\d:\d\d:\d\d: the endpoint answered 410 Gone$`},
		{3, `^3\s+all\s+` + regexp.QuoteMeta(down.URL) + `\s+all\s+\d+\s+RETRYING since \w{3} +\d+ \d\d:\d\d:\d\d, \d+ attempts? failed, next (\w{3} +\d+ )?\d\d:\d\d:\d\d: .*503`},
	} {
		if !regexp.MustCompile(c.want).MatchString(lines[c.line]) {
			t.Errorf("list line %d %q; want it to match %s", c.line, lines[c.line], c.want)
		}
	}

	// posd stats names the failing endpoints, and only those.
	stats, stderr, code := run(t, "stats", "--server", s.URL)
	if code != 0 {
		t.Fatalf("posd stats: exit %d, %q", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^webhook 2\s+`+regexp.QuoteMeta(gone.URL)+`\s+DISABLED`).MatchString(stats) ||
		!regexp.MustCompile(`(?m)^webhook 3\s+`+regexp.QuoteMeta(down.URL)+`\s+RETRYING`).MatchString(stats) ||
		strings.Contains(stats, "webhook 1") {
		t.Fatalf("posd stats %q; want endpoints 2 (disabled) and 3 (retrying), not 1", stats)
	}

	if out := webhookCLI("pause", "1"); out != "webhook 1: paused\n" {
		t.Fatalf("pause printed %q", out)
	}
	if out := webhookCLI("resume", "1"); out != "webhook 1: active\n" {
		t.Fatalf("resume printed %q", out)
	}
	if out := webhookCLI("resume", "2"); out != "webhook 2: active\n" {
		t.Fatalf("resume of the disabled endpoint printed %q", out)
	}
	for _, id := range []string{"1", "2"} {
		if out := webhookCLI("remove", id); out != "webhook "+id+" removed\n" {
			t.Fatalf("remove printed %q", out)
		}
	}
	if out := webhookCLI("remove", "3", "--idempotency-key", "rm-3"); out != "webhook 3 removed\n" {
		t.Fatalf("keyed remove printed %q", out)
	}
	// Run again with its key (the answer was lost): the first answer, not
	// an error for the endpoint it removed.
	if out := webhookCLI("remove", "3", "--idempotency-key", "rm-3"); out != "webhook 3 removed\n" {
		t.Fatalf("keyed remove retried printed %q", out)
	}
	if out := webhookCLI("list"); !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 1 {
		t.Fatalf("list after removing every endpoint: %q", out)
	}
}
