//go:build unix

package edge

import "syscall"

// FDLimit is the process's descriptor limit (Go raises the soft limit to
// the hard one at start).
func FDLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 1 << 20
	}
	return int(r.Cur)
}
