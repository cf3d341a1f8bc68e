package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// api is the bench's HTTP side: keep-alive connections to the server's API.
type api struct {
	base  string
	token string
	hc    *http.Client
}

func newAPI(base, token string, conns int) *api {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		// Below the 5 s keep-alive timeout of Node's http server: a
		// connection it closes while a POST goes out would fail the order
		// (a POST is not retried).
		IdleConnTimeout:    3 * time.Second,
		DisableCompression: true,
		ForceAttemptHTTP2:  false,
	}
	return &api{base: strings.TrimSuffix(base, "/"), token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (a *api) close() { a.hc.CloseIdleConnections() }

// apiError is a refusal by the server, with its status.
type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// post sends a JSON body and returns the response body of a 2xx.
func (a *api) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	return a.do(ctx, http.MethodPost, path, body, 1<<20)
}

// do sends one request and returns the body (at most max bytes) of a 2xx
// answer.
func (a *api) do(ctx context.Context, method, path string, body []byte, maxBody int64) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &apiError{Status: resp.StatusCode, Body: strings.TrimSpace(string(truncate(b, 300)))}
	}
	return b, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// idOf reads the top-level "id" of a created resource.
func idOf(b []byte) (int64, error) {
	var v struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return 0, fmt.Errorf("decode response: %w", err)
	}
	if v.ID <= 0 {
		return 0, fmt.Errorf("response has no id: %.200s", b)
	}
	return v.ID, nil
}

// get fetches path and returns the body of a 2xx answer.
func (a *api) get(ctx context.Context, path string) ([]byte, error) {
	return a.do(ctx, http.MethodGet, path, nil, 8<<20)
}

// BenchCodePrefix starts the code of every stall the bench sets up: BX1,
// BX2, ... They are reused run after run, so a server that is benched again
// does not fill up with copies, and they are easy to tell from real stalls.
const BenchCodePrefix = "BX"

func benchCode(i int) string { return BenchCodePrefix + strconv.Itoa(i+1) }

func isBenchCode(code string) bool {
	n := strings.TrimPrefix(code, BenchCodePrefix)
	if n == code || n == "" {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ErrOtherData is returned by Run when the server holds stalls that are not
// the bench's and the caller did not pass Config.Yes.
var ErrOtherData = errors.New("the server holds other data")

// setupTenants finds or creates the bench stalls BX1..BXn and returns their
// ids. Before writing into a server that holds other stalls it stops unless
// yes: a load test's orders and stalls would land among real ones.
func (a *api) setupTenants(ctx context.Context, n int, yes bool) ([]int64, error) {
	have := map[string]int64{}
	b, err := a.get(ctx, "/api/tenants")
	if err != nil {
		// Without the list nothing can be checked (or reused).
		if !yes {
			return nil, fmt.Errorf("list the server's stalls before writing to it: %w (pass --yes to set up without checking)", err)
		}
	} else {
		var body struct {
			Tenants []struct {
				ID   int64  `json:"id"`
				Code string `json:"code"`
				Name string `json:"name"`
			} `json:"tenants"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			// Some servers answer a bare list.
			if err2 := json.Unmarshal(b, &body.Tenants); err2 != nil {
				return nil, fmt.Errorf("decode the server's stalls: %w", err)
			}
		}
		var others []string
		for _, t := range body.Tenants {
			if isBenchCode(t.Code) {
				have[t.Code] = t.ID
			} else {
				others = append(others, fmt.Sprintf("%s %q", t.Code, t.Name))
			}
		}
		if len(others) > 0 && !yes {
			if len(others) > 3 {
				others = append(others[:3], "…")
			}
			return nil, fmt.Errorf("%w: %d stalls that are not the bench's (%s); the bench would add stalls %s..%s and their orders there. "+
				"Point --server at a scratch server, or pass --yes", ErrOtherData, len(body.Tenants)-len(have), strings.Join(others, ", "), benchCode(0), benchCode(n-1))
		}
	}
	ids := make([]int64, n)
	for i := range ids {
		code := benchCode(i)
		if id, ok := have[code]; ok {
			ids[i] = id
			continue
		}
		body, _ := json.Marshal(map[string]string{"name": "Bench stall " + code, "code": code})
		b, err := a.post(ctx, "/api/tenants", body)
		if err != nil {
			return nil, fmt.Errorf("create tenant %s: %w", code, err)
		}
		if ids[i], err = idOf(b); err != nil {
			return nil, fmt.Errorf("create tenant %s: %w", code, err)
		}
	}
	return ids, nil
}

// orderBody is the POST /api/orders body for one order, built without fmt.
func orderBody(dst []byte, tenantID int64, seq int) []byte {
	dst = append(dst[:0], `{"tenant_id":`...)
	dst = strconv.AppendInt(dst, tenantID, 10)
	dst = append(dst, `,"customer_name":"bench `...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, `","items":[{"name":"Nasi Goreng","quantity":1,"unit_price":15000}]}`...)
	return dst
}

// placed is an order the server accepted.
type placed struct {
	id     int64
	tenant int32 // tenant index
	start  int64 // scheduled start, run clock ns
}

// driveStats are the HTTP side's results.
type driveStats struct {
	Scheduled int64
	OK        int64
	Failed    int64
	Statuses  map[int]int64 // non-2xx statuses
	FirstErr  string
	HTTP      *hdrhistogram.Histogram // µs, scheduled start → response
	MaxLag    time.Duration           // worst actual − scheduled start
}

// driver sends orders on an open-loop schedule: order i is due at
// t0 + i/rate whether or not earlier ones have completed; a bounded pool of
// workers sends them, and latency is measured from the due time, so a server
// that stalls is charged for the queueing it causes (no coordinated omission).
type driver struct {
	apis      []*api // order i goes to apis[spread(i, …)]
	tenantIDs []int64
	rate      float64
	duration  time.Duration
	workers   int
	now       func() int64
	out       *sink[placed]

	mu    sync.Mutex
	stats driveStats
	sent  atomic.Int64
}

func (d *driver) run(ctx context.Context) driveStats {
	n := int64(d.rate*d.duration.Seconds() + 0.5)
	d.stats = driveStats{Scheduled: n, Statuses: map[int]int64{}, HTTP: hdrhistogram.New(1, 120_000_000, 3)}
	type slot struct {
		seq int
		due int64
	}
	slots := make(chan slot, d.workers)
	var wg sync.WaitGroup
	for w := 0; w < d.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body []byte
			for s := range slots {
				t := s.seq % len(d.tenantIDs)
				body = orderBody(body, d.tenantIDs[t], s.seq)
				lag := time.Duration(d.now() - s.due)
				b, err := d.apis[spread(s.seq, len(d.tenantIDs), len(d.apis))].post(ctx, "/api/orders", body)
				var id int64
				if err == nil {
					id, err = idOf(b)
				}
				done := d.now()
				d.sent.Add(1)
				if err == nil {
					d.out.put(placed{id: id, tenant: int32(t), start: s.due})
				}
				d.mu.Lock()
				if err != nil {
					d.stats.Failed++
					if ae, ok := err.(*apiError); ok {
						d.stats.Statuses[ae.Status]++
					}
					if d.stats.FirstErr == "" {
						d.stats.FirstErr = err.Error()
					}
				} else {
					d.stats.OK++
					_ = d.stats.HTTP.RecordValue(max((done-s.due)/1000, 1))
				}
				if lag > d.stats.MaxLag {
					d.stats.MaxLag = lag
				}
				d.mu.Unlock()
			}
		}()
	}
	interval := float64(time.Second) / d.rate
	t0 := d.now()
	for i := int64(0); i < n; i++ {
		due := t0 + int64(float64(i)*interval)
		if wait := time.Duration(due - d.now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			d.stats.Scheduled = i
			break
		}
		slots <- slot{seq: int(i), due: due}
	}
	close(slots)
	wg.Wait()
	return d.stats
}

// metricsSample reads the server's CPU and RSS from the standard
// process_cpu_seconds_total and process_resident_memory_bytes series of its
// Prometheus /metrics (client_golang's process collector).
func (a *api) metricsSample(ctx context.Context) (ProcSample, error) {
	var s ProcSample
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return s, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return s, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	return parseProcessMetrics(body)
}

func parseProcessMetrics(body []byte) (ProcSample, error) {
	var s ProcSample
	var haveCPU, haveRSS bool
	for _, line := range bytes.Split(body, []byte("\n")) {
		name, value, ok := bytes.Cut(line, []byte(" "))
		if !ok || len(name) == 0 || name[0] == '#' {
			continue
		}
		switch string(name) {
		case "process_cpu_seconds_total":
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64)
			if err != nil {
				return s, fmt.Errorf("metrics: %s: %w", name, err)
			}
			s.CPU, haveCPU = time.Duration(v*float64(time.Second)), true
		case "process_resident_memory_bytes":
			v, err := strconv.ParseFloat(string(bytes.TrimSpace(value)), 64)
			if err != nil {
				return s, fmt.Errorf("metrics: %s: %w", name, err)
			}
			s.RSSKiB, haveRSS = int64(v)/1024, true
		}
	}
	if !haveCPU || !haveRSS {
		return s, errors.New("metrics: no process_cpu_seconds_total / process_resident_memory_bytes")
	}
	return s, nil
}
