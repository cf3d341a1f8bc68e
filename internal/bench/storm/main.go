// Command storm measures a reconnect storm on several posd nodes sharing
// one database: native clients (internal/client Stream, which resumes by
// itself from its last event id) connect through a round-robin proxy, orders
// flow, one node is killed with SIGKILL, and storm reports how long its
// clients took to be live again on the other nodes and whether every client
// still holds every event of its room once, in order.
//
//	go run ./internal/bench/storm --nodes http://127.0.0.1:5101,… --kill-pid PID
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posd/posd/internal/client"
)

func main() {
	nodes := flag.String("nodes", "", "comma-separated node URLs (same database)")
	clients := flag.Int("clients", 3000, "native clients, all in the display room")
	killPID := flag.Int("kill-pid", 0, "pid of the node to kill with SIGKILL")
	rate := flag.Float64("rate", 20, "orders per second through the proxy")
	before := flag.Duration("before", 5*time.Second, "orders before the kill")
	after := flag.Duration("after", 15*time.Second, "orders after the kill")
	flag.Parse()
	if err := run(strings.Split(*nodes, ","), *clients, *killPID, *rate, *before, *after); err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

// proxy passes each request (a WebSocket upgrade included) to the next
// node that accepts a TCP connection: a balancer with a health check.
func proxy(nodes []string) (string, func(), error) {
	var next atomic.Int64
	rps := make([]*httputil.ReverseProxy, len(nodes))
	hosts := make([]string, len(nodes))
	for i, n := range nodes {
		u, err := url.Parse(n)
		if err != nil {
			return "", nil, err
		}
		rps[i], hosts[i] = httputil.NewSingleHostReverseProxy(u), u.Host
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range nodes {
			i := int(next.Add(1)) % len(nodes)
			c, err := net.DialTimeout("tcp", hosts[i], 200*time.Millisecond)
			if err != nil {
				continue
			}
			c.Close()
			rps[i].ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

type follower struct {
	mu       sync.Mutex
	ids      []int64
	lostAt   time.Time // set when a connection was lost after the kill
	backAt   time.Time
	dropped  bool
	attempts int
}

func run(nodes []string, n, killPID int, rate float64, before, after time.Duration) error {
	base, stop, err := proxy(nodes)
	if err != nil {
		return err
	}
	defer stop()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	c, err := client.New(client.Config{Server: base, HTTPClient: hc})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tn, err := c.CreateTenant(ctx, "Storm", fmt.Sprintf("S%d", time.Now().Unix()%100000))
	if err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	var killedAt atomic.Pointer[time.Time]
	fs := make([]*follower, n)
	var live atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		f := &follower{}
		fs[i] = f
		cl, _ := client.New(client.Config{Server: base})
		st := cl.Subscribe(ctx, client.StreamOptions{Rooms: []string{"display"}, MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range st.Updates() {
				switch {
				case u.Event != nil:
					f.mu.Lock()
					f.ids = append(f.ids, u.Event.ID())
					f.mu.Unlock()
				case u.State != nil:
					k := killedAt.Load()
					f.mu.Lock()
					switch u.State.Conn {
					case client.Live:
						if f.dropped && f.backAt.IsZero() {
							f.backAt = time.Now()
						} else if k == nil {
							live.Add(1)
						}
					case client.Reconnecting, client.Offline:
						if k != nil && !f.dropped {
							f.dropped, f.lostAt = true, time.Now()
						}
						f.attempts = u.State.Attempt
					}
					f.mu.Unlock()
				}
			}
		}()
		if i%200 == 199 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	t0 := time.Now()
	for live.Load() < int64(n) {
		if time.Since(t0) > 60*time.Second {
			return fmt.Errorf("only %d of %d clients live after 60 s", live.Load(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("%d clients live through the proxy in %.1fs\n", n, time.Since(t0).Seconds())
	time.Sleep(time.Second)

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	orders := func(d time.Duration) {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		end := time.Now().Add(d)
		var owg sync.WaitGroup
		for time.Now().Before(end) {
			<-tick.C
			owg.Add(1)
			go func() {
				defer owg.Done()
				_, err := c.CreateOrder(ctx, client.OrderRequest{TenantID: tn.ID, CustomerName: "storm", Items: []client.ItemRequest{{Name: "Sate", Quantity: 1, UnitPrice: 20000}}})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}()
		}
		owg.Wait()
	}
	orders(before)
	if killPID > 0 {
		now := time.Now()
		killedAt.Store(&now)
		if err := syscall.Kill(killPID, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill %d: %w", killPID, err)
		}
		fmt.Printf("killed pid %d\n", killPID)
	}
	orders(after)

	// Every client must end with the log's display events, each once, in
	// order.
	page, err := c.Events(ctx, 0, "display", 1000)
	if err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	var want []int64
	for {
		for _, e := range page.Events {
			want = append(want, e.ID())
		}
		if len(page.Events) < 1000 {
			break
		}
		if page, err = c.Events(ctx, page.NextSince, "display", 1000); err != nil {
			return fmt.Errorf("read the log: %w", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	var bad, dropped int
	var resume []time.Duration
	for {
		bad, dropped, resume = 0, 0, resume[:0]
		for _, f := range fs {
			f.mu.Lock()
			if !slices.Equal(f.ids, want) {
				bad++
			}
			if f.dropped {
				dropped++
				if !f.backAt.IsZero() {
					resume = append(resume, f.backAt.Sub(*killedAt.Load()))
				}
			}
			f.mu.Unlock()
		}
		if bad == 0 && len(resume) == dropped || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	slices.Sort(resume)
	q := func(p float64) time.Duration {
		if len(resume) == 0 {
			return 0
		}
		return resume[min(len(resume)-1, int(p*float64(len(resume))))].Round(time.Millisecond)
	}
	fmt.Printf("orders: %d accepted, %d failed (first: %v); log: %d display events\n", ok.Load(), failed.Load(), firstErr.Load(), len(want))
	fmt.Printf("clients dropped by the kill: %d; live again: %d; kill → live again p50 %v p99 %v max %v\n",
		dropped, len(resume), q(0.5), q(0.99), q(1))
	fmt.Printf("clients whose events differ from the log (missing, duplicated or out of order): %d of %d\n", bad, n)
	cancel()
	wg.Wait()
	if bad > 0 || len(resume) != dropped {
		return fmt.Errorf("lost events or clients")
	}
	return nil
}
