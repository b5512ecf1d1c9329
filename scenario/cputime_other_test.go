//go:build !unix

package scenario

import "time"

var processStart = time.Now()

// cpuTime falls back to the wall clock where the processor time is not at hand.
func cpuTime() time.Duration { return time.Since(processStart) }
