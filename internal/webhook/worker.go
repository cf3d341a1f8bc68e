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
	if k.w.TenantID == 0 {
		return k.d.cfg.Store.ReadLog(ctx, k.cur, k.d.cfg.Page)
	}
	return k.d.cfg.Store.ReadEvents(ctx, k.cur, []string{domain.TenantRoom(k.w.TenantID)}, k.d.cfg.Page)
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
