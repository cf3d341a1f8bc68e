package server_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posd/posd/internal/testutil"
)

type azRun struct {
	code           int
	stdout, stderr string
}

func azPosd(t *testing.T, bin, dir string, args ...string) azRun {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = posdEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run posd %v: %v", args, err)
	}
	return azRun{code, out.String(), errb.String()}
}

// TestFreshClientUsesTokenFile runs the built binary: posd serve writes the
// admin token beside its database, and a client started in that directory
// with no flags and no environment uses it; elsewhere it is refused.
func TestFreshClientUsesTokenFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := posdBinary(t)
	dir := filepath.Join(tmp, "data")
	elsewhere := filepath.Join(tmp, "elsewhere")
	for _, d := range []string{dir, elsewhere} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := testutil.FreeAddr(t)
	base := "http://" + addr

	serve := exec.Command(bin, "serve", "--addr", addr, "--db", filepath.Join(dir, "posd.db"))
	serve.Dir = tmp
	serve.Env = posdEnv()
	var serveErr testutil.Buffer
	serve.Stdout, serve.Stderr = &serveErr, &serveErr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { serve.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
	})
	var err error
	if !testutil.Await(wait, 20*time.Millisecond, func() bool {
		var resp *http.Response
		if resp, err = http.Get(base + "/healthz"); err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("posd serve did not come up: %v\n%s", err, serveErr.String())
	}

	tokenFile := filepath.Join(dir, "posd.db.token")
	fi, err := os.Stat(tokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi, err)
	}
	raw, _ := os.ReadFile(tokenFile)
	admin := strings.TrimSpace(string(raw))
	if !regexp.MustCompile(`^posd_1_[A-Za-z0-9_-]{43}$`).MatchString(admin) {
		t.Fatalf("token file holds %q", raw)
	}
	_, adminSecret, _ := strings.Cut(strings.TrimPrefix(admin, "posd_"), "_")

	// No flags, no environment, in the database's directory: admin.
	r := azPosd(t, bin, dir, "stats", "--server", base)
	if r.code != 0 || !strings.Contains(r.stdout, "connections") {
		t.Fatalf("posd stats beside the token file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Elsewhere there is no token: refused (exit 2) with a hint.
	r = azPosd(t, bin, elsewhere, "stats", "--server", base)
	if r.code != 2 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "--token") {
		t.Fatalf("posd stats without a token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// --token-file points at it from anywhere.
	if r := azPosd(t, bin, elsewhere, "stats", "--server", base, "--token-file", tokenFile); r.code != 0 {
		t.Fatalf("--token-file: exit %d %s", r.code, r.stderr)
	}

	// Token commands through the API, with the file's admin token.
	r = azPosd(t, bin, dir, "token", "create", "--server", base, "--role", "kasir", "--counter", "3", "--expires", "720h", "--name", "counter 3")
	kasir := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(kasir, "posd_2_") {
		t.Fatalf("token create: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = azPosd(t, bin, dir, "token", "list", "--server", base)
	if r.code != 0 || !strings.Contains(r.stdout, "kasir-3") || !strings.Contains(r.stdout, "expires") {
		t.Fatalf("token list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	_, kasirSecret, _ := strings.Cut(strings.TrimPrefix(kasir, "posd_"), "_")
	if strings.Contains(r.stdout, kasirSecret) || strings.Contains(r.stdout, adminSecret) {
		t.Fatal("token list shows a secret")
	}
	// The kasir token is not an admin: it may not issue tokens.
	cmd := exec.Command(bin, "token", "create", "--server", base, "--role", "admin")
	cmd.Dir = elsewhere
	cmd.Env = append(posdEnv(), "POSD_TOKEN="+kasir)
	if err := cmd.Run(); err == nil {
		t.Fatal("a kasir token created an admin token")
	}
	if r := azPosd(t, bin, dir, "token", "revoke", "--server", base, "2"); r.code != 0 {
		t.Fatalf("token revoke: exit %d %s", r.code, r.stderr)
	}
	req, _ := http.NewRequest("GET", base+"/api/payments", nil)
	req.Header.Set("Authorization", "Bearer "+kasir)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("revoked kasir token: %v %v", resp, err)
	}
	// And directly on the database (a running server sees it at once).
	r = azPosd(t, bin, dir, "token", "create", "--db", filepath.Join(dir, "posd.db"), "--role", "user", "--user", "5")
	user := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(user, "posd_3_") {
		t.Fatalf("token create --db: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	req, _ = http.NewRequest("GET", base+"/api/events?room=user-5", nil)
	req.Header.Set("Authorization", "Bearer "+user)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token made with --db: %v %v", resp, err)
	}
	if r := azPosd(t, bin, dir, "token", "create", "--db", filepath.Join(dir, "posd.db"), "--role", "tenant"); r.code == 0 {
		t.Fatal("a tenant token without --tenant was issued")
	}
	r = azPosd(t, bin, dir, "token", "create", "--db", filepath.Join(dir, "typo.db"), "--role", "admin")
	if r.code != 1 || !strings.Contains(r.stderr, "no database") {
		t.Fatalf("token create on a missing database: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("token create made a database")
	}

	// The server's own output never shows a token.
	_ = serve.Process.Signal(syscall.SIGTERM)
	<-exited
	out := serveErr.String()
	if !strings.Contains(out, "posd.db.token") {
		t.Fatalf("serve did not say where the token is:\n%s", out)
	}
	for _, secret := range []string{adminSecret, kasirSecret} {
		if strings.Contains(out, secret) {
			t.Fatalf("posd serve printed a token:\n%s", out)
		}
	}
}
