package run

import (
	"math"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// attachTiers puts the per-tier figures into the result from the nodes'
// counters at the end of the run (report.AttachTiers).
func attachTiers(res *report.Result, s *scenario.SUT, nodes []sut.NodeStats) {
	report.AttachTiers(res, s, tierCounters(nodes))
}

// tierCounters are the nodes' counters as the per-tier figures read them.
func tierCounters(nodes []sut.NodeStats) []report.TierNodeCounters {
	out := make([]report.TierNodeCounters, len(nodes))
	for i, n := range nodes {
		out[i] = report.TierNodeCounters{
			Name: n.Name, Pool: n.Pool, Workers: n.Workers, Utilisation: n.Utilisation,
			Served: n.Served, QueueSeconds: n.QueueSeconds, ServiceSeconds: n.ServiceSeconds, CallSeconds: n.CallSeconds,
			Hits: n.Hits, Misses: n.Misses,
			Reads: n.Reads, Writes: n.Writes, WritesFailed: n.WritesFailed, Primary: n.Primary, Promotions: n.Promotions,
			Failures: n.FailedBy,
		}
	}
	return out
}

// callWakeups is how many more times a request through the proxy waits for
// a CPU inside the built-in SUT for each call between tiers it causes: the
// called backend's handler, the end of its service, and its caller reading
// the answer.
const callWakeups = 3

// tierWakeups are the waits for a CPU that the calls between tiers add to a
// request through the proxy (Apparatus.SUTWakeups): callWakeups for each
// call it causes on average, by the routed pool that causes the most.
func tierWakeups(s *scenario.SUT) int {
	if s == nil {
		return 0
	}
	most := 0.0
	for _, p := range s.Routed() {
		most = max(most, s.ExpectedCalls(p.Name))
	}
	return callWakeups * int(math.Ceil(most))
}
