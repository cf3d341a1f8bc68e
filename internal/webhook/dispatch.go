package webhook

import (
	"context"
	crand "crypto/rand"
	"encoding/base32"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// Store is what webhooks need of the database: the log, and the
// endpoints' leases, cursors and deliveries.
type Store interface {
	ReadLog(ctx context.Context, after int64, limit int) ([]domain.Event, error)
	ReadEvents(ctx context.Context, after int64, rooms []string, limit int) ([]domain.Event, error)
	HorizonFor(ctx context.Context, rooms []string) (int64, error)
	ClaimWebhooks(ctx context.Context, owner string, now, until time.Time) ([]store.Webhook, error)
	ReleaseWebhooks(ctx context.Context, owner string) error
	WebhookProgress(ctx context.Context, p store.WebhookProgress) (bool, error)
	AddWebhookDelivery(ctx context.Context, d store.WebhookDelivery) error
}

var _ Store = store.Store(nil)

// Metrics receives each attempt; nil is allowed.
type Metrics interface {
	WebhookDelivery(endpoint int64, outcome string, d time.Duration)
}

// Outcomes of an attempt, as Metrics receives them.
const (
	OutcomeSuccess      = "success"
	OutcomeHTTPError    = "http_error"    // an answer other than 2xx
	OutcomeNetworkError = "network_error" // no answer: refused connection, timeout, TLS
	OutcomeRefused      = "refused"       // the policy refused the destination
)

// Defaults of Config.
const (
	DefaultLease      = 15 * time.Second
	DefaultPoll       = 5 * time.Second
	DefaultRetryFor   = 24 * time.Hour
	DefaultFlushEvery = 250 * time.Millisecond
	DefaultPage       = 100
	// BackoffBase doubles per failure up to BackoffMax.
	BackoffBase = time.Second
	BackoffMax  = time.Hour
)

// Config wires a Dispatcher.
type Config struct {
	Store  Store
	Client *Client
	// NodeID owns the leases this node takes.
	NodeID string
	// Lease is how long a claim holds an endpoint; it is renewed every
	// Lease/3, and a node silent for Lease loses its endpoints to others.
	Lease time.Duration
	// Poll is how often a worker reads the log when nothing woke it: a
	// lost wake-up (another node's commit) costs latency, never an event.
	Poll time.Duration
	// RetryFor is how long an event may keep failing before the endpoint
	// is disabled.
	RetryFor time.Duration
	// Backoff is the wait before retry number attempt (1 for the first
	// retry); default FullJitter.
	Backoff func(attempt int) time.Duration
	// FlushEvery is how often a worker that keeps delivering writes its
	// cursor: more often means fewer duplicates after a crash, less often
	// fewer writes. A worker with nothing left to send writes at once.
	FlushEvery time.Duration
	// Page is how many events a worker reads from the log at a time.
	Page int
	// Alert tells the admins an endpoint was disabled, or that retention
	// deleted events before it got them.
	Alert   func(ctx context.Context, message string)
	Metrics Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

func (c *Config) defaults() {
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.Backoff == nil {
		c.Backoff = FullJitter
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = DefaultFlushEvery
	}
	if c.Page <= 0 {
		c.Page = DefaultPage
	}
	if c.Alert == nil {
		c.Alert = func(context.Context, string) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Client == nil {
		c.Client = NewClient(Policy{})
	}
}

// FullJitter is exponential backoff with full jitter: a random wait up to
// BackoffBase·2^(attempt-1), capped at BackoffMax, and at least half a
// second, so that endpoints failing together do not retry together.
func FullJitter(attempt int) time.Duration {
	ceil := BackoffMax
	if attempt < 30 {
		ceil = min(BackoffBase<<max(attempt-1, 0), BackoffMax)
	}
	return max(time.Duration(rand.Int64N(int64(ceil)+1)), 500*time.Millisecond)
}

// Dispatcher delivers the endpoints this node holds: it claims them by
// lease, runs one worker per endpoint, and stops a worker whose endpoint
// it lost, that was paused or removed, or that an operator changed (a
// new generation: the worker starts again from the stored row).
type Dispatcher struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	wakeMu sync.Mutex
	wake   chan struct{} // closed when the log grows, then replaced
	// armed: a worker holds wake. Unarmed (no webhooks, or every worker
	// busy sending), the hub's call costs a lock and no allocation.
	armed bool
	head  atomic.Int64

	mu      sync.Mutex // guards workers (the Run goroutine changes it; Lags reads it)
	workers map[int64]*worker
	running sync.WaitGroup
}

// New builds a Dispatcher; Run starts it.
func New(cfg Config) *Dispatcher {
	cfg.defaults()
	return &Dispatcher{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), wake: make(chan struct{}), workers: map[int64]*worker{}}
}

// Advanced tells the workers that the log grew to last: the hub calls it
// as it hands events to sockets. It never blocks.
func (d *Dispatcher) Advanced(last int64) {
	if last <= d.head.Load() {
		return
	}
	d.head.Store(last)
	d.wakeMu.Lock()
	if d.armed {
		close(d.wake)
		d.wake, d.armed = make(chan struct{}), false
	}
	d.wakeMu.Unlock()
}

// woken is closed by the next Advanced. A worker takes it before it reads
// the log, so growth during the read still wakes it.
func (d *Dispatcher) woken() <-chan struct{} {
	d.wakeMu.Lock()
	defer d.wakeMu.Unlock()
	d.armed = true
	return d.wake
}

// Kick makes the dispatcher claim now (endpoints were added or changed).
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Lags is, per endpoint this node delivers, how many log ids its cursor
// is behind the log's head.
func (d *Dispatcher) Lags() map[int64]int64 {
	head := d.head.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[int64]int64, len(d.workers))
	for id, w := range d.workers {
		out[id] = max(head-w.cursor.Load(), 0)
	}
	return out
}

// Run claims and delivers until ctx ends; then it stops its workers (each
// writes its cursor) and releases its leases, so another node takes over
// at once.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Lease / 3)
	defer t.Stop()
	var lastClaim time.Time
	for {
		held, err := d.cfg.Store.ClaimWebhooks(ctx, d.cfg.NodeID, d.cfg.Now(), d.cfg.Now().Add(d.cfg.Lease))
		switch {
		case err == nil:
			lastClaim = time.Now()
			d.reconcile(ctx, held)
		case ctx.Err() == nil:
			d.log.Warn("claiming webhook endpoints", "err", err)
			// Past its lease another node may deliver them: stop, so that
			// one node at a time sends each endpoint's events.
			if time.Since(lastClaim) > d.cfg.Lease {
				d.reconcile(ctx, nil)
			}
		}
		select {
		case <-ctx.Done():
			d.reconcile(ctx, nil)
			d.running.Wait()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := d.cfg.Store.ReleaseWebhooks(rctx, d.cfg.NodeID); err != nil {
				d.log.Warn("releasing webhook endpoints; another node takes them over when the lease ends", "err", err)
			}
			cancel()
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// reconcile runs a worker for each endpoint in held, at its generation,
// and stops the others.
func (d *Dispatcher) reconcile(ctx context.Context, held []store.Webhook) {
	want := make(map[int64]store.Webhook, len(held))
	for _, w := range held {
		want[w.ID] = w
	}
	var stopping []*worker
	d.mu.Lock()
	for id, k := range d.workers {
		w, ok := want[id]
		select {
		case <-k.done:
			ok = false // it stopped itself (stale, disabled): start again from the row
		default:
		}
		if !ok || w.Gen != k.w.Gen {
			k.cancel()
			stopping = append(stopping, k)
			delete(d.workers, id)
		}
	}
	d.mu.Unlock()
	// A new generation's worker starts only when the old one has stopped:
	// one sender per endpoint, in order.
	for _, k := range stopping {
		<-k.done
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, w := range want {
		if _, ok := d.workers[id]; ok || ctx.Err() != nil {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		k := &worker{d: d, w: w, cancel: cancel, done: make(chan struct{})}
		k.cursor.Store(w.Cursor)
		d.workers[id] = k
		d.running.Add(1)
		go func() {
			defer d.running.Done()
			defer close(k.done)
			k.run(wctx)
		}()
	}
}

// CheckURL refuses a URL the client's policy does not allow, at
// registration.
func (d *Dispatcher) CheckURL(ctx context.Context, raw string) error {
	_, err := d.cfg.Client.Policy().CheckURL(ctx, raw)
	return err
}

// NewSecret makes an endpoint's signing secret.
func (d *Dispatcher) NewSecret() string { return NewSecret() }

// Ping sends a ping message to w now, outside the log's order, and
// records it among w's deliveries. Its id is ping_ and random characters,
// never a number, so it cannot be taken for an event.
func (d *Dispatcher) Ping(ctx context.Context, w store.Webhook) store.WebhookDelivery {
	var b [10]byte
	_, _ = crand.Read(b[:])
	id := "ping_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	now := d.cfg.Now().UTC()
	body := []byte(`{"id":"` + id + `","type":"ping","timestamp":"` + now.Format(domain.TimeFormat) +
		`","data":{"webhook_id":` + strconv.FormatInt(w.ID, 10) + `}}`)
	res := d.cfg.Client.Send(ctx, w.URL, w.Secret, id, now, body)
	del := d.delivery(w.ID, id, 1, now, res)
	if err := d.cfg.Store.AddWebhookDelivery(context.WithoutCancel(ctx), del); err != nil {
		d.log.Warn("recording a webhook ping", "webhook", w.ID, "err", err)
	}
	return del
}

func (d *Dispatcher) delivery(id int64, eventID string, attempt int, at time.Time, res Result) store.WebhookDelivery {
	outcome := OutcomeSuccess
	switch {
	case res.Refused:
		outcome = OutcomeRefused
	case res.Err != nil && res.Status != 0:
		outcome = OutcomeHTTPError
	case res.Err != nil:
		outcome = OutcomeNetworkError
	}
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.WebhookDelivery(id, outcome, res.Latency)
	}
	del := store.WebhookDelivery{WebhookID: id, EventID: eventID, Attempt: attempt, Status: res.Status, Latency: res.Latency,
		Node: d.cfg.NodeID, At: at}
	if res.Err != nil {
		del.Error = shorten(res.Err.Error(), 2*SnippetLen)
	}
	return del
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
