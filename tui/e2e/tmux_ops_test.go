package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/client"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/testutil"
)

var (
	connections = regexp.MustCompile(`Connections (\d+)`)
	// A sparkline with at least one bar on the order:created line.
	createdSpark = regexp.MustCompile(`order:created +[ ▁▂▃▄▅▆▇█]*[▁▂▃▄▅▆▇█]`)
)

// The operator's console against `posd serve --demo`, with auth on and the
// admin token the server wrote beside its database, in an 80x24 tmux
// terminal: it goes LIVE, counts the connections (its own at least), draws
// the demo's orders as a sparkline and lists the stalls; an alert composed
// on it reaches the server and comes back on its own screen.
func TestOpsAgainstTheDemoInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary with the demo")
	}
	bin := buildPosd(t)
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	startServerWith(t, bin, addr, dir, "serve", "--demo", "--demo-rate", "60", "--addr", addr, "--db", filepath.Join(dir, "posd.db"))
	screen := startTmux(t, 80, 24, dir, bin, "ops", "--server", "http://"+addr)

	// The screen is read at most every 100 ms: each read starts a tmux.
	var last string
	var read time.Time
	see := func(what string, ok func(string) bool) {
		t.Helper()
		testutil.EventuallyNil(t, patience, func() error {
			if time.Since(read) >= 100*time.Millisecond {
				last, read = screen.capture(), time.Now()
			}
			if ok(last) {
				return nil
			}
			return fmt.Errorf("no %s on the screen:\n%s", what, last)
		})
	}
	see("LIVE badge", func(s string) bool { return strings.Contains(s, "● LIVE") })
	see("connection count", func(s string) bool {
		m := connections.FindStringSubmatch(s)
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		return n >= 1
	})
	see("stall of the demo", func(s string) bool { return strings.Contains(s, "Warung Nasi Goreng") })
	see("sparkline of the demo's orders", createdSpark.MatchString)

	// An alert: composed, sent, and back through the stream as a banner.
	screen.send(t, "a")
	see("alert form", func(s string) bool { return strings.Contains(s, "SEND AN ALERT") })
	screen.send(t, "-l", "Dapur tutup 5 menit") // -l: typed as text, not key names
	screen.send(t, "Left", "Enter")
	see("the alert's banner", func(s string) bool { return strings.Contains(s, "WARNING: Dapur tutup 5 menit") })

	token, err := os.ReadFile(filepath.Join(dir, "posd.db.token"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := client.New(client.Config{Server: "http://" + addr, Token: strings.TrimSpace(string(token))})
	if err != nil {
		t.Fatal(err)
	}
	var since int64
	found := false
	for !found {
		page, err := api.Events(context.Background(), since, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Events {
			if ev.Name == domain.EventAlert && ev.Payload.Severity == "warning" && ev.Payload.Message == "Dapur tutup 5 menit" {
				found = true
			}
		}
		if len(page.Events) == 0 {
			break
		}
		since = page.NextSince
	}
	if !found {
		t.Fatal("the server's log has no warning alert \"Dapur tutup 5 menit\"")
	}
	t.Logf("last screen:\n%s", last)
}

// send types keys into the terminal, as tmux send-keys names them.
func (m *tmux) send(t *testing.T, keys ...string) {
	t.Helper()
	args := append([]string{"send-keys", "-t", m.session}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}
