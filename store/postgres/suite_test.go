package postgres_test

import (
	"testing"

	"github.com/posd/posd/store"
	"github.com/posd/posd/store/postgres"
	"github.com/posd/posd/store/postgres/pgtest"
	"github.com/posd/posd/store/storetest"
)

// backend opens PostgreSQL stores, each test on a schema of its own.
func backend() storetest.Backend {
	return storetest.Backend{
		NewDB: func(t *testing.T) storetest.Open {
			dsn := pgtest.DSN(t)
			return func(t *testing.T, opts store.Options) store.Store { return open(t, dsn, opts) }
		},
		SetPruneBatchSize: postgres.SetPruneBatchSize,
		SchemaVersion:     11,
	}
}

func TestStoreSuite(t *testing.T) { storetest.Run(t, backend()) }
