package bench

import (
	"os"
	"testing"
	"time"
)

// The watcher keeps the WAL's largest size, not its last one, and adds the
// three files up.
func TestWatchDBKeepsTheLargestWAL(t *testing.T) {
	db := t.TempDir() + "/posd.db"
	write := func(p string, n int) {
		t.Helper()
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(db, 4096)
	write(db+"-shm", 32768)
	w := watchDB(db, 5*time.Millisecond)
	write(db+"-wal", 1<<20)
	time.Sleep(50 * time.Millisecond)
	write(db+"-wal", 0) // a truncation
	r := w.stop()
	if r.WALMaxBytes != 1<<20 || r.WALEndBytes != 0 {
		t.Fatalf("WAL max %d end %d, want %d and 0", r.WALMaxBytes, r.WALEndBytes, 1<<20)
	}
	if r.DiskEndBytes != 4096+32768 || r.DiskMaxBytes != 4096+32768+1<<20 {
		t.Fatalf("disk end %d max %d", r.DiskEndBytes, r.DiskMaxBytes)
	}
	if r.Samples < 3 {
		t.Fatalf("%d samples", r.Samples)
	}
}
