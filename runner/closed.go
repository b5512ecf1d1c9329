package runner

import (
	"math"
	"math/rand"
	"time"

	"github.com/ilities/ilities/scenario"
)

// The closed loop: each virtual user sends a request, waits for the whole
// response, thinks, and goes on; a session is an ordered list of steps run
// in each iteration with a fresh cookie jar. Latency is the response time
// (a closed loop has no intended send time: the user waits), so the sample's
// intended time is its actual send time and it never counts as late.

// Span is an interval of the run during which a virtual user is active.
type Span struct{ Start, End time.Duration }

// UserSpans returns when virtual user u (0-based) of a closed workload
// with the given user-count profile (scenario.Workload.UserProfile) is
// active: wherever the count is at least u+1. Ramps are followed exactly:
// on a ramp from 0 to 10 users over 10s, user 0 starts at 1s and user 9 at
// 10s. Run starts and stops its users by them, and so does a simulation.
func UserSpans(profile []scenario.Segment, u int) []Span {
	k := float64(u + 1)
	var out []Span
	add := func(s, e time.Duration) {
		if e <= s {
			return
		}
		if n := len(out); n > 0 && s-out[n-1].End <= time.Microsecond {
			out[n-1].End = e
			return
		}
		out = append(out, Span{s, e})
	}
	const eps = 1e-9
	for _, seg := range profile {
		a, b := seg.From, seg.To
		s, e := seg.Start, seg.End
		at := func(frac float64) time.Duration {
			return s + time.Duration(math.Round(frac*float64(e-s)))
		}
		switch {
		case a >= k-eps && b >= k-eps:
			add(s, e)
		case a < k-eps && b < k-eps:
		case a < k: // rising through k
			add(at((k-a)/(b-a)), e)
		default: // falling through k
			add(s, at((a-k)/(a-b)))
		}
	}
	return out
}

// UserRNG is virtual user u's own random source (think times, request
// mix), derived from the seed, so that a user behaves the same whichever
// segment runs it, and a simulated user as the live one. Its state (about
// 5 KiB) is made at its first draw: a user that draws nothing (one
// request, a constant think time) holds none.
func UserRNG(seed int64, workload, u int) *rand.Rand {
	return rand.New(&lazySource{seed: userSeed(seed, workload, u)})
}

// userSeed is the seed of user u's source.
func userSeed(seed int64, workload, u int) int64 {
	return int64(splitmix64(uint64(seed) ^ splitmix64(uint64(workload)<<32|uint64(u)|1<<63)))
}

// lazySource is math/rand's source for seed, made when first drawn from:
// the same values in the same order.
type lazySource struct {
	seed int64
	src  rand.Source64
}

func (s *lazySource) source() rand.Source64 {
	if s.src == nil {
		s.src = rand.NewSource(s.seed).(rand.Source64)
	}
	return s.src
}

func (s *lazySource) Int63() int64    { return s.source().Int63() }
func (s *lazySource) Uint64() uint64  { return s.source().Uint64() }
func (s *lazySource) Seed(seed int64) { s.seed, s.src = seed, nil }
func (s *lazySource) drawn() bool     { return s.src != nil }

// user runs virtual user u of workload w over its active spans.
func (e *engine) user(w *workloadRun, u int, spans []Span, rec *recorder) {
	st := newUserState(u, w.session)
	if w.data != nil {
		st.data = w.data.newUser(int64(u+1), templateRNG(e.seed, w.index, u))
	}
	rng := UserRNG(e.seed, w.index, u)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	end := e.duration
	for _, sp := range spans {
		if !e.wait(sp.Start-e.since(), timer) {
			return
		}
		stopAt := min(sp.End, end)
		for e.since() < stopAt {
			if w.session {
				st.resetCookies()
			}
			if st.data != nil && !w.data.nextIteration(st.data) {
				return // a source with when_exhausted: stop ran out
			}
			steps, first := w.requests, 0
			if !w.session {
				first = w.mix.PickWith(rng)
				steps = w.requests[first : first+1]
			}
			for j, r := range steps {
				// One reading of the clock decides and stamps: a user
				// descheduled between two would send after its span's end.
				sent := e.since()
				if e.stopped() || sent >= stopAt {
					break
				}
				var ex exchange
				switch {
				case r.ws != nil:
					ex.outcome = e.webSocket(w, r, st, rec, wsStart{intended: sent, sent: sent, req: first + j, closed: true, stopAt: stopAt})
				case e.sites != nil:
					ex = e.siteDo(w, r, st, u%len(e.sites.answers), sent, sent)
				default:
					ex = w.client.do(r, st)
				}
				if r.ws == nil { // a session records its own samples
					s := ex.sample(sent, sent, e.since(), first+j)
					s.closed = true
					rec.add(s)
				}
				// Think after every response, failed or not: a user pauses
				// whatever happened, and a failing target is not hammered.
				think := w.think.Sample(rng)
				if remaining := stopAt - e.since(); think > remaining {
					think = remaining
				}
				if !e.wait(think, timer) {
					return
				}
				// A failed step ends the session: what follows depended on it.
				if ex.outcome != outSuccess {
					break
				}
			}
			if e.stopped() {
				return
			}
		}
	}
}

// wait sleeps for d unless the run is stopped first (false).
func (e *engine) wait(d time.Duration, timer *time.Timer) bool {
	if d <= 0 {
		return !e.stopped()
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return true
	case <-e.stop:
		timer.Stop()
		return false
	}
}

func (e *engine) stopped() bool {
	select {
	case <-e.stop:
		return true
	default:
		return false
	}
}
