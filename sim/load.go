package sim

import (
	"time"

	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// workload is one open-loop workload's generator: the live run's arrivals
// and requests (runner.NewPacer and runner.NewMix, with the same seeds),
// the run's segment kept as the runner keeps it, at most max_inflight
// requests in flight with the others waiting in order until max_lateness,
// and the workload's timeout from each send.
type workload struct {
	id          int32
	pacer       runner.Pacer
	mix         *runner.Mix
	drawn       int     // arrivals drawn from the pacer so far
	next        pending // the arrival drawn and scheduled
	requests    []request
	inflight    int
	maxInflight int
	waiting     ring[pending]
	timeout     time.Duration
	maxLateness time.Duration
	// timeouts are the deadlines of the requests in flight.
	timeouts deadlines
}

// pending is an arrival not sent yet.
type pending struct {
	intended int64
	request  int32
}

func newWorkload(sc *scenario.Scenario, i int, requests []request) (*workload, error) {
	spec := sc.Workload[i]
	pacer, err := runner.NewPacer(spec, sc.Duration.D(), sc.Seed, i)
	if err != nil {
		return nil, err
	}
	return &workload{
		id:          int32(i),
		timeouts:    deadlines{event: event{clientTimeout, int32(i)}},
		pacer:       pacer,
		mix:         runner.NewMix(sc, i),
		requests:    requests,
		maxInflight: max(spec.MaxInflight, 1),
		timeout:     spec.Timeout.D(),
		maxLateness: spec.MaxLateness.D(),
	}, nil
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
		index := w.drawn
		w.drawn++
		if s.segment.Has(index) {
			w.next = pending{int64(at), int32(req)}
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
		s.send(w, a)
		return
	}
	w.waiting.push(a)
}

// send sends a now: it leaves for the proxy, and its timeout runs.
func (s *sim) send(w *workload, a pending) {
	id := s.fs.take()
	f := &s.fs.all[id]
	f.workload, f.request = w.id, a.request
	f.intended, f.sent = a.intended, s.cal.now
	w.inflight++
	s.add(&w.timeouts, id, f.sent+int64(w.timeout), clientEnded)
	s.hop(id, atProxy)
}

// clientAnswer records the answer of flight id, unless its client gave
// up first.
func (s *sim) clientAnswer(id int32) {
	f := &s.fs.all[id]
	if !f.clientDone {
		f.clientDone = true
		w := s.workloads[f.workload]
		smp := runner.Sample{
			Workload: int(f.workload), Request: int(f.request),
			Intended: time.Duration(f.intended), Sent: time.Duration(f.sent), Done: time.Duration(s.cal.now),
			Status: int(f.status),
		}
		s.describe(f, &smp)
		s.rec.Add(smp)
		s.last = s.cal.now
		s.fs.release(id) // the client's hold
		s.fs.release(id) // this event's
		s.freeSlot(w)
		return
	}
	s.fs.release(id)
}

// clientTimeout ends the requests of w past the workload's timeout, oldest
// first: each is recorded as a timeout now, and its slot is free.
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
			Fate: runner.FateFailed, Class: runner.ClassTimeout,
		})
		s.last = s.cal.now
		s.fs.release(id) // the client's hold
		s.freeSlot(w)
	}
}

// freeSlot gives a freed in-flight slot to the oldest waiting arrival that
// may still be sent; those past their send deadline are dropped (or cut,
// at the end of the run), as the runner's scheduler decides.
func (s *sim) freeSlot(w *workload) {
	w.inflight--
	for w.waiting.len() > 0 && w.inflight < w.maxInflight {
		a := w.waiting.pop()
		if by, missed := runner.SendDeadline(time.Duration(a.intended), w.maxLateness, s.duration); s.cal.now > int64(by) {
			s.rec.Add(runner.Sample{Workload: int(w.id), Request: int(a.request), Intended: time.Duration(a.intended), Fate: missed})
			continue
		}
		s.send(w, a)
	}
}

// micros is a station time in whole microseconds, as its Server-Timing
// header gives it.
func micros(ns int64) int32 { return int32(min((ns+500)/1000, 1<<31-1)) }
