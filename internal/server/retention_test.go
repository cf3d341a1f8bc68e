package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/server"
	"github.com/posd/posd/internal/server/servertest"
	"github.com/posd/posd/internal/testutil"
)

// durClock is an injectable clock tests move by hand.
type durClock struct{ ns atomic.Int64 }

func newDurClock() *durClock {
	c := &durClock{}
	c.ns.Store(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *durClock) Now() time.Time            { return time.Unix(0, c.ns.Load()).UTC() }
func (c *durClock) Add(d time.Duration)       { c.ns.Add(int64(d)) }
func (c *durClock) config(cfg *server.Config) { cfg.Now = c.Now }

type durEvents struct {
	Events []struct {
		Event   string   `json:"event"`
		Rooms   []string `json:"rooms"`
		Payload struct {
			ID int64 `json:"id"`
		} `json:"payload"`
	} `json:"events"`
	NextSince int64 `json:"next_since"`
}

func (e durEvents) ids() []int64 {
	var ids []int64
	for _, ev := range e.Events {
		ids = append(ids, ev.Payload.ID)
	}
	return ids
}

// Retention prunes old events but keeps the newest N of every room; a since
// older than what was kept gets a gap error naming the oldest id, never a
// silent gap.
func TestRetentionGapIsReported(t *testing.T) {
	clock := newDurClock()
	s := durStart(t, func(c *server.Config) {
		clock.config(c)
		c.Retention = time.Hour
		c.KeepPerRoom = 5
		c.PruneEvery = time.Hour // only the explicit Prune calls below
	})
	tenants, _ := durSeed(t, s, 2, 0)
	// Old traffic: 30 orders of tenant 1 (ids 1..30), then 3 of the quiet
	// tenant 2 (31..33).
	for i := range 30 {
		s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], fmt.Sprint("old ", i)), nil)
	}
	for i := range 3 {
		s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[1], fmt.Sprint("quiet ", i)), nil)
	}
	clock.Add(2 * time.Hour)
	// Recent traffic: 3 more orders of tenant 1 (34..36).
	for i := range 3 {
		s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], fmt.Sprint("new ", i)), nil)
	}
	s.Prune(context.Background())

	// tenant-1 keeps its newest 5 (29, 30, 34, 35, 36); tenant-2 all 3 of its
	// events, however old; display its newest 5 and whatever the tenant rooms
	// keep.
	var t1, t2 durEvents
	s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-1", nil, &t1)
	s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-2", nil, &t2)
	if got, want := fmt.Sprint(t1.ids()), "[29 30 34 35 36]"; got != want {
		t.Fatalf("tenant-1 kept %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(t2.ids()), "[31 32 33]"; got != want {
		t.Fatalf("tenant-2 kept %s, want %s (keep-per-room must hold however old)", got, want)
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM events`); n != 8 {
		t.Fatalf("%d events left, want 8", n)
	}
	// History paging says so too: from below the horizon, gap and oldest_id.
	var hist struct {
		Gap      bool  `json:"gap"`
		OldestID int64 `json:"oldest_id"`
	}
	s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-1&since=3", nil, &hist)
	if !hist.Gap || hist.OldestID != 29 {
		t.Fatalf("history from 3: gap %v oldest_id %d, want true 29", hist.Gap, hist.OldestID)
	}
	hist.Gap, hist.OldestID = false, 0
	s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-1&since=28", nil, &hist)
	if hist.Gap || hist.OldestID != 0 {
		t.Fatalf("history from 28 (complete): gap %v oldest_id %d", hist.Gap, hist.OldestID)
	}

	// since older than the horizon: the error frame names the oldest id.
	ws := s.Dial(t, "", "rooms=tenant-1&since=3")
	f := servertest.Read(t, ws, 10*time.Second)
	if f.Op != "error" || f.Code != "gap" || f.OldestID != 29 {
		t.Fatalf("first frame %+v, want a gap error with oldest_id 29", f)
	}
	// The connection then goes on live.
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], "live"), nil)
	if ev := servertest.NextEvent(t, ws, 10*time.Second); ev.EventID() != 37 {
		t.Fatalf("live event %d after the gap, want 37", ev.EventID())
	}

	// since at the horizon is complete: no gap.
	ws2 := s.Dial(t, "", "rooms=tenant-1&since=28")
	var got []int64
	for len(got) < 6 {
		f := servertest.Read(t, ws2, 10*time.Second)
		if f.Op == "error" {
			t.Fatalf("unexpected error frame %+v", f)
		}
		if f.Op == "event" {
			got = append(got, f.EventID())
		}
	}
	if fmt.Sprint(got) != "[29 30 34 35 36 37]" {
		t.Fatalf("replay from 28: %v", got)
	}

	// The quiet room's events were all kept: it resumes from 0 with no gap,
	// though the log as a whole was pruned through 28.
	ws3 := s.Dial(t, "", "rooms=tenant-2&since=0")
	var quiet []int64
	for len(quiet) < 3 {
		f := servertest.Read(t, ws3, 10*time.Second)
		if f.Op == "error" {
			t.Fatalf("quiet room resuming from 0: %+v", f)
		}
		if f.Op == "event" {
			quiet = append(quiet, f.EventID())
		}
	}
	if fmt.Sprint(quiet) != "[31 32 33]" {
		t.Fatalf("quiet room from 0: %v", quiet)
	}
	var qh struct {
		Gap bool `json:"gap"`
	}
	s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-2&since=0", nil, &qh)
	if qh.Gap {
		t.Fatal("history of the quiet room reports a gap")
	}
	// display lost 1..28 like tenant-1.
	ws4 := s.Dial(t, "", "rooms=display,tenant-2&since=10")
	if f := servertest.Read(t, ws4, 10*time.Second); f.Op != "error" || f.Code != "gap" || f.OldestID != 29 {
		t.Fatalf("display from 10: %+v", f)
	}

	// The live resume op reports the same gap.
	if err := ws2.WriteMessage(1, []byte(`{"op":"resume","since":0}`)); err != nil {
		t.Fatal(err)
	}
	for {
		f := servertest.Read(t, ws2, 10*time.Second)
		if f.Op == "event" {
			t.Fatalf("event %d after a too-old resume", f.EventID())
		}
		if f.Op == "error" {
			if f.Code != "gap" || f.OldestID != 29 {
				t.Fatalf("resume error %+v", f)
			}
			break
		}
	}
}

// GET /api/events pages with since, room and limit; next_since continues.
func TestEventHistoryPaging(t *testing.T) {
	s := durStart(t, nil)
	tenants, _ := durSeed(t, s, 2, 0)
	for i := range 25 {
		s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[i%2], fmt.Sprint("c", i)), nil)
	}
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/alerts", map[string]any{"severity": "warning", "message": "closing soon"}, nil) // 26, to everyone

	var all []int64
	since := int64(0)
	pages := 0
	for {
		var page durEvents
		s.MustDo(t, http.StatusOK, "", "GET", fmt.Sprintf("/api/events?since=%d&limit=10", since), nil, &page)
		pages++
		if len(page.Events) == 0 {
			if page.NextSince != since {
				t.Fatalf("empty page moved next_since from %d to %d", since, page.NextSince)
			}
			break
		}
		if len(page.Events) > 10 {
			t.Fatalf("page of %d with limit=10", len(page.Events))
		}
		all = append(all, page.ids()...)
		if page.NextSince != page.ids()[len(page.Events)-1] {
			t.Fatalf("next_since %d, last id %d", page.NextSince, page.ids()[len(page.Events)-1])
		}
		since = page.NextSince
	}
	if len(all) != 26 || all[0] != 1 || all[25] != 26 || pages != 4 {
		t.Fatalf("paged %d events in %d pages: %v", len(all), pages, all)
	}
	for i := 1; i < len(all); i++ {
		if all[i] != all[i-1]+1 {
			t.Fatalf("paging skipped or repeated at %d: %v", i, all)
		}
	}

	// One room: its own events plus those to everyone.
	var room durEvents
	s.MustDo(t, http.StatusOK, "", "GET", "/api/events?room=tenant-2&since=10&limit=100", nil, &room)
	want := "[12 14 16 18 20 22 24 26]"
	if got := fmt.Sprint(room.ids()); got != want {
		t.Fatalf("tenant-2 after 10: %s, want %s", got, want)
	}
	for _, bad := range []string{"since=-1", "since=x", "limit=-5", "room=nope", "room=tenant-01"} {
		if r := s.Do(t, "", "GET", "/api/events?"+bad, nil); r.Status != http.StatusBadRequest && r.Status != http.StatusForbidden {
			t.Errorf("%s: %d %s", bad, r.Status, r.Body)
		}
	}
}

// A notification to a user who is offline waits in the log and arrives when
// the user connects with since (the seed's "offline delivery").
func TestOfflineNotificationArrivesOnResume(t *testing.T) {
	s := durStart(t, nil)
	// The user was connected and saw everything up to now.
	ws := s.Dial(t, "", "rooms=user-7&since=0")
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/notifications", map[string]any{"user_id": 7, "type": "welcome", "data": map[string]any{}}, nil)
	seen := servertest.NextEvent(t, ws, 10*time.Second).EventID()
	ws.Close()
	testutil.Eventually(t, 10*time.Second, "the user to leave", func() bool { return s.Hub.RoomSizes()["user-7"] == 0 })

	// Offline: one for them, one for someone else.
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/notifications", `{"user_id":7,"type":"order_ready","data":{"order_id":42, "note":"<b>counter 3</b>"}}`, nil)
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/notifications", map[string]any{"user_id": 8, "type": "order_ready", "data": map[string]any{"order_id": 43}}, nil)

	ws = s.Dial(t, "", fmt.Sprintf("rooms=user-7&since=%d", seen))
	f := servertest.NextEvent(t, ws, 10*time.Second)
	if f.Event != "notification" || f.EventID() != seen+1 || !durContainsAll(string(f.Payload), `"type":"order_ready"`, `"data":{"order_id":42, "note":"<b>counter 3</b>"}`) {
		t.Fatalf("offline notification: %s %s", f.Event, f.Payload)
	}
	servertest.NoEvent(t, ws, 300*time.Millisecond) // not user 8's
}

func durContainsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// A since beyond the newest event (the database was restored or reset) gets
// the gap error too, instead of silently skipping until the ids catch up.
func TestSinceAheadOfTheLog(t *testing.T) {
	s := durStart(t, nil)
	tenants, _ := durSeed(t, s, 1, 0)
	for i := range 3 {
		s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], fmt.Sprint("c", i)), nil)
	}
	// The hub publishes a commit after the API has answered: a socket that
	// joined before event 3 was out would get it live.
	testutil.Eventually(t, 10*time.Second, "event 3 published", func() bool { return s.Hub.LastPublished() >= 3 })
	ws := s.Dial(t, "", "rooms=tenant-1&since=500")
	f := servertest.Read(t, ws, 10*time.Second)
	if f.Op != "error" || f.Code != "gap" || !strings.Contains(f.Message, "newer than the log's newest (3)") {
		t.Fatalf("first frame %+v, want a gap error", f)
	}
	// Live from here.
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], "live"), nil)
	if ev := servertest.NextEvent(t, ws, 10*time.Second); ev.EventID() != 4 {
		t.Fatalf("live event %d, want 4", ev.EventID())
	}
	// since equal to the head is fine.
	ws2 := s.Dial(t, "", "rooms=tenant-1&since=4")
	s.MustDo(t, http.StatusCreated, "", "POST", "/api/orders", durOrder(tenants[0], "next"), nil)
	if ev := servertest.NextEvent(t, ws2, 10*time.Second); ev.EventID() != 5 {
		t.Fatalf("event %d, want 5", ev.EventID())
	}
}

// Pruning a large backlog goes in small batches: writers get in between
// them instead of waiting for the whole pass.
func TestPruneDoesNotHoldWritersBack(t *testing.T) {
	clock := newDurClock()
	s := durStart(t, func(c *server.Config) {
		clock.config(c)
		c.Retention = time.Hour
		c.KeepPerRoom = 1
		c.PruneEvery = time.Hour
	})
	ctx := context.Background()
	old := 3000
	if durRace {
		old = 1500
	}
	for i := range old {
		if _, err := s.Service.Alert(ctx, auth.Anonymous, "info", fmt.Sprint("old ", i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(2 * time.Hour)
	// One young event first: keep-per-room (1) keeps the room's newest,
	// which must not be an old one however soon the prune runs.
	if _, err := s.Service.Alert(ctx, auth.Anonymous, "info", "young"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Prune(ctx) }()
	during := 0
	for {
		select {
		case <-done:
		default:
			if _, err := s.Service.Alert(ctx, auth.Anonymous, "info", "during the prune"); err != nil {
				t.Fatal(err)
			}
			during++
			continue
		}
		break
	}
	if n := durCount(t, s, `SELECT COUNT(*) FROM events WHERE message LIKE 'old %'`); n != 0 {
		t.Fatalf("%d old events left", n)
	}
	if during < 2 {
		t.Fatalf("only %d writes got in while %d events were pruned: the prune held the writer lock", during, old)
	}
	t.Logf("%d writes committed while %d old events were pruned", during, old)
}
