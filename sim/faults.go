package sim

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/health"
	"github.com/ilities/ilities/sut/proxy"
)

// The fault timeline: each of the scenario's faults takes effect at its
// planned virtual time and is lifted after its for:, acting on a station
// or a proxy replica as the live fault acts on the backend or the proxy
// (sut/fault_*.go, docs/faults.md). What became of each is recorded as a
// live run records it, and result.json's faults[] comes from the same code
// (run.FaultResults): fired and lifted at their exact times here.

// faultRun is one fault of the timeline and what became of it.
type faultRun struct {
	spec    scenario.Fault
	site    int32 // the site it acts on
	station int32 // the node's station; -1 for a proxy replica's or a site's
	replica int   // crash-proxy's replica, among its site's
	fired   bool
	ended   bool
	at, end int64
	err     error
	// lastForward is when a proxy last sent the node a request while the
	// fault was on, read when it was lifted (or the run ended).
	lastForward int64
	watched     bool
	flapping    bool  // a flap's toggles run
	drainBy     int64 // remove-backend: when the drain ends at the latest
	// site-down: what it took down, restarted when it is lifted, and what
	// the DNS failover cost (sites.go).
	down     []int32
	stopped  []*replica
	failover siteFailover
}

// planFaults lays out the timeline: each fault's station (a backend that
// add-backend starts has one from the start, idle until then) and its
// event.
func (s *sim) planFaults(sc *scenario.Scenario, stationOf map[string]int32) error {
	for i, f := range sc.Faults {
		fr := faultRun{spec: f, site: int32(max(sc.SiteOfFault(f), 0)), station: -1}
		switch f.Kind {
		case "crash-proxy":
			r, err := sut.ReplicaIndex(f.Node)
			if err != nil {
				return err
			}
			fr.replica = r
		case "site-down":
		default:
			st, ok := stationOf[f.Node]
			if !ok {
				return fmt.Errorf("sim: fault %d: no backend %q", i, f.Node)
			}
			fr.station = st
		}
		s.faults = append(s.faults, fr)
		s.cal.at(int64(f.At.D()), event{faultFire, int32(i)})
	}
	return nil
}

// fireFault applies fault i now, and has it lifted after its for:.
func (s *sim) fireFault(i int32) {
	fr := &s.faults[i]
	f := fr.spec
	fr.fired, fr.at = true, s.cal.now
	fr.err = s.applyFault(fr)
	if fr.station >= 0 {
		s.databaseSees(fr.station)
		// A tier's node is watched by the calls its callers send it.
		if st := s.stations[fr.station]; s.proxies[st.site].member[fr.station] >= 0 || s.specs[st.pool].tier && !st.closed {
			fr.watched, fr.lastForward = true, s.cal.now
		}
	}
	if fr.err == nil && f.For > 0 && !f.IsTopologyEvent() {
		s.cal.at(int64(f.At.D()+f.For.D()), event{faultLift, i})
	}
}

// applyFault acts as the live fault kind does.
func (s *sim) applyFault(fr *faultRun) error {
	f := fr.spec
	var st *station
	if fr.station >= 0 {
		st = s.stations[fr.station]
	}
	switch f.Kind {
	case "crash":
		s.crash(st)
	case "hang":
		st.faults.Hang = true
	case "slow":
		st.faults.Slow = f.Latency
	case "errors":
		st.faults.ErrorRate, st.faults.ErrorStatus = f.Percent.Fraction(), f.Status
		if st.faults.ErrorStatus == 0 {
			st.faults.ErrorStatus = http.StatusInternalServerError
		}
	case "reset":
		st.faults.ResetRate = f.Percent.Fraction()
	case "truncate":
		st.faults.TruncateRate = f.Percent.Fraction()
	case "degrade":
		st.faults.Workers = f.Workers
	case "flap":
		s.crash(st)
		fr.flapping = true
		s.cal.after(f.Period.D()/2, event{flapToggle, s.faultIndex(fr)})
	case "crash-proxy":
		p := s.proxies[fr.site]
		if fr.replica >= len(p.replicas) {
			return fmt.Errorf("sut: crash-proxy %s: no proxy replica %d (there are %d)", f.Node, fr.replica, len(p.replicas))
		}
		r := p.replicas[fr.replica]
		if r.down {
			return fmt.Errorf("sut: crash-proxy %s: proxy replica %d is already down", f.Node, fr.replica)
		}
		s.crashReplica(r)
	case "add-backend":
		s.addBackend(fr.station)
	case "remove-backend":
		s.removeBackend(fr, f.Drain.D())
	case "site-down":
		s.siteDown(fr)
	default:
		return fmt.Errorf("sim: unknown fault kind %q", f.Kind)
	}
	return nil
}

// faultIndex is fr's index in the timeline.
func (s *sim) faultIndex(fr *faultRun) int32 {
	for i := range s.faults {
		if &s.faults[i] == fr {
			return int32(i)
		}
	}
	return -1
}

// liftFault lifts fault i, as the live fault's Lift does.
func (s *sim) liftFault(i int32) {
	fr := &s.faults[i]
	var st *station
	if fr.station >= 0 {
		st = s.stations[fr.station]
	}
	var err error
	switch fr.spec.Kind {
	case "crash":
		if !st.restart(s.cal.now) {
			err = fmt.Errorf("backend %s: not crashed", st.name)
		}
	case "hang":
		s.liftHang(st)
	case "slow":
		st.faults.Slow = nil
	case "errors":
		st.faults.ErrorRate = 0
	case "reset":
		st.faults.ResetRate = 0
	case "truncate":
		st.faults.TruncateRate = 0
	case "degrade":
		st.faults.Workers = 0
		s.fill(st)
	case "flap":
		fr.flapping = false
		st.restart(s.cal.now)
	case "site-down":
		err = s.siteUp(fr)
	case "crash-proxy":
		r := s.proxies[fr.site].replicas[fr.replica]
		if !r.down {
			err = errors.New("proxy replica is running")
		} else {
			err = s.startReplica(r)
		}
	}
	if fr.station >= 0 {
		s.databaseSees(fr.station)
	}
	fr.ended, fr.end = true, s.cal.now
	fr.readTraffic(s)
	if err != nil && fr.err == nil {
		fr.err = err
	}
}

// flapToggle crashes a flapping station that runs, or restarts one that
// is down, half a period after the last toggle.
func (s *sim) flapToggle(i int32) {
	fr := &s.faults[i]
	if !fr.flapping || s.over() {
		return
	}
	if st := s.stations[fr.station]; st.down {
		st.restart(s.cal.now)
	} else {
		s.crash(st)
	}
	s.databaseSees(fr.station)
	s.cal.after(fr.spec.Period.D()/2, event{flapToggle, i})
}

// readTraffic reads when a proxy last sent the fault's node a request,
// as the live timeline's watch does while the fault is on.
func (fr *faultRun) readTraffic(s *sim) {
	if fr.watched {
		fr.lastForward = max(fr.at, s.stations[fr.station].lastForward)
	}
}

// addBackend starts station st (with its start-up delay) and has it join
// its pool on every replica that runs; a replica restarting later has it
// too. A tier's joins its callers' choices instead (fireFault).
func (s *sim) addBackend(st int32) {
	pl := s.stations[st].pool
	s.stations[st].closed = false
	s.stations[st].readyAt = s.cal.now + int64(s.stations[st].startup)
	s.stations[st].since = s.cal.now
	if s.specs[pl].tier {
		return
	}
	p := s.proxies[s.stations[st].site]
	p.member[st] = pl
	for _, r := range p.replicas {
		if !r.down {
			s.join(r, st, pl, health.ReasonAdded)
		}
	}
}

// drainPollEvery is how often a replica removing a backend looks whether
// its requests there have finished, as the live proxy does.
const drainPollEvery = 5 * time.Millisecond

// removeBackend takes the fault's station out of every running replica's
// choices at once (a tier's: out of its callers'); drainPoll removes it
// once its requests have finished, or the drain is over.
func (s *sim) removeBackend(fr *faultRun, drain time.Duration) {
	st := s.stations[fr.station]
	st.leaving = true
	if s.specs[st.pool].tier {
		s.tierChanged(st.pool)
	} else {
		p := s.proxies[st.site]
		p.member[fr.station] = -1
		for _, r := range p.replicas {
			if !r.down {
				s.changeHealth(r, fr.station, (*health.Upstream).Drain)
			}
		}
	}
	fr.drainBy = s.cal.now + int64(drain)
	s.drainPoll(s.faultIndex(fr))
}

// drainPoll removes the station from each replica whose requests there
// have finished (or whose drain is over); once every replica has, the
// backend stops.
func (s *sim) drainPoll(i int32) {
	fr := &s.faults[i]
	st := fr.station
	draining := false
	for _, r := range s.proxies[fr.site].replicas {
		u := &r.ups[st]
		if r.down || u.pool < 0 {
			continue
		}
		if u.node.Inflight() > 0 && s.cal.now < fr.drainBy {
			draining = true
			continue
		}
		s.leavePool(r, st)
	}
	if s.callsAt(st) > 0 && s.cal.now < fr.drainBy {
		draining = true
	}
	if draining {
		s.cal.after(drainPollEvery, event{drainPoll, i})
		return
	}
	s.crash(s.stations[st]) // it stops: what it still holds is reset
	s.stations[st].closed = true
	s.databaseSees(st)
}

// leavePool takes station st out of replica r's pool, for good.
func (s *sim) leavePool(r *replica, st int32) {
	u := &r.ups[st]
	pl := &r.pools[u.pool]
	kept := pl.members[:0:0]
	for _, m := range pl.members {
		if m != &u.node {
			kept = append(kept, m)
		}
	}
	pl.members = kept
	r.events = append(r.events, proxy.HealthEvent{At: wall(s.cal.now), Pool: s.specs[u.pool].name, Upstream: u.node.Name, Reason: health.ReasonRemoved})
	u.pool = -1
}

// faultResults is result.json's faults[], as a live run computes it,
// from the timeline's records and the replicas' health events (each
// site's faults from its own replicas': a node is watched by its site's
// proxy alone); runEnd is the measured length of the run. A site-down
// fault's detection is the DNS balancer's, with its failover (sites.go).
func (s *sim) faultResults(runEnd time.Duration) []report.Fault {
	var out []report.Fault
	for site, p := range s.proxies {
		var fired []run.FiredFault
		var runs []*faultRun
		for i := range s.faults {
			fr := &s.faults[i]
			if !fr.fired || fr.site != int32(site) {
				continue
			}
			if !fr.ended {
				fr.readTraffic(s)
			}
			fired = append(fired, run.FiredFault{
				Fault: fr.spec, At: time.Duration(fr.at), End: time.Duration(fr.end), Ended: fr.ended, Err: fr.err,
				LastForward: time.Duration(fr.lastForward), Watched: fr.watched,
			})
			runs = append(runs, fr)
		}
		events := make([][]sut.HealthEvent, len(p.replicas))
		for i, r := range p.replicas {
			events[i] = r.events
		}
		results := run.FaultResults(fired, epoch, runEnd, events)
		for _, fr := range runs {
			if fr.spec.Kind == "site-down" {
				s.siteFaultResult(fr, results, runEnd)
			}
		}
		out = append(out, results...)
	}
	slices.SortStableFunc(out, func(a, b report.Fault) int { return cmp.Compare(a.AtS, b.AtS) })
	return out
}
