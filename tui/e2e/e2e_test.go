// Package e2e runs the real posd binary: `posd serve` and `posd display` in a
// pseudo-terminal, driven through the API and the keyboard.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

const patience = 20 * time.Second

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// buildPosd builds the binary once per test run, or takes POSD_BIN when set.
func buildPosd(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("POSD_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		builtBin = filepath.Join(buildDir, "posd")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/posd/posd/cmd/posd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

func startServer(t *testing.T, bin, addr, db string) *server {
	t.Helper()
	return startServerWith(t, bin, addr, "", "serve", "--addr", addr, "--db", db, "--auth=off")
}

// startServerWith runs the binary with args in dir (the test's working
// directory when empty) and waits until the server at addr is healthy.
func startServerWith(t *testing.T, bin, addr, dir string, args ...string) *server {
	t.Helper()
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	c, _ := client.New(client.Config{Server: "http://" + addr})
	testutil.Eventually(t, patience, "server healthy", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Health(ctx) == nil
	})
	return s
}

func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(patience):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("server did not stop on SIGTERM; log:\n%s", s.log.String())
	}
}

// screen collects everything the program writes to its terminal.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) copyFrom(r io.Reader) {
	b := make([]byte, 4096)
	for {
		n, err := r.Read(b)
		s.mu.Lock()
		s.buf.Write(b[:n])
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// since reports whether text appeared after offset; it returns the new end.
func (s *screen) has(text string, from int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.buf.Bytes()[min(from, s.buf.Len()):], []byte(text))
}

func (s *screen) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestDisplayAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	start := time.Now()
	bin := buildPosd(t)
	t.Logf("built in %v", time.Since(start).Round(time.Millisecond))
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	db := filepath.Join(dir, "posd.db")
	srv := startServer(t, bin, addr, db)

	ctx := context.Background()
	api, err := client.New(client.Config{Server: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := api.CreateTenant(ctx, "Warung Nasi Goreng", "T1")
	if err != nil {
		t.Fatal(err)
	}
	first, err := api.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Budi", Items: []client.ItemRequest{
		{Name: "Nasi Goreng Spesial", Quantity: 2, UnitPrice: 25000, Notes: "pedas"}}})
	if err != nil {
		t.Fatal(err)
	}

	d := startConsole(t, bin, dir, "display", "--server", "http://"+addr, "--no-bell") // no token file in dir: --auth=off needs none
	see := func(text string, from int) { t.Helper(); d.see(t, text, from) }
	scr := &d.scr

	// The ticket loaded at start-up, then LIVE.
	see(first.OrderNumber, 0)
	see("Nasi Goreng Spesial", 0)
	see("LIVE", 0)

	// An order made now arrives through the socket, with its items.
	mark := scr.len()
	second, err := api.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Sari", Items: []client.ItemRequest{
		{Name: "Es Teh Manis", Quantity: 3, UnitPrice: 5000}}})
	if err != nil {
		t.Fatal(err)
	}
	see(second.OrderNumber, mark)
	see("3× Es Teh Manis", mark)

	// Enter bumps the selected (oldest) ticket; the API says so.
	d.press(t, "\r")
	testutil.Eventually(t, patience, "the bump in the API", func() bool {
		o, err := api.Order(ctx, first.ID)
		return err == nil && o.Status == domain.StatusPreparing
	})
	see("PREPARING (1)", mark)

	// The server restarts: the display says so, then resumes and misses nothing.
	mark = scr.len()
	t.Logf("bumped at %v", time.Since(start).Round(time.Millisecond))
	srv.stop(t)
	t.Logf("server stopped at %v", time.Since(start).Round(time.Millisecond))
	see("RECONNECTING", mark)
	startServer(t, bin, addr, db)
	t.Logf("server restarted at %v", time.Since(start).Round(time.Millisecond))
	third, err := api.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Andi", Items: []client.ItemRequest{
		{Name: "Mie Goreng", Quantity: 1, UnitPrice: 20000}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.SetStatus(ctx, second.ID, domain.StatusPreparing); err != nil {
		t.Fatal(err)
	}
	see(third.OrderNumber, mark)
	see("PREPARING (2)", mark)
	see("LIVE", mark)

	d.press(t, "q")
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("display exited with %v", err)
		}
	case <-time.After(patience):
		t.Fatalf("display did not quit on q; screen:\n%s", scr.String())
	}
}

// console runs a posd console in a pseudo-terminal of 80×24.
type console struct {
	scr    screen
	tty    *os.File
	exited chan error
}

func startConsole(t *testing.T, bin, dir string, args ...string) *console {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "POSD_TOKEN=")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	c := &console{tty: tty, exited: make(chan error, 1)}
	go c.scr.copyFrom(tty)
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		tty.Close()
	})
	return c
}

func (c *console) see(t *testing.T, text string, from int) {
	t.Helper()
	testutil.Eventually(t, patience, fmt.Sprintf("%q on the screen", text), func() bool { return c.scr.has(text, from) })
}

func (c *console) press(t *testing.T, keys string) {
	t.Helper()
	if _, err := c.tty.Write([]byte(keys)); err != nil {
		t.Fatal(err)
	}
}

func TestKasirAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildPosd(t)
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	startServer(t, bin, addr, filepath.Join(dir, "posd.db"))
	ctx := context.Background()
	api, err := client.New(client.Config{Server: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := api.CreateTenant(ctx, "Bakso Pak Kumis", "BK")
	if err != nil {
		t.Fatal(err)
	}
	counter, err := api.CreateCounter(ctx, "Kasir Depan")
	if err != nil {
		t.Fatal(err)
	}
	first, err := api.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Dewi", Items: []client.ItemRequest{
		{Name: "Bakso Urat", Quantity: 2, UnitPrice: 22000}, {Name: "Es Teh Tawar", Quantity: 2, UnitPrice: 3000}}})
	if err != nil {
		t.Fatal(err)
	}

	k := startConsole(t, bin, dir, "kasir", "--server", "http://"+addr, "--counter", fmt.Sprint(counter.ID))
	k.see(t, first.OrderNumber, 0)
	k.see(t, "Kasir Depan", 0)
	k.see(t, "LIVE", 0)

	// Rp 40.000 cash for a Rp 50.000 order is refused with the reason;
	// Rp 100.000 is taken with Rp 50.000 change and a receipt.
	mark := k.scr.len()
	k.press(t, "\r")
	k.see(t, "Tendered", mark)
	k.see(t, "2× Bakso Urat", mark)
	k.press(t, "40000\r")
	k.see(t, "Rp 40.000 was tendered", mark)
	k.press(t, "\x15100000") // ctrl+u clears, then the amount
	k.see(t, "Change   Rp 50.000", mark)
	mark = k.scr.len()
	k.press(t, "\r")
	k.see(t, "Terima kasih", mark)
	k.see(t, "Rp 50.000", mark)
	o, err := api.Order(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Paid() || o.PaidAmount != 50000 {
		t.Fatalf("order after payment: paid %d", o.PaidAmount)
	}
	ps, err := api.Payments(ctx, counter.ID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Change != 50000 || ps[0].Method != domain.MethodCash {
		t.Fatalf("payments %+v", ps)
	}
	k.see(t, "Cash 1 Rp 50.000", mark)

	// A new order joins the queue live.
	k.press(t, "\r") // close the receipt
	mark = k.scr.len()
	second, err := api.CreateOrder(ctx, client.OrderRequest{TenantID: tenant.ID, CustomerName: "Joko", Items: []client.ItemRequest{
		{Name: "Mie Ayam", Quantity: 1, UnitPrice: 18000}}})
	if err != nil {
		t.Fatal(err)
	}
	k.see(t, second.OrderNumber, mark)
	k.see(t, "UNPAID ORDERS (1)", mark)

	k.press(t, "q")
	select {
	case err := <-k.exited:
		if err != nil {
			t.Fatalf("kasir exited with %v", err)
		}
	case <-time.After(patience):
		t.Fatalf("kasir did not quit on q; screen:\n%s", k.scr.String())
	}
}
