package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/report"
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
		HistoryTimes: func(t *testing.T, s store.Store) []report.OrderTimes {
			rows, err := s.(*postgres.Store).Pool().Query(context.Background(), storetest.HistoryPivot)
			if err != nil {
				t.Fatal(err)
			}
			out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (report.OrderTimes, error) {
				var o report.OrderTimes
				err := r.Scan(&o.TenantID, &o.Created, &o.Preparing, &o.Ready, &o.Completed, &o.Cancelled)
				return o, err
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		},
	}
}

func TestStoreSuite(t *testing.T) { storetest.Run(t, backend()) }
