package bench

import (
	"os"
	"sync"
	"time"
)

// DBWatchInterval is how often --watch-db samples the database's files.
const DBWatchInterval = 100 * time.Millisecond

// DBResult is what --watch-db saw of a SQLite database on this machine:
// how large its WAL grew during the run, and the disk its files took.
type DBResult struct {
	Path         string `json:"path"`
	Samples      int    `json:"samples"`
	IntervalMS   int64  `json:"interval_ms"`
	WALMaxBytes  int64  `json:"wal_max_bytes"`
	WALEndBytes  int64  `json:"wal_end_bytes"`
	DBEndBytes   int64  `json:"db_end_bytes"`
	SHMEndBytes  int64  `json:"shm_end_bytes"`
	DiskMaxBytes int64  `json:"disk_max_bytes"` // db + wal + shm, largest sample
	DiskEndBytes int64  `json:"disk_end_bytes"` // db + wal + shm, last sample
}

// dbWatch samples a database's files until stop.
type dbWatch struct {
	path  string
	every time.Duration
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	res   DBResult
}

func watchDB(path string, every time.Duration) *dbWatch {
	w := &dbWatch{path: path, every: every, stopc: make(chan struct{}), done: make(chan struct{})}
	w.res = DBResult{Path: path, IntervalMS: every.Milliseconds()}
	w.sample()
	go w.loop()
	return w
}

func (w *dbWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		select {
		case <-w.stopc:
			return
		case <-t.C:
			w.sample()
		}
	}
}

func (w *dbWatch) sample() {
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return 0 // not there (yet, or any more): the WAL is removed at a clean close
		}
		return fi.Size()
	}
	db, wal, shm := size(w.path), size(w.path+"-wal"), size(w.path+"-shm")
	w.mu.Lock()
	defer w.mu.Unlock()
	r := &w.res
	r.Samples++
	r.WALMaxBytes = max(r.WALMaxBytes, wal)
	r.WALEndBytes, r.DBEndBytes, r.SHMEndBytes = wal, db, shm
	r.DiskEndBytes = db + wal + shm
	r.DiskMaxBytes = max(r.DiskMaxBytes, r.DiskEndBytes)
}

// stop takes a last sample and returns the result.
func (w *dbWatch) stop() *DBResult {
	close(w.stopc)
	<-w.done
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.res
	return &r
}
