//go:build linux

package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain doubles as the child process of the tests below (chosen by
// TIMERSLACK_LOG): it notes each start in a file, calls Ensure, and prints
// the slack it ends with.
func TestMain(m *testing.M) {
	log := os.Getenv("TIMERSLACK_LOG")
	if log == "" {
		os.Exit(m.Run())
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Fprintf(f, "start pid=%d\n", os.Getpid())
	f.Close()
	min, _ := time.ParseDuration(os.Getenv("TIMERSLACK_MIN"))
	if err := Ensure(min); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Printf("slack=%d pid=%d\n", Current().Nanoseconds(), os.Getpid())
	os.Exit(0)
}

func runChild(t *testing.T, min string, parentSlack time.Duration) (out string, starts []string) {
	t.Helper()
	log := t.TempDir() + "/starts"
	cmd := exec.Command(os.Args[0])
	if parentSlack > 0 {
		// Start the child as a shell would with its slack already set.
		cmd = exec.Command("sh", "-c", fmt.Sprintf(`echo %d > /proc/self/timerslack_ns && exec "$0"`, parentSlack.Nanoseconds()), os.Args[0])
	}
	cmd.Env = append(os.Environ(), "TIMERSLACK_LOG="+log, "TIMERSLACK_MIN="+min)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), strings.Fields(strings.TrimSpace(string(data)))
}

func TestEnsureReexecutesWithTheSlack(t *testing.T) {
	if Current() >= time.Millisecond {
		t.Skip("this test process already runs with a slack of 1 ms or more")
	}
	out, starts := runChild(t, "1ms", 0)
	if !strings.Contains(out, "slack=1000000 ") {
		t.Fatalf("child did not end with a 1 ms slack:\n%s", out)
	}
	// Two starts of one process: the second is the same pid, re-executed.
	if len(starts) != 4 || starts[1] != starts[3] {
		t.Fatalf("want two starts with one pid, got %q", starts)
	}
	if !strings.Contains(out, starts[1]+"\n") {
		t.Fatalf("the process that printed is not the one that started:\n%s\n%q", out, starts)
	}
}

func TestEnsureKeepsALargerSlackWithoutReexecuting(t *testing.T) {
	out, starts := runChild(t, "1ms", 5*time.Millisecond)
	if !strings.Contains(out, "slack=5000000 ") {
		t.Fatalf("child's slack changed from the 5 ms it started with:\n%s", out)
	}
	if len(starts) != 2 {
		t.Fatalf("re-executed although the slack was already enough: %q", starts)
	}
}

func TestEnsureZeroDoesNothing(t *testing.T) {
	out, starts := runChild(t, "0s", 0)
	if len(starts) != 2 {
		t.Fatalf("re-executed for a zero minimum: %q", starts)
	}
	if !strings.Contains(out, fmt.Sprintf("slack=%d ", Current().Nanoseconds())) {
		t.Fatalf("child's slack is not the inherited %v:\n%s", Current(), out)
	}
}
