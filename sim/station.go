package sim

import (
	"math/rand"
	randv2 "math/rand/v2"
	"net/http"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/backend"
)

// station is one backend of the scenario as the queueing station the live
// backend is (sut/backend): workers servers, a strict FIFO waiting room of
// capacity requests (a request that finds it full is answered 503 at
// once), service times drawn from its distribution with its own seeded
// source, in the order requests obtain a worker, as the live backend draws
// them, so that both serve the same sequence. Its faults (backend.Faults,
// a crash) and its server-side sessions act as the live backend's do.
type station struct {
	name     string
	weight   int
	workers  int
	capacity int
	startup  time.Duration
	readyAt  int64 // the start-up delay's end: 503 until then
	service  backend.Sampler
	rng      *rand.Rand
	sessions bool

	busy    int         // workers serving
	waiting int         // requests in the room, the abandoned left out
	room    ring[int32] // flights in arrival order, abandoned ones until they reach the head
	// slots are the workers' services, their index the event that ends
	// each (firstSlot + slot); free lists the idle ones.
	firstSlot int32
	slots     []slot
	free      []int32

	// The live backend's fault switches, its crash and its sessions'
	// generation (a crash forgets every session).
	faults     backend.Faults
	faultRNG   *rand.Rand
	down       bool
	closed     bool // removed from the topology: it stopped for good
	sessionGen uint32
	// held are the requests a hang holds: arrivals not taken in yet, and
	// answers not sent, in the order they came.
	held ring[heldFlight]

	// lastForward is when a proxy last sent it a request.
	lastForward int64

	// site is the site it is in (sim.proxies), pool the scenario's pool it
	// belongs to (add-backend's, for one that fault starts). calls: the pool makes calls (a cache's hit
	// ratio set); clients are, for each of the pool's calls, its client
	// of the pool called (sim.clients: one per pool called, its policy
	// and connections); callRNG seeds each request's own stream for its
	// draws (a cache's hit, a probability, a write), as the live backend's
	// does; tier are its counters.
	site     int32
	pool     int32
	calls    bool
	cache    bool
	hitRatio float64
	clients  []int32
	callRNG  *rand.Rand
	tier     tierCounts
	// at is its place among its pool's backends; leaving: a remove-backend
	// takes it out of its callers' choices.
	at      int32
	leaving bool

	// busyNS is the workers' busy time in each one-second window of the
	// run, totalNS in all (services past the run's end included); since is
	// when its statistics start: the run's start, or when an add-backend
	// started it, as a live backend's count from its creation.
	busyNS  []int64
	totalNS int64
	since   int64
}

// slot is one worker's service: the flight served, as it was then (its
// exchange), when it arrived and when the service starts and ends; seq
// counts the slot's services, so that a call's answer finds the service
// that made it. For a pool that calls (tiers.go): draws is the request's
// own stream, hit a cache's hit; calling: the service is over and the
// worker makes the pool's calls, at entry of them with left more of it
// to make, the call in progress inFlight.
type slot struct {
	flight                int32
	visit                 uint8
	busy, calling, hit    bool
	arrived, start, end   int64
	seq                   uint32
	entry, left, inFlight int32
	draws                 randv2.PCG
}

// heldFlight is a request a hang holds: an arrival, or an answer.
type heldFlight struct {
	id     int32
	visit  uint8
	answer bool
}

// newStation is backend bc's station. Its response_size is not modelled:
// the model has no bytes, and a hop costs the same whatever it carries.
func newStation(seed int64, bc scenario.Backend, pool int32) *station {
	cfg := sut.BackendConfig(seed, bc) // the live backend's own configuration
	st := &station{
		name:     cfg.Name,
		weight:   max(bc.Weight, 1),
		workers:  max(cfg.Workers, 1),
		capacity: max(cfg.Queue, 0),
		startup:  cfg.StartupDelay,
		readyAt:  int64(cfg.StartupDelay),
		service:  cfg.ServiceTime,
		rng:      rand.New(rand.NewSource(cfg.Seed)),
		faultRNG: rand.New(rand.NewSource(cfg.Seed ^ 0xfa017)),
		callRNG:  rand.New(rand.NewSource(cfg.Seed ^ 0xca115)),
		sessions: cfg.Sessions,
		pool:     pool,
	}
	st.slots = make([]slot, st.workers)
	st.free = make([]int32, st.workers)
	for i := range st.free {
		st.free[i] = int32(st.workers - 1 - i)
	}
	return st
}

// reception is what becomes of a request reaching a station.
type reception uint8

const (
	served   reception = iota // a worker took it: its service has begun
	queued                    // it waits in the room
	answered                  // answered at once (its status set): 503, an injected error, 409
	refused                   // the station is down: the connection is refused
	held                      // a hang holds it
)

// arrive takes flight id (f, in its current exchange) in at time now, as
// the live backend does: refused while crashed; 503 while starting up;
// held while hanging; an injected error; a session it does not know
// (409); then a free worker, a place in the room, or a 503.
func (st *station) arrive(id int32, f *flight, now int64) reception {
	f.arrived = now
	switch {
	case st.down || st.closed:
		return refused
	case now < st.readyAt:
		f.status = http.StatusServiceUnavailable
		st.report(f)
		st.tier.failures[st.pool]++
		return answered
	case st.faults.Hang:
		st.held.push(heldFlight{id: id, visit: f.visit})
		return held
	case st.faults.ErrorRate > 0 && st.faultRNG.Float64() < st.faults.ErrorRate:
		f.status = int32(st.faults.ErrorStatus)
		st.report(f)
		st.tier.failures[st.pool]++
		return answered
	}
	if st.sessions && !f.check && !f.call && !f.sessionKnown {
		// A new session, in the answer's Set-Cookie; a request that carried
		// another (sessionAt) is answered 409 with it.
		f.newSession, f.newSessionGen = true, st.sessionGen
		if f.sessionLost {
			f.status = http.StatusConflict
			st.report(f)
			return answered
		}
	}
	switch {
	case st.busy >= st.limit() && st.waiting >= st.capacity:
		f.status = http.StatusServiceUnavailable
		st.report(f)
		st.tier.failures[st.pool]++
		return answered
	case st.busy < st.limit() && st.waiting == 0:
		return served
	}
	f.queued = true
	st.waiting++
	st.room.push(id)
	return queued
}

// limit is the number of workers in use: all, or fewer while degraded.
func (st *station) limit() int {
	if k := st.faults.Workers; k > 0 && k < st.workers {
		return k
	}
	return st.workers
}

// begin starts f's service at now on a free worker, drawing its length
// (and a slow fault's addition, from its own stream, as the live backend
// draws it), and returns the slot whose end event the caller schedules.
func (st *station) begin(id int32, f *flight, now int64) int32 {
	st.busy++
	var d time.Duration
	if st.service != nil {
		d = max(st.service.Sample(st.rng), 0)
	}
	if st.faults.Slow != nil {
		d += max(st.faults.Slow.Sample(st.faultRNG), 0)
	}
	f.queued = false
	f.start, f.end = now, now+int64(d)
	k := st.free[len(st.free)-1]
	st.free = st.free[:len(st.free)-1]
	sl := &st.slots[k]
	*sl = slot{flight: id, visit: f.visit, busy: true, arrived: f.arrived, start: f.start, end: f.end, seq: sl.seq + 1}
	st.planCalls(sl)
	st.account(f.start, f.end, 1)
	return k
}

// next hands the worker freed at now to the oldest request still waiting
// and returns it (-1 when none waits, or the station is degraded below
// the workers busy), after dropping from the room's head the requests
// that left it (each is passed to drop, its hold released).
func (st *station) next(fs *flights, drop func(int32)) int32 {
	st.busy--
	if st.busy >= st.limit() {
		return -1
	}
	for st.room.len() > 0 {
		id := st.room.pop()
		f := &fs.all[id]
		if f.abandoned {
			drop(id)
			continue
		}
		st.waiting--
		return id
	}
	return -1
}

// leave takes a waiting f out of the room (the proxy gave up on it): it
// no longer counts, and is dropped when it reaches the head.
func (st *station) leave(f *flight) {
	f.queued, f.abandoned = false, true
	st.waiting--
}

// report stamps f's answer with the station's load as the live backend
// reports it (X-Ilities-Load: its workers serving and its room, after the
// answered request left).
func (st *station) report(f *flight) {
	f.loadInflight, f.loadQueue = int32(st.busy), int32(st.waiting)
}

// account adds (sign 1) or takes back (-1) a service from start to end to
// the busy time of the one-second windows it spans.
func (st *station) account(start, end int64, sign int64) {
	if end <= start {
		return
	}
	st.totalNS += sign * (end - start)
	for w := start / int64(time.Second); ; w++ {
		for int64(len(st.busyNS)) <= w {
			st.busyNS = append(st.busyNS, 0)
		}
		from, to := max(start, w*int64(time.Second)), min(end, (w+1)*int64(time.Second))
		st.busyNS[w] += sign * (to - from)
		if end <= (w+1)*int64(time.Second) {
			return
		}
	}
}

// atStation takes flight id in at its backend, unless the exchange is
// over (the proxy gave up on it: the backend finds its connection closed).
func (s *sim) atStation(e int32) {
	id, current := s.exchangeOf(e)
	if f := &s.fs.all[id]; current && !f.proxyDone {
		s.takeIn(id, f)
	}
	s.fs.release(id)
}

// takeIn has flight id arrive at its station now.
func (s *sim) takeIn(id int32, f *flight) {
	st := s.stations[f.station]
	s.sessionAt(f)
	switch st.arrive(id, f, s.cal.now) {
	case served:
		s.serve(id, f, st)
	case queued:
		f.holds++ // the room's
	case held:
		f.holds++ // the hang's
	case refused:
		f.fail = failConnect
		s.exchangeEvent(id, proxyAnswer, s.net)
	case answered:
		s.exchangeEvent(id, proxyAnswer, s.net)
	}
}

// serve begins f's service at its station and schedules its end.
func (s *sim) serve(id int32, f *flight, st *station) {
	k := st.begin(id, f, s.cal.now)
	f.holds++ // the slot's
	f.slot = st.firstSlot + k
	s.cal.at(f.end, event{serviceEnd, f.slot})
}

// serviceEnd ends the service of slot k (one of a station's), unless a
// crash ended it first: the request makes its pool's calls, holding the
// worker, or is done.
func (s *sim) serviceEnd(k int32) {
	st := s.stations[s.slotStation[k]]
	sl := &st.slots[k-st.firstSlot]
	if !sl.busy || sl.end != s.cal.now || sl.calling {
		return // a crash dropped it (and its hold); the slot may serve another since
	}
	if s.startCalls(st, k) {
		return
	}
	s.finish(st, k, http.StatusOK, -1)
}

// finish ends slot k's request (one of st's): the worker goes to the
// oldest request waiting, and the request is answered: 200, held while
// the station hangs; or 502 at once when a call failed, naming the pool
// the failure started in (failedTier); unless nobody awaits its answer
// any more.
func (s *sim) finish(st *station, k int32, status, failedTier int32) {
	sl := &st.slots[k-st.firstSlot]
	id, visit := sl.flight, sl.visit
	st.served(sl, s.cal.now)
	if failedTier >= 0 {
		st.tier.failures[failedTier]++
	}
	*sl = slot{seq: sl.seq}
	st.free = append(st.free, k-st.firstSlot)
	if next := st.next(&s.fs, s.fs.release); next >= 0 {
		s.serve(next, &s.fs.all[next], st)
		s.fs.release(next) // the room's hold, now the slot's
	}
	f := &s.fs.all[id]
	if f.slot == k {
		f.slot = -1
	}
	if f.visit == visit && !f.exchangeOver && !f.proxyDone {
		f.status, f.failedTier = status, failedTier
		switch {
		case failedTier >= 0:
			st.report(f)
			s.exchangeEvent(id, proxyAnswer, s.net)
		case st.faults.Hang:
			st.held.push(heldFlight{id: id, visit: visit, answer: true})
			return // the slot's hold, now the hang's
		default:
			s.answer(id, f, st)
		}
	}
	s.fs.release(id)
}

// answer sends f's 200 (its status set) to the proxy, cut short by the
// reset and truncate faults as the live backend draws them.
func (s *sim) answer(id int32, f *flight, st *station) {
	st.report(f)
	switch {
	case st.faults.ResetRate > 0 && st.faultRNG.Float64() < st.faults.ResetRate,
		st.faults.TruncateRate > 0 && st.faultRNG.Float64() < st.faults.TruncateRate:
		f.cut = true
		st.tier.failures[st.pool]++
	}
	s.exchangeEvent(id, proxyAnswer, s.net)
}

// sessionAt tells whether the station knows the session f carries, as
// the live backend reads its cookie: its own, and from before its last
// crash.
func (s *sim) sessionAt(f *flight) {
	f.sessionKnown, f.sessionLost = false, false
	sess := s.sessionOf(f)
	if sess == nil || sess.backend < 0 {
		return
	}
	st := s.stations[f.station]
	f.sessionKnown = sess.backend == f.station && sess.backendGen == st.sessionGen
	f.sessionLost = !f.sessionKnown
}

// crash stops station st as a killed backend: every request it holds,
// served, waiting or held, is dropped (its proxy sees the connection
// reset), their busy time after now taken back, and its sessions are
// lost. Crashing a crashed station does nothing.
func (s *sim) crash(st *station) {
	if st.down || st.closed {
		return
	}
	st.down = true
	st.sessionGen++
	now := s.cal.now
	for k := range st.slots {
		sl := st.slots[k]
		if !sl.busy {
			continue
		}
		st.account(max(now, sl.start), sl.end, -1)
		if sl.calling {
			st.account(sl.end, now, 1) // its worker was busy calling until now
			s.cancelCall(sl.inFlight)
		}
		st.slots[k] = slot{seq: sl.seq}
		st.free = append(st.free, int32(k))
		s.dropped(sl.flight, sl.visit, true)
	}
	st.busy = 0
	for st.room.len() > 0 {
		id := st.room.pop()
		f := &s.fs.all[id]
		if !f.abandoned {
			f.queued = false
			s.dropped(id, f.visit, false)
		}
		s.fs.release(id) // the room's hold
	}
	st.waiting = 0
	for st.held.len() > 0 {
		h := st.held.pop()
		s.dropped(h.id, h.visit, false)
		s.fs.release(h.id) // the hang's hold
	}
}

// dropped answers the proxy of a request its station dropped (a crash)
// that the connection was reset, when that exchange is still current;
// slotHold: the slot's hold on it is released too.
func (s *sim) dropped(id int32, visit uint8, slotHold bool) {
	f := &s.fs.all[id]
	if f.visit == visit && !f.exchangeOver && !f.proxyDone {
		f.fail = failReset
		s.exchangeEvent(id, proxyAnswer, s.net)
	}
	if slotHold {
		s.fs.release(id)
	}
}

// restart serves a crashed station again, after its start-up delay.
func (st *station) restart(now int64) bool {
	if !st.down || st.closed {
		return false
	}
	st.down = false
	st.readyAt = now + int64(st.startup)
	return true
}

// liftHang lets the requests a hang held go on, in order, as if they had
// just arrived; the answers it held are sent.
func (s *sim) liftHang(st *station) {
	st.faults.Hang = false
	for st.held.len() > 0 && !st.faults.Hang {
		h := st.held.pop()
		f := &s.fs.all[h.id]
		if f.visit == h.visit && !f.exchangeOver && !f.proxyDone {
			if h.answer {
				s.answer(h.id, f, st)
			} else {
				s.takeIn(h.id, f)
			}
		}
		s.fs.release(h.id) // the hang's hold
	}
}

// fill hands free workers to waiting requests at once, after a degraded
// station's workers were restored.
func (s *sim) fill(st *station) {
	for st.busy < st.limit() && st.waiting > 0 {
		st.busy++ // next frees the worker it hands on
		next := st.next(&s.fs, s.fs.release)
		if next < 0 {
			return
		}
		s.serve(next, &s.fs.all[next], st)
		s.fs.release(next) // the room's hold, now the slot's
	}
}
