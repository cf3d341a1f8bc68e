package bench

import (
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// delivery is one order:created frame received by one client.
type delivery struct {
	order  int64 // data.order_id
	at     int64 // receipt, ns on the run's monotonic clock
	client int32
}

// orderRec is what the ledger knows of one order it created.
type orderRec struct {
	start  int64 // scheduled request start, ns on the run's clock
	tenant int32
	got    int32    // distinct subscribed clients that received it
	seen   []uint64 // bitset over clients; nil once every expected client has it
}

// Ledger matches deliveries to orders. It is owned by one goroutine; clients
// and HTTP workers hand it their records through sinks.
type Ledger struct {
	layout   *Layout
	live     []bool  // client connected and joined when orders started
	expected []int32 // per tenant index: live clients subscribed to it

	orders  map[int64]*orderRec
	pending map[int64][]delivery // deliveries that arrived before their order's HTTP response

	lat *hdrhistogram.Histogram // µs, request start → receipt, first receipt per client only

	Stats LedgerStats
}

// LedgerStats are the ledger's counters. Every delivery of an order:created
// event lands in exactly one of Matched, Duplicated, Misrouted or Unmatched.
type LedgerStats struct {
	Orders     int64 // orders registered (HTTP 2xx with an id)
	Expected   int64 // sum over orders of the clients that should receive it
	Received   int64 // order:created deliveries of our orders (all kinds)
	Matched    int64 // first receipt by a subscribed client
	Duplicated int64 // a subscribed client receiving an order again
	Misrouted  int64 // a client not subscribed to the order's tenant receiving it
	Unmatched  int64 // deliveries of order ids this run did not create (known only at Close)
	Missing    int64 // Expected − Matched, computed at Close
	Complete   int64 // orders every expected client received
}

// NewLedger returns a ledger for the layout; live marks the clients that are
// connected and in their rooms (nil: all).
func NewLedger(layout *Layout, live []bool) *Ledger {
	if live == nil {
		live = make([]bool, layout.Clients)
		for i := range live {
			live[i] = true
		}
	}
	l := &Ledger{
		layout:   layout,
		live:     live,
		expected: make([]int32, layout.Tenants),
		orders:   make(map[int64]*orderRec),
		pending:  make(map[int64][]delivery),
		lat:      hdrhistogram.New(1, 120_000_000, 3),
	}
	for i := 0; i < layout.Clients; i++ {
		if !live[i] {
			continue
		}
		for t := 0; t < layout.Tenants; t++ {
			if layout.Subscribed(i, t) {
				l.expected[t]++
			}
		}
	}
	return l
}

// ExpectedPerOrder is the number of deliveries an order of tenant index t should cause.
func (l *Ledger) ExpectedPerOrder(t int) int { return int(l.expected[t]) }

// AddOrder registers an order the run created.
func (l *Ledger) AddOrder(id int64, tenant int, start int64) {
	if _, dup := l.orders[id]; dup {
		return // the server returned the same id twice; its deliveries count once
	}
	o := &orderRec{start: start, tenant: int32(tenant)}
	exp := l.expected[tenant]
	if exp > 0 {
		o.seen = make([]uint64, (l.layout.Clients+63)/64)
	} else {
		l.Stats.Complete++
	}
	l.orders[id] = o
	l.Stats.Orders++
	l.Stats.Expected += int64(exp)
	if ds, ok := l.pending[id]; ok {
		delete(l.pending, id)
		for _, d := range ds {
			l.apply(o, d)
		}
	}
}

// AddDelivery accounts one received order:created.
func (l *Ledger) AddDelivery(d delivery) {
	o := l.orders[d.order]
	if o == nil {
		l.pending[d.order] = append(l.pending[d.order], d)
		return
	}
	l.apply(o, d)
}

func (l *Ledger) apply(o *orderRec, d delivery) {
	l.Stats.Received++
	c := int(d.client)
	if c < 0 || c >= l.layout.Clients || !l.layout.Subscribed(c, int(o.tenant)) {
		l.Stats.Misrouted++
		return
	}
	if o.seen == nil { // complete: every subscribed client already has it
		l.Stats.Duplicated++
		return
	}
	w, bit := c/64, uint64(1)<<(c%64)
	if o.seen[w]&bit != 0 {
		l.Stats.Duplicated++
		return
	}
	o.seen[w] |= bit
	o.got++
	l.Stats.Matched++
	us := (d.at - o.start) / 1000
	if us < 1 {
		us = 1
	}
	_ = l.lat.RecordValue(us) // out of range (> 120 s) only; Max() shows it clamped
	if o.got >= l.expected[o.tenant] {
		o.seen = nil
		l.Stats.Complete++
	}
}

// AllComplete reports whether every registered order reached every expected client.
func (l *Ledger) AllComplete() bool { return l.Stats.Complete == l.Stats.Orders }

// Close turns deliveries still waiting for an order into Unmatched and
// computes Missing. Call it once, after the last AddOrder/AddDelivery.
func (l *Ledger) Close() LedgerStats {
	for id, ds := range l.pending {
		l.Stats.Unmatched += int64(len(ds))
		delete(l.pending, id)
	}
	l.Stats.Missing = l.Stats.Expected - l.Stats.Matched
	return l.Stats
}

// Latency is the histogram of first-receipt latencies in µs.
func (l *Ledger) Latency() *hdrhistogram.Histogram { return l.lat }

// PendingDeliveries is the number of deliveries waiting for their order.
func (l *Ledger) PendingDeliveries() int {
	n := 0
	for _, ds := range l.pending {
		n += len(ds)
	}
	return n
}

// sink is where one producer (a client's reader, the HTTP workers) leaves
// records for the ledger's goroutine: an uncontended mutex and a slice that
// the collector swaps out.
type sink[T any] struct {
	mu  sync.Mutex
	buf []T
}

func (s *sink[T]) put(v T) {
	s.mu.Lock()
	s.buf = append(s.buf, v)
	s.mu.Unlock()
}

// swap hands the collector what was put since the last swap and takes back
// spare (emptied) for reuse.
func (s *sink[T]) swap(spare []T) []T {
	s.mu.Lock()
	b := s.buf
	s.buf = spare[:0]
	s.mu.Unlock()
	return b
}
