package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/testutil"
)

// durProc is one run of the real posd binary.
type durProc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan struct{}
	err    error
}

func durServe(t *testing.T, bin, addr, db string) *durProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", addr, "--db", db, "--auth=off", "--log-level", "warn")
	cmd.Env = posdEnv()
	p := &durProc{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	testutil.Eventually(t, 60*time.Second, "posd serve to answer", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("posd serve exited: %v\n%s", p.err, p.stderr)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *durProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("posd did not exit after %v", sig)
	}
	if sig == syscall.SIGTERM && p.err != nil {
		t.Fatalf("posd exited with %v after SIGTERM\n%s", p.err, p.stderr)
	}
}

// durFollower is a socket client in every room that survives server
// restarts by reconnecting with since=<last id seen>.
type durFollower struct {
	mu         sync.Mutex
	ids        []int64
	last       int64
	closes     map[string]int // "code text" of close frames received
	reconnects int
	violation  string
	stop       chan struct{}
	done       chan struct{}
}

func durFollow(addr, rooms string) *durFollower {
	f := &durFollower{closes: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			f.mu.Lock()
			since := f.last
			f.mu.Unlock()
			conn, _, err := d.Dial(fmt.Sprintf("ws://%s/ws?rooms=%s&since=%d", addr, rooms, since), nil)
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			f.read(conn)
			conn.Close()
			f.mu.Lock()
			f.reconnects++
			f.mu.Unlock()
		}
	}()
	return f
}

func (f *durFollower) read(conn *websocket.Conn) {
	for {
		select {
		case <-f.stop:
			return
		default:
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				f.mu.Lock()
				f.closes[fmt.Sprintf("%d %s", ce.Code, ce.Text)]++
				f.mu.Unlock()
			}
			return
		}
		fr, err := durDecode(data)
		if err != nil || fr.Op == "error" {
			f.fail(fmt.Sprintf("frame %q", data))
			return
		}
		if fr.Op != "event" {
			continue
		}
		f.mu.Lock()
		if fr.ID <= f.last {
			if f.violation == "" {
				f.violation = fmt.Sprintf("event %d after %d", fr.ID, f.last)
			}
			f.mu.Unlock()
			return
		}
		f.ids = append(f.ids, fr.ID)
		f.last = fr.ID
		f.mu.Unlock()
	}
}

func (f *durFollower) fail(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.violation == "" {
		f.violation = msg
	}
}

func (f *durFollower) lastID() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// TestCrashSafety runs the real binary, SIGKILLs it at random points while
// writers drive orders, status changes, payments and refunds (each retried
// with its Idempotency-Key until answered), restarts it on the same database
// each time, then stops it gracefully once (SIGTERM: sockets get 1001 going
// away) and checks that nothing acknowledged was lost, nothing was done
// twice, the log has no holes and a resuming client got every event once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	tmp := t.TempDir()
	bin := posdBinary(t)
	began := time.Now()
	addr := testutil.FreeAddr(t)
	db := filepath.Join(tmp, "posd.db")
	base := "http://" + addr

	proc := durServe(t, bin, addr, db)
	api := newDurAPI(base)
	for _, req := range []struct{ path, body string }{
		{"/api/tenants", `{"name":"Soto","code":"T1"}`}, {"/api/tenants", `{"name":"Bakso","code":"T2"}`}, {"/api/tenants", `{"name":"Kopi","code":"T3"}`},
		{"/api/counters", `{"name":"Kasir 1"}`}, {"/api/counters", `{"name":"Kasir 2"}`},
	} {
		var v any
		_ = json.Unmarshal([]byte(req.body), &v)
		if st, raw, err := api.call("POST", req.path, v); err != nil || st != http.StatusCreated {
			t.Fatalf("seed %s: %d %s %v", req.path, st, raw, err)
		}
	}
	const rooms = "tenant-1,tenant-2,tenant-3,display,kasir-1,kasir-2,user-1,user-2,user-3"
	follower := durFollow(addr, rooms)

	const nWriters = 4
	writers := make([]*durWriter, nWriters)
	stopWriters := make(chan struct{})
	var wwg sync.WaitGroup
	writeErrs := make(chan error, nWriters)
	for w := range nWriters {
		writers[w] = &durWriter{api: newDurAPI(base), rng: rand.New(rand.NewPCG(uint64(w), 2026)), tenants: []int64{1, 2, 3}, counters: []int64{1, 2},
			keyed: true, prefix: fmt.Sprintf("crash-w%d", w)}
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for {
				select {
				case <-stopWriters:
					return
				default:
				}
				if err := writers[w].step(); err != nil {
					writeErrs <- err
					return
				}
			}
		}()
	}

	rng := rand.New(rand.NewPCG(42, 4))
	const kills = 5
	lastBefore := int64(0)
	for k := range kills {
		// Let the writers get going, then kill mid-stream.
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		proc.stop(t, syscall.SIGKILL)
		proc = durServe(t, bin, addr, db)
		n := durCountFile(t, db, `SELECT COUNT(*) FROM events`)
		if int64(n) < lastBefore {
			t.Fatalf("kill %d: the log shrank from %d to %d events", k+1, lastBefore, n)
		}
		lastBefore = int64(n)
	}

	t.Logf("%d kills and restarts in %v", kills, time.Since(began).Round(time.Millisecond))
	began = time.Now()
	// A graceful restart: the follower is told 1001 going away, then
	// resumes from its last id.
	time.Sleep(500 * time.Millisecond)
	testutil.Eventually(t, 30*time.Second, "the follower to be connected", func() bool {
		st, raw, err := api.call("GET", "/api/connections", nil)
		return err == nil && st == http.StatusOK && strings.Contains(string(raw), `"active":1`)
	})
	proc.stop(t, syscall.SIGTERM)
	proc = durServe(t, bin, addr, db)
	time.Sleep(500 * time.Millisecond)

	t.Logf("graceful restart in %v", time.Since(began).Round(time.Millisecond))
	close(stopWriters)
	wwg.Wait()
	close(writeErrs)
	for err := range writeErrs {
		t.Fatalf("writer: %v\nserver log:\n%s", err, proc.stderr)
	}

	// The log: ids 1..max without a hole.
	total := durCountFile(t, db, `SELECT COUNT(*) FROM events`)
	maxID := durCountFile(t, db, `SELECT COALESCE(MAX(id), 0) FROM events`)
	minID := durCountFile(t, db, `SELECT COALESCE(MIN(id), 0) FROM events`)
	if minID != 1 || maxID != total {
		t.Fatalf("event ids %d..%d for %d events: holes in the log", minID, maxID, total)
	}

	// Every acknowledged order exists with exactly its events; nothing
	// else happened.
	got := durOrderEvents(t, db)
	want := map[int64]map[string]int{}
	other := 0
	for _, w := range writers {
		for id, evs := range w.acked.orders {
			want[id] = evs
		}
		other += w.acked.other
	}
	if len(got) != len(want) {
		t.Errorf("%d orders have events, %d were acknowledged", len(got), len(want))
	}
	acked := 0
	stored := durOrderIDs(t, db)
	for id, evs := range want {
		if !stored[id] {
			t.Errorf("acknowledged order %d is not in the database", id)
		}
		if fmt.Sprint(got[id]) != fmt.Sprint(evs) {
			t.Errorf("order %d: events %v, acknowledged %v", id, got[id], evs)
		}
		for _, n := range evs {
			acked += n
		}
	}
	if acked+other != total {
		t.Errorf("%d events in the log, %d acknowledged", total, acked+other)
	}
	orders := durCountFile(t, db, `SELECT COUNT(*) FROM orders`)
	payments := durCountFile(t, db, `SELECT COUNT(*) FROM payments WHERE kind = 'payment'`)
	refunds := durCountFile(t, db, `SELECT COUNT(*) FROM payments WHERE kind = 'refund'`)
	if orders != len(want) {
		t.Errorf("%d orders in the database, %d acknowledged", orders, len(want))
	}
	wantPay, wantRefund := 0, 0
	for _, evs := range want {
		wantPay += evs["payment:processed"]
		wantRefund += evs["payment:refunded"]
	}
	if payments != wantPay || refunds != wantRefund {
		t.Errorf("%d payments and %d refunds in the database, %d and %d acknowledged", payments, refunds, wantPay, wantRefund)
	}

	// The follower resumed across every restart and got each event once.
	testutil.Eventually(t, 60*time.Second, fmt.Sprintf("the follower to reach event %d", maxID), func() bool {
		return follower.lastID() >= int64(maxID)
	})
	close(follower.stop)
	<-follower.done
	follower.mu.Lock()
	defer follower.mu.Unlock()
	if follower.violation != "" {
		t.Fatalf("follower: %s", follower.violation)
	}
	if len(follower.ids) != total {
		t.Fatalf("follower got %d events, the log holds %d", len(follower.ids), total)
	}
	for i, id := range follower.ids {
		if id != int64(i+1) {
			t.Fatalf("follower: event %d at position %d", id, i)
		}
	}
	if follower.closes["1001 going away"] < 1 {
		t.Errorf("the follower never saw 1001 going away on SIGTERM; closes: %v", follower.closes)
	}
	retried, replayed := 0, int64(0)
	for _, w := range writers {
		retried += w.retried
		replayed += w.api.replayed.Load()
	}
	t.Logf("%d kills (SIGKILL) + 1 SIGTERM restart; %d events (%d orders, %d payments, %d refunds), %d writes retried with their key across a restart (%d of them answered from the stored response: they had committed before the kill), all acknowledged writes present exactly once; follower: %d reconnects, close frames %v, %d events once each in order",
		kills, total, orders, payments, refunds, retried, replayed, follower.reconnects, follower.closes, len(follower.ids))
	proc.stop(t, syscall.SIGTERM)
}

// durOrderEvents counts each order's events by name from the log.
func durOrderEvents(t *testing.T, db string) map[int64]map[string]int {
	t.Helper()
	conn := durOpen(t, db)
	defer conn.Close()
	rows, err := conn.Query(`SELECT json_extract(data, '$.order_id'), name, COUNT(*) FROM events WHERE name NOT IN ('notification', 'alert') GROUP BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]map[string]int{}
	for rows.Next() {
		var id int64
		var name string
		var n int
		if err := rows.Scan(&id, &name, &n); err != nil {
			t.Fatal(err)
		}
		if out[id] == nil {
			out[id] = map[string]int{}
		}
		out[id][name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// durOrderIDs is the set of order ids in the database.
func durOrderIDs(t *testing.T, db string) map[int64]bool {
	t.Helper()
	conn := durOpen(t, db)
	defer conn.Close()
	rows, err := conn.Query(`SELECT id FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
