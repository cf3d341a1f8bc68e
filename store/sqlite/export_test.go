package sqlite

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
