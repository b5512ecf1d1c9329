//go:build unix

package runner

import "syscall"

// RaiseOpenFileLimit raises the soft limit on open files (RLIMIT_NOFILE)
// to the hard limit, since every connection is a file and a run may hold
// tens of thousands, and returns the limit now in force. The Go runtime
// usually did this already; doing it here makes it certain and reportable.
func RaiseOpenFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return uint64(lim.Cur), err
		}
		lim = raised
	}
	return uint64(lim.Cur), nil
}

// OpenFileLimit is the soft limit on open files in force (0 if unknown).
func OpenFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur)
}
