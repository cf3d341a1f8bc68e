package sqlite

import (
	"testing"

	"github.com/posd/posd/internal/report"
	"github.com/posd/posd/store"
	"github.com/posd/posd/store/storetest"
)

// HistoryTimes reads s's status history, one row per order.
func HistoryTimes(t *testing.T, s store.Store) []report.OrderTimes {
	t.Helper()
	rows, err := s.(*Store).rdb.Query(storetest.HistoryPivot)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []report.OrderTimes
	for rows.Next() {
		var o report.OrderTimes
		if err := rows.Scan(&o.TenantID, &o.Created, &o.Preparing, &o.Ready, &o.Completed, &o.Cancelled); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// SetPruneBatchSize sets how many events one prune transaction deletes,
// until the returned func restores it.
func SetPruneBatchSize(n int) (restore func()) {
	old := pruneBatchSize
	pruneBatchSize = n
	return func() { pruneBatchSize = old }
}

// PruneCandidates is the query a prune batch reads its candidates with.
const PruneCandidates = pruneCandidates

// PruneFloors is the query a prune reads each room's keep-floor with.
const PruneFloors = pruneFloors
