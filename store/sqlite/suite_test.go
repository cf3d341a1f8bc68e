package sqlite_test

import (
	"context"
	"testing"

	"github.com/posd/posd/store"
	"github.com/posd/posd/store/sqlite"
	"github.com/posd/posd/store/storetest"
)

// TestStoreSuite runs the behaviour every backend owes the service
// against SQLite; each test gets a database file of its own.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		NewDB: func(t *testing.T) storetest.Open {
			path := t.TempDir() + "/posd.db"
			return func(t *testing.T, opts store.Options) store.Store {
				s, err := sqlite.Open(context.Background(), path, opts)
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
		SetPruneBatchSize: sqlite.SetPruneBatchSize,
		SchemaVersion:     11,
		HistoryTimes:      sqlite.HistoryTimes,
	})
}
