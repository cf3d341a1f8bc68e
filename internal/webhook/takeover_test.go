package webhook_test

import (
	"context"
	"errors"
	"strconv"
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
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
)

// dying is a node's view of the database that goes dark when the node
// dies: a killed process neither records progress nor releases leases.
type dying struct {
	store.Store
	dead atomic.Bool
}

var errDead = errors.New("node killed")

func (d *dying) WebhookProgress(ctx context.Context, p store.WebhookProgress) (bool, error) {
	if d.dead.Load() {
		return false, errDead
	}
	return d.Store.WebhookProgress(ctx, p)
}

func (d *dying) ReleaseWebhooks(ctx context.Context, owner string) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.ReleaseWebhooks(ctx, owner)
}

func (d *dying) ClaimWebhooks(ctx context.Context, owner string, now, until time.Time) ([]store.Webhook, error) {
	if d.dead.Load() {
		return nil, errDead
	}
	return d.Store.ClaimWebhooks(ctx, owner, now, until)
}

// Two nodes on one PostgreSQL database: one delivers the endpoint while it
// holds the lease, the other never; when the first dies mid-stream, the
// second takes over once the lease lapses and delivers the rest, in order,
// from the cursor the first recorded.
func TestTakeoverOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	var da atomic.Pointer[webhook.Dispatcher]
	open := func(opts store.Options) store.Store {
		s, err := postgres.Open(ctx, dsn, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	stA := &dying{Store: open(store.Options{Committed: func(evs []domain.Event) {
		if d := da.Load(); d != nil {
			d.Advanced(evs[len(evs)-1].ID)
		}
	}})}
	stB := open(store.Options{})
	svc := service.New(stA, nil)
	tn, err := svc.CreateTenant(ctx, auth.Anonymous, "Warung A", "A")
	if err != nil {
		t.Fatal(err)
	}
	rcv := webhooktest.New(t)
	w := &store.Webhook{URL: rcv.URL, Secret: webhook.NewSecret(), State: store.WebhookActive, CreatedAt: time.Now()}
	if err := stA.InsertWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	rcv.SetSecret(w.Secret)
	client := webhook.NewClient(webhook.Policy{AllowPrivate: true, AllowHTTP: true})
	start := func(st webhook.Store, node string) (*webhook.Dispatcher, context.CancelFunc, chan struct{}) {
		d := webhook.New(webhook.Config{Store: st, Client: client, NodeID: node, Lease: time.Second, Poll: 50 * time.Millisecond, FlushEvery: time.Millisecond})
		c, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); d.Run(c) }()
		t.Cleanup(func() { cancel(); <-done })
		return d, cancel, done
	}
	a, cancelA, doneA := start(stA, "node-a")
	da.Store(a)
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		got, _ := stA.Webhook(ctx, w.ID)
		if got.Owner != "node-a" {
			return errors.New("node-a has not claimed it")
		}
		return nil
	})
	start(stB, "node-b")
	order := func() int64 {
		if _, err := svc.CreateOrder(ctx, auth.Anonymous, service.NewOrder{TenantID: tn.ID, CustomerName: "Budi",
			Items: []domain.Item{{Name: "Nasi", Quantity: 1, UnitPrice: 15000}}}); err != nil {
			t.Fatal(err)
		}
		head, _ := stA.LastEventID(ctx)
		return head
	}
	var want []int64
	for range 20 {
		want = append(want, order())
	}
	testutil.EventuallyNil(t, 10*time.Second, func() error { return rcv.CheckInOrder(want) })
	ds, _ := stB.WebhookDeliveries(ctx, w.ID, 100)
	for _, d := range ds {
		if d.Node != "node-a" {
			t.Fatalf("delivery %+v by %s while node-a held the lease", d, d.Node)
		}
	}

	// node-a dies: no release, no last flush.
	stA.dead.Store(true)
	cancelA()
	<-doneA
	for range 20 {
		want = append(want, order())
	}
	testutil.EventuallyNil(t, 15*time.Second, func() error { return rcv.CheckComplete(want) })
	got, _ := stB.Webhook(ctx, w.ID)
	if got.Owner != "node-b" {
		t.Fatalf("owner %q after takeover", got.Owner)
	}
	testutil.EventuallyNil(t, 15*time.Second, func() error {
		got, _ := stB.Webhook(ctx, w.ID)
		if got.Cursor != want[len(want)-1] {
			return errors.New("node-b has not recorded the last event yet")
		}
		return nil
	})
	ds, _ = stB.WebhookDeliveries(ctx, w.ID, 100)
	if ds[0].Node != "node-b" || ds[0].EventID != strconv.FormatInt(want[len(want)-1], 10) {
		t.Fatalf("newest delivery %+v", ds[0])
	}
}
