package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

	"github.com/posd/posd/internal/testutil"
)

// The attack tests drive the real posd binary from more than one loopback
// address (127.0.0.2 attacks, 127.0.0.1 is the honest client), so they
// show that what one address does cannot lock out another.

var (
	posdBinOnce sync.Once
	posdBinDir  string // removed by TestMain: no run leaves a binary behind
	posdBin     string
	posdBinErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if posdBinDir != "" {
		_ = os.RemoveAll(posdBinDir)
	}
	os.Exit(code)
}

// posdBinary builds cmd/posd once per test binary, for every test that
// runs the real thing; POSD_ATTACK_BIN names another build to run instead
// (to see a test fail on the build before a fix).
func posdBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("POSD_ATTACK_BIN"); bin != "" {
		return bin
	}
	posdBinOnce.Do(func() {
		if posdBinDir, posdBinErr = os.MkdirTemp("", "posd-server-bin-"); posdBinErr != nil {
			return
		}
		posdBin = filepath.Join(posdBinDir, "posd")
		if out, err := exec.Command("go", "build", "-o", posdBin, "github.com/posd/posd/cmd/posd").CombinedOutput(); err != nil {
			posdBinErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if posdBinErr != nil {
		t.Fatal(posdBinErr)
	}
	return posdBin
}

// posdEnv is the environment for a posd child process, without anything
// that would point it somewhere else or hand it a server or a token.
func posdEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "POSD_") || k == "PORT" || k == "CORS_ORIGIN" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// attackBinary is posdBinary for the attack tests, which -short skips.
func attackBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and attacks the binary")
	}
	return posdBinary(t)
}

// attackProc is a running posd serve with auth on.
type attackProc struct {
	cmd    *exec.Cmd
	Addr   string // host:port on 127.0.0.1
	Base   string // http://Addr
	Admin  string // the admin token
	DB     string
	stderr *testutil.Buffer
	exited chan struct{}
	err    error
}

// attackServe starts the binary on a free port of 0.0.0.0 (so that every
// loopback address reaches it) with auth on, a database in a fresh
// directory and extra flags, and waits for /healthz.
func attackServe(t *testing.T, extra ...string) *attackProc {
	t.Helper()
	return serveOn(t, filepath.Join(t.TempDir(), "posd.db"), extra...)
}

// serveOn is attackServe on the database file db (in a directory the test
// prepared, such as a tiny tmpfs, or to start again on the same file).
func serveOn(t *testing.T, db string, extra ...string) *attackProc {
	t.Helper()
	// A port found free can be taken before the binary binds it (by the
	// ephemeral port of some test's outgoing connection): try another.
	for attempt := 1; ; attempt++ {
		p, inUse := tryServeOn(t, db, extra...)
		if !inUse {
			return p
		}
		if attempt == 5 {
			t.Fatalf("posd serve found its port taken 5 times\n%s", p.stderr)
		}
	}
}

// tryServeOn starts the binary on a port found free and waits for
// /healthz; inUse reports that the port was taken meanwhile.
func tryServeOn(t *testing.T, db string, extra ...string) (p *attackProc, inUse bool) {
	t.Helper()
	bin := attackBinary(t)
	port := testutil.FreePort(t)
	p = &attackProc{
		Addr:   "127.0.0.1:" + strconv.Itoa(port),
		DB:     db,
		stderr: &testutil.Buffer{},
		exited: make(chan struct{}),
	}
	p.Base = "http://" + p.Addr
	args := append([]string{"serve", "--addr", "0.0.0.0:" + strconv.Itoa(port), "--db", db, "--log-level", "info"}, extra...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = posdEnv()
	p.cmd.Dir = filepath.Dir(db)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("posd stderr:\n%s", tail(p.stderr.String(), 4000))
		}
	})
	if !testutil.Await(60*time.Second, 50*time.Millisecond, func() bool {
		select {
		case <-p.exited:
			if strings.Contains(p.stderr.String(), "address already in use") {
				inUse = true
				return true
			}
			t.Fatalf("posd serve exited: %v\n%s", p.err, p.stderr)
		default:
		}
		// Its own "listening" line first: a /healthz answer alone could
		// come from another server that took the port.
		if !strings.Contains(p.stderr.String(), "posd listening") {
			return false
		}
		resp, err := http.Get(p.Base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("posd serve did not answer /healthz\n%s", p.stderr)
	}
	if inUse {
		return p, true
	}
	tok, err := os.ReadFile(db + ".token")
	if err != nil {
		t.Fatal(err)
	}
	p.Admin = strings.TrimSpace(string(tok))
	return p, false
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// RSS is the server's resident memory in bytes, from /proc.
func (p *attackProc) RSS(t *testing.T) int64 {
	t.Helper()
	return p.status(t, "VmRSS:")
}

// PeakRSS is the most resident memory the server has had, from /proc.
func (p *attackProc) PeakRSS(t *testing.T) int64 {
	t.Helper()
	return p.status(t, "VmHWM:")
}

func (p *attackProc) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

// FDs is how many file descriptors the server holds.
func (p *attackProc) FDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Stderr is what the server has logged so far.
func (p *attackProc) Stderr() string { return p.stderr.String() }

// Signal sends sig to the server.
func (p *attackProc) Signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// attacker is an HTTP client, and a dialer, whose connections leave from
// the loopback address src (127.0.0.2, …) to the server at p.Addr.
type attacker struct {
	Src    string
	Dialer *net.Dialer
	HTTP   *http.Client
}

func from(src string) *attacker {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
	}
	return &attacker{Src: src, Dialer: d, HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// Dial opens a raw TCP connection to addr from f's address.
func (f *attacker) Dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := f.Dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", f.Src, err)
	}
	return c
}

// Do sends one API request with token and returns status and body.
func (f *attacker) Do(ctx context.Context, method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, raw, err
}

// Healthy reports whether /healthz answers 200 from f's address within 5 s.
func (f *attacker) Healthy(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, _, err := f.Do(ctx, "GET", base+"/healthz", "", nil)
	return err == nil && st == http.StatusOK
}
