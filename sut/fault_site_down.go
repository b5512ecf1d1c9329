package sut

import (
	"errors"

	"github.com/ilities/ilities/scenario"
)

// site-down: the whole site goes down at once, as a lost data centre or
// its network: every proxy replica stops (clients' connections are
// refused) and every backend crashes, tiers too. Lifted, what it took down
// restarts: the backends (after their start-up delay), then the replicas
// with fresh state. A topology is one site; the DNS in front of several
// is the run's.
func init() {
	registerFault("site-down", func(t *Topology, _ scenario.Fault) (Lift, error) {
		var crashed []*node
		for _, n := range t.snapshot() {
			if !t.isRemoved(n) && !n.backend.Down() {
				n.backend.Crash()
				crashed = append(crashed, n)
			}
		}
		var stopped []int
		for i := range t.replicas {
			if t.CrashProxy(i) == nil {
				stopped = append(stopped, i)
			}
		}
		return func() error {
			var errs []error
			for _, n := range crashed {
				errs = append(errs, n.backend.Restart())
			}
			for _, i := range stopped {
				errs = append(errs, t.RestartProxy(i))
			}
			return errors.Join(errs...)
		}, nil
	})
}
