package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/bench"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/hub"
	"github.com/posd/posd/internal/protocol/native"
	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/tui/display"
)

// run executes the CLI in-process and returns stdout, stderr and the exit
// code main would use.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("POSD_TOKEN", "")
	t.Setenv("POSD_SERVER", "")
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	ran, err := cmd.ExecuteContextC(context.Background())
	code := 0
	if err != nil {
		errb.WriteString(errorLine(ran, err) + "\n")
		code = exitCode(err)
	}
	return out.String(), errb.String(), code
}

func TestCLIErrors(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	down := "http://127.0.0.1:1"
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"server down", []string{"stats", "--server", down}, 3, "unreachable"},
		{"server down pay", []string{"pay", "--server", down, "--order", "1", "--amount", "5", "--counter", "1"}, 3, "unreachable"},
		{"bad method", []string{"pay", "--server", s.URL, "--order", "1", "--amount", "5", "--counter", "1", "--method", "gold"}, 1, "unknown payment_method"},
		{"bad item", []string{"order", "create", "--server", s.URL, "--tenant", "1", "--item", "Nasi"}, 1, "NAME:QTY:PRICE"},
		{"no items", []string{"order", "create", "--server", s.URL, "--tenant", "1"}, 1, "--item"},
		{"bad status", []string{"order", "status", "--server", s.URL, "1", "eaten"}, 1, "unknown status"},
		{"bad id", []string{"order", "status", "--server", s.URL, "x", "ready"}, 1, "positive integer"},
		{"refused by server", []string{"order", "create", "--server", s.URL, "--tenant", "9", "--customer", "a", "--item", "a:1:1"}, 2, "tenant 9 not found"},
		{"bad severity", []string{"alert", "--server", s.URL, "--severity", "fatal", "x"}, 1, "--severity"},
		{"notify bad data", []string{"notify", "--server", s.URL, "--user", "1", "--type", "t", "--data", "[1]"}, 1, "JSON object"},
		{"bad room", []string{"watch", "--server", s.URL, "--room", "lobby"}, 1, "unknown room"},
		{"unknown flag", []string{"stats", "--nope"}, 1, "unknown flag"},
		{"bad auth mode", []string{"serve", "--auth", "maybe"}, 1, "--auth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.msg) {
				t.Fatalf("stderr %q lacks %q", stderr, tc.msg)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Fatalf("want a one-line error, got %q", stderr)
			}
		})
	}
}

func TestCLIHappyPath(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	s.MustDo(t, 201, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	s.MustDo(t, 201, "", "POST", "/api/counters", `{"name":"Kasir 1"}`, nil)
	out, stderr, code := run(t, "order", "create", "--server", s.URL, "--tenant", "1", "--customer", "Siti", "--item", "Nasi Goreng:2:25000", "--item", "Es Teh:1:5000:less sugar")
	if code != 0 || !strings.Contains(out, "T1-001") || !strings.Contains(out, "Rp 55.000") {
		t.Fatalf("order create: %d %q %q", code, out, stderr)
	}
	// The same idempotency key twice charges once.
	args := []string{"pay", "--server", s.URL, "--order", "1", "--amount", "100000", "--counter", "1", "--idempotency-key", "k1"}
	out1, _, code1 := run(t, args...)
	out2, _, code2 := run(t, args...)
	if code1 != 0 || code2 != 0 || out1 != out2 || !strings.Contains(out1, "change Rp 45.000") {
		t.Fatalf("pay twice: %d %q / %d %q", code1, out1, code2, out2)
	}
	var pays struct{ Payments []any }
	s.MustDo(t, 200, "", "GET", "/api/payments", nil, &pays)
	if len(pays.Payments) != 1 {
		t.Fatalf("%d payments after a retried pay, want 1", len(pays.Payments))
	}
	// The short pickup code is printed with the order and collects it.
	var o struct{ QR struct{ Code string } }
	s.MustDo(t, 200, "", "GET", "/api/orders/1", nil, &o)
	if len(o.QR.Code) != 6 {
		t.Fatalf("order 1 has pickup code %q, want 6 characters", o.QR.Code)
	}
	out, stderr, code = run(t, "order", "show", "--server", s.URL, "1")
	if code != 0 || !strings.Contains(out, "pickup code "+o.QR.Code) {
		t.Fatalf("order show: %d %q %q", code, out, stderr)
	}
	typed := strings.ToLower(o.QR.Code[:3]) + " " + o.QR.Code[3:]
	out, stderr, code = run(t, "qr", "scan", "--server", s.URL, typed)
	if code != 0 || !strings.Contains(out, "QR of order 1 scanned (1×)") {
		t.Fatalf("qr scan %q: %d %q %q", typed, code, out, stderr)
	}
	out, stderr, code = run(t, "nodes", "--server", s.URL)
	if code != 0 || !strings.Contains(out, s.NodeID()) || !strings.Contains(out, "live (answered)") {
		t.Fatalf("nodes: %d %q %q", code, out, stderr)
	}
	out, stderr, code = run(t, "stats", "--server", s.URL)
	if code != 0 || !strings.Contains(out, "nodes") || !strings.Contains(out, "connections") {
		t.Fatalf("stats: %d %q %q", code, out, stderr)
	}
	out, _, code = run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "posd ") {
		t.Fatalf("version: %q", out)
	}
}

// TestWatchReplaysFromSince: posd watch --since prints every event after
// the id as JSON lines (here the stream ends when its context does).
func TestWatchReplaysFromSince(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	s.MustDo(t, 201, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	for range 3 {
		s.MustDo(t, 201, "", "POST", "/api/orders", `{"tenant_id":1,"customer_name":"Siti","items":[{"name":"Nasi","quantity":1,"unit_price":25000}]}`, nil)
	}
	t.Setenv("POSD_TOKEN", "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"watch", "--server", s.URL, "--room", "tenant-1", "--since", "1"})
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("watch: %v (%s)", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("watch printed %d lines, want events 2 and 3:\n%s", len(lines), out.String())
	}
	for i, line := range lines {
		var ev struct {
			Event   string `json:"event"`
			Payload struct {
				ID int64 `json:"id"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Event != "order:created" || ev.Payload.ID != int64(i+2) {
			t.Fatalf("line %d: %s (%v)", i, line, err)
		}
	}
	if !strings.Contains(errb.String(), "LIVE") {
		t.Fatalf("stderr %q lacks the connection state", errb.String())
	}
}

// A refusal reads as a sentence in Rupiah, not as the API's field names.
func TestCLIRefusalsInWords(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	s.MustDo(t, 201, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	s.MustDo(t, 201, "", "POST", "/api/counters", `{"name":"Kasir 1"}`, nil)
	if _, stderr, code := run(t, "order", "create", "--server", s.URL, "--tenant", "1", "--customer", "Siti", "--item", "Nasi Goreng:2:25000", "--item", "Es Teh:1:5000"); code != 0 {
		t.Fatalf("order create: %s", stderr)
	}
	_, stderr, code := run(t, "pay", "--server", s.URL, "--order", "1", "--amount", "50000", "--counter", "1")
	if code != 2 || !strings.Contains(stderr, "Short by Rp 5.000") || strings.Contains(stderr, "amount_paid") {
		t.Fatalf("underpaid: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := run(t, "pay", "--server", s.URL, "--order", "1", "--amount", "55000", "--counter", "1"); code != 0 {
		t.Fatalf("pay: %s", stderr)
	}
	_, stderr, code = run(t, "refund", "--server", s.URL, "1", "--reason", "salah", "--amount", "60000")
	if code != 2 || !strings.Contains(stderr, "At most Rp 55.000 can still be refunded") {
		t.Fatalf("refund over: exit %d, stderr %q", code, stderr)
	}

	// By the order's id: the order's payment is refunded.
	out, stderr, code := run(t, "refund", "--server", s.URL, "--order", "1", "--reason", "salah", "--amount", "5000")
	if code != 0 || !strings.Contains(out, "refunded Rp 5.000 of payment 1 (T1-001)") {
		t.Fatalf("refund --order: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	_, stderr, code = run(t, "refund", "--server", s.URL, "--order", "1", "--reason", "salah", "--amount", "60000")
	if code != 2 || !strings.Contains(stderr, "At most Rp 50.000 can still be refunded") {
		t.Fatalf("refund --order over: exit %d, stderr %q", code, stderr)
	}
	if out, stderr, code := run(t, "refund", "--server", s.URL, "--order", "1", "--reason", "salah"); code != 0 || !strings.Contains(out, "Rp 50.000") {
		t.Fatalf("refund --order rest: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	_, stderr, code = run(t, "refund", "--server", s.URL, "--order", "1", "--reason", "salah")
	if code != 2 || !strings.Contains(stderr, "order T1-001 has no payment left to refund") {
		t.Fatalf("refund --order of a refunded order: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = run(t, "refund", "--server", s.URL, "1", "--order", "1", "--reason", "salah")
	if code != 1 || !strings.Contains(stderr, "not both") {
		t.Fatalf("refund with both: exit %d, stderr %q", code, stderr)
	}
}

// With --json a failure is a JSON line on stderr too, with the server's
// code, message and details, and the same exit code.
func TestCLIJSONFailure(t *testing.T) {
	s := servertest.Start(t, server.Config{AuthOff: true})
	s.MustDo(t, 201, "", "POST", "/api/tenants", `{"name":"Warung","code":"T1"}`, nil)
	s.MustDo(t, 201, "", "POST", "/api/counters", `{"name":"Kasir 1"}`, nil)
	if _, stderr, code := run(t, "order", "create", "--server", s.URL, "--tenant", "1", "--customer", "Siti", "--item", "Nasi:1:25000"); code != 0 {
		t.Fatalf("order create: %s", stderr)
	}
	for _, tc := range []struct {
		args []string
		exit int
		code string
	}{
		{[]string{"pay", "--json", "--server", s.URL, "--order", "1", "--amount", "20000", "--counter", "1"}, 2, "unprocessable"},
		{[]string{"stats", "--json", "--server", "http://127.0.0.1:1"}, 3, "unreachable"},
	} {
		_, stderr, code := run(t, tc.args...)
		var body struct {
			Error struct {
				Code    string         `json:"code"`
				Message string         `json:"message"`
				Details map[string]any `json:"details"`
				Exit    int            `json:"exit"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(stderr), &body); err != nil {
			t.Fatalf("%v: stderr is not JSON: %q", tc.args, stderr)
		}
		if code != tc.exit || body.Error.Exit != tc.exit || body.Error.Code != tc.code || body.Error.Message == "" {
			t.Fatalf("%v: exit %d, body %+v", tc.args, code, body.Error)
		}
		if tc.code == "unprocessable" && body.Error.Details["short_by"] != 5000.0 {
			t.Fatalf("details lost: %v", body.Error.Details)
		}
	}
}

// Shell completion offers the values a flag or argument takes.
func TestCompletionOffersValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"pay", "--method", ""}, []string{"cash", "qris", "card", "ewallet"}},
		{[]string{"order", "status", "12", ""}, []string{"preparing", "ready", "completed"}},
		{[]string{"alert", "--severity", ""}, []string{"error", "warning", "info"}},
		{[]string{"token", "create", "--role", ""}, []string{"admin", "tenant", "kasir", "display", "user"}},
	} {
		out, stderr, code := run(t, append([]string{"__complete"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.args, code, stderr)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "Completion ended") {
				got = append(got, strings.SplitN(line, "\t", 2)[0])
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("completing %q offers %q, want %q", tc.args, got, tc.want)
		}
	}
}

// The demo's banner names the command the user ran, so each line can be
// pasted as it is: "go run ./cmd/posd display" where there is no posd binary.
func TestDemoBannerNamesTheCommandRun(t *testing.T) {
	for _, tc := range []struct{ arg0, self string }{
		{"/tmp/go-build1234567/b001/exe/posd", "go run ./cmd/posd"},
		{"./posd", "./posd"},
		{"posd", "posd"},
		{"/usr/local/bin/posd", "/usr/local/bin/posd"},
	} {
		if got := selfCommand(tc.arg0); got != tc.self {
			t.Errorf("selfCommand(%q) = %q, want %q", tc.arg0, got, tc.self)
		}
	}
	var b bytes.Buffer
	demoBanner(&b, "go run ./cmd/posd", "http://127.0.0.1:5000", false)
	for _, want := range []string{
		"\n  go run ./cmd/posd display\n",
		"\n  go run ./cmd/posd kasir --counter 1\n",
		"\n  go run ./cmd/posd ops\n",
		"/board?token=$(go run ./cmd/posd token create --role display --display)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), " posd display") {
		t.Errorf("banner names a posd binary the user does not have:\n%s", b.String())
	}
}

// A flag's default is the constant of the package it configures, so the
// two cannot drift apart: the help shows what a zero config would do.
func TestFlagDefaultsAreThePackages(t *testing.T) {
	t.Setenv("POSD_TOKEN_FILE", "")
	root := newRootCmd()
	for _, tc := range []struct {
		cmd, flag, want string
	}{
		{"bench", "workers", strconv.Itoa(bench.DefaultWorkers)},
		{"bench", "connect-concurrency", strconv.Itoa(bench.DefaultConnectConcurrency)},
		{"bench", "drain", bench.DefaultDrain.String()},
		{"display", "warn", display.DefaultWarn.String()},
		{"display", "late", report.DefaultLate.String()},
		{"display", "token-file", server.DefaultTokenFile},
		{"alert", "severity", domain.SeverityInfo},
		{"pay", "method", string(domain.MethodCash)},
		{"serve", "addr", server.DefaultAddr},
		{"serve", "retention", server.DefaultRetention.String()},
		{"serve", "queue-messages", strconv.Itoa(hub.DefaultMaxQueueMessages)},
		{"serve", "ping-interval", native.DefaultPingInterval.String()},
	} {
		c, _, err := root.Find([]string{tc.cmd})
		if err != nil || c.Name() != tc.cmd {
			t.Fatalf("no command %q: %v", tc.cmd, err)
		}
		f := c.Flags().Lookup(tc.flag)
		if f == nil {
			t.Fatalf("%s has no --%s", tc.cmd, tc.flag)
		}
		if f.DefValue != tc.want {
			t.Errorf("%s --%s defaults to %q, its package to %q", tc.cmd, tc.flag, f.DefValue, tc.want)
		}
	}
}
