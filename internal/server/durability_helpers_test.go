package server_test

// Helpers of the lose-nothing tests (resume, retention, slow consumers,
// idempotency, crash safety, hostile input). Names start with "dur" so that
// they stay out of the way of other tests in this package.

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/protocol/native"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// durStart runs a server with auth off (everyone is admin) on a temp file,
// after mut has adjusted its config.
func durStart(t testing.TB, mut func(*server.Config)) *servertest.Server {
	t.Helper()
	cfg := server.Config{AuthOff: true}
	if mut != nil {
		mut(&cfg)
	}
	return servertest.Start(t, cfg)
}

// durSeed creates n tenants (codes T1..Tn) and m counters, returning their ids.
func durSeed(t testing.TB, s *servertest.Server, n, m int) (tenants, counters []int64) {
	t.Helper()
	for i := 1; i <= n; i++ {
		var out struct{ ID int64 }
		s.MustDo(t, http.StatusCreated, s.Admin, "POST", "/api/tenants", map[string]any{"name": fmt.Sprintf("Stall %d", i), "code": fmt.Sprintf("T%d", i)}, &out)
		tenants = append(tenants, out.ID)
	}
	for i := 1; i <= m; i++ {
		var out struct{ ID int64 }
		s.MustDo(t, http.StatusCreated, s.Admin, "POST", "/api/counters", map[string]any{"name": fmt.Sprintf("Kasir %d", i)}, &out)
		counters = append(counters, out.ID)
	}
	return tenants, counters
}

func durOrder(tenant int64, name string) map[string]any {
	return map[string]any{"tenant_id": tenant, "customer_name": name, "items": []map[string]any{{"name": "Nasi goreng", "quantity": 2, "unit_price": 25000}}}
}

// durFrame is a decoded native frame with its event id and raw bytes,
// which these tests report when a frame is not what they expected.
type durFrame struct {
	native.ServerFrame
	ID  int64  `json:"-"` // the event id of an event frame
	Raw []byte `json:"-"`
}

func durDecode(data []byte) (durFrame, error) {
	var f durFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, err
	}
	f.Raw = data
	if f.Op == "event" {
		var p struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(f.Payload, &p); err != nil {
			return f, err
		}
		f.ID = p.ID
	}
	return f, nil
}

// durReader reads one connection in its own goroutine, handing each frame to
// a callback, and records how the connection ended.
type durReader struct {
	conn *websocket.Conn
	done chan struct{}
	err  error // the read error that ended it (a *websocket.CloseError for a close frame)
}

func durRead(conn *websocket.Conn, onFrame func(durFrame)) *durReader {
	r := &durReader{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				r.err = err
				return
			}
			f, err := durDecode(data)
			if err != nil {
				r.err = fmt.Errorf("undecodable frame %q: %w", data, err)
				return
			}
			onFrame(f)
		}
	}()
	return r
}

// wait waits for the reader to end and returns the close code and text
// (0, "" when the connection ended without a close frame).
func (r *durReader) wait(t testing.TB, d time.Duration) (int, string) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(d):
		t.Fatalf("connection still open after %v", d)
	}
	var ce *websocket.CloseError
	if errors.As(r.err, &ce) {
		return ce.Code, ce.Text
	}
	return 0, ""
}

// durFrames collects every frame of a connection.
type durFrames struct {
	mu     sync.Mutex
	frames []durFrame
}

func newDurFrames() *durFrames { return &durFrames{} }

func (c *durFrames) add(f durFrame) {
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
}

func (c *durFrames) snapshot() []durFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]durFrame(nil), c.frames...)
}

// waitFor waits until some frame satisfies match and returns it.
func (c *durFrames) waitFor(t testing.TB, what string, d time.Duration, match func(durFrame) bool) durFrame {
	t.Helper()
	var found durFrame
	checked := 0 // frames already looked at: each check reads only the new ones
	if !testutil.Await(d, testutil.Poll, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, f := range c.frames[checked:] {
			if match(f) {
				found = f
				return true
			}
		}
		checked = len(c.frames)
		return false
	}) {
		t.Fatalf("no frame with %s within %v; got %d frames", what, d, len(c.snapshot()))
	}
	return found
}

// eventIDs lists the ids of the event frames.
func (c *durFrames) eventIDs() []int64 {
	var ids []int64
	for _, f := range c.snapshot() {
		if f.Op == "event" {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// durCount runs a COUNT(*) query on the server's database.
func durCount(t testing.TB, s *servertest.Server, query string, args ...any) int {
	t.Helper()
	return durCountFile(t, s.DBPath(), query, args...)
}

// durCountFile runs a COUNT(*)-like query on the SQLite file at path with a
// connection of its own (read-only, WAL: it sees every committed write).
func durCountFile(t testing.TB, path, query string, args ...any) int {
	t.Helper()
	db := durOpen(t, path)
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// durOpen opens the SQLite file at path read-only with a connection of its
// own (WAL: it sees every committed write).
func durOpen(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}
