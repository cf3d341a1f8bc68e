package hub

// For the external tests (package hub_test).
var (
	NewPullClient = newPullClient
	Pull          = pull
	WaitClosed    = waitClosed
)
