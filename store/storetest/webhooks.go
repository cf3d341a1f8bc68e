package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
)

func addWebhook(t *testing.T, s store.Store, tenant, cursor int64, at time.Time) *store.Webhook {
	t.Helper()
	w := &store.Webhook{TenantID: tenant, URL: "https://example.com/hook", Events: []string{"order:created", "payment:processed"},
		Secret: "whsec_c2VjcmV0", State: store.WebhookActive, Cursor: cursor, CreatedAt: at}
	if err := s.InsertWebhook(context.Background(), w); err != nil {
		t.Fatalf("insert webhook: %v", err)
	}
	return w
}

// An endpoint reads back as written; an operator's change starts a new
// generation and clears the retry state; a worker's progress of an older
// generation, or from a node that does not hold it, changes nothing.
func testWebhooks(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	f := clocked(t, b, &clock)
	w := addWebhook(t, f.Store, 2, 7, clock)
	if w.ID == 0 || w.Gen != 1 {
		t.Fatalf("inserted %+v", w)
	}
	got, err := f.Store.Webhook(ctx, w.ID)
	if err != nil || got.URL != w.URL || got.TenantID != 2 || fmt.Sprint(got.Events) != "[order:created payment:processed]" ||
		got.Secret != w.Secret || got.State != store.WebhookActive || got.Cursor != 7 || got.Gen != 1 || !got.CreatedAt.Equal(clock) ||
		got.FailingSince != nil || got.Owner != "" {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if _, err := f.Store.Webhook(ctx, w.ID+100); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("unknown webhook: %v; want not_found", err)
	}
	addWebhook(t, f.Store, 0, 0, clock)
	if all, err := f.Store.ListWebhooks(ctx); err != nil || len(all) != 2 || all[0].ID != w.ID || all[1].TenantID != 0 || all[1].Events == nil {
		t.Fatalf("list %+v, %v", all, err)
	}

	held, err := f.Store.ClaimWebhooks(ctx, "node-a", clock, clock.Add(time.Minute))
	if err != nil || len(held) != 2 {
		t.Fatalf("claim: %+v, %v", held, err)
	}
	failing := clock.Add(-time.Minute)
	next := clock.Add(4 * time.Second)
	p := store.WebhookProgress{ID: w.ID, Owner: "node-a", Gen: 1, Cursor: 9, FailingSince: &failing, Attempt: 3, NextAttemptAt: &next,
		LastError: "503 Service Unavailable", At: clock}
	if ok, err := f.Store.WebhookProgress(ctx, p); err != nil || !ok {
		t.Fatalf("progress: %v, %v", ok, err)
	}
	got, _ = f.Store.Webhook(ctx, w.ID)
	if got.Cursor != 9 || got.Attempt != 3 || got.FailingSince == nil || !got.FailingSince.Equal(failing) ||
		got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(next) || got.LastError != "503 Service Unavailable" {
		t.Fatalf("after progress: %+v", got)
	}
	other := p
	other.Owner, other.Cursor = "node-b", 50
	if ok, err := f.Store.WebhookProgress(ctx, other); err != nil || ok {
		t.Fatalf("progress from a node that does not hold it: %v, %v; want refused", ok, err)
	}

	// Replay: the cursor goes back, the generation forward.
	back := int64(3)
	ch, err := f.Store.ChangeWebhook(ctx, w.ID, store.WebhookChange{Cursor: &back, At: clock})
	if err != nil || ch.Cursor != 3 || ch.Gen != 2 || ch.Attempt != 0 || ch.FailingSince != nil || ch.NextAttemptAt != nil || ch.LastError != "" ||
		ch.State != store.WebhookActive {
		t.Fatalf("replay: %+v, %v", ch, err)
	}
	if ok, _ := f.Store.WebhookProgress(ctx, p); ok {
		t.Fatal("progress of the generation before a replay was applied")
	}
	p.Gen, p.Cursor = 2, 4
	p.Disable, p.Reason = true, "410 Gone"
	if ok, err := f.Store.WebhookProgress(ctx, p); err != nil || !ok {
		t.Fatalf("disable: %v, %v", ok, err)
	}
	got, _ = f.Store.Webhook(ctx, w.ID)
	if got.State != store.WebhookDisabled || got.DisabledReason != "410 Gone" || got.DisabledAt == nil || !got.DisabledAt.Equal(clock) || got.Cursor != 4 {
		t.Fatalf("after disable: %+v", got)
	}
	// A disabled endpoint is nobody's to deliver.
	if held, _ := f.Store.ClaimWebhooks(ctx, "node-a", clock, clock.Add(time.Minute)); len(held) != 1 || held[0].ID == w.ID {
		t.Fatalf("claimed %+v; the disabled endpoint must not be", held)
	}
	ch, err = f.Store.ChangeWebhook(ctx, w.ID, store.WebhookChange{State: store.WebhookActive, At: clock})
	if err != nil || ch.State != store.WebhookActive || ch.DisabledReason != "" || ch.DisabledAt != nil || ch.Gen != 3 || ch.Cursor != 4 {
		t.Fatalf("resume: %+v, %v", ch, err)
	}
	if ch, err = f.Store.ChangeWebhook(ctx, w.ID, store.WebhookChange{State: store.WebhookPaused, At: clock}); err != nil || ch.State != store.WebhookPaused {
		t.Fatalf("pause: %+v, %v", ch, err)
	}
	if _, err := f.Store.ChangeWebhook(ctx, w.ID+100, store.WebhookChange{State: store.WebhookPaused, At: clock}); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("change of an unknown webhook: %v", err)
	}
	if ok, err := f.Store.DeleteWebhook(ctx, w.ID); err != nil || !ok {
		t.Fatalf("delete: %v, %v", ok, err)
	}
	if ok, err := f.Store.DeleteWebhook(ctx, w.ID); err != nil || ok {
		t.Fatalf("second delete: %v, %v", ok, err)
	}
}

// Two stores on one database are two nodes: of concurrent claims one node
// gets each endpoint; it keeps it while it renews, loses it once its lease
// lapses, and a release hands it over at once.
func testWebhookLeases(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	f := clocked(t, b, &clock)
	second := f.Open(t, store.Options{})
	defer second.Close()
	for range 5 {
		addWebhook(t, f.Store, 0, 0, clock)
	}
	nodes := []store.Store{f.Store, second}
	for round := range 10 {
		now := clock.Add(time.Duration(round) * time.Hour) // every lease of the round before has lapsed
		var mu sync.Mutex
		owners := map[int64][]string{}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				name := fmt.Sprintf("node-%d", i)
				held, err := nodes[i%2].ClaimWebhooks(ctx, name, now, now.Add(time.Minute))
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, w := range held {
					owners[w.ID] = append(owners[w.ID], name)
				}
			})
		}
		wg.Wait()
		if len(owners) != 5 {
			t.Fatalf("round %d: %d endpoints claimed; want 5", round, len(owners))
		}
		for id, o := range owners {
			if len(o) != 1 {
				t.Fatalf("round %d: endpoint %d claimed by %v", round, id, o)
			}
		}
	}

	now := clock.Add(100 * time.Hour)
	if held, _ := f.Store.ClaimWebhooks(ctx, "a", now, now.Add(10*time.Second)); len(held) != 5 {
		t.Fatalf("a holds %d; want 5", len(held))
	}
	if held, _ := second.ClaimWebhooks(ctx, "b", now.Add(5*time.Second), now.Add(15*time.Second)); len(held) != 0 {
		t.Fatalf("b took %d endpoints under a's lease", len(held))
	}
	if held, _ := f.Store.ClaimWebhooks(ctx, "a", now.Add(8*time.Second), now.Add(18*time.Second)); len(held) != 5 {
		t.Fatalf("a renewed %d; want 5", len(held))
	}
	// a dies: its lease lapses and b takes over.
	if held, _ := second.ClaimWebhooks(ctx, "b", now.Add(19*time.Second), now.Add(29*time.Second)); len(held) != 5 || held[0].Owner != "b" {
		t.Fatalf("b took over %+v; want all 5", held)
	}
	if err := second.ReleaseWebhooks(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if held, _ := f.Store.ClaimWebhooks(ctx, "a", now.Add(20*time.Second), now.Add(30*time.Second)); len(held) != 5 {
		t.Fatalf("after b released, a took %d; want 5", len(held))
	}
}

// Each endpoint keeps its newest WebhookDeliveriesKept attempts, newest
// first; a test ping's id is text.
func testWebhookDeliveriesTrimmed(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	f := clocked(t, b, &clock)
	w := addWebhook(t, f.Store, 0, 0, clock)
	other := addWebhook(t, f.Store, 0, 0, clock)
	f.Store.ClaimWebhooks(ctx, "a", clock, clock.Add(time.Minute))
	if err := f.Store.AddWebhookDelivery(ctx, store.WebhookDelivery{WebhookID: other.ID, EventID: "ping_x", Status: 200, At: clock}); err != nil {
		t.Fatal(err)
	}
	n := store.WebhookDeliveriesKept + 30
	for i := 1; i <= n; i += 10 {
		var ds []store.WebhookDelivery
		for j := i; j < i+10; j++ {
			ds = append(ds, store.WebhookDelivery{WebhookID: w.ID, EventID: fmt.Sprint(j), Attempt: 1, Status: 200,
				Latency: 1500 * time.Microsecond, Node: "a", At: clock})
		}
		if ok, err := f.Store.WebhookProgress(ctx, store.WebhookProgress{ID: w.ID, Owner: "a", Gen: 1, Cursor: int64(i + 9), At: clock, Deliveries: ds}); err != nil || !ok {
			t.Fatalf("progress: %v, %v", ok, err)
		}
	}
	got, err := f.Store.WebhookDeliveries(ctx, w.ID, 1000)
	if err != nil || len(got) != store.WebhookDeliveriesKept {
		t.Fatalf("%d deliveries, %v; want %d", len(got), err, store.WebhookDeliveriesKept)
	}
	if got[0].EventID != fmt.Sprint(n) || got[0].Latency != 1500*time.Microsecond || got[0].Status != 200 || got[0].Node != "a" || got[0].Attempt != 1 ||
		got[len(got)-1].EventID != fmt.Sprint(n-store.WebhookDeliveriesKept+1) {
		t.Fatalf("newest %+v, oldest %+v", got[0], got[len(got)-1])
	}
	if got, _ := f.Store.WebhookDeliveries(ctx, other.ID, 10); len(got) != 1 || got[0].EventID != "ping_x" {
		t.Fatalf("the other endpoint's deliveries: %+v", got)
	}
	f.Store.DeleteWebhook(ctx, w.ID)
	if got, _ := f.Store.WebhookDeliveries(ctx, w.ID, 10); len(got) != 0 {
		t.Fatalf("deliveries of a deleted endpoint: %d", len(got))
	}
}

// Retention keeps what an active endpoint has not delivered; a paused
// endpoint holds nothing back.
func testPruneKeepsWebhookBacklog(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-48 * time.Hour)
	f := clocked(t, b, &clock)
	for range 6 {
		alert(t, f) // 1..6, all old
	}
	clock = now
	w := addWebhook(t, f.Store, 0, 3, clock)
	n, err := f.Store.Prune(ctx, now.Add(-24*time.Hour), 1)
	if err != nil || n != 3 {
		t.Fatalf("pruned %d, %v; want 3 (events 1-3, up to the endpoint's cursor)", n, err)
	}
	if left, _ := f.Store.ReadLog(ctx, 0, 100); len(left) != 3 || left[0].ID != 4 {
		t.Fatalf("left %+v; want 4-6", left)
	}
	if _, err := f.Store.ChangeWebhook(ctx, w.ID, store.WebhookChange{State: store.WebhookPaused, At: clock}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.Store.Prune(ctx, now.Add(-24*time.Hour), 1); err != nil || n != 2 {
		t.Fatalf("pruned %d, %v with the endpoint paused; want 2 (6 is the newest of its room)", n, err)
	}
}
