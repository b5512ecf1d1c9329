package sim

import (
	randv2 "math/rand/v2"
	"net/http"
	"slices"
	"time"
	"unsafe"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/balancer"
)

// Tiers: a backend whose pool has calls (scenario.Call) makes them for
// each request it serves, after its own service, in order, holding its
// worker throughout, as the live backend does. Each call is a flight of
// its own (flight.call) that crosses the network to a backend of the pool
// called, picked by the caller's own policy for that pool (client-side
// balancing: one policy per calling backend and pool called), on one of
// the caller's connections to that pool (at most the tier's connections,
// the others waiting in order, holding their workers), and queues at its
// station like any request. A call that fails (refused, reset, cut, past
// its timeout, a 5xx) ends the calling request with 502 naming the pool
// the failure started in, at once. A cache answers a hit with its own
// service alone; a database sends writes to its primary and reads to its
// replicas, and promotes a replica when its primary has been down for its
// promotion. Each request draws its cache hit, probabilities and writes
// from a stream of its own, seeded in the order requests obtain a worker,
// as the live backend (sut/backend/calls.go) draws them. As live, the
// calls go on when whoever awaits the answer gave up: they end with the
// backend's crash alone.

// tierPool is a pool's part in the tiers: what its backends call, and
// what it is to the backends that call it.
type tierPool struct {
	name  string
	calls []plannedCall
	// stations are its backends in the scenario's order (add-backend's
	// last); clients those of the backends that call it.
	stations []int32
	clients  []int32
	// strategy and connections are how its callers reach it.
	strategy    string
	connections int
	db          *database
}

// plannedCall is one entry of a pool's calls.
type plannedCall struct {
	pool                int32 // the pool called
	times               int32
	probability, writes float64
	timeout             time.Duration
	deadlines           int32 // its timeout's list (sim.callDeadlines)
}

// tierClient is one calling backend's client of one pool: its balancing
// policy over the pool's backends (a node each, whose in-flight gauge it
// keeps) and its bounded connections.
type tierClient struct {
	pool     int32
	policy   balancer.Policy
	observer balancer.Observer // nil unless the policy learns
	nodes    []balancer.Upstream
	loads    []balancer.Load
	// members are the nodes a call may pick now: the pool's backends in
	// service, or a database's readers.
	members []*balancer.Upstream
	req     balancer.Request
	// open counts the connections in use, of at most limit; waiting are
	// the calls waiting for one, in order.
	open, limit int
	waiting     ring[int32]
}

// database is a database pool's primary and replicas: the primary takes
// the writes; promotion after it went down, a replica up takes its place.
type database struct {
	primary          int32 // a station
	primaryDown      bool
	downSince        int64
	promotion        time.Duration // 0: no replica is promotable
	readsFromPrimary bool
}

// buildTiers lays out the calls between pools (every site's, whose calls
// stay within their site): each pool's plan, each calling backend's
// clients, each database's primary.
func (s *sim) buildTiers(seed int64, pools []scenario.Pool, stationOf map[string]int32) {
	index := make(map[string]int32, len(pools))
	s.tiers = make([]tierPool, len(pools))
	for i, pc := range pools {
		index[pc.Name] = int32(i)
		tp := &s.tiers[i]
		tp.name, tp.strategy, tp.connections = pc.Name, pc.Strategy, pc.Connections
		if d := pc.Database; d != nil {
			tp.db = &database{primary: stationOf[pc.PrimaryName()], promotion: d.Promotion.D(), readsFromPrimary: d.ReadsFromPrimary}
		}
	}
	for i, st := range s.stations {
		tp := &s.tiers[st.pool]
		st.at = int32(len(tp.stations))
		tp.stations = append(tp.stations, int32(i))
		pc := &pools[st.pool]
		st.calls = len(pc.Calls) > 0
		if pc.Cache != nil {
			st.cache, st.hitRatio = true, pc.Cache.HitRatio.Fraction()
		}
		st.tier.failures = make([]int64, len(pools))
	}
	timeouts := map[time.Duration]int32{}
	for i, pc := range pools {
		for _, c := range pc.Calls {
			d, ok := timeouts[c.Timeout.D()]
			if !ok {
				d = int32(len(s.callDeadlines))
				timeouts[c.Timeout.D()] = d
				s.callDeadlines = append(s.callDeadlines, deadlines{event: event{callTimeout, d}})
			}
			s.tiers[i].calls = append(s.tiers[i].calls, plannedCall{
				pool: index[c.Pool], times: int32(c.Times), probability: c.Probability.Fraction(),
				writes: c.Writes.Fraction(), timeout: c.Timeout.D(), deadlines: d,
			})
		}
	}
	for i, st := range s.stations {
		calls := s.tiers[st.pool].calls
		st.clients = make([]int32, 0, len(calls))
		for _, c := range calls {
			st.clients = append(st.clients, s.clientOf(seed, int32(i), c.pool))
		}
	}
	for i := range s.tiers {
		s.tierChanged(int32(i))
	}
}

// clientOf is station caller's client of pool called, made on its first
// call: its policy seeded as the live caller's (sut.TierSeed), its
// connections the tier's (default: the caller's workers).
func (s *sim) clientOf(seed int64, caller, called int32) int32 {
	for _, c := range s.stations[caller].clients {
		if s.clients[c].pool == called {
			return c
		}
	}
	tp := &s.tiers[called]
	name := s.stations[caller].name
	policy, err := balancer.New(tp.strategy, sut.TierSeed(seed, name, tp.name))
	if err != nil {
		panic("sim: tier strategy " + tp.strategy + ": " + err.Error()) // validated by scenario
	}
	// The caller's name stands for its address, as live: a hashing
	// strategy keeps each caller to its node.
	c := tierClient{pool: called, policy: policy, limit: tp.connections, req: balancer.Request{ClientIP: name, Path: "/"}}
	if c.limit <= 0 {
		c.limit = s.stations[caller].workers
	}
	c.observer, _ = policy.(balancer.Observer)
	c.nodes = make([]balancer.Upstream, len(tp.stations))
	c.loads = make([]balancer.Load, len(tp.stations))
	for k, st := range tp.stations {
		c.nodes[k] = balancer.Upstream{Name: s.stations[st].name, Weight: s.stations[st].weight}
	}
	s.clients = append(s.clients, c)
	id := int32(len(s.clients) - 1)
	tp.clients = append(tp.clients, id)
	return id
}

// tierChanged sets the members of every client of pool pl anew, after
// one of its backends joined, left, went down or came back: the backends
// in service; for a database, its readers (the replicas that are up, and
// the primary too, when up, with reads_from_primary or when no replica
// is).
func (s *sim) tierChanged(pl int32) {
	tp := &s.tiers[pl]
	for _, id := range tp.clients {
		c := &s.clients[id]
		c.members = c.members[:0]
		for k, st := range tp.stations {
			station := s.stations[st]
			if station.closed || station.leaving {
				continue
			}
			if db := tp.db; db != nil && (st == db.primary || station.isDown()) {
				continue
			}
			c.members = append(c.members, &c.nodes[k])
		}
		if db := tp.db; db != nil && !db.primaryDown && (db.readsFromPrimary || len(c.members) == 0) {
			c.members = append(c.members, &c.nodes[s.stations[db.primary].at])
		}
	}
}

// stationOf is the station of node u, one of c's: a subtraction of
// addresses, as the proxy's replicas find theirs.
func (s *sim) stationOf(c *tierClient, u *balancer.Upstream) int32 {
	k := (uintptr(unsafe.Pointer(u)) - uintptr(unsafe.Pointer(&c.nodes[0]))) / unsafe.Sizeof(c.nodes[0])
	return s.tiers[c.pool].stations[k]
}

// callsAt counts the calls in progress at station i, its callers' all.
func (s *sim) callsAt(i int32) int64 {
	st := s.stations[i]
	n := int64(0)
	for _, c := range s.tiers[st.pool].clients {
		n += s.clients[c].nodes[st.at].Inflight()
	}
	return n
}

// isDown reports whether the backend serves nothing now, as a database
// sees its nodes: crashed, hung, or removed (from the removal on).
func (st *station) isDown() bool { return st.down || st.closed || st.leaving || st.faults.Hang }

// planCalls gives the request slot sl begins serving, when the pool
// calls, its own stream for its draws (seeded from the station's stream,
// in the order requests obtain a worker) and draws a cache's hit from it,
// as the live backend does.
func (st *station) planCalls(sl *slot) {
	if !st.calls {
		return
	}
	sl.draws.Seed(st.callRNG.Uint64(), st.callRNG.Uint64())
	sl.hit = st.cache && uniform(&sl.draws) < st.hitRatio
}

// uniform is a draw in [0, 1) from a request's own stream, as the live
// backend draws it.
func uniform(p *randv2.PCG) float64 { return float64(p.Uint64()>>11) / (1 << 53) }

// startCalls has slot k's request (one of st's, its own service over)
// make its pool's calls, holding the worker, and reports whether it does:
// not when the pool calls nothing, or the cache hit.
func (s *sim) startCalls(st *station, k int32) bool {
	sl := &st.slots[k-st.firstSlot]
	if !st.calls || sl.hit {
		return false
	}
	sl.calling, sl.entry, sl.left, sl.inFlight = true, -1, 0, -1
	s.nextCall(st, k)
	return true
}

// nextCall makes slot k's next call: the next of its entry's times, or
// the first of the next entry its probability draws; when none is left,
// the request is done.
func (s *sim) nextCall(st *station, k int32) {
	sl := &st.slots[k-st.firstSlot]
	calls := s.tiers[st.pool].calls
	for sl.left == 0 {
		sl.entry++
		if int(sl.entry) == len(calls) {
			s.finish(st, k, http.StatusOK, -1)
			return
		}
		if c := &calls[sl.entry]; c.probability >= 1 || uniform(&sl.draws) < c.probability {
			sl.left = c.times
		}
	}
	sl.left--
	s.call(st, k, &calls[sl.entry])
}

// call begins a call of slot k (one of st's) as pc plans it: a write or a
// read, its timeout running from now, on a connection of the caller's
// client, or waiting for one.
func (s *sim) call(st *station, k int32, pc *plannedCall) {
	sl := &st.slots[k-st.firstSlot]
	cid := st.clients[sl.entry]
	write := pc.writes > 0 && uniform(&sl.draws) < pc.writes
	id := s.fs.take()
	f := &s.fs.all[id]
	f.call, f.write, f.workload, f.request = true, write, -1, -1
	f.caller, f.callerSeq, f.client = k, sl.seq, cid
	f.sent = s.cal.now
	sl.inFlight = id
	s.add(&s.callDeadlines[pc.deadlines], id, s.cal.now+int64(pc.timeout), callEnded)
	c := &s.clients[cid]
	if c.open >= c.limit {
		f.waitsConn = true
		f.holds++ // the line's
		c.waiting.push(id)
		return
	}
	s.sendCall(id, f, c)
}

// sendCall sends call id on a connection of client c to the backend the
// policy picks (a write: the primary); with none to pick (a write while
// the primary is down), it fails at once.
func (s *sim) sendCall(id int32, f *flight, c *tierClient) {
	c.open++
	f.connected = true
	var u *balancer.Upstream
	if db := s.tiers[c.pool].db; f.write {
		if db.primaryDown {
			s.refuse(id, f)
			return
		}
		u = &c.nodes[s.stations[db.primary].at]
	} else {
		c.req.Now = wall(s.cal.now)
		u = c.policy.Select(c.members, &c.req)
	}
	if u == nil {
		s.refuse(id, f)
		return
	}
	u.Acquire()
	f.station, f.visit, f.forwarded = s.stationOf(c, u), 1, s.cal.now
	st := s.stations[f.station]
	st.lastForward = s.cal.now
	if s.tiers[c.pool].db != nil {
		if f.write {
			st.tier.writes++
		} else {
			st.tier.reads++
		}
	}
	s.exchangeEvent(id, atStation, s.net)
}

// refuse fails call id at once: no backend to send it to. A write refused
// while its database's primary is down is a write of the primary, failed
// (report.TierNodeCounters).
func (s *sim) refuse(id int32, f *flight) {
	if db := s.tiers[s.clients[f.client].pool].db; f.write && db.primaryDown {
		s.stations[db.primary].tier.writes++
		s.stations[db.primary].tier.writesFailed++
	}
	f.fail = failConnect
	s.exchangeEvent(id, proxyAnswer, 0)
}

// callAnswered takes the answer of call id (or its failure) back to its
// caller, which makes its next call, or answers 502 when it failed.
func (s *sim) callAnswered(id int32, f *flight) {
	failed := f.fail != failNone || f.cut || f.status >= 500
	tier := f.failedTier
	if failed {
		if tier < 0 {
			tier = s.startedIn(f)
		}
		s.writeFailed(f)
	}
	s.endCall(id, f, f.fail == failNone, failed)
	s.resume(f.caller, f.callerSeq, failed, tier)
	s.fs.release(id) // the caller's hold
}

// callTimeout ends each call past its timeout, oldest first: its caller
// answers 502, naming the tier called.
func (s *sim) callTimeout(list int32) {
	for {
		id, ok := s.due(&s.callDeadlines[list], callEnded)
		if !ok {
			return
		}
		f := &s.fs.all[id]
		f.exchangeOver = true
		s.giveUp(f)
		s.writeFailed(f)
		s.endCall(id, f, false, true)
		s.resume(f.caller, f.callerSeq, true, s.startedIn(f))
		s.fs.release(id) // the caller's hold
	}
}

// writeFailed counts failed call f at the database node it was sent to
// when it was a write.
func (s *sim) writeFailed(f *flight) {
	if f.write && f.station >= 0 {
		s.stations[f.station].tier.writesFailed++
	}
}

// callEnded: a call's caller has its answer, or gave up on it.
func callEnded(f *flight) bool { return f.exchangeOver }

// startedIn is the pool a failure of call f started in when its answer
// named none: the pool called (refused, reset, timed out, its own 5xx).
func (s *sim) startedIn(f *flight) int32 { return s.clients[f.client].pool }

// endCall ends call id for its caller: its connection goes to the next
// call waiting for one, its node's gauge drops, and the policy that
// learns is told of the exchange (with the load its answer reported, when
// it was answered).
func (s *sim) endCall(id int32, f *flight, answered, failed bool) {
	f.exchangeOver = true
	if !f.connected {
		return // it held no connection (it leaves the line when it reaches its head)
	}
	f.connected = false
	c := &s.clients[f.client]
	if f.station >= 0 {
		k := s.stations[f.station].at
		u := &c.nodes[k]
		u.Release()
		if c.observer != nil {
			o := balancer.Observation{At: wall(s.cal.now), RTT: time.Duration(s.cal.now - f.forwarded), Failed: failed}
			if answered {
				c.loads[k] = balancer.Load{Inflight: int(f.loadInflight), Workers: s.stations[f.station].workers, Queue: int(f.loadQueue)}
				o.Load = &c.loads[k]
			}
			c.observer.Observe(u, o)
		}
	}
	c.open--
	for c.open < c.limit && c.waiting.len() > 0 {
		next := c.waiting.pop()
		n := &s.fs.all[next]
		n.waitsConn = false
		if !n.exchangeOver {
			s.sendCall(next, n, c)
		}
		s.fs.release(next) // the line's hold
	}
}

// resume goes on with the request of slot k after its call: its next
// call, or its answer 502 naming the tier the failure started in; unless
// the slot no longer serves the request that made the call (seq).
func (s *sim) resume(k int32, seq uint32, failed bool, tier int32) {
	st := s.stations[s.slotStation[k]]
	sl := &st.slots[k-st.firstSlot]
	if !sl.busy || !sl.calling || sl.seq != seq {
		return
	}
	sl.inFlight = -1
	if failed {
		s.finish(st, k, http.StatusBadGateway, tier)
		return
	}
	s.nextCall(st, k)
}

// giveUp is what happens to flight f at its backend when whoever awaits
// its answer (the proxy, a caller) gave up on it, its exchange over: it
// leaves the waiting room, as the live backend's does when its client
// closes the connection; one in service is served to its end, and makes
// its calls.
func (s *sim) giveUp(f *flight) {
	if f.queued {
		s.stations[f.station].leave(f)
	}
}

// cancelCall ends call id because its caller crashed: it no longer
// counts at its backend, nor holds a connection.
func (s *sim) cancelCall(id int32) {
	if id < 0 {
		return
	}
	f := &s.fs.all[id]
	if f.exchangeOver {
		return
	}
	f.exchangeOver = true
	s.giveUp(f)
	s.endCall(id, f, false, true)
	s.fs.release(id) // the caller's hold
}

// databaseSees follows a change of station i (a fault fired or lifted):
// when it is a database's primary that went down, a replica is promoted
// after the promotion (an event then); one that came back before is
// still the primary. Its pool's callers see the change.
func (s *sim) databaseSees(i int32) {
	pl := s.stations[i].pool
	db := s.tiers[pl].db
	if db != nil {
		switch down := s.stations[db.primary].isDown(); {
		case down && !db.primaryDown:
			db.primaryDown, db.downSince = true, s.cal.now
			if db.promotion > 0 {
				s.cal.after(db.promotion, event{promotion, pl})
			}
		case !down && db.primaryDown:
			db.primaryDown = false
		case down && db.promotion > 0 && s.cal.now >= db.downSince+int64(db.promotion):
			s.promote(pl) // a replica came back after the promotion was due
		}
	}
	s.tierChanged(pl)
}

// promote makes the first replica that is up database pl's primary, its
// primary down for the promotion; when none is up, the first to come
// back is (databaseSees). The old primary, when it comes back, is a
// replica.
func (s *sim) promote(pl int32) {
	tp := &s.tiers[pl]
	db := tp.db
	if !db.primaryDown || s.cal.now < db.downSince+int64(db.promotion) {
		return // it came back, or went down again since
	}
	for _, st := range tp.stations {
		if st != db.primary && !s.stations[st].isDown() && !s.stations[st].leaving {
			db.primary, db.primaryDown = st, false
			s.stations[st].tier.promotions++
			s.tierChanged(pl)
			return
		}
	}
}

// tierCounts are a backend's own account of its part in the tiers, as
// the live backend keeps it (report.TierNodeCounters).
type tierCounts struct {
	// served counts the requests (calls included) it finished, queueNS
	// their waits for a worker, serviceNS their own services, callNS
	// the time their workers spent calling below; hits and misses are a
	// cache's.
	served                     int64
	queueNS, serviceNS, callNS int64
	hits, misses               int64
	// reads and writes are the calls sent to it as a database's node,
	// writesFailed the writes among them that failed and those refused
	// while it was the primary and down; promotions the times it became
	// the primary.
	reads, writes, writesFailed, promotions int64
	// failures counts its failed answers by the pool (index) the failure
	// started in: its own for its own, the one a failed call named.
	failures []int64
}

// served counts slot sl's request, finished at now (a crash counts
// nothing), its worker busy calling until now.
func (st *station) served(sl *slot, now int64) {
	t := &st.tier
	t.served++
	t.queueNS += sl.start - sl.arrived
	t.serviceNS += sl.end - sl.start
	switch {
	case !st.cache:
	case sl.hit:
		t.hits++
	default:
		t.misses++
	}
	if sl.calling {
		t.callNS += now - sl.end
		st.account(sl.end, now, 1)
	}
}

// tierCounters are each node's counters at the end of the run, as the live
// topology reports them to report.TiersOf (a backend add-backend never
// started is none).
func (s *sim) tierCounters() []report.TierNodeCounters {
	nodes := s.nodeStats()
	var out []report.TierNodeCounters
	for i, st := range s.stations {
		t := &st.tier
		if st.closed && t.served == 0 && !slices.ContainsFunc(t.failures, func(n int64) bool { return n > 0 }) {
			continue
		}
		n := report.TierNodeCounters{
			Name: st.name, Pool: s.tiers[st.pool].name, Workers: st.workers, Utilisation: nodes[i].Utilisation,
			Served:       t.served,
			QueueSeconds: seconds(t.queueNS), ServiceSeconds: seconds(t.serviceNS), CallSeconds: seconds(t.callNS),
			Hits: t.hits, Misses: t.misses,
			Reads: t.reads, Writes: t.writes, WritesFailed: t.writesFailed, Promotions: t.promotions,
		}
		if db := s.tiers[st.pool].db; db != nil {
			n.Primary = db.primary == int32(i)
		}
		for pl, count := range t.failures {
			if count > 0 {
				if n.Failures == nil {
					n.Failures = map[string]int64{}
				}
				n.Failures[s.tiers[pl].name] += count
			}
		}
		out = append(out, n)
	}
	return out
}

func seconds(ns int64) float64 { return float64(ns) / float64(time.Second) }
