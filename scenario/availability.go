package scenario

import "fmt"

// Availability: the projection of the service's long-run availability and
// its single points of failure are read from the topology alone (package
// report: Project, SinglePointsOfFailure): each node's mtbf and mttr, how
// many backends each pool needs, the proxy's replicas.
//
//	sut:
//	  proxy: {replicas: 2, mtbf: 8760h, mttr: 5m}   # the replicas are a tier
//	  pools:
//	    - name: app
//	      needs: 2                  # two of its three backends carry the load
//	      backends:
//	        - {name: app-1, mtbf: 720h, mttr: 30m}
//	        - {name: app-2, mtbf: 720h, mttr: 30m}
//	        - {name: app-3, mtbf: 720h, mttr: 30m}
//
// A node's mttr wins over its time down in the run; without one, the run's
// faults measure it.

// NeedsUp is how many of the pool's backends must be up for it to serve
// its load: Needs, or one.
func (p *Pool) NeedsUp() int { return max(p.Needs, 1) }

// WhyNoProjection says why a run of the scenario can have no availability
// projection, or "" when it can: one needs the built-in SUT, a node with an
// mtbf (a backend's, or the proxy's replicas'), and a time to repair for it,
// declared (mttr) or measured by a fault on the timeline that takes a node
// down.
func (s *Scenario) WhyNoProjection() string {
	if s.HasSites() {
		return whyNoSitesFigure
	}
	if s.SUT == nil {
		return "the projection reads the built-in sut's topology; an external target has none"
	}
	failing, repaired := false, false
	note := func(mtbf, mttr Duration) {
		failing = failing || mtbf > 0
		repaired = repaired || mtbf > 0 && mttr > 0
	}
	note(s.SUT.Proxy.MTBF, s.SUT.Proxy.MTTR)
	for _, p := range s.SUT.Pools {
		for _, b := range p.Backends {
			note(b.MTBF, b.MTTR)
		}
	}
	for _, f := range s.Faults {
		if f.Kind == "add-backend" && f.Backend != nil {
			note(f.Backend.MTBF, f.Backend.MTTR)
		}
		repaired = repaired || !f.IsTopologyEvent()
	}
	switch {
	case !failing:
		return "no node declares mtbf: (a backend's, or sut.proxy.mtbf for the proxy's replicas)"
	case !repaired:
		return "no node with mtbf: declares mttr:, and no fault on the timeline takes a node down to measure one"
	}
	return ""
}

// whyNoSitesFigure is why a scenario with sites has no projection and no
// single points of failure.
const whyNoSitesFigure = "with sites:, the sites back each other up through DNS, whose failover the run measures instead (failover_time, requests_lost)"

// availability checks what the projection reads: an mttr goes with an
// mtbf, and a pool needs no more backends than it has.
func (v *validator) availability(s *Scenario) {
	if s.SUT == nil && !s.HasSites() {
		return
	}
	if s.SUT != nil {
		v.topologyAvailability(s.SUT)
	}
	for i, f := range s.Faults {
		if f.Kind == "add-backend" && f.Backend != nil {
			v.repairNeedsFailure(fmt.Sprintf("faults[%d].backend", i), f.Backend.MTBF, f.Backend.MTTR)
		}
	}
}

// topologyAvailability checks one topology's mtbf, mttr and needs.
func (v *validator) topologyAvailability(sut *SUT) {
	v.repairNeedsFailure("sut.proxy", sut.Proxy.MTBF, sut.Proxy.MTTR)
	for i, p := range sut.Pools {
		path := fmt.Sprintf("sut.pools[%d]", i)
		switch {
		case p.Needs < 0:
			v.addf(path+".needs", "needs must be 0 (one backend) or more, got %d", p.Needs)
		case p.Needs > len(p.Backends) && len(p.Backends) > 0:
			v.addf(path+".needs", "pool %q needs %d backends up but has %d", p.Name, p.Needs, len(p.Backends))
		}
		for j, b := range p.Backends {
			v.repairNeedsFailure(fmt.Sprintf("%s.backends[%d]", path, j), b.MTBF, b.MTTR)
		}
	}
}

// repairNeedsFailure reports an mttr without an mtbf beside it.
func (v *validator) repairNeedsFailure(path string, mtbf, mttr Duration) {
	if mttr > 0 && mtbf == 0 {
		v.addf(path+".mttr", "mttr: %s needs mtbf: beside it: the projection uses a time to repair for a node that fails", mttr)
	}
}

// topologyRequirement checks a requirement on a figure of the topology
// (single_points_of_failure, projected_availability): it covers the whole
// system, and a scenario that cannot have the figure is refused here rather
// than failing after a run.
func (v *validator) topologyRequirement(path string, s *Scenario, r Requirement) {
	if r.Metric != "single_points_of_failure" && r.Metric != "projected_availability" {
		return
	}
	if r.Scope != "" {
		v.addf(path, "%s is a figure of the whole system, not of a workload or request: remove \"for %s\"", r.Metric, r.Scope)
	}
	switch {
	case s.HasSites():
		v.addf(path, "%s reads one topology, and this scenario has several: %s", r.Metric, whyNoSitesFigure)
	case s.SUT == nil:
		v.addf(path, "%s reads the built-in sut's topology; an external target has none", r.Metric)
	case r.Metric == "projected_availability":
		if why := s.WhyNoProjection(); why != "" {
			v.addf(path, "projected_availability needs an availability projection, and this scenario can have none: %s", why)
		}
	}
}
