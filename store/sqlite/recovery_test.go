package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/posd/posd/store"
)

// Recovery records survive closing and reopening the file, come back once,
// and only while they have not expired.
func TestRecoveryRecordsAcrossARestart(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/posd.db"
	s := openStore(t, path, nil)
	now := time.UnixMilli(1_800_000_000_000).UTC()
	keep := store.RecoverySession{PID: "p1", ID: "s1", TokenID: 7, Rooms: []string{"tenant-1", "display"}, Base: 41, Expires: now.Add(time.Minute)}
	gone := store.RecoverySession{PID: "p2", ID: "s2", TokenID: 7, Rooms: []string{}, Base: 3, Expires: now.Add(-time.Second)}
	// An earlier save is replaced, not added to.
	if err := s.SaveRecovery(ctx, []store.RecoverySession{{PID: "old", ID: "x", Rooms: []string{}, Expires: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRecovery(ctx, []store.RecoverySession{keep, gone}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, path, nil)
	got, err := s.TakeRecovery(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]store.RecoverySession{keep}) {
		t.Fatalf("took %+v, want only the unexpired %+v", got, keep)
	}
	again, err := s.TakeRecovery(ctx, now)
	if err != nil || len(again) != 0 {
		t.Fatalf("second take: %+v, %v; want nothing (each record is good for one start)", again, err)
	}
}
