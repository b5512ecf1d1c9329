//go:build !linux

package runner

import "time"

// preciseSleep waits for d; outside Linux the runtime's own sleep is used.
func preciseSleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}
