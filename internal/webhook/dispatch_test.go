package webhook_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/internal/service"
	"github.com/posd/posd/internal/testutil"
	"github.com/posd/posd/internal/webhook"
	"github.com/posd/posd/internal/webhook/webhooktest"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
)

// rig is a SQLite store, a service writing orders to it, and a
// dispatcher woken by its commits (as the hub wakes it in posd serve).
type rig struct {
	st     store.Store
	svc    *service.Service
	d      *webhook.Dispatcher
	alerts chan string
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t *testing.T, tune func(*webhook.Config)) *rig {
	t.Helper()
	r := &rig{alerts: make(chan string, 10)}
	var d atomic.Pointer[webhook.Dispatcher]
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/posd.db", store.Options{Committed: func(evs []domain.Event) {
		if p := d.Load(); p != nil {
			p.Advanced(evs[len(evs)-1].ID)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.st, r.svc = st, service.New(st, nil)
	cfg := webhook.Config{
		Store: st, Client: webhook.NewClient(webhook.Policy{AllowPrivate: true, AllowHTTP: true}), NodeID: "node-a",
		// The backstop poll is an hour: what arrives was woken by a commit.
		Poll:    time.Hour,
		Backoff: func(int) time.Duration { return 20 * time.Millisecond },
		Alert:   func(_ context.Context, msg string) { r.alerts <- msg },
	}
	if tune != nil {
		tune(&cfg)
	}
	r.d = webhook.New(cfg)
	d.Store(r.d)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.d.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
}

func (r *rig) tenant(t *testing.T, code string) int64 {
	t.Helper()
	tn, err := r.svc.CreateTenant(context.Background(), auth.Anonymous, "Warung "+code, code)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

func (r *rig) order(t *testing.T, tenant int64) int64 {
	t.Helper()
	o, err := r.svc.CreateOrder(context.Background(), auth.Anonymous, service.NewOrder{TenantID: tenant, CustomerName: "Budi",
		Items: []domain.Item{{Name: "Nasi", Quantity: 1, UnitPrice: 15000}}})
	if err != nil {
		t.Fatal(err)
	}
	head, _ := r.st.LastEventID(context.Background())
	_ = o
	return head
}

// add registers an endpoint for rcv at the log's head.
func (r *rig) add(t *testing.T, rcv *webhooktest.Receiver, tenant int64, events ...string) *store.Webhook {
	t.Helper()
	head, _ := r.st.LastEventID(context.Background())
	w := &store.Webhook{TenantID: tenant, URL: rcv.URL + "/hook", Events: events, Secret: webhook.NewSecret(), State: store.WebhookActive,
		Cursor: head, CreatedAt: time.Now()}
	if err := r.st.InsertWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	rcv.SetSecret(w.Secret)
	r.d.Kick()
	return w
}

func TestBurstArrivesInOrderSigned(t *testing.T) {
	r := newRig(t, nil)
	rcv := webhooktest.New(t)
	tn := r.tenant(t, "A")
	r.order(t, tn) // before the endpoint: not sent
	w := r.add(t, rcv, 0)
	var want []int64
	for range 200 {
		want = append(want, r.order(t, tn))
	}
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(want) })
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		got, _ := r.st.Webhook(context.Background(), w.ID)
		if got.Cursor != want[len(want)-1] {
			return errors.New("cursor not written yet")
		}
		return nil
	})
	if n := len(rcv.Messages()); n != len(want) {
		t.Fatalf("%d messages for %d events: a healthy receiver gets each once", n, len(want))
	}
	ds, _ := r.st.WebhookDeliveries(context.Background(), w.ID, 10)
	if len(ds) != 10 || ds[0].Status != 204 || ds[0].EventID != strconv.FormatInt(want[len(want)-1], 10) || ds[0].Node != "node-a" {
		t.Fatalf("deliveries %+v", ds)
	}
	if lag := r.d.Lags()[w.ID]; lag != 0 {
		t.Fatalf("lag %d after everything arrived", lag)
	}
}

func TestReceiverDownThenBack(t *testing.T) {
	r := newRig(t, nil)
	rcv := webhooktest.New(t)
	var down atomic.Bool
	down.Store(true)
	rcv.Respond(func(webhooktest.Message) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	tn := r.tenant(t, "A")
	w := r.add(t, rcv, 0)
	var want []int64
	for range 30 {
		want = append(want, r.order(t, tn))
	}
	testutil.Eventually(t, 15*time.Second, "five refused attempts", func() bool { return len(rcv.Messages()) >= 5 })
	// Every attempt while down was the first event, under its own id.
	for _, m := range rcv.Messages() {
		if m.EventID() != want[0] || !m.SignatureOK {
			t.Fatalf("while down: message %s (signature ok %v); want only event %d", m.ID, m.SignatureOK, want[0])
		}
	}
	got, _ := r.st.Webhook(context.Background(), w.ID)
	if got.FailingSince == nil || got.Attempt == 0 || !strings.Contains(got.LastError, "503") {
		t.Fatalf("failing endpoint reads %+v", got)
	}
	down.Store(false)
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(want) })
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		got, _ := r.st.Webhook(context.Background(), w.ID)
		if got.FailingSince != nil || got.Attempt != 0 || got.LastError != "" || got.Cursor != want[len(want)-1] {
			return errors.New("retry state not cleared yet")
		}
		return nil
	})
}

func TestGoneDisablesAtOnce(t *testing.T) {
	r := newRig(t, nil)
	rcv := webhooktest.New(t)
	rcv.Respond(func(webhooktest.Message) int { return http.StatusGone })
	tn := r.tenant(t, "A")
	w := r.add(t, rcv, 0)
	r.order(t, tn)
	r.order(t, tn)
	select {
	case msg := <-r.alerts:
		if !strings.Contains(msg, "410") {
			t.Fatalf("alert %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert")
	}
	got, _ := r.st.Webhook(context.Background(), w.ID)
	if got.State != store.WebhookDisabled || !strings.Contains(got.DisabledReason, "410") || got.Cursor != w.Cursor {
		t.Fatalf("after 410: %+v", got)
	}
	if n := len(rcv.Messages()); n != 1 {
		t.Fatalf("%d attempts; 410 must stop at the first", n)
	}
}

func TestFailingPastRetryWindowDisables(t *testing.T) {
	r := newRig(t, func(c *webhook.Config) { c.RetryFor = 300 * time.Millisecond })
	rcv := webhooktest.New(t)
	rcv.Respond(func(webhooktest.Message) int { return http.StatusInternalServerError })
	tn := r.tenant(t, "A")
	w := r.add(t, rcv, 0)
	r.order(t, tn)
	select {
	case msg := <-r.alerts:
		if !strings.Contains(msg, "webhook ") || !strings.Contains(msg, "500") {
			t.Fatalf("alert %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert")
	}
	got, _ := r.st.Webhook(context.Background(), w.ID)
	if got.State != store.WebhookDisabled || !strings.Contains(got.DisabledReason, "failed for 300ms") {
		t.Fatalf("after the retry window: %+v", got)
	}
	if n := len(rcv.Messages()); n < 3 {
		t.Fatalf("only %d attempts before disabling", n)
	}
	// Resumed, it carries on from the same event.
	rcv.Respond(func(webhooktest.Message) int { return 200 })
	if _, err := r.st.ChangeWebhook(context.Background(), w.ID, store.WebhookChange{State: store.WebhookActive, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r.d.Kick()
	testutil.EventuallyNil(t, 15*time.Second, func() error { return checkLast(rcv, w.Cursor+1) })
}

func checkLast(rcv *webhooktest.Receiver, id int64) error {
	acc := rcv.Accepted()
	if len(acc) == 0 || acc[len(acc)-1].EventID() != id {
		return errors.New("not yet accepted")
	}
	return nil
}

// A stall's endpoint gets its stall's events only: not another stall's,
// nor alerts; a name filter keeps the names it lists.
func TestTenantEndpointGetsItsStallOnly(t *testing.T) {
	r := newRig(t, nil)
	mine, theirs, filtered := webhooktest.New(t), webhooktest.New(t), webhooktest.New(t)
	a, b := r.tenant(t, "A"), r.tenant(t, "B")
	r.add(t, mine, a)
	r.add(t, theirs, b)
	r.add(t, filtered, a, domain.EventOrderStatusChanged)
	var wantA, wantB []int64
	var statusA []int64
	for i := range 10 {
		wantA = append(wantA, r.order(t, a))
		wantB = append(wantB, r.order(t, b))
		if i%3 == 0 {
			if _, err := r.svc.Alert(context.Background(), auth.Anonymous, "info", "for everyone"); err != nil {
				t.Fatal(err)
			}
		}
	}
	o, _, _ := r.st.Orders(context.Background(), store.OrderFilter{TenantID: a, Limit: 1})
	if _, err := r.svc.SetStatus(context.Background(), auth.Anonymous, o[0].ID, domain.StatusPreparing); err != nil {
		t.Fatal(err)
	}
	head, _ := r.st.LastEventID(context.Background())
	wantA, statusA = append(wantA, head), []int64{head}
	testutil.EventuallyNil(t, 10*time.Second, func() error { return mine.CheckInOrder(wantA) })
	testutil.EventuallyNil(t, 10*time.Second, func() error { return theirs.CheckInOrder(wantB) })
	testutil.EventuallyNil(t, 10*time.Second, func() error { return filtered.CheckInOrder(statusA) })
}

// A receiver that never answers holds up its own endpoint only.
func TestHangingEndpointDoesNotHoldOthers(t *testing.T) {
	r := newRig(t, nil)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	hang := webhooktest.New(t)
	hang.Respond(func(webhooktest.Message) int { <-release; return 200 })
	fast := webhooktest.New(t)
	tn := r.tenant(t, "A")
	r.add(t, hang, 0)
	r.add(t, fast, 0)
	var want []int64
	for range 50 {
		want = append(want, r.order(t, tn))
	}
	testutil.EventuallyNil(t, 10*time.Second, func() error { return fast.CheckInOrder(want) })
	if n := len(hang.Messages()); n != 0 {
		t.Fatalf("the hanging receiver answered %d", n)
	}
	once.Do(func() { close(release) })
}

func TestPingIsSignedAndRecorded(t *testing.T) {
	r := newRig(t, nil)
	rcv := webhooktest.New(t)
	w := r.add(t, rcv, 0)
	d := r.d.Ping(context.Background(), *w)
	if d.Status != 204 || d.Error != "" || !strings.HasPrefix(d.EventID, "ping_") {
		t.Fatalf("ping %+v", d)
	}
	msgs := rcv.Messages()
	if len(msgs) != 1 || msgs[0].ID != d.EventID || !msgs[0].SignatureOK || !strings.Contains(string(msgs[0].Body), `"type":"ping"`) {
		t.Fatalf("received %+v", msgs)
	}
	ds, _ := r.st.WebhookDeliveries(context.Background(), w.ID, 10)
	if len(ds) != 1 || ds[0].EventID != d.EventID {
		t.Fatalf("deliveries %+v", ds)
	}
}

// An endpoint that becomes active with its cursor below what retention
// deleted (resumed after a prune, or caught by a prune already under way)
// gets what retention kept, and the gap is recorded once: a delivery row
// naming the span, an alert; then the cursor moves past it, so a new
// generation of the worker does not report it again. An admin's endpoint
// and a stall's (whose pages skip other stalls' ids).
func TestPrunedGapRecordedOnce(t *testing.T) {
	t.Run("admin", func(t *testing.T) { testPrunedGapRecordedOnce(t, false) })
	t.Run("stall", func(t *testing.T) { testPrunedGapRecordedOnce(t, true) })
}

func testPrunedGapRecordedOnce(t *testing.T, stall bool) {
	r := newRig(t, nil)
	ctx := context.Background()
	rcv := webhooktest.New(t)
	tn, other := r.tenant(t, "A"), r.tenant(t, "B")
	var rooms []string
	var owner int64
	if stall {
		rooms, owner = []string{domain.TenantRoom(tn)}, tn
	}
	// Paused from the start, so that no worker delivers before the prune.
	head, _ := r.st.LastEventID(ctx)
	w := &store.Webhook{TenantID: owner, URL: rcv.URL + "/hook", Secret: webhook.NewSecret(), State: store.WebhookPaused,
		Cursor: head, CreatedAt: time.Now()}
	if err := r.st.InsertWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	rcv.SetSecret(w.Secret)
	for i := range 10 {
		r.order(t, tn)
		if i%3 == 0 {
			r.order(t, other)
		}
	}
	if _, err := r.st.Prune(ctx, time.Now().Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	horizon, _ := r.st.HorizonFor(ctx, rooms)
	if horizon <= w.Cursor {
		t.Fatalf("pruned through %d, not past the cursor %d", horizon, w.Cursor)
	}
	kept, _ := r.st.ReadEvents(ctx, w.Cursor, rooms, 100)
	var want []int64
	for _, ev := range kept {
		if rooms == nil || slices.Contains(ev.Rooms, rooms[0]) {
			want = append(want, ev.ID)
		}
	}
	if _, err := r.st.ChangeWebhook(ctx, w.ID, store.WebhookChange{State: store.WebhookActive}); err != nil {
		t.Fatal(err)
	}
	r.d.Kick()
	gap := store.WebhookGap{From: w.Cursor + 1, To: horizon}
	select {
	case msg := <-r.alerts:
		if !strings.Contains(msg, gap.String()) {
			t.Fatalf("alert %q; want it to say %q", msg, gap)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert about the pruned events")
	}
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(want) })
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		if got, _ := r.st.Webhook(ctx, w.ID); got.Cursor < horizon {
			return errors.New("the cursor has not passed the gap")
		}
		return nil
	})
	gapRows := func() []store.WebhookDelivery {
		ds, _ := r.st.WebhookDeliveries(ctx, w.ID, 100)
		var out []store.WebhookDelivery
		for _, d := range ds {
			if d.Attempt == 0 {
				out = append(out, d)
			}
		}
		return out
	}
	if rows := gapRows(); len(rows) != 1 || rows[0].EventID != gap.IDs() || rows[0].Error != gap.String() {
		t.Fatalf("gap rows %+v; want one for %s", rows, gap.IDs())
	}
	// A new generation (pause, resume) starts from the stored cursor,
	// past the gap: nothing more to report.
	for _, st := range []string{store.WebhookPaused, store.WebhookActive} {
		if _, err := r.st.ChangeWebhook(ctx, w.ID, store.WebhookChange{State: st}); err != nil {
			t.Fatal(err)
		}
	}
	r.d.Kick()
	next := r.order(t, tn)
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(append(want, next)) })
	if rows := gapRows(); len(rows) != 1 {
		t.Fatalf("gap rows %+v after a new generation; want still one", rows)
	}
	select {
	case msg := <-r.alerts:
		t.Fatalf("a second alert: %q", msg)
	default:
	}
}
