package sim

import (
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/sut/proxy"
)

// readProxy reads the replicas' statistics at the end of each window
// before second t, as the live run's sampler reads them once a second:
// windows[].proxy, each window the difference of two readings (the same
// code: run.ProxyTotals, run.ProxyWindow).
func (s *sim) readProxy(t int) {
	for len(s.proxyWindows) < t {
		if s.proxyCounts == nil {
			s.proxyCounts = map[string]report.ProxyWindow{}
		}
		s.proxyWindows = append(s.proxyWindows, run.ProxyWindow(s.proxyCounts, run.ProxyTotals(s.replicaStats())))
	}
}

// replicaStats is each replica's statistics as the live proxy's Stats
// gives them: its members, pool by pool, with their counters and gauges.
func (s *sim) replicaStats() []proxy.Stats {
	out := make([]proxy.Stats, len(s.replicas))
	for i, r := range s.replicas {
		for pi := range r.pools {
			for _, m := range r.pools[pi].members {
				u := &r.ups[r.stationOf(m)]
				c := &u.counts
				out[i].Upstreams = append(out[i].Upstreams, proxy.UpstreamStats{
					Pool:                s.specs[pi].name,
					Name:                m.Name,
					Weight:              max(m.Weight, 1),
					EffectiveWeight:     float64(max(m.Weight, 1)) * float64(m.WeightScale()) / 1000,
					Healthy:             m.Healthy(),
					Ejected:             u.health.Ejected(),
					ActiveDown:          u.health.ActiveDown(),
					Draining:            u.health.Draining(),
					Inflight:            m.Inflight(),
					Queued:              m.Queued(),
					Requests:            c.requests,
					Responses:           c.responses,
					Failures:            c.connectFailures + c.resets + c.timeouts,
					ConnectFailures:     c.connectFailures,
					Resets:              c.resets,
					Timeouts:            c.timeouts,
					Status5xx:           c.status5xx,
					RejectedFull:        c.rejectedFull,
					RejectedTimeout:     c.rejectedTimeout,
					RetriedAway:         c.retriedAway,
					HealthChanges:       c.healthChanges,
					Ejections:           c.ejections,
					ActiveCheckFailures: c.activeCheckFailures,
					LatencyEWMAMillis:   float64(u.latency) / 1e6,
				})
			}
		}
	}
	return out
}
