// Package e2e runs the real posd binary: `posd serve` and `posd display` in a
// pseudo-terminal, driven through the API and the keyboard.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
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
)

const patience = 20 * time.Second

// buildPosd builds the binary, or takes POSD_BIN when set (CI builds once).
func buildPosd(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("POSD_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "posd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/posd/posd/cmd/posd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type server struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

func startServer(t *testing.T, bin, addr, db string) *server {
	t.Helper()
	s := &server{done: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--addr", addr, "--db", db, "--auth=off")
	s.cmd.Stdout, s.cmd.Stderr = &s.log, &s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	c, _ := client.New(client.Config{Server: "http://" + addr})
	waitUntil(t, "server healthy", func() bool {
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

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
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
	addr := freePort(t)
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

	disp := exec.Command(bin, "display", "--server", "http://"+addr, "--no-bell")
	disp.Dir = dir // no token file there: --auth=off needs none
	disp.Env = append(os.Environ(), "TERM=xterm-256color", "POSD_TOKEN=")
	tty, err := pty.StartWithSize(disp, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	var scr screen
	copied := make(chan struct{})
	go func() { scr.copyFrom(tty); close(copied) }()
	exited := make(chan error, 1)
	go func() { exited <- disp.Wait() }()
	t.Cleanup(func() {
		_ = disp.Process.Kill()
		tty.Close()
	})
	see := func(text string, from int) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("%q on the display", text), func() bool { return scr.has(text, from) })
	}

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
	if _, err := tty.Write([]byte("\r")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the bump in the API", func() bool {
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

	if _, err := tty.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("display exited with %v", err)
		}
	case <-time.After(patience):
		t.Fatalf("display did not quit on q; screen:\n%s", scr.String())
	}
}
