package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/posd/posd/internal/domain"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
)

// Retention records its horizon per room: events to everyone count for
// every room, a room whose events were kept has none.
func TestHorizonForRooms(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s, err := sqlite.Open(ctx, t.TempDir()+"/posd.db", store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	add := func(rooms ...string) {
		t.Helper()
		err := s.Write(ctx, func(tx store.Tx) error {
			_, err := tx.AppendEvent(domain.Event{Name: domain.EventNotification, Type: "x", Data: []byte(`{}`), Rooms: rooms})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("tenant-1", "display") // 1
	add("tenant-1", "display") // 2
	add("tenant-2")            // 3: tenant-2 keeps it (keep 2)
	add(domain.RoomAll)        // 4: an alert
	add("tenant-1", "display") // 5
	add("tenant-1", "display") // 6
	add(domain.RoomAll)        // 7
	add(domain.RoomAll)        // 8
	// Everything is old; keep the newest 2 of each room.
	n, err := s.Prune(ctx, now.Add(time.Hour), 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // 1, 2 and 4
		t.Fatalf("pruned %d events, want 3", n)
	}
	for _, tc := range []struct {
		rooms []string
		want  int64
	}{
		{nil, 4},
		{[]string{"tenant-1"}, 4}, // the alert 4 counts for everyone
		{[]string{"tenant-2"}, 4},
		{[]string{}, 4},
	} {
		got, err := s.HorizonFor(ctx, tc.rooms)
		if err != nil || got != tc.want {
			t.Errorf("HorizonFor(%q) = %d, %v; want %d", tc.rooms, got, err, tc.want)
		}
	}

	// Without an alert among the pruned, rooms differ.
	s2, err := sqlite.Open(ctx, t.TempDir()+"/posd.db", store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s = s2
	add("tenant-1", "display") // 1
	add("tenant-2")            // 2
	add("tenant-1", "display") // 3
	add("tenant-1", "display") // 4
	if _, err := s.Prune(ctx, now.Add(time.Hour), 2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rooms []string
		want  int64
	}{
		{nil, 1},
		{[]string{"tenant-1"}, 1},
		{[]string{"display"}, 1},
		{[]string{"tenant-2"}, 0},
		{[]string{"tenant-2", "kasir-1"}, 0},
		{[]string{"tenant-2", "display"}, 1},
	} {
		got, err := s.HorizonFor(ctx, tc.rooms)
		if err != nil || got != tc.want {
			t.Errorf("HorizonFor(%q) = %d, %v; want %d", tc.rooms, got, err, tc.want)
		}
	}
}
