package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/internal/webhook"
)

// npmLine is one delivery as compat/webhooks/receiver.mjs saw it.
type npmLine struct {
	ID      string `json:"id"`
	OK      bool   `json:"ok"`
	EventID any    `json:"event_id"`
	Type    string `json:"type"`
	Error   string `json:"error"`
}

// Every delivery of a burst, and the test ping, verifies with the
// standardwebhooks package from npm, and the events arrive in order.
func TestWebhooksVerifiedByStandardWebhooks(t *testing.T) {
	dir, _ := filepath.Abs("../../compat/webhooks")
	node, err := exec.LookPath("node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil || serr != nil {
		msg := "node or compat/webhooks/node_modules is missing (run npm ci in compat/webhooks)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command(node, filepath.Join(dir, "receiver.mjs"))
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	errb := &testutil.Buffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("receiver stderr:\n%s", errb)
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening ") {
		t.Fatalf("receiver did not start: %q\n%s", sc.Text(), errb)
	}
	port := strings.TrimPrefix(sc.Text(), "listening ")
	var mu sync.Mutex
	var lines []npmLine
	go func() {
		for sc.Scan() {
			var l npmLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				mu.Lock()
				lines = append(lines, l)
				mu.Unlock()
			}
		}
	}()

	s := servertest.Start(t, server.Config{Webhooks: webhook.Policy{AllowPrivate: true, AllowHTTP: true}})
	s.MustDo(t, 201, s.Admin, "POST", "/api/tenants", map[string]string{"name": "Soto", "code": "T1"}, nil)
	s.MustDo(t, 201, s.Admin, "POST", "/api/counters", map[string]string{"name": "K1"}, nil)
	var h hookView
	s.MustDo(t, 201, s.Admin, "POST", "/api/webhooks", map[string]any{"url": "http://127.0.0.1:" + port + "/posd"}, &h)
	fmt.Fprintln(stdin, h.Secret)
	var ping struct {
		Status int `json:"status"`
	}
	s.MustDo(t, 200, s.Admin, "POST", fmt.Sprintf("/api/webhooks/%d/test", h.ID), nil, &ping)
	if ping.Status != 204 {
		t.Fatalf("ping answered %d", ping.Status)
	}
	const n = 50
	for i := range n {
		var o struct {
			ID int64 `json:"id"`
		}
		s.MustDo(t, 201, s.Admin, "POST", "/api/orders", map[string]any{"tenant_id": 1, "customer_name": "Budi \"<&>\" ñ",
			"items": []map[string]any{{"name": "Soto", "quantity": 1, "unit_price": 20000}}}, &o)
		if i%5 == 0 {
			s.MustDo(t, 201, s.Admin, "POST", "/api/payments", map[string]any{"order_id": o.ID, "amount_paid": 20000, "payment_method": "qris", "counter_id": 1}, nil)
		}
	}
	s.MustDo(t, 201, s.Admin, "POST", "/api/alerts", map[string]string{"severity": "info", "message": "tutup jam 9"}, nil)
	want := roomEvents(t, s, "")
	if len(want) != n+n/5+1 {
		t.Fatalf("%d events in the log; want %d", len(want), n+n/5+1)
	}
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		var got []string
		for _, l := range lines {
			if !l.OK {
				return fmt.Errorf("delivery %s did not verify: %s", l.ID, l.Error)
			}
			if l.Type == "ping" {
				continue
			}
			if fmt.Sprint(l.EventID) != l.ID {
				return fmt.Errorf("webhook-id %s for body id %v", l.ID, l.EventID)
			}
			got = append(got, l.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("verified %v; want %v", got, want)
		}
		if lines[0].Type != "ping" {
			return fmt.Errorf("first delivery %+v; want the ping", lines[0])
		}
		return nil
	})
}
