//go:build unix

package runner

import "syscall"

// readProcessUsage is this process's CPU time and context switches.
func readProcessUsage() processUsage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return processUsage{}
	}
	return processUsage{
		cpuS:        tvSeconds(ru.Utime) + tvSeconds(ru.Stime),
		voluntary:   int64(ru.Nvcsw),
		involuntary: int64(ru.Nivcsw),
	}
}
