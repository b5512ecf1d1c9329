package sim

import (
	"math/rand"
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
// them, so that both serve the same sequence.
type station struct {
	name     string
	workers  int
	capacity int
	readyAt  int64 // the start-up delay's end: 503 until then
	service  backend.Sampler
	rng      *rand.Rand

	busy    int         // workers serving
	waiting int         // requests in the room, the abandoned left out
	room    ring[int32] // flights in arrival order, abandoned ones until they reach the head

	// busyNS is the workers' busy time in each one-second window of the
	// run, totalNS in all.
	busyNS  []int64
	totalNS int64
}

func newStation(seed int64, bc scenario.Backend) *station {
	cfg := sut.BackendConfig(seed, bc) // the live backend's own configuration
	return &station{
		name:     cfg.Name,
		workers:  max(cfg.Workers, 1),
		capacity: max(cfg.Queue, 0),
		readyAt:  int64(cfg.StartupDelay),
		service:  cfg.ServiceTime,
		rng:      rand.New(rand.NewSource(cfg.Seed)),
	}
}

// admission is what becomes of a request reaching a station.
type admission uint8

const (
	served   admission = iota // a worker took it: its service has begun
	queued                    // it waits in the room
	rejected                  // answered at once: 503 (full, or starting up)
)

// arrive takes flight id (f) in at time now: a free worker, a place in
// the room, or a 503 (its status and load set), as the live backend
// decides.
func (st *station) arrive(id int32, f *flight, now int64) admission {
	f.arrived = now
	switch {
	case now < st.readyAt, st.busy >= st.workers && st.waiting >= st.capacity:
		f.status = http.StatusServiceUnavailable
		st.report(f)
		return rejected
	case st.busy < st.workers && st.waiting == 0:
		st.begin(f, now)
		return served
	}
	f.queued = true
	st.waiting++
	st.room.push(id)
	return queued
}

// begin starts f's service at now on a free worker, drawing its length.
func (st *station) begin(f *flight, now int64) {
	st.busy++
	var d time.Duration
	if st.service != nil {
		d = max(st.service.Sample(st.rng), 0)
	}
	f.queued = false
	f.start, f.end = now, now+int64(d)
	st.account(f.start, f.end)
}

// next hands the worker freed at now to the oldest request still waiting
// and returns it (-1 when none waits), after dropping from the room's head
// the requests that left it (each is passed to drop, its hold released).
func (st *station) next(fs *flights, now int64, drop func(int32)) int32 {
	st.busy--
	for st.room.len() > 0 {
		id := st.room.pop()
		f := &fs.all[id]
		if f.abandoned {
			drop(id)
			continue
		}
		st.waiting--
		st.begin(f, now)
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

// account adds a service from start to end to the busy time of the
// one-second windows it spans.
func (st *station) account(start, end int64) {
	st.totalNS += end - start
	for w := start / int64(time.Second); ; w++ {
		for int64(len(st.busyNS)) <= w {
			st.busyNS = append(st.busyNS, 0)
		}
		from, to := max(start, w*int64(time.Second)), min(end, (w+1)*int64(time.Second))
		st.busyNS[w] += to - from
		if end <= (w+1)*int64(time.Second) {
			return
		}
	}
}

// atStation takes flight id in at its backend: served, waiting, or
// answered 503 at once. A request the proxy already gave up on is not
// taken in: the backend finds its connection closed.
func (s *sim) atStation(id int32) {
	f := &s.fs.all[id]
	st := s.stations[f.station]
	if !f.proxyDone {
		switch st.arrive(id, f, s.cal.now) {
		case served:
			s.schedule(id, serviceEnd, time.Duration(f.end-s.cal.now))
		case queued:
			f.holds++ // the room's
		case rejected:
			s.hop(id, proxyAnswer)
		}
	}
	s.fs.release(id)
}

// serviceEnd answers flight id and hands its worker on to the oldest
// request waiting.
func (s *sim) serviceEnd(id int32) {
	f := &s.fs.all[id]
	st := s.stations[f.station]
	if next := st.next(&s.fs, s.cal.now, s.fs.release); next >= 0 {
		n := &s.fs.all[next]
		s.schedule(next, serviceEnd, time.Duration(n.end-s.cal.now))
		s.fs.release(next) // the room's hold, now the event's
	}
	f.status = http.StatusOK
	st.report(f)
	s.hop(id, proxyAnswer)
	s.fs.release(id)
}
