//go:build unix

package scenario

import (
	"syscall"
	"time"
)

// cpuTime is the processor time this process has used so far: a cost that a
// busy host does not stretch, unlike the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
