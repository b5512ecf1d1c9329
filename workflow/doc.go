// Package workflow holds the workflows built on whole runs: Compare (the
// same scenario once per balancing strategy or per proxy, side by side),
// FindCapacity (the highest open-loop rate meeting every requirement) and
// Scale (capacity per backend count and the Universal Scalability Law fit).
// Each run goes through run.Execute, or with Simulate sim.Run on a
// virtual clock; what the workflows add is the choice of runs and the
// comparison of their results.
package workflow

import "github.com/ilities/ilities/scenario"

// clone copies the parts of a scenario that the workflows change (the
// proxy, the pools and their backends, the workloads and the faults), so
// that variants never share them.
func clone(sc *scenario.Scenario) *scenario.Scenario {
	c := *sc
	if sc.SUT != nil {
		s := *sc.SUT
		s.Pools = append([]scenario.Pool(nil), sc.SUT.Pools...)
		for i := range s.Pools {
			s.Pools[i].Backends = append([]scenario.Backend(nil), s.Pools[i].Backends...)
		}
		c.SUT = &s
	}
	c.Workload = append([]scenario.Workload(nil), sc.Workload...)
	for i := range c.Workload {
		c.Workload[i].Stages = append([]scenario.Stage(nil), c.Workload[i].Stages...)
	}
	c.Faults = append([]scenario.Fault(nil), sc.Faults...)
	c.Requirements = append([]scenario.Requirement(nil), sc.Requirements...)
	return &c
}
