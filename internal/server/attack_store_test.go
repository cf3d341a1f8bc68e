package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/server/servertest"
)

// kill stops the server as a crash would (SIGKILL) and waits for it.
func (p *attackProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// storeSeed creates n tenants and a tenant token for each.
func storeSeed(t *testing.T, p *attackProc, n int) []string {
	t.Helper()
	ctx := context.Background()
	admin := from("127.0.0.1")
	var toks []string
	for i := 1; i <= n; i++ {
		if st, b, err := admin.Do(ctx, "POST", p.Base+"/api/tenants", p.Admin, map[string]any{"name": fmt.Sprintf("Warung %d", i), "code": fmt.Sprintf("T%d", i)}); err != nil || st != 201 {
			t.Fatalf("tenant %d: %d %s %v", i, st, b, err)
		}
		st, b, err := admin.Do(ctx, "POST", p.Base+"/api/tokens", p.Admin, map[string]any{"role": "tenant", "tenant_id": i})
		var tok struct{ Token string }
		if err != nil || st != 201 || json.Unmarshal(b, &tok) != nil {
			t.Fatalf("token %d: %d %s %v", i, st, b, err)
		}
		toks = append(toks, tok.Token)
	}
	return toks
}

func storeOrder(tenant int, who string) map[string]any {
	return map[string]any{"tenant_id": tenant, "customer_name": who, "items": []map[string]any{{"name": "Nasi Goreng", "quantity": 1, "unit_price": 25000}}}
}

// postKeyed sends one order with an Idempotency-Key and reports status,
// body and whether it was a replay.
func (f *attacker) postKeyed(t *testing.T, url, token, key string, body any) (int, []byte, bool) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", key)
	resp, err := f.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed") == "true"
}

// TestAttackIdempotencyKeysCannotBeBurnt: a stall's client on 127.0.0.2
// uses the keys another stall's client will use (guessable ones: its
// till's counter). Keys are per token, so the honest client on 127.0.0.1
// still gets its own orders made, not 422 idempotency_key_reused and not
// the attacker's answer; and its own retries still replay.
func TestAttackIdempotencyKeysCannotBeBurnt(t *testing.T) {
	p := attackServe(t)
	toks := storeSeed(t, p, 2)
	honest, evil := from("127.0.0.1"), from("127.0.0.2")
	const keys = 20
	for i := range keys {
		if st, b, _ := evil.postKeyed(t, p.Base+"/api/orders", toks[1], fmt.Sprintf("till-%d", i), storeOrder(2, "squatter")); st != 201 {
			t.Fatalf("attacker's order %d: %d %s", i, st, b)
		}
	}
	for i := range keys {
		key := fmt.Sprintf("till-%d", i)
		st, b, replayed := honest.postKeyed(t, p.Base+"/api/orders", toks[0], key, storeOrder(1, "Siti"))
		if st != 201 || replayed || !strings.Contains(string(b), `"tenant_id":1`) {
			t.Fatalf("honest order with key %s: %d replayed=%v %s", key, st, replayed, b)
		}
		again, b2, replayed := honest.postKeyed(t, p.Base+"/api/orders", toks[0], key, storeOrder(1, "Siti"))
		if again != 201 || !replayed || string(b2) != string(b) {
			t.Fatalf("honest retry with key %s: %d replayed=%v %s", key, again, replayed, b2)
		}
	}
}

// TestAttackDiskFull: the database sits on a real 8 MiB tmpfs that fills
// up. An anonymous-enough client (a stall's token, 127.0.0.2) keeps writing;
// every write is then refused with 503 storage_full and Retry-After, the
// server logs it once (not once per request), /healthz says degraded,
// while the honest client on 127.0.0.1 keeps reading and its socket keeps
// working. Once space is freed the next write succeeds, health returns,
// and every order ever acknowledged is there, also after a crash.
func TestAttackDiskFull(t *testing.T) {
	attackBinary(t)
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m,mode=0700"); err != nil {
		t.Skipf("needs root to mount a tmpfs that can really fill up (CI runs as root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	db := filepath.Join(dir, "posd.db")
	p := serveOn(t, db)
	toks := storeSeed(t, p, 2)
	honest, evil := from("127.0.0.1"), from("127.0.0.2")
	ctx := context.Background()

	acked := map[int64]bool{}
	post := func(f *attacker, tok string, tenant int) (int, http.Header, []byte) {
		t.Helper()
		raw, _ := json.Marshal(storeOrder(tenant, "Budi"))
		req, _ := http.NewRequest("POST", p.Base+"/api/orders", strings.NewReader(string(raw)))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := f.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var o struct {
			ID    int64
			Error struct{ Code string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&o)
		if resp.StatusCode == 201 {
			acked[o.ID] = true
		}
		return resp.StatusCode, resp.Header, []byte(o.Error.Code)
	}
	for range 5 {
		if st, _, b := post(honest, toks[0], 1); st != 201 {
			t.Fatalf("order before the disk fills: %d %s", st, b)
		}
	}
	wsDial := func() *websocket.Conn {
		t.Helper()
		d := websocket.Dialer{NetDialContext: honest.Dialer.DialContext, HandshakeTimeout: 5 * time.Second}
		h := http.Header{"Authorization": {"Bearer " + toks[0]}}
		c, resp, err := d.Dial("ws://"+p.Addr+"/ws?rooms=tenant-1", h)
		if err != nil {
			t.Fatalf("dial /ws: %v %v", err, resp)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	wsNext := func(c *websocket.Conn, op string) servertest.Frame {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			var f servertest.Frame
			if err := c.ReadJSON(&f); err != nil {
				t.Fatalf("socket, waiting for %q: %v", op, err)
			}
			if f.Op == op {
				return f
			}
		}
	}
	sock := wsDial()
	wsNext(sock, "ready")

	// Fill the file system to the last byte.
	ballast := filepath.Join(dir, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for n := 4096; n >= 1; n /= 2 { // the last partial block
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	f.Close()

	// The attacker writes on. Before the WAL or the database file has to
	// grow, a write may still fit; after that every one is refused.
	refused := 0
	for i := 0; i < 3000 && refused < 50; i++ {
		st, h, code := post(evil, toks[1], 2)
		switch {
		case st == 201:
		case st == 503 && string(code) == "storage_full" && h.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("attacker's write %d on a full disk: %d %q Retry-After %q", i, st, code, h.Get("Retry-After"))
		}
	}
	if refused < 50 {
		t.Fatalf("the disk is full but only %d of 3000 writes were refused", refused)
	}

	// The honest client: health says why, reads work, the socket works.
	st, b, err := honest.Do(ctx, "GET", p.Base+"/healthz", "", nil)
	var health struct{ Status, Reason string }
	if err != nil || st != 503 || json.Unmarshal(b, &health) != nil || health.Status != "degraded" || health.Reason != "storage_full" {
		t.Fatalf("/healthz on a full disk: %d %s %v", st, b, err)
	}
	st, b, err = honest.Do(ctx, "GET", p.Base+"/api/orders?tenant_id=1", toks[0], nil)
	if err != nil || st != 200 || !strings.Contains(string(b), `"T1-005"`) {
		t.Fatalf("read on a full disk: %d %.200s %v", st, b, err)
	}
	if err := sock.WriteJSON(map[string]string{"op": "ping"}); err != nil {
		t.Fatal(err)
	}
	wsNext(sock, "pong")
	wsNext(wsDial(), "ready")
	if st, _, code := post(honest, toks[0], 1); st != 503 || string(code) != "storage_full" {
		t.Fatalf("honest write on a full disk: %d %s", st, code)
	}
	logged := regexp.MustCompile(`level=ERROR msg="storage full`).FindAllString(p.Stderr(), -1)
	if len(logged) != 1 {
		t.Fatalf("storage full logged %d times at ERROR for %d refused writes, want once:\n%s", len(logged), refused, tail(p.Stderr(), 3000))
	}

	// Space returns: the very next write succeeds and reaches the socket.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if st, _, code := post(honest, toks[0], 1); st != 201 {
		t.Fatalf("first write after space returned: %d %s", st, code)
	}
	if ev := wsNext(sock, "event"); ev.Event != "order:created" {
		t.Fatalf("socket after space returned: %v", ev)
	}
	if st, b, err := honest.Do(ctx, "GET", p.Base+"/healthz", "", nil); err != nil || st != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("/healthz after space returned: %d %s %v", st, b, err)
	}
	if n := strings.Count(p.Stderr(), "writes succeed again"); n != 1 {
		t.Fatalf("recovery logged %d times, want once", n)
	}

	// Nothing acknowledged was lost, even through a crash.
	p.kill()
	p2 := serveOn(t, db)
	for _, tn := range []int{1, 2} {
		st, b, err := honest.Do(ctx, "GET", p2.Base+"/api/orders?tenant_id="+strconv.Itoa(tn)+"&limit=1000", p2.Admin, nil)
		var list struct{ Orders []struct{ ID int64 } }
		if err != nil || st != 200 || json.Unmarshal(b, &list) != nil {
			t.Fatalf("orders after restart: %d %.200s %v", st, b, err)
		}
		for _, o := range list.Orders {
			delete(acked, o.ID)
		}
	}
	if len(acked) != 0 {
		t.Fatalf("%d acknowledged orders lost: %v", len(acked), acked)
	}
	t.Logf("%d writes refused on the full disk; recovered", refused)
}
