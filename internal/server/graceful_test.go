package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/server"
)

// On shutdown every socket is told 1001 "going away"; after a restart on
// the same database each client resumes from its last id and loses nothing.
func TestGracefulRestartResume(t *testing.T) {
	db := t.TempDir() + "/posd.db"
	cfg := func(c *server.Config) { c.DBPath = db }
	s1 := durStart(t, cfg)
	tenants, counters := durSeed(t, s1, 2, 1)
	roomSets := []string{"tenant-1", "tenant-2,kasir-1", "display"}
	type sock struct {
		rooms  string
		frames *durFrames
		reader *durReader
	}
	var socks []*sock
	for _, rooms := range roomSets {
		sk := &sock{rooms: rooms, frames: newDurFrames()}
		sk.reader = durRead(s1.Dial(t, "", "rooms="+rooms+"&since=0"), sk.frames.add)
		socks = append(socks, sk)
	}
	burst := func(base string, from, n int) {
		api := newDurAPI(base)
		for i := range n {
			tenant := tenants[(from+i)%2]
			if st, raw, err := api.call("POST", "/api/orders", durOrder(tenant, fmt.Sprint("guest ", from+i))); err != nil || st != http.StatusCreated {
				t.Fatalf("order: %d %s %v", st, raw, err)
			}
		}
		if st, raw, err := api.call("POST", "/api/payments", map[string]any{"order_id": from + 1, "amount_paid": 50000, "payment_method": "card", "counter_id": counters[0]}); err != nil || st != http.StatusCreated {
			t.Fatalf("pay: %d %s %v", st, raw, err)
		}
	}
	burst(s1.URL, 0, 40)
	want := func(rooms string) []int64 { return durIDs(t, db, durSplitRooms(rooms)) }
	for _, sk := range socks {
		w := want(sk.rooms)
		sk.frames.waitFor(t, fmt.Sprintf("event %d on %s", w[len(w)-1], sk.rooms), 30*time.Second, func(f durFrame) bool { return f.ID == w[len(w)-1] })
	}

	s1.Stop(t)
	for _, sk := range socks {
		code, text := sk.reader.wait(t, 30*time.Second)
		if code != 1001 || text != "going away" {
			t.Fatalf("%s: close %d %q, want 1001 \"going away\"", sk.rooms, code, text)
		}
	}

	s2 := durStart(t, cfg)
	burst(s2.URL, 40, 20) // written before the clients are back
	for _, sk := range socks {
		ids := sk.frames.eventIDs()
		last := ids[len(ids)-1]
		sk.reader = durRead(s2.Dial(t, "", fmt.Sprintf("rooms=%s&since=%d", sk.rooms, last)), sk.frames.add)
	}
	burst(s2.URL, 60, 10) // and after
	for _, sk := range socks {
		w := want(sk.rooms)
		sk.frames.waitFor(t, fmt.Sprintf("event %d on %s", w[len(w)-1], sk.rooms), 30*time.Second, func(f durFrame) bool { return f.ID == w[len(w)-1] })
		if got := sk.frames.eventIDs(); !slices.Equal(got, w) {
			t.Fatalf("%s across the restart: %d events, want %d (first difference at %d)", sk.rooms, len(got), len(w), durFirstDiff(got, w))
		}
	}
}

func durSplitRooms(s string) []string { return strings.Split(s, ",") }
