package demo

import (
	"context"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
)

// sampleClock is a virtual clock that, whenever time crosses a whole
// minute, hands the minute to a callback, and cancels the run at the end.
type sampleClock struct {
	virtualClock
	start  time.Time
	end    time.Time
	next   time.Time
	sample func(minute int)
	cancel context.CancelFunc
}

func (c *sampleClock) Sleep(ctx context.Context, d time.Duration) error {
	target := c.now.Add(d)
	for !c.next.After(target) {
		c.now = c.next
		c.sample(int(c.next.Sub(c.start) / time.Minute))
		c.next = c.next.Add(time.Minute)
		if !c.now.Before(c.end) {
			c.cancel()
			return context.Canceled
		}
	}
	return c.virtualClock.Sleep(ctx, target.Sub(c.now))
}

// What a first look at `posd serve --demo` shows must be a busy food court
// that keeps up: over 15 simulated minutes at the default rate, the
// kitchen display's "Preparing" (pending and preparing tickets) and the
// pickup board's "Ready" stay within a band, minute after minute, instead
// of piling up.
func TestDefaultDemoStaysHealthy(t *testing.T) {
	const (
		minutes    = 15
		warmUp     = 3  // minutes before the court fills up
		prepLow    = 2  // never an empty kitchen after the warm-up
		prepHigh   = 30 // healthy: one screen, a few tickets per stall
		prepMeanLo = 8  // busy on average
		prepMeanHi = 20
		readyHigh  = 12
		stallHigh  = 10 // no one stall drowning
		wantOrders = 80
	)
	for _, seed := range []int64{1, 2, 3} {
		api := newFakeAPI()
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Date(2026, 1, 5, 11, 0, 0, 0, time.UTC)
		var prep, ready []int
		var worstStall int
		clk := &sampleClock{virtualClock: virtualClock{now: start}, start: start, end: start.Add(minutes * time.Minute),
			next: start.Add(time.Minute), cancel: cancel}
		clk.sample = func(minute int) {
			api.mu.Lock()
			defer api.mu.Unlock()
			p, r := 0, 0
			perStall := map[int64]int{}
			for _, o := range api.orders {
				switch o.Status {
				case domain.StatusPending, domain.StatusPreparing:
					p++
					perStall[o.TenantID]++
				case domain.StatusReady:
					r++
				}
			}
			prep, ready = append(prep, p), append(ready, r)
			if minute > warmUp {
				for _, n := range perStall {
					worstStall = max(worstStall, n)
				}
			}
		}
		opts := Options{Seed: seed, Logger: quiet(), NoAlerts: true, clock: clk}
		if err := opts.normalize(); err != nil {
			t.Fatal(err)
		}
		s := newSim(api, opts)
		if err := s.setup(ctx); err != nil {
			t.Fatalf("setup: %v", err)
		}
		s.loop(ctx)
		cancel()
		t.Logf("seed %d, rate %v/min: preparing per minute %v, ready %v, worst stall %d, orders %d",
			seed, opts.Rate, prep, ready, worstStall, s.stats.Orders)
		if len(prep) != minutes {
			t.Fatalf("seed %d: %d samples, want %d", seed, len(prep), minutes)
		}
		sum := 0
		for m := warmUp; m < minutes; m++ {
			sum += prep[m]
			if prep[m] < prepLow || prep[m] > prepHigh {
				t.Errorf("seed %d, minute %d: %d tickets preparing, want %d–%d", seed, m+1, prep[m], prepLow, prepHigh)
			}
			if ready[m] > readyHigh {
				t.Errorf("seed %d, minute %d: %d orders ready, want at most %d", seed, m+1, ready[m], readyHigh)
			}
		}
		if mean := float64(sum) / float64(minutes-warmUp); mean < prepMeanLo || mean > prepMeanHi {
			t.Errorf("seed %d: %.1f tickets preparing on average, want %d–%d", seed, mean, prepMeanLo, prepMeanHi)
		}
		if worstStall > stallHigh {
			t.Errorf("seed %d: one stall had %d tickets preparing, want at most %d", seed, worstStall, stallHigh)
		}
		if s.stats.Orders < wantOrders {
			t.Errorf("seed %d: %d orders in %d minutes, want a busy court (at least %d)", seed, s.stats.Orders, minutes, wantOrders)
		}
	}
}
