package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/testutil"
)

// tmux drives a console as a person would: a real terminal of a set
// size, keys sent, the screen read back.
type tmux struct {
	t       *testing.T
	session string
}

func startTmux(t *testing.T, width, height int, dir string, cmd ...string) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux): the console's terminal run cannot be driven")
	}
	m := &tmux{t: t, session: "posd-e2e-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	args := append([]string{"new-session", "-d", "-s", m.session, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "-c", dir}, cmd...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", m.session).Run() })
	return m
}

func (m *tmux) capture() string {
	out, err := exec.Command("tmux", "capture-pane", "-p", "-t", m.session).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

var (
	columnCount = regexp.MustCompile(`(PENDING|PREPARING|READY|PEND|PREP)\s*\((\d+)\)`)
	orderNumber = regexp.MustCompile(`\b[A-Z]{2,3}-\d{3}\b`)
)

// The demo food court runs for about five simulated minutes (ten times
// faster than life) while the kitchen display follows it in a 120x40 tmux
// terminal: the screen stays LIVE, tickets come and go, and the kitchen
// keeps up (its Preparing column holds a healthy number of tickets).
func TestDemoOnTheKitchenDisplayInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 30 s")
	}
	bin := buildPosd(t)
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	startServer(t, bin, addr, filepath.Join(dir, "posd.db"))
	demo := exec.Command(bin, "demo", "--server", "http://"+addr, "--rate", "100", "--speed", "10", "--seed", "7", "--no-alerts")
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = demo.Process.Kill(); _ = demo.Wait() })
	screen := startTmux(t, 120, 40, dir, bin, "display", "--server", "http://"+addr, "--no-bell")

	seen := map[string]bool{}
	var last string
	maxPreparing := 0
	for i := 0; i < 15; i++ {
		time.Sleep(2 * time.Second)
		last = screen.capture()
		if !strings.Contains(last, "LIVE") {
			t.Fatalf("after %d s the display is not LIVE:\n%s", 2*(i+1), last)
		}
		for _, n := range orderNumber.FindAllString(last, -1) {
			seen[n] = true
		}
		for _, m := range columnCount.FindAllStringSubmatch(last, -1) {
			if strings.HasPrefix(m[1], "PREP") {
				n, _ := strconv.Atoi(m[2])
				maxPreparing = max(maxPreparing, n)
			}
		}
	}
	t.Logf("30 s (about 5 simulated minutes): %d different orders on screen, Preparing at most %d; last screen:\n%s", len(seen), maxPreparing, last)
	if len(seen) < 15 {
		t.Fatalf("only %d different orders went across the screen: it is not following the demo", len(seen))
	}
	if maxPreparing == 0 || maxPreparing > 30 {
		t.Fatalf("Preparing held at most %d tickets: want a busy but healthy kitchen (1–30)", maxPreparing)
	}
}
