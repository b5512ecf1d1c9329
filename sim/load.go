package sim

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// workload is one workload's generator. An open loop sends the live run's
// arrivals and requests (runner.NewPacer and runner.NewMix, with the same
// seeds), the run's segment kept as the runner keeps it, at most
// max_inflight requests in flight with the others waiting in order until
// max_lateness. A closed loop is its virtual users (users.go). Either
// spreads its requests over the proxy's replicas and sends them over its
// connections to each (conns.go), draws its test data rows as the runner
// does, and times each request out from its send.
type workload struct {
	id int32
	// requests are its requests as each site's proxy knows them
	// ([site][request]).
	requests [][]request
	timeout  time.Duration
	// targets are the proxy's replicas as its client sees them: the
	// connections to each, and which it passes over (conns.go).
	targets []target
	// rows: the workload draws rows of test data (runner.DataCursors).
	rows bool
	// timeouts are the deadlines of the requests in flight.
	timeouts deadlines

	// The open loop.
	pacer       runner.Pacer
	mix         *runner.Mix
	clients     *rand.Rand // draws each arrival's DNS client (sites.go)
	drawn       int        // arrivals drawn from the pacer so far
	next        pending    // the arrival drawn and scheduled
	turn        int        // its turn over the replicas
	inflight    int
	maxInflight int
	waiting     ring[pending]
	maxLateness time.Duration

	// The closed loop (its users are in sim.users); activeUsers counts
	// those whose spans are not all over yet, in flight, thinking or
	// waiting for their next span.
	closed      bool
	think       scenario.Distribution
	session     bool // each iteration is the steps in order, with a session of its own
	activeUsers int
}

// pending is an arrival not sent yet, and the DNS client it is of.
type pending struct {
	intended int64
	request  int32
	client   int32
}

func newWorkload(sc *scenario.Scenario, i int, requests [][]request, replicas int) (*workload, error) {
	spec := sc.Workload[i]
	w := &workload{
		id:          int32(i),
		timeouts:    deadlines{event: event{clientTimeout, int32(i)}},
		mix:         runner.NewMix(sc, i),
		requests:    requests,
		timeout:     spec.Timeout.D(),
		targets:     newTargets(spec, sc, replicas),
		rows:        len(spec.Uses) > 0,
		maxInflight: max(spec.MaxInflight, 1),
		maxLateness: spec.MaxLateness.D(),
		closed:      spec.Closed(),
		think:       spec.ThinkTime,
		session:     len(spec.Session) > 0,
	}
	if w.closed {
		if spec.MaxUsers(sc.Duration.D()) < 1 {
			return nil, fmt.Errorf("sim: workload %q: a closed workload needs at least one user", spec.Name)
		}
		return w, nil
	}
	pacer, err := runner.NewPacer(spec, sc.Duration.D(), sc.Seed, i)
	w.pacer = pacer
	w.clients = rand.New(rand.NewSource(runner.ArrivalClientSeed(sc.Seed, i)))
	return w, err
}

// draw takes the workload's next arrival of the segment from the pacer and
// schedules it. Every arrival draws its request, in or out of the
// segment, as the runner's scheduler does.
func (s *sim) draw(w *workload) {
	for {
		at, ok := w.pacer.Next()
		if !ok {
			return
		}
		req := w.mix.Next()
		client := s.arrivalClient(w)
		index := w.drawn
		w.drawn++
		if s.segment.Has(index) {
			w.next = pending{int64(at), int32(req), client}
			s.cal.at(int64(at), event{arrival, w.id})
			return
		}
	}
}

// arrive sends the arrival due now, or has it wait for an in-flight slot.
func (s *sim) arrive(w *workload) {
	a := w.next
	s.draw(w)
	if w.inflight < w.maxInflight && w.waiting.len() == 0 {
		s.sendArrival(w, a)
		return
	}
	w.waiting.push(a)
}

// sendArrival sends arrival a of an open loop now, in a free in-flight
// slot, after drawing its rows as the runner's worker does: an arrival
// whose source ran out is not sent (data_exhausted), and frees its slot
// at once.
func (s *sim) sendArrival(w *workload, a pending) {
	if w.rows && !s.data.NextArrival(int(w.id)) {
		s.rec.Add(runner.Sample{Workload: int(w.id), Request: int(a.request), Intended: time.Duration(a.intended), Fate: runner.FateExhausted})
		return
	}
	w.inflight++
	s.send(w, a.request, a.intended, -1, a.client)
}

// send sends request req of w now (intended at intended, by closed-loop
// user u or -1, of DNS client c): it goes to the site c's answer names
// (sites.go), on a connection to the site's replica whose turn it is (the
// user's own turn, or the open loop's), and its timeout runs.
func (s *sim) send(w *workload, req int32, intended int64, u, c int32) {
	id := s.fs.take()
	f := &s.fs.all[id]
	f.workload, f.request, f.user = w.id, req, u
	turn := &w.turn
	if u >= 0 {
		f.session = s.users[u].session
		turn = &s.users[u].turn
	}
	f.intended, f.sent = intended, s.cal.now
	p := s.proxies[s.site(f, c)]
	f.replica = w.pickTarget(p.first, int32(len(p.replicas)), *turn, s.cal.now)
	*turn++
	s.add(&w.timeouts, id, f.sent+int64(w.timeout), clientEnded)
	s.connect(w, id)
}

// clientAnswer records the answer of flight id, unless its client gave
// up first.
func (s *sim) clientAnswer(id int32) {
	f := &s.fs.all[id]
	if f.clientDone {
		s.fs.release(id)
		return
	}
	f.clientDone = true
	smp := runner.Sample{
		Workload: int(f.workload), Request: int(f.request),
		Intended: time.Duration(f.intended), Sent: time.Duration(f.sent), Done: time.Duration(s.cal.now),
		Status: int(f.status), Held: f.sent > f.intended, // only a wait for an in-flight slot sends late
	}
	s.describe(f, &smp)
	w, u := s.workloads[f.workload], f.user
	if f.connected { // (a refusal closed its last one)
		s.hangUp(w, f.replica, f.class == "" && !f.cut)
	}
	ok := s.rec.Add(smp)
	s.siteRecorded(f, ok)
	s.fs.release(id) // the client's hold
	s.fs.release(id) // this event's
	s.requestEnded(w, u, ok)
}

// clientTimeout ends the requests of w past the workload's timeout, oldest
// first: each is recorded as a timeout now, its connection (if it got
// one) closed, and its slot or user free.
func (s *sim) clientTimeout(w *workload) {
	for {
		id, ok := s.due(&w.timeouts, clientEnded)
		if !ok {
			return
		}
		f := &s.fs.all[id]
		f.clientDone = true
		s.rec.Add(runner.Sample{
			Workload: int(f.workload), Request: int(f.request),
			Intended: time.Duration(f.intended), Sent: time.Duration(f.sent), Done: time.Duration(s.cal.now),
			Fate: runner.FateFailed, Class: runner.ClassTimeout, Held: f.sent > f.intended,
		})
		u := f.user
		if f.connected {
			s.hangUp(w, f.replica, false)
		}
		s.siteRecorded(f, false)
		s.fs.release(id) // the client's hold
		s.requestEnded(w, u, false)
	}
}

// requestEnded goes on once a request of w has ended for its client, its
// connection freed: the open loop's slot goes to the next arrival
// waiting, or the closed loop's user u thinks.
func (s *sim) requestEnded(w *workload, u int32, succeeded bool) {
	s.last = s.cal.now
	if u >= 0 {
		s.think(u, succeeded)
		return
	}
	s.freeSlot(w)
}

// freeSlot gives a freed in-flight slot to the oldest waiting arrival that
// may still be sent; those past their send deadline are dropped (or cut,
// at the end of the run), as the runner's scheduler decides.
func (s *sim) freeSlot(w *workload) {
	w.inflight--
	for w.waiting.len() > 0 && w.inflight < w.maxInflight {
		a := w.waiting.pop()
		if by, missed := runner.SendDeadline(time.Duration(a.intended), w.maxLateness, s.duration); s.cal.now > int64(by) {
			s.rec.Add(runner.Sample{Workload: int(w.id), Request: int(a.request), Intended: time.Duration(a.intended), Fate: missed, Held: true})
			continue
		}
		s.sendArrival(w, a)
	}
}

// micros is a station time in whole microseconds, as its Server-Timing
// header gives it.
func micros(ns int64) int32 { return int32(min((ns+500)/1000, 1<<31-1)) }
