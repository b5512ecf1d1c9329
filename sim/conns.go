package sim

import (
	"time"

	"github.com/ilities/ilities/scenario"
)

// target is one proxy replica as a workload's client sees it (runner's
// target): its own connections, and until when the client passes it over
// after it refused one.
type target struct {
	conns     conns
	downUntil int64
}

// conns are a workload's connections to one proxy replica as the live
// client keeps them (runner's lean pool and event loop alike): at most max
// open, an idle one reused when they are kept alive, and a request that
// finds none free waiting, in order, for the next one freed. It waits
// holding its in-flight slot, its timeout running from its send: the wait
// is part of its latency, never of its send lag, and it ends as a timeout
// if no connection comes in time. A connection closes after its request
// when they are not kept alive, and after a timeout (the client gives up
// on it) or a broken answer; without keep-alive, each request pays a
// connection's set-up, a round trip, before it leaves.
type conns struct {
	max, open, idle int
	keepAlive       bool
	waiting         ring[flightRef]
}

// newTargets are the client's view of each of the run's proxy replicas
// (every site's) for workload spec: max_connections each, or by default
// one per request it may have in flight (max_inflight, or its peak users),
// as the runner sizes each target's pool.
func newTargets(spec scenario.Workload, sc *scenario.Scenario, replicas int) []target {
	n := spec.Client.MaxConnections
	if n <= 0 {
		n = max(spec.Concurrency(sc.Duration.D()), 1)
	}
	targets := make([]target, replicas)
	for i := range targets {
		targets[i].conns = conns{max: n, keepAlive: spec.Client.KeepsAlive()}
	}
	return targets
}

// pickTarget is the replica w's client sends a request to on turn k,
// among the n replicas of one site from first on (the addresses its DNS
// answer holds): the k-th of those it does not pass over (round the list),
// so that requests spread evenly over the replicas that are up; the k-th
// of all when none is.
func (w *workload) pickTarget(first, n int32, k int, now int64) int32 {
	if n == 1 {
		return first
	}
	targets := w.targets[first : first+n]
	up := 0
	for i := range targets {
		if now >= targets[i].downUntil {
			up++
		}
	}
	if up == 0 {
		return first + int32(k%int(n))
	}
	k %= up
	for i := range targets {
		if now >= targets[i].downUntil {
			if k == 0 {
				return first + int32(i)
			}
			k--
		}
	}
	return first
}

// failoverHold is how long the client passes over a replica that refused
// a connection (runner's failoverHold).
const failoverHold = time.Second

// refused is flight id's connection refused by its replica (a crashed
// one): the client closes it, passes the replica over for a second, and
// once the refusal is back (a hop) tries the next replica of the site it
// does not pass over; having tried every one, it records the refusal.
func (s *sim) refused(id int32, f *flight) {
	if f.clientDone {
		return // it timed out on the way, its connection closed then
	}
	w := s.workloads[f.workload]
	w.targets[f.replica].downUntil = s.cal.now + int64(failoverHold)
	s.hangUp(w, f.replica, false)
	f.connected = false
	f.replicasTried++
	p := s.replicas[f.replica].p
	first, n := p.first, int32(len(p.replicas))
	if f.replicasTried >= n {
		f.proxyDone, f.class = true, classRefused
		s.hop(id, clientAnswer)
		return
	}
	next := first + (f.replica-first+1)%n
	for i := int32(0); i < n-1 && s.cal.now < w.targets[next].downUntil; i++ {
		next = first + (next-first+1)%n
	}
	f.replica = next
	s.hop(id, failover)
}

// failover puts flight id, refused by a replica, on a connection to the
// next, unless its client gave up on it meanwhile.
func (s *sim) failover(id int32) {
	if f := &s.fs.all[id]; !f.clientDone {
		s.connect(s.workloads[f.workload], id)
	}
	s.fs.release(id)
}

// connect puts flight id on a connection of w to its replica: an idle one
// at once, a new one after its set-up, or the queue for the next one
// freed.
func (s *sim) connect(w *workload, id int32) {
	c := &w.targets[s.fs.all[id].replica].conns
	switch {
	case c.idle > 0:
		c.idle--
		s.fs.all[id].connected = true
		s.hop(id, atProxy)
	case c.open < c.max:
		c.open++
		s.dial(c, id)
	default:
		c.waiting.push(s.fs.ref(id))
	}
}

// dial opens a connection of c for flight id. Without keep-alive the
// request waits for its set-up (the client's SYN, the proxy's SYN-ACK)
// before its own hop; a kept-alive connection is taken as open already,
// its one set-up lost among the many requests it carries.
func (s *sim) dial(c *conns, id int32) {
	s.fs.all[id].connected = true
	if c.keepAlive {
		s.hop(id, atProxy)
		return
	}
	s.schedule(id, atProxy, 3*(s.net+time.Duration(s.fs.all[id].path)))
}

// hangUp frees a connection of w to replica r after its request: kept
// alive and reusable (answered whole), it goes to the oldest request
// still waiting, or idles; otherwise it is closed, and the oldest request
// waiting gets a new one. Requests that timed out while waiting are
// passed over.
func (s *sim) hangUp(w *workload, r int32, reusable bool) {
	c := &w.targets[r].conns
	reuse := reusable && c.keepAlive
	if !reuse {
		c.open--
	}
	for c.waiting.len() > 0 {
		ref := c.waiting.pop()
		if f := s.fs.live(ref); f == nil || f.clientDone {
			continue
		}
		if reuse {
			s.fs.all[ref.id].connected = true
			s.hop(ref.id, atProxy)
			return
		}
		c.open++
		s.dial(c, ref.id)
		return
	}
	if reuse {
		c.idle++
	}
}

// dropIdle closes every idle connection to replica r, as a replica's
// crash closes them: the next request opens a new one.
func (s *sim) dropIdle(r int32) {
	for _, w := range s.workloads {
		c := &w.targets[r].conns
		c.open -= c.idle
		c.idle = 0
	}
}
