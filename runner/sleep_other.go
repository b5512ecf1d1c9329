//go:build !linux

package runner

import "time"

// sleeper waits for short spans; outside Linux the runtime's own sleep is used.
type sleeper struct{}

func newSleeper() *sleeper { return &sleeper{} }

func (s *sleeper) sleep(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

func (s *sleeper) close() {}
