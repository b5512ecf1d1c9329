package sim

import (
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
	"github.com/ilities/ilities/sut/proxy"
)

// The health of each replica's upstreams follows the live proxy's rules
// (sut/health) on the virtual clock: active checks are requests of their
// own to the stations, one chain of calendar events per upstream and
// replica; passive ejection counts the exchanges the requests make, and
// ends at its time with an event; slow start's weight advances on the live
// proxy's maintenance period while it runs. Every change of availability
// reaches the policy (balancer.Upstream.SetHealthy) at once and is a
// HealthEvent of the replica, which detection times read.

// Why an active check failed, as the live proxy's HTTP client words it.
const (
	checkRefused = "connection refused"
	checkReset   = "connection reset by peer"
	checkTimeout = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
)

// upstreamID names upstream i of replica r in an event.
func (s *sim) upstreamID(r *replica, i int32) int32 { return r.index*int32(len(s.stations)) + i }

// upstreamOf is the replica and upstream an event names.
func (s *sim) upstreamOf(id int32) (*replica, int32) {
	n := int32(len(s.stations))
	return s.replicas[id/n], id % n
}

// changeHealth applies change to upstream i's health of replica r and
// publishes the availability it reports, when that changed: to the
// policy, the counters, slow start and the replica's events.
func (s *sim) changeHealth(r *replica, i int32, change func(h *health.Upstream, now time.Time) (health.Change, bool)) {
	u := &r.ups[i]
	now := wall(s.cal.now)
	c, changed := change(u.health, now)
	if !changed {
		return
	}
	u.node.SetHealthy(c.Available)
	u.counts.healthChanges++
	if c.Available {
		if scale, ok := u.health.WeightScale(now); ok {
			u.node.SetWeightScale(scale)
			if !u.slowTicking {
				u.slowTicking = true
				s.cal.after(slowStartTickEvery, event{slowStartTick, s.upstreamID(r, i)})
			}
		}
	}
	r.events = append(r.events, proxy.HealthEvent{At: now, Pool: s.specs[max(u.pool, 0)].name, Upstream: u.node.Name, Healthy: c.Available, Reason: c.Reason})
}

// slowStartTick advances a slow start's weight, as the live proxy's
// maintenance does every 25 ms, until it is over.
func (s *sim) slowStartTick(id int32) {
	r, i := s.upstreamOf(id)
	u := &r.ups[i]
	if r.down || u.pool < 0 {
		u.slowTicking = false
		return
	}
	scale, ok := u.health.WeightScale(wall(s.cal.now))
	if !ok {
		u.slowTicking = false
		return
	}
	u.node.SetWeightScale(scale)
	if scale >= 1000 {
		u.slowTicking = false
		return
	}
	s.cal.after(slowStartTickEvery, event{slowStartTick, id})
}

// passiveResult feeds outlier ejection with the result of one exchange
// with upstream i; an ejection ends at its time (ejectionEnd).
func (s *sim) passiveResult(r *replica, i int32, failed bool) {
	u := &r.ups[i]
	failures, eject := u.health.Exchange(failed)
	if !eject || u.pool < 0 { // (an exchange that outlasted its upstream's drain)
		return
	}
	view := health.Pool{Members: len(r.pools[u.pool].members)}
	for _, m := range r.pools[u.pool].members {
		if r.ups[r.stationOf(m)].health.Ejected() {
			view.Ejected++
		}
	}
	ejected := false
	s.changeHealth(r, i, func(h *health.Upstream, now time.Time) (c health.Change, changed bool) {
		ejected, c, changed = h.Eject(failures, view, now)
		return c, changed
	})
	if ejected {
		u.counts.ejections++
		s.cal.at(u.health.EjectedUntil().Sub(epoch).Nanoseconds(), event{ejectionEnd, s.upstreamID(r, i)})
	}
}

// ejectionEnd ends an upstream's ejection once its time is up.
func (s *sim) ejectionEnd(id int32) {
	r, i := s.upstreamOf(id)
	if !r.down && r.ups[i].health.Ejected() {
		s.changeHealth(r, i, (*health.Upstream).Expire)
	}
}

// startChecks begins upstream i's active checks on replica r, the first
// at the live proxy's offset within the interval (spread by the
// upstream's name).
func (s *sim) startChecks(r *replica, i int32) {
	hc := r.p.cfg.Health
	if hc.Interval <= 0 {
		return
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(r.ups[i].node.Name))
	s.scheduleCheck(r, i, time.Duration(h.Sum32())%hc.Interval)
}

// scheduleCheck has upstream i's next check come d from now.
func (s *sim) scheduleCheck(r *replica, i int32, d time.Duration) {
	u := &r.ups[i]
	u.nextCheck = s.cal.now + int64(d)
	s.cal.at(u.nextCheck, event{healthCheck, s.upstreamID(r, i)})
}

// healthCheck sends an upstream's active check to its station: a request
// of its own, which the station serves like any other (GET on the
// health path). An event of a chain that ended (the replica restarted,
// the upstream left) does nothing.
func (s *sim) healthCheck(id int32) {
	r, i := s.upstreamOf(id)
	u := &r.ups[i]
	if r.down || u.pool < 0 || u.nextCheck != s.cal.now || s.over() {
		return
	}
	cid := s.fs.take()
	f := &s.fs.all[cid]
	f.check, f.workload, f.request, f.replica = true, -1, -1, r.index
	f.station, f.visit, f.forwarded = i, 1, s.cal.now
	s.exchangeEvent(cid, checkExpired, r.p.cfg.Health.Timeout)
	s.exchangeEvent(cid, atStation, s.net)
}

// checkAnswered counts a check's answer: a status from 200 to 399
// passes. The station's load reaches the policy that learns, as the live
// proxy's check reads it.
func (s *sim) checkAnswered(id int32, f *flight) {
	switch {
	case f.fail == failConnect:
		s.checkDone(id, f, false, checkRefused)
	case f.fail == failReset:
		s.checkDone(id, f, false, checkReset)
	default:
		r := s.replicas[f.replica]
		u := &r.ups[f.station]
		u.load.Inflight, u.load.Workers, u.load.Queue = int(f.loadInflight), s.stations[f.station].workers, int(f.loadQueue)
		u.heard = true
		if o := r.pools[u.pool].observer; o != nil {
			// The report reaches the policy even while no traffic flows.
			o.Observe(&u.node, balancer.Observation{At: wall(s.cal.now), Load: &u.load})
		}
		ok := f.status >= 200 && f.status <= 399
		why := ""
		if !ok {
			why = "status " + strconv.Itoa(int(f.status)) + " " + http.StatusText(int(f.status))
		}
		s.checkDone(id, f, ok, why)
	}
}

// checkTimedOut fails a check its station did not answer in time.
func (s *sim) checkTimedOut(e int32) {
	id, current := s.exchangeOf(e)
	if f := &s.fs.all[id]; current && !f.proxyDone {
		f.exchangeOver = true
		s.giveUp(f)
		s.checkDone(id, f, false, checkTimeout)
	}
	s.fs.release(id)
}

// checkDone applies a check's result to its upstream's health and has
// the next come an interval later, as the live proxy's timer does.
func (s *sim) checkDone(id int32, f *flight, ok bool, why string) {
	f.proxyDone, f.exchangeOver = true, true
	r := s.replicas[f.replica]
	i := f.station
	if !ok {
		r.ups[i].counts.activeCheckFailures++
	}
	s.changeHealth(r, i, func(h *health.Upstream, now time.Time) (health.Change, bool) {
		return h.Check(ok, why, now)
	})
	s.scheduleCheck(r, i, r.p.cfg.Health.Interval)
	s.fs.release(id) // the check's own hold
}

// over reports whether the run is over, past its duration with no request
// left in flight or to come (an open loop's waiting arrivals, a closed
// loop's users until their spans end): the proxy's background work
// (checks, a flap) stops then, as the live timeline stops with the run.
func (s *sim) over() bool {
	if s.cal.now < int64(s.duration) {
		return false
	}
	for _, w := range s.workloads {
		if w.inflight > 0 || w.waiting.len() > 0 || w.activeUsers > 0 {
			return false
		}
	}
	return true
}
