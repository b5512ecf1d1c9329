package sim

import (
	"math/rand"
	"time"

	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// user is one virtual user of a closed workload, as the runner's: active
// over its spans of the user-count profile (runner.UserSpans), it sends a
// request of the mix picked with its own source (runner.UserRNG), or its
// session's steps in order with a session of its own per iteration, waits
// for each answer, then thinks for a draw of think_time from the same
// source; a failed step (an answer its expect refuses, or a timeout) ends
// the iteration. Users are calendar events: a user waiting for its span or
// thinking is one event, one in flight none.
type user struct {
	workload int32
	rng      *rand.Rand
	spans    []runner.Span
	span     int // the span it is in, or waits for
	// next and end are the current iteration's next step and its end, in
	// the workload's requests; next == end when none is under way.
	next, end int32
	failed    bool  // the last answer failed: the iteration is over
	session   int32 // its slot in sim.sessions, -1 without one
	data      *runner.DataUser
	// turn is its turn over the proxy's replicas, from its index in the
	// workload, as the live user's rotation starts: users spread over
	// the replicas, and each moves on to the next with every request.
	turn int
	// client is the DNS client it is of (its index, round the clients).
	client int32
}

// addUsers lays out the users of closed workload w, those of the run's
// segment as the runner keeps them, each ready at its first span's start.
func (s *sim) addUsers(sc *scenario.Scenario, w *workload) {
	spec := sc.Workload[w.id]
	profile := spec.UserProfile(s.duration)
	for u := range spec.MaxUsers(s.duration) {
		spans := runner.UserSpans(profile, u)
		if !s.segment.Has(u) || len(spans) == 0 {
			continue
		}
		us := user{workload: w.id, rng: runner.UserRNG(sc.Seed, int(w.id), u), spans: spans, session: -1, data: s.data.User(int(w.id), u), turn: u, client: s.userClient(u)}
		if w.session {
			us.session = int32(len(s.sessions))
			s.sessions = append(s.sessions, newSession())
		}
		s.users = append(s.users, us)
		w.activeUsers++
		s.cal.at(int64(spans[0].Start), event{userReady, int32(len(s.users) - 1)})
	}
}

// userReady has user id go on, its span begun or its think time over: the
// iteration's next step, a new iteration, or the wait for its next span.
func (s *sim) userReady(id int32) {
	u := &s.users[id]
	w := s.workloads[u.workload]
	for u.span < len(u.spans) {
		sp := u.spans[u.span]
		if s.cal.now < int64(sp.Start) {
			s.cal.at(int64(sp.Start), event{userReady, id})
			return
		}
		if s.cal.now >= int64(u.stopAt(s.duration)) {
			u.span++ // its iteration ends with the span
			u.next = u.end
			continue
		}
		if u.next == u.end || u.failed {
			if !s.iterate(w, u) {
				break // for the rest of the run
			}
		}
		step := u.next
		u.next++
		s.send(w, step, s.cal.now, id, u.client) // a closed loop's request is due when sent
		return
	}
	w.activeUsers-- // its spans are over, or its test data ran out
}

// iterate begins u's next iteration: a fresh session, the rows of its
// test data (false: a stopping source ran out, and the user stops), and
// its steps: the session's, or one request of the mix.
func (s *sim) iterate(w *workload, u *user) bool {
	if u.session >= 0 {
		s.sessions[u.session] = newSession()
	}
	if !u.data.NextIteration() {
		return false
	}
	u.failed = false
	if w.session {
		u.next, u.end = 0, int32(len(w.requests[0]))
		return true
	}
	u.next = int32(w.mix.PickWith(u.rng))
	u.end = u.next + 1
	return true
}

// think has user id think after an answer (or a timeout), failed or not,
// for a draw of think_time, cut at the end of its span.
func (s *sim) think(id int32, succeeded bool) {
	u := &s.users[id]
	u.failed = !succeeded
	d := s.workloads[u.workload].think.Sample(u.rng)
	if remaining := time.Duration(int64(u.stopAt(s.duration)) - s.cal.now); d > remaining {
		d = remaining
	}
	s.cal.at(s.cal.now+int64(d), event{userReady, id})
}

// stopAt is when u's current span ends, within a run of the given length.
func (u *user) stopAt(duration time.Duration) time.Duration {
	return min(u.spans[u.span].End, duration)
}
