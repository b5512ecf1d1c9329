package sim

import (
	"errors"
	"fmt"
	"net/http"
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
	station int32 // the node's station; -1 for a proxy replica's
	replica int   // crash-proxy's replica
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
}

// planFaults lays out the timeline: each fault's station (a backend that
// add-backend starts has one from the start, idle until then) and its
// event.
func (s *sim) planFaults(sc *scenario.Scenario, stationOf map[string]int32) error {
	for i, f := range sc.Faults {
		fr := faultRun{spec: f, station: -1}
		switch f.Kind {
		case "crash-proxy":
			r, err := sut.ReplicaIndex(f.Node)
			if err != nil {
				return err
			}
			fr.replica = r
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
		if st := s.stations[fr.station]; s.proxy.member[fr.station] >= 0 || s.proxy.specs[st.pool].tier && !st.closed {
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
		if fr.replica >= len(s.proxy.replicas) {
			return fmt.Errorf("sut: crash-proxy %s: no proxy replica %d (there are %d)", f.Node, fr.replica, len(s.proxy.replicas))
		}
		r := s.proxy.replicas[fr.replica]
		if r.down {
			return fmt.Errorf("sut: crash-proxy %s: proxy replica %d is already down", f.Node, fr.replica)
		}
		s.crashReplica(r)
	case "add-backend":
		s.addBackend(fr.station)
	case "remove-backend":
		s.removeBackend(fr, f.Drain.D())
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
	case "crash-proxy":
		r := s.proxy.replicas[fr.replica]
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
	if s.proxy.specs[pl].tier {
		return
	}
	s.proxy.member[st] = pl
	for _, r := range s.proxy.replicas {
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
	if s.proxy.specs[st.pool].tier {
		s.tierChanged(st.pool)
	} else {
		s.proxy.member[fr.station] = -1
		for _, r := range s.proxy.replicas {
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
	for _, r := range s.proxy.replicas {
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
	r.events = append(r.events, proxy.HealthEvent{At: wall(s.cal.now), Pool: s.proxy.specs[u.pool].name, Upstream: u.node.Name, Reason: health.ReasonRemoved})
	u.pool = -1
}

// faultResults is result.json's faults[], as a live run computes it,
// from the timeline's records and the replicas' health events; runEnd is
// the measured length of the run.
func (s *sim) faultResults(runEnd time.Duration) []report.Fault {
	var fired []run.FiredFault
	for i := range s.faults {
		fr := &s.faults[i]
		if !fr.fired {
			continue
		}
		if !fr.ended {
			fr.readTraffic(s)
		}
		fired = append(fired, run.FiredFault{
			Fault: fr.spec, At: time.Duration(fr.at), End: time.Duration(fr.end), Ended: fr.ended, Err: fr.err,
			LastForward: time.Duration(fr.lastForward), Watched: fr.watched,
		})
	}
	events := make([][]sut.HealthEvent, len(s.proxy.replicas))
	for i, r := range s.proxy.replicas {
		events[i] = r.events
	}
	return run.FaultResults(fired, epoch, runEnd, events)
}
