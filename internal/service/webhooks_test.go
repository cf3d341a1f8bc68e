package service

import (
	"context"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
)

// stillClock is the clock of the service and the store under test: a time
// no test could read from the wall.
var stillClock = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// hookDelivery is the delivery side webhooks need, doing nothing.
type hookDelivery struct{ changed int }

func (*hookDelivery) CheckURL(context.Context, string) error { return nil }
func (*hookDelivery) NewSecret() string                      { return "whsec_dGVzdA==" }
func (*hookDelivery) Ping(_ context.Context, w store.Webhook) store.WebhookDelivery {
	return store.WebhookDelivery{WebhookID: w.ID}
}
func (d *hookDelivery) Changed() { d.changed++ }

// changeRecorder keeps the operator changes the service asks of the
// store's transactions.
type changeRecorder struct {
	Writer
	changes []store.WebhookChange
}

func (r *changeRecorder) Write(ctx context.Context, fn func(store.Tx) error) error {
	return r.Writer.Write(ctx, func(tx store.Tx) error { return fn(recordingTx{Tx: tx, r: r}) })
}

type recordingTx struct {
	store.Tx
	r *changeRecorder
}

func (t recordingTx) ChangeWebhook(id int64, c store.WebhookChange) (*store.Webhook, error) {
	t.r.changes = append(t.r.changes, c)
	return t.Tx.ChangeWebhook(id, c)
}

// hookService is a Service on a real SQLite file whose clocks stand still
// at stillClock.
func hookService(t *testing.T) (*Service, *sqlite.Store, *changeRecorder) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/posd.db", store.Options{Now: func() time.Time { return stillClock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := NewWithConfig(st, Config{Now: func() time.Time { return stillClock }, Webhooks: Webhooks{Store: st, Delivery: &hookDelivery{}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &changeRecorder{Writer: st}
	s.w = rec
	return s, st, rec
}

var hookAdmin = auth.Principal{Role: auth.RoleAdmin, TokenID: 1}

// Adding and changing an endpoint read the injected clock, not the wall's:
// created_at and the change's time are the service's.
func TestWebhookTimesAreTheServiceClock(t *testing.T) {
	s, _, rec := hookService(t)
	ctx := context.Background()
	w, err := s.AddWebhook(ctx, hookAdmin, NewWebhook{URL: "https://hooks.example/posd"})
	if err != nil {
		t.Fatal(err)
	}
	if !w.CreatedAt.Equal(stillClock) {
		t.Fatalf("created_at %v; want the clock's %v", w.CreatedAt, stillClock)
	}
	if _, err := s.PauseWebhook(ctx, hookAdmin, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResumeWebhook(ctx, hookAdmin, w.ID); err != nil {
		t.Fatal(err)
	}
	if len(rec.changes) != 2 {
		t.Fatalf("%d changes; want 2", len(rec.changes))
	}
	for _, c := range rec.changes {
		if !c.At.Equal(stillClock) {
			t.Fatalf("change %+v at %v; want the clock's %v", c, c.At, stillClock)
		}
	}
}
