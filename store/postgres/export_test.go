package postgres

// Migrations are the embedded migration files, for tests that build an
// older schema by hand.
var Migrations = migrations

// SetPruneBatchSize sets how many events one prune transaction deletes,
// until the returned func restores it.
func SetPruneBatchSize(n int) (restore func()) {
	old := pruneBatchSize
	pruneBatchSize = n
	return func() { pruneBatchSize = old }
}

// PruneLock and PruneIdemLock are the advisory lock keys retention runs
// under, so a test can play the node that holds them.
const (
	PruneLock     = pruneLock
	PruneIdemLock = pruneIdemLock
)
