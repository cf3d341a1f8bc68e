package board_test

// End to end: the real posd binary, the real board page in headless Chromium,
// orders made through the API.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain, so no run leaves a binary behind
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// posdBinary builds cmd/posd once per test run into a temporary directory
// that TestMain removes.
func posdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "posd-board-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		buildBin = filepath.Join(dir, "posd")
		cmd := exec.Command("go", "build", "-o", buildBin, "github.com/posd/posd/cmd/posd")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build posd: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

// posdServer is one `posd serve` process.
type posdServer struct {
	t    *testing.T
	bin  string
	args []string
	base string
	cmd  *exec.Cmd
	logs *os.File
}

func startPosd(t *testing.T, dir string, port int, extra ...string) *posdServer {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &posdServer{
		t:    t,
		bin:  posdBinary(t),
		args: append([]string{"serve", "--addr", addr, "--db", filepath.Join(dir, "posd.db")}, extra...),
		base: "http://" + addr,
	}
	logs, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s.logs = logs
	t.Cleanup(func() {
		s.stop()
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("posd serve log:\n%s", b)
		}
	})
	s.start()
	return s
}

func (s *posdServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start posd serve: %v", err)
	}
	var err error
	if !testutil.Await(20*time.Second, 50*time.Millisecond, func() bool {
		var resp *http.Response
		if resp, err = http.Get(s.base + "/healthz"); err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		s.t.Fatalf("posd serve did not become healthy at %s: %v", s.base, err)
	}
}

// stop ends the server gracefully, as an operator restarting it would.
func (s *posdServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// checkSameOrigin fails clearly when the server refuses a WebSocket from a
// page it served itself: browsers always send Origin, and /board is on the
// server's own origin, which no --cors-origin list should have to name.
func checkSameOrigin(t *testing.T, base, token string) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws?rooms=display"
	if token != "" {
		u += "&token=" + token
	}
	c, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {base}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("posd refused a same-origin WebSocket (Origin %s, HTTP %d: %v): the board it serves cannot connect; "+
			"/ws must accept an Origin equal to the request's own scheme://host without --cors-origin", base, status, err)
	}
	c.Close()
}

func mustClient(t *testing.T, base, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Server: base, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newOrder(t *testing.T, ctx context.Context, c *client.Client, tenant int64, customer string) domain.Order {
	t.Helper()
	o, err := c.CreateOrder(ctx, client.OrderRequest{TenantID: tenant, CustomerName: customer,
		Items: []client.ItemRequest{{Name: "Nasi Goreng Spesial", Quantity: 2, UnitPrice: 25000}, {Name: "Es Teh Manis", Quantity: 2, UnitPrice: 5000}}})
	if err != nil {
		t.Fatalf("create order: %v", err)
	}
	return o
}

func setStatus(t *testing.T, ctx context.Context, c *client.Client, id int64, st domain.Status) {
	t.Helper()
	if _, err := c.SetStatus(ctx, id, st); err != nil {
		t.Fatalf("order %d → %s: %v", id, st, err)
	}
}

// TestBoardEndToEnd: an order made ready through the API appears in the Ready
// list of a board that is already open, without a reload; the board survives
// a server restart and catches up with what happened meanwhile.
func TestBoardEndToEnd(t *testing.T) {
	chromiumPath(t) // skip early, before building anything
	ctx := t.Context()
	dir := t.TempDir()
	srv := startPosd(t, dir, testutil.FreePort(t), "--auth=off")
	api := mustClient(t, srv.base, "")
	tenant, err := api.CreateTenant(ctx, "Warung Nasi Goreng", "NG")
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}

	checkSameOrigin(t, srv.base, "")
	b := startBrowser(t)
	b.navigate(srv.base + "/board")
	b.waitFor("live badge", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	if err := b.eval(`window.__sameDocument = true`, nil); err != nil {
		t.Fatal(err)
	}

	o := newOrder(t, ctx, api, tenant.ID, "Budi Santoso")
	b.waitFor(o.OrderNumber+" in Preparing", inList("list-preparing", o.OrderNumber))
	setStatus(t, ctx, api, o.ID, domain.StatusPreparing)
	setStatus(t, ctx, api, o.ID, domain.StatusReady)
	b.waitFor(o.OrderNumber+" in Ready", inList("list-ready", o.OrderNumber)+" && "+notInList("list-preparing", o.OrderNumber))
	var same bool
	if err := b.eval(`window.__sameDocument === true`, &same); err != nil || !same {
		t.Fatalf("the page reloaded to show the change (%v)", err)
	}
	if s := b.state(); !has(s.Names, "Budi") || has(s.Names, "Budi Santoso") {
		t.Errorf("names on the board = %q, want the customer's first name only", s.Names)
	}
	b.screenshot("e2e-ready")

	// Restart the server. The board must admit it is not live, then resume
	// from its last event id and show what happened while it was away.
	srv.stop()
	b.waitFor("reconnecting badge", `document.getElementById('conn').className.indexOf('conn-reconnecting') >= 0`)
	b.screenshot("e2e-reconnecting")
	srv.start()
	b.waitFor("live again", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	setStatus(t, ctx, api, o.ID, domain.StatusCompleted)
	o2 := newOrder(t, ctx, api, tenant.ID, "Siti Rahayu")
	o3 := newOrder(t, ctx, api, tenant.ID, "Agus Setiawan")
	setStatus(t, ctx, api, o2.ID, domain.StatusPreparing)
	if _, err := api.Cancel(ctx, o3.ID, "Stok habis"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	b.waitFor("caught up", notInList("list-ready", o.OrderNumber)+" && "+inList("list-preparing", o2.OrderNumber)+" && "+notInList("list-preparing", o3.OrderNumber))
	if err := b.eval(`window.__sameDocument === true`, &same); err != nil || !same {
		t.Fatalf("the page reloaded to resume (%v)", err)
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// TestBoardWithDisplayToken: with authentication on, a display token in the
// page URL is enough for the board, for all stalls or for one.
func TestBoardWithDisplayToken(t *testing.T) {
	chromiumPath(t)
	ctx := t.Context()
	dir := t.TempDir()
	srv := startPosd(t, dir, testutil.FreePort(t))
	admin, err := os.ReadFile(filepath.Join(dir, "posd.db.token"))
	if err != nil {
		t.Fatalf("admin token file: %v", err)
	}
	api := mustClient(t, srv.base, string(admin))
	t1, err := api.CreateTenant(ctx, "Bakso Pak Kumis", "BK")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := api.CreateTenant(ctx, "Es Campur Bu Tini", "EC")
	if err != nil {
		t.Fatal(err)
	}
	display, err := api.CreateToken(ctx, client.TokenRequest{Role: "display", Display: true, Name: "pickup TV"})
	if err != nil {
		t.Fatalf("create display token: %v", err)
	}
	stall, err := api.CreateToken(ctx, client.TokenRequest{Role: "display", TenantID: t2.ID, Name: "stall TV"})
	if err != nil {
		t.Fatalf("create stall display token: %v", err)
	}

	checkSameOrigin(t, srv.base, display.Secret)
	b := startBrowser(t)
	b.navigate(fmt.Sprintf("%s/board?token=%s", srv.base, display.Secret))
	b.waitFor("live badge", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	o1 := newOrder(t, ctx, api, t1.ID, "Dewi Lestari")
	o2 := newOrder(t, ctx, api, t2.ID, "Rina Wulandari")
	setStatus(t, ctx, api, o2.ID, domain.StatusPreparing)
	setStatus(t, ctx, api, o2.ID, domain.StatusReady)
	b.waitFor("both stalls", inList("list-preparing", o1.OrderNumber)+" && "+inList("list-ready", o2.OrderNumber))

	b.navigate(fmt.Sprintf("%s/board?tenant=%d&token=%s", srv.base, t2.ID, stall.Secret))
	b.waitFor("stall board live", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	b.waitFor("only its stall", inList("list-ready", o2.OrderNumber)+" && "+notInList("list-preparing", o1.OrderNumber))
	o3 := newOrder(t, ctx, api, t2.ID, "Joko Susilo")
	newOrder(t, ctx, api, t1.ID, "Not On This Board")
	b.waitFor("its new order", inList("list-preparing", o3.OrderNumber))
	if s := b.state(); has(s.Names, "Not On This Board") {
		t.Errorf("another stall's order is on the stall board: %+v", s)
	}

	// A stall's token cannot watch the whole food court: the board says so
	// instead of pretending to reconnect.
	b.navigate(fmt.Sprintf("%s/board?token=%s", srv.base, stall.Secret))
	b.waitFor("scope refusal shown", `document.getElementById('conn').className.indexOf('conn-fatal') >= 0 && /may not watch display/.test(document.getElementById('conn-text').textContent)`)

	// The food court's token on a one-stall board: it follows the display
	// room and keeps that stall's orders only.
	b.navigate(fmt.Sprintf("%s/board?tenant=%d&token=%s", srv.base, t2.ID, display.Secret))
	b.waitFor("court token on a stall board", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	o5 := newOrder(t, ctx, api, t1.ID, "Other Stall")
	o6 := newOrder(t, ctx, api, t2.ID, "Wulan Dari")
	b.waitFor("its stall only", inList("list-preparing", o6.OrderNumber)+" && "+inList("list-ready", o2.OrderNumber))
	if s := b.state(); has(s.Preparing, o5.OrderNumber) || has(s.Preparing, o1.OrderNumber) {
		t.Errorf("another stall's order is on the stall board: %+v", s)
	}

	// Revoking the board's token shows on the board, not as a frozen screen.
	b.navigate(fmt.Sprintf("%s/board?tenant=%d&token=%s", srv.base, t2.ID, stall.Secret))
	b.waitFor("stall board live again", `document.getElementById('conn').className.indexOf('conn-live') >= 0`)
	if err := api.RevokeToken(ctx, stall.ID); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	b.waitFor("revocation shown", `document.getElementById('conn').className.indexOf('conn-fatal') >= 0 && /revoked/.test(document.getElementById('conn-text').textContent)`)

	// A wrong or missing token: the whole screen says the board is not
	// connected, not an empty kitchen.
	for _, q := range []string{"?token=wrong", ""} {
		b.navigate(srv.base + "/board" + q)
		b.waitFor("refusal shown full-screen"+q, `document.getElementById('conn').className.indexOf('conn-fatal') >= 0 && `+
			`!document.getElementById('refused').hidden && getComputedStyle(document.querySelector('.lists')).visibility === 'hidden'`)
	}
}
