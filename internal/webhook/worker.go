package webhook

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

// worker delivers one endpoint, one event at a time, in log order. It
// owns the endpoint's cursor and retry state while it runs; the database
// has them as of its last flush.
type worker struct {
	d      *Dispatcher
	w      store.Webhook
	cancel context.CancelFunc
	done   chan struct{}
	cursor atomic.Int64 // for Lags

	// The state written at the next flush.
	cur        int64
	attempt    int // failures of the event after cur
	failing    *time.Time
	next       *time.Time
	lastErr    string
	pending    []store.WebhookDelivery
	dirty      bool
	flushedAt  time.Time
	flushFails int
	// pruned is the highest id retention deleted that this worker has
	// reported lost (0: none), so that each gap is reported once.
	pruned int64
}

// maxPending bounds the deliveries a worker keeps while the database
// cannot take them: the oldest records go first (the cursor never does).
const maxPending = 1000

func (k *worker) run(ctx context.Context) {
	cfg := k.d.cfg
	w := k.w
	k.cur, k.attempt, k.failing, k.next, k.lastErr = w.Cursor, w.Attempt, w.FailingSince, w.NextAttemptAt, w.LastError
	k.flushedAt = time.Now()
	lg := k.d.log.With("webhook", w.ID)
	lg.Debug("delivering webhook endpoint", "cursor", w.Cursor, "gen", w.Gen)
	defer k.flush(ctx)
	for {
		woken := k.d.woken()
		evs, err := k.read(ctx)
		if err == nil && k.mayLack(evs) {
			err = k.checkPruned(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			lg.Warn("reading the event log for a webhook endpoint", "err", err)
			if !sleep(ctx, cfg.Poll) {
				return
			}
			continue
		}
		if len(evs) == 0 {
			if !k.flush(ctx) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-woken:
			case <-time.After(cfg.Poll):
			}
			continue
		}
		for i := range evs {
			ev := &evs[i]
			if !k.wants(ev) {
				k.cur, k.dirty = ev.ID, true
				k.cursor.Store(k.cur)
				continue
			}
			if !k.deliver(ctx, ev) {
				return
			}
			if time.Since(k.flushedAt) >= cfg.FlushEvery && !k.flush(ctx) {
				return
			}
		}
	}
}

// read is the next page of the log after the cursor: every event for an
// admin's endpoint; a stall's events (its room's) for a stall's.
func (k *worker) read(ctx context.Context) ([]domain.Event, error) {
	if rooms := k.rooms(); rooms != nil {
		return k.d.cfg.Store.ReadEvents(ctx, k.cur, rooms, k.d.cfg.Page)
	}
	return k.d.cfg.Store.ReadLog(ctx, k.cur, k.d.cfg.Page)
}

// mayLack reports whether a page just read after the cursor may lack
// events retention deleted: a paused or disabled endpoint does not hold
// retention back, nor could a prune that began before it became active
// again. Retention keeps the newest events of every room, which come
// after anything it deleted from that room: had it deleted events after
// the cursor, the page would hold those newer ones, so an empty page
// lacks nothing. Nor does a page of the whole log whose ids run on from
// the cursor without a hole (the log's ids are contiguous). A stall's
// page skips other stalls' ids, so its horizon is read for every page
// with events in it (BenchmarkHorizonFor: tens of µs on SQLite).
func (k *worker) mayLack(evs []domain.Event) bool {
	if len(evs) == 0 {
		return false
	}
	if k.w.TenantID != 0 {
		return true
	}
	for i, ev := range evs {
		if ev.ID != k.cur+1+int64(i) {
			return true
		}
	}
	return false
}

// checkPruned reports events retention deleted past the cursor before
// they were delivered. Read after the page it follows, the horizon tells
// whether that page lacks anything: nothing after the cursor was deleted
// before the page was read if the horizon is not past the cursor. The gap
// is recorded among the deliveries (attempt 0, the span as event id),
// logged and sent as an alert, once per gap; the events retention kept
// are delivered as usual. Delivering them takes the cursor past the gap,
// so a later worker does not report it again (unless it starts before
// they were delivered: the report is at least once).
func (k *worker) checkPruned(ctx context.Context) error {
	horizon, err := k.d.cfg.Store.HorizonFor(ctx, k.rooms())
	if err != nil {
		return err
	}
	gap, ok := store.PrunedPast(max(k.cur, k.pruned), horizon)
	if !ok {
		return nil
	}
	k.pruned = horizon
	k.pending = append(k.pending, store.WebhookDelivery{WebhookID: k.w.ID, EventID: gap.IDs(), Error: gap.String(),
		Node: k.d.cfg.NodeID, At: k.d.cfg.Now()})
	k.dirty = true
	id := strconv.FormatInt(k.w.ID, 10)
	k.d.log.Warn("webhook endpoint missed events retention deleted", "webhook", k.w.ID, "from", gap.From, "to", gap.To)
	k.d.cfg.Alert(context.WithoutCancel(ctx), "webhook "+id+": "+gap.String()+
		" (a paused or disabled endpoint does not hold retention back; posd webhook deliveries "+id+" shows the gap)")
	return nil
}

// rooms are the rooms whose events the endpoint gets; nil: every room.
func (k *worker) rooms() []string {
	if k.w.TenantID == 0 {
		return nil
	}
	return []string{domain.TenantRoom(k.w.TenantID)}
}

// wants reports whether ev is the endpoint's: a stall's endpoint gets the
// events of its stall's room only (never another stall's, nor the alerts
// every connection gets), and a filter keeps the names it lists.
func (k *worker) wants(ev *domain.Event) bool {
	if k.w.TenantID != 0 && !slices.Contains(ev.Rooms, domain.TenantRoom(k.w.TenantID)) {
		return false
	}
	return len(k.w.Events) == 0 || slices.Contains(k.w.Events, ev.Name)
}

// deliver sends ev until the endpoint takes it, and reports whether to go
// on (false: stopped, disabled, or no longer this worker's).
func (k *worker) deliver(ctx context.Context, ev *domain.Event) bool {
	cfg := k.d.cfg
	body := ev.Envelope()
	id := strconv.FormatInt(ev.ID, 10)
	for {
		if k.next != nil {
			if wait := k.next.Sub(cfg.Now()); wait > 0 {
				if !k.flush(ctx) || !sleep(ctx, wait) {
					return false
				}
			}
		}
		now := cfg.Now()
		res := cfg.Client.Send(ctx, k.w.URL, k.w.Secret, id, now, body)
		if ctx.Err() != nil {
			return false // stopped mid-send: the attempt does not count
		}
		k.pending = append(k.pending, k.d.delivery(k.w.ID, id, k.attempt+1, now, res))
		if len(k.pending) > maxPending {
			k.pending = slices.Delete(k.pending, 0, len(k.pending)-maxPending)
		}
		k.dirty = true
		if res.OK() {
			k.cur, k.attempt, k.failing, k.next, k.lastErr = ev.ID, 0, nil, nil, ""
			k.cursor.Store(k.cur)
			return true
		}
		k.attempt++
		k.lastErr = shorten(res.Err.Error(), 2*SnippetLen)
		if k.failing == nil {
			k.failing = &now
		}
		switch {
		case res.Status == 410:
			return k.disable(ctx, "the endpoint answered 410 Gone")
		case now.Sub(*k.failing) >= cfg.RetryFor:
			return k.disable(ctx, "event "+id+" failed for "+cfg.RetryFor.String()+": "+k.lastErr)
		}
		next := now.Add(cfg.Backoff(k.attempt))
		k.next = &next
		// Written at once: list shows the failure, and a restart keeps
		// the retry clock.
		if !k.flush(ctx) {
			return false
		}
	}
}

// disable ends delivery and tells the admins, once.
func (k *worker) disable(ctx context.Context, reason string) bool {
	ok, err := k.d.cfg.Store.WebhookProgress(context.WithoutCancel(ctx), k.progress(true, reason))
	if err != nil {
		k.d.log.Error("disabling a webhook endpoint", "webhook", k.w.ID, "err", err)
		return false
	}
	k.pending, k.dirty = nil, false
	if ok {
		k.d.log.Warn("webhook endpoint disabled", "webhook", k.w.ID, "reason", reason)
		k.d.cfg.Alert(context.WithoutCancel(ctx), "webhook "+strconv.FormatInt(k.w.ID, 10)+" disabled: "+reason+
			" (posd webhook resume "+strconv.FormatInt(k.w.ID, 10)+" delivers on from where it stopped)")
	}
	return false
}

func (k *worker) progress(disable bool, reason string) store.WebhookProgress {
	return store.WebhookProgress{
		ID: k.w.ID, Owner: k.d.cfg.NodeID, Gen: k.w.Gen, Cursor: k.cur,
		FailingSince: k.failing, Attempt: k.attempt, NextAttemptAt: k.next, LastError: k.lastErr,
		Disable: disable, Reason: reason, At: k.d.cfg.Now(), Deliveries: k.pending,
	}
}

// flush writes the cursor, retry state and deliveries, and reports
// whether the endpoint is still this worker's. A database that cannot be
// written is not a reason to stop: the cursor is written at a later flush
// (a crash meanwhile repeats deliveries, never skips one).
func (k *worker) flush(ctx context.Context) bool {
	if !k.dirty {
		return true
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ok, err := k.d.cfg.Store.WebhookProgress(fctx, k.progress(false, ""))
	k.flushedAt = time.Now()
	if err != nil {
		if k.flushFails++; k.flushFails == 1 || k.flushFails%100 == 0 {
			k.d.log.Warn("recording webhook progress", "webhook", k.w.ID, "cursor", k.cur, "err", err)
		}
		return true
	}
	k.flushFails = 0
	k.pending, k.dirty = nil, false
	if !ok {
		// Another node holds it now, or an operator changed it: the
		// dispatcher starts again from the stored row if it is still ours.
		k.d.Kick()
	}
	return ok
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
