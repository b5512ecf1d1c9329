package sim

import "github.com/ilities/ilities/scenario"

// conns are a workload's connections to the proxy as the live client keeps
// them (runner's lean pool and event loop alike): at most max open, an idle
// one reused when they are kept alive, and a request that finds none free
// waiting, in order, for the next one freed. It waits holding its
// in-flight slot, its timeout running from its send: the wait is part of
// its latency, never of its send lag, and it ends as a timeout if no
// connection comes in time. A connection closes after its request when
// they are not kept alive, and after a timeout (the client gives up on
// it); without keep-alive, each request pays a connection's set-up, a
// round trip, before it leaves.
type conns struct {
	max, open, idle int
	keepAlive       bool
	waiting         ring[flightRef]
}

// newConns are the connections of workload spec: max_connections, or by
// default one per request it may have in flight (max_inflight, or its
// peak users), as the runner sizes its pool.
func newConns(spec scenario.Workload, sc *scenario.Scenario) conns {
	n := spec.Client.MaxConnections
	if n <= 0 {
		n = max(spec.Concurrency(sc.Duration.D()), 1)
	}
	return conns{max: n, keepAlive: spec.Client.KeepsAlive()}
}

// connect puts flight id on a connection of w: an idle one at once, a new
// one after its set-up, or the queue for the next one freed.
func (s *sim) connect(w *workload, id int32) {
	c := &w.conns
	switch {
	case c.idle > 0:
		c.idle--
		s.fs.all[id].connected = true
		s.hop(id, atProxy)
	case c.open < c.max:
		c.open++
		s.dial(w, id)
	default:
		c.waiting.push(s.fs.ref(id))
	}
}

// dial opens a connection of w for flight id. Without keep-alive the
// request waits for its set-up (the client's SYN, the proxy's SYN-ACK)
// before its own hop; a kept-alive connection is taken as open already,
// its one set-up lost among the many requests it carries.
func (s *sim) dial(w *workload, id int32) {
	s.fs.all[id].connected = true
	if w.conns.keepAlive {
		s.hop(id, atProxy)
		return
	}
	s.schedule(id, atProxy, 3*s.net)
}

// hangUp frees a connection of w after its request: kept alive and
// reusable (answered), it goes to the oldest request still waiting, or
// idles; otherwise it is closed, and the oldest request waiting gets a new
// one. Requests that timed out while waiting are passed over.
func (s *sim) hangUp(w *workload, reusable bool) {
	c := &w.conns
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
		s.dial(w, ref.id)
		return
	}
	if reuse {
		c.idle++
	}
}
