package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// durAPI is a goroutine-safe API caller (the servertest helpers fail the test
// from the calling goroutine, which writers are not).
type durAPI struct {
	base     string
	hc       *http.Client
	replayed atomic.Int64 // answers marked Idempotent-Replayed
}

func newDurAPI(base string) *durAPI {
	return &durAPI{base: base, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

func (a *durAPI) call(method, path string, body any, headers ...string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		a.replayed.Add(1)
	}
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// durWriter drives the food court through the API: orders, their status
// changes, payments, cancellations (with refunds), notifications, alerts.
// Every write it makes is legal, so each 2xx is one or two events.
type durWriter struct {
	api      *durAPI
	rng      *rand.Rand
	tenants  []int64
	counters []int64
	open     []durOpenOrder
	// keyed, when set, sends an Idempotency-Key with every write and retries
	// a write whose answer was lost (the crash test's client).
	keyed   bool
	prefix  string
	n       int
	retried int // writes answered only on a retry with the same key
	// acked records what the API answered 2xx for.
	acked durAcked
}

type durOpenOrder struct {
	id       int64
	tenant   int64
	total    int64
	status   string
	payment  int64 // 0: unpaid
	refunded bool  // partly refunded already
}

// durAcked is what the API acknowledged: orders and, per order, the events
// it must have (by event name).
type durAcked struct {
	mu     sync.Mutex
	orders map[int64]map[string]int
	other  int // notifications and alerts
}

func (a *durAcked) add(order int64, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.orders == nil {
		a.orders = map[int64]map[string]int{}
	}
	if a.orders[order] == nil {
		a.orders[order] = map[string]int{}
	}
	a.orders[order][name]++
}

var durNextStatus = map[string]string{"pending": "preparing", "preparing": "ready", "ready": "completed"}

// step makes one write; it returns an error only for answers that are not
// legal outcomes (lost connections are reported as errDurLost).
func (w *durWriter) step() error {
	w.n++
	key := []string{}
	if w.keyed {
		key = []string{"Idempotency-Key", fmt.Sprintf("%s-%d", w.prefix, w.n)}
	}
	r := w.rng.IntN(100)
	switch {
	case r < 45 || len(w.open) == 0:
		tenant := w.tenants[w.rng.IntN(len(w.tenants))]
		qty := 1 + w.rng.IntN(3)
		body := map[string]any{"tenant_id": tenant, "customer_name": fmt.Sprintf("%s guest %d", w.prefix, w.n),
			"items": []map[string]any{{"name": "Soto ayam", "quantity": qty, "unit_price": 18000}, {"name": "Es jeruk", "quantity": 1, "unit_price": 7000}}}
		var o struct {
			ID          int64 `json:"id"`
			TotalAmount int64 `json:"total_amount"`
		}
		if err := w.do("POST", "/api/orders", body, http.StatusCreated, &o, key); err != nil {
			return err
		}
		w.open = append(w.open, durOpenOrder{id: o.ID, tenant: tenant, total: o.TotalAmount, status: "pending"})
		w.acked.add(o.ID, "order:created")
	case r < 70:
		i := w.rng.IntN(len(w.open))
		o := &w.open[i]
		to := durNextStatus[o.status]
		if err := w.do("PATCH", fmt.Sprintf("/api/orders/%d/status", o.id), map[string]any{"status": to}, http.StatusOK, nil, key); err != nil {
			return err
		}
		w.acked.add(o.id, "order:status_changed")
		o.status = to
		if to == "completed" {
			w.open = slices.Delete(w.open, i, i+1)
		}
	case r < 85:
		i := w.rng.IntN(len(w.open))
		o := &w.open[i]
		if o.refunded {
			return nil // one partial refund per order is plenty
		}
		if o.payment != 0 {
			// Refund part of it instead.
			if err := w.do("POST", fmt.Sprintf("/api/payments/%d/refund", o.payment), map[string]any{"reason": "cold soup", "amount": 1000}, http.StatusCreated, nil, key); err != nil {
				return err
			}
			w.acked.add(o.id, "payment:refunded")
			o.refunded = true
			return nil
		}
		counter := w.counters[w.rng.IntN(len(w.counters))]
		var p struct{ ID int64 }
		if err := w.do("POST", "/api/payments", map[string]any{"order_id": o.id, "amount_paid": o.total + 3000, "payment_method": "cash", "counter_id": counter}, http.StatusCreated, &p, key); err != nil {
			return err
		}
		w.acked.add(o.id, "payment:processed")
		o.payment = p.ID
	case r < 90:
		i := w.rng.IntN(len(w.open))
		o := w.open[i]
		if err := w.do("DELETE", fmt.Sprintf("/api/orders/%d", o.id), map[string]any{"reason": "customer left"}, http.StatusOK, nil, key); err != nil {
			return err
		}
		w.acked.add(o.id, "order:cancelled")
		if o.payment != 0 {
			w.acked.add(o.id, "payment:refunded") // what is left of the payment
		}
		w.open = slices.Delete(w.open, i, i+1)
	case r < 97:
		user := 1 + w.rng.IntN(3)
		if err := w.do("POST", "/api/notifications", map[string]any{"user_id": user, "type": "order_ready", "data": map[string]any{"n": w.n}}, http.StatusCreated, nil, key); err != nil {
			return err
		}
		w.acked.mu.Lock()
		w.acked.other++
		w.acked.mu.Unlock()
	default:
		if err := w.do("POST", "/api/alerts", map[string]any{"severity": "info", "message": fmt.Sprintf("%s alert %d", w.prefix, w.n)}, http.StatusCreated, nil, key); err != nil {
			return err
		}
		w.acked.mu.Lock()
		w.acked.other++
		w.acked.mu.Unlock()
	}
	return nil
}

// errDurLost: the server went away before answering (the crash test's kills).
var errDurLost = errors.New("lost answer")

func (w *durWriter) do(method, path string, body any, want int, out any, headers []string) error {
	for attempt := 0; ; attempt++ {
		status, raw, err := w.api.call(method, path, body, headers...)
		if err != nil {
			if !w.keyed {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
			// The same key again, until the server answers: it acts once.
			if attempt > 600 {
				return fmt.Errorf("%s %s: %w (%v)", method, path, errDurLost, err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if status != want {
			return fmt.Errorf("%s %s: %d %s", method, path, status, raw)
		}
		if attempt > 0 {
			w.retried++ // answered only after the connection was lost
		}
		if out != nil {
			return json.Unmarshal(raw, out)
		}
		return nil
	}
}

// durSocket is one resuming client: it reconnects with since=<last id seen>
// or resumes its live connection with the resume op, at random points, and
// records every event it receives.
type durSocket struct {
	name  string
	rooms []string
	rng   *rand.Rand
	every int // disrupt after 1..every events

	mu         sync.Mutex
	ids        []int64 // events in arrival order (what the client keeps)
	last       int64
	violations []string
	reconnects int
	resumes    int
	inflight   int // events already on the wire when a resume op was sent
}

func (c *durSocket) lastID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *durSocket) violate(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.violations) < 10 {
		c.violations = append(c.violations, fmt.Sprintf(format, args...))
	}
}

// run connects and disrupts itself until calm is closed, then reads on
// until it has seen target() (or ctx ends).
func (c *durSocket) run(ctx context.Context, s *servertest.Server, calm <-chan struct{}, target func() int64) {
	since := int64(0)
	for ctx.Err() == nil {
		q := "rooms=" + strings.Join(c.rooms, ",") + fmt.Sprintf("&since=%d", since)
		conn, _, err := s.TryDial("", q, nil)
		if err != nil {
			c.violate("dial: %v", err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		c.session(ctx, conn, calm, target)
		since = c.lastID()
		c.mu.Lock()
		done := c.violations != nil || (durIsClosed(calm) && target() > 0 && c.last >= target())
		c.mu.Unlock()
		if done {
			return
		}
		c.mu.Lock()
		c.reconnects++
		c.mu.Unlock()
		// Offline for a moment while the writers go on.
		time.Sleep(time.Duration(c.rng.IntN(30)) * time.Millisecond)
	}
}

func durIsClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// session reads one connection until it decides to drop it (returns), the
// target is reached, or ctx ends.
func (c *durSocket) session(ctx context.Context, conn *websocket.Conn, calm <-chan struct{}, target func() int64) {
	defer conn.Close()
	budget := 1 + c.rng.IntN(c.every) // events before the next disruption
	pending := int64(-1)              // since of a resume op awaiting its ack
	var inflight int
	for {
		if ctx.Err() != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				if durIsClosed(calm) && target() > 0 && c.lastID() >= target() {
					return
				}
				// gorilla cannot read on after a timeout: reconnect.
				return
			}
			if !durIsClosed(calm) || c.lastID() < target() {
				if ce, ok := err.(*websocket.CloseError); ok {
					c.violate("server closed the connection: %d %s", ce.Code, ce.Text)
				}
			}
			return
		}
		f, err := durDecode(data)
		if err != nil {
			c.violate("bad frame %q", data)
			return
		}
		switch f.Op {
		case "error":
			c.violate("error frame: %s", data)
			return
		case "resumed":
			if f.Since != pending {
				c.violate("resumed since %d, asked %d", f.Since, pending)
			}
			c.mu.Lock()
			c.inflight += inflight
			c.mu.Unlock()
			pending, inflight = -1, 0
		case "event":
			if pending >= 0 {
				// Sent before the server saw our resume: the replay after
				// the ack brings these again, in order.
				inflight++
				continue
			}
			c.mu.Lock()
			if f.ID <= c.last {
				c.mu.Unlock()
				c.violate("event %d after %d: duplicate or out of order", f.ID, c.last)
				return
			}
			c.ids = append(c.ids, f.ID)
			c.last = f.ID
			c.mu.Unlock()
			budget--
		}
		if budget > 0 || pending >= 0 || durIsClosed(calm) {
			continue
		}
		budget = 1 + c.rng.IntN(c.every)
		switch c.rng.IntN(3) {
		case 0: // vanish: no close frame
			conn.NetConn().Close()
			return
		case 1: // polite close
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
			return
		default: // resume the live connection from the last id seen
			pending = c.lastID()
			msg := fmt.Sprintf(`{"op":"resume","since":%d}`, pending)
			if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				return
			}
			c.mu.Lock()
			c.resumes++
			c.mu.Unlock()
		}
	}
}

// TestResumeUnderConcurrentWrites: writers drive events through the API while
// clients drop and resume at random; each client must end up with every
// event of its rooms exactly once, in id order.
func TestResumeUnderConcurrentWrites(t *testing.T) {
	events := 10_000
	if durRace || testing.Short() {
		events = 800 // the race detector makes every SQLite write ~10× slower
	}
	s := durStart(t, nil)
	tenants, counters := durSeed(t, s, 3, 2)

	roomSets := [][]string{
		{"tenant-1"}, {"tenant-2", "kasir-1"}, {"display"}, {"user-1"},
		{"tenant-3", "display"}, {"kasir-2", "user-2"}, {"tenant-1", "tenant-2", "tenant-3"}, {"user-3", "kasir-1"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	calm := make(chan struct{})
	targets := make([]atomic.Int64, len(roomSets)) // set once the writers are done
	clients := make([]*durSocket, len(roomSets))
	var cwg sync.WaitGroup
	for i, rooms := range roomSets {
		clients[i] = &durSocket{name: strings.Join(rooms, "+"), rooms: rooms, rng: rand.New(rand.NewPCG(uint64(i), 7)), every: max(events/50, 25)}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			if i%4 == 3 {
				// Some clients arrive late and replay a long log from 0
				// while the writers go on (or as the test ends).
				testutil.Await(3*time.Minute, 10*time.Millisecond, func() bool {
					return s.Hub.LastPublished() >= int64(events/3) || ctx.Err() != nil
				})
			}
			clients[i].run(ctx, s, calm, targets[i].Load)
		}()
	}

	const nWriters = 4
	var wwg sync.WaitGroup
	writeErrs := make(chan error, nWriters)
	for w := range nWriters {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			wr := &durWriter{api: newDurAPI(s.URL), rng: rand.New(rand.NewPCG(uint64(w), 99)), tenants: tenants, counters: counters, prefix: fmt.Sprintf("w%d", w)}
			for s.Hub.LastPublished() < int64(events) {
				if err := wr.step(); err != nil {
					writeErrs <- err
					return
				}
			}
		}()
	}
	wwg.Wait()
	close(writeErrs)
	for err := range writeErrs {
		t.Fatalf("writer: %v", err)
	}

	// The writers are done: each client's target is the newest event of its rooms.
	total := durCount(t, s, `SELECT COUNT(*) FROM events`)
	want := make([][]int64, len(roomSets))
	for i, rooms := range roomSets {
		want[i] = durIDs(t, s.DBPath(), rooms)
		if len(want[i]) == 0 {
			t.Fatalf("no events for %v", rooms)
		}
		targets[i].Store(want[i][len(want[i])-1])
	}
	close(calm)
	cwg.Wait()

	var reconnects, resumes, inflight, delivered int
	for i, c := range clients {
		c.mu.Lock()
		if len(c.violations) > 0 {
			t.Errorf("client %s: %s", c.name, strings.Join(c.violations, "; "))
		}
		if !slices.Equal(c.ids, want[i]) {
			d := durFirstDiff(c.ids, want[i])
			t.Errorf("client %s: got %d events, want %d (first difference at index %d: got %v, want %v)", c.name, len(c.ids), len(want[i]), d,
				c.ids[max(d-3, 0):min(d+3, len(c.ids))], want[i][max(d-3, 0):min(d+3, len(want[i]))])
		}
		reconnects += c.reconnects
		resumes += c.resumes
		inflight += c.inflight
		delivered += len(c.ids)
		c.mu.Unlock()
	}
	t.Logf("%d events in the log from %d writers; %d clients: %d reconnects with since, %d live resumes (%d in-flight events re-sent after the ack), %d deliveries checked, none lost or duplicated",
		total, nWriters, len(clients), reconnects, resumes, inflight, delivered)
	if total < events {
		t.Fatalf("only %d events", total)
	}
	if reconnects < 10 || resumes < 5 {
		t.Errorf("too few disruptions to prove anything: %d reconnects, %d resumes", reconnects, resumes)
	}
}

// durIDs lists the ids of the events a connection in rooms receives.
func durIDs(t testing.TB, path string, rooms []string) []int64 {
	t.Helper()
	db := durOpen(t, path)
	defer db.Close()
	args := []any{"*"}
	for _, r := range rooms {
		args = append(args, r)
	}
	rows, err := db.Query(`SELECT DISTINCT event_id FROM event_rooms WHERE room IN (?`+strings.Repeat(",?", len(rooms))+`) ORDER BY event_id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func durFirstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// The ready frame comes first, also when the connection replays (README:
// "first frame"): a client can tell the replay from what came before it.
func TestReadyFrameFirst(t *testing.T) {
	s := durStart(t, nil)
	tenants, _ := durSeed(t, s, 1, 0)
	for i := range 5 {
		s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], fmt.Sprint("c", i)), nil)
	}
	for _, q := range []string{"rooms=tenant-1", "rooms=tenant-1&since=0", "rooms=tenant-1&since=3"} {
		ws := s.Dial(t, "", q)
		if f := servertest.Read(t, ws, 10*time.Second); f.Op != "ready" {
			t.Fatalf("%s: first frame %+v, want ready", q, f)
		}
	}
}
