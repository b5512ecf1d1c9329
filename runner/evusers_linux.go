package runner

import (
	"math/rand"
	"time"

	"github.com/ilities/ilities/scenario"
)

// The closed loop on the event loop. A virtual user is no goroutine: it is
// an entry in the loop's timer heap while it waits (for its span to start,
// or while it thinks) and an exchange while its request is in flight. On
// its answer, or its failure, the sample is recorded and the user is put
// back in the heap at now + its think time, or on the ready queue when it
// does not think; the loop sends its next step when that comes. What a user does is engine.user's, step by step: the
// same spans (UserSpans), random source (UserRNG) and draws in the same
// order, a fresh cookie jar per session iteration, a failed step ending
// the iteration, a user whose span ends stopping after its request.
// Connections are the loop's: at most max_connections (by default one per
// user), kept alive, a request waiting for one up to its timeout.

// loopUser is one virtual user of a closed workload on the loop.
type loopUser struct {
	st     *userState
	rng    *rand.Rand
	spans  []Span
	span   int           // the span it is in
	stopAt time.Duration // the end of that span, or of the run
	// The iteration under way: the mix's pick or the session's first step
	// (first), its steps and the next of them; iterating is false between
	// iterations.
	first, steps, step int
	iterating          bool
	// wire is the request with the session's cookies, built as it is
	// sent (unused without a cookie jar).
	wire []byte
}

// addUser puts virtual user u of the loop's closed workload, active over
// spans (UserSpans), in the heap for its first span's start; before run.
func (l *eventLoop) addUser(u int, spans []Span) {
	usr := &loopUser{st: newUserState(u, l.w.session), rng: UserRNG(l.e.seed, l.w.index, u), spans: spans}
	l.enterSpan(usr, 0, -1)
}

// enterSpan moves usr to its i-th span and beyond: it waits in the heap
// for the span's start when that is after now, or is to act at once
// (true). A user with no span left before the end of the run is done.
func (l *eventLoop) enterSpan(usr *loopUser, i int, now time.Duration) bool {
	if i >= len(usr.spans) || usr.spans[i].Start >= l.e.duration {
		return false
	}
	sp := usr.spans[i]
	usr.span, usr.stopAt, usr.iterating = i, min(sp.End, l.e.duration), false
	if sp.Start > now {
		l.users.Push(int64(sp.Start), usr)
		return false
	}
	return true
}

// act lets every user whose time has come take its next step: the ready
// ones (as many as there were when it began: one whose request failed at
// once is ready again, for the next turn), then the heap's that are due.
func (l *eventLoop) act() {
	for n := l.ready.len(); n > 0 && !l.stopped; n-- {
		l.proceed(l.ready.pop())
	}
	for !l.stopped {
		at, usr, ok := l.users.Peek()
		if !ok || time.Duration(at) > l.nowMono {
			return
		}
		l.users.Pop()
		l.proceed(usr)
	}
}

// proceed sends usr's next request: the next step of its iteration, or the
// first of a new one while its span lasts, or of its next span.
func (l *eventLoop) proceed(usr *loopUser) {
	w := l.w
	// One reading of the clock decides and stamps, as on a goroutine.
	now := l.e.since()
	for {
		if !usr.iterating {
			if now >= usr.stopAt {
				if !l.enterSpan(usr, usr.span+1, now) {
					return
				}
				continue
			}
			if w.session {
				usr.st.resetCookies()
				usr.first, usr.steps = 0, len(w.requests)
			} else {
				usr.first, usr.steps = w.mix.PickWith(usr.rng), 1
			}
			usr.step, usr.iterating = 0, true
		}
		sent := now
		if sent >= usr.stopAt {
			usr.iterating = false
			continue
		}
		req := usr.first + usr.step
		if usr.st.jar != nil {
			r := w.requests[req]
			usr.wire = append(appendCookies(append(usr.wire[:0], r.wire[0]...), r.std[0].URL, usr.st), "\r\n"...)
			usr.wire = append(usr.wire, r.body...)
		}
		l.inflight++
		x := l.exchange()
		*x = loopExchange{intended: sent, req: req, sent: sent, deadline: sent + w.timeout, seq: l.nextSeq(), user: usr}
		l.start(x)
		return
	}
}

// answered takes usr's answer (or failure), recorded: it thinks, capped at
// its span's end, then goes on with its iteration, which a failed step
// ends. A stopped run's user is done. A user that does not think is ready
// at once: no draw (none is made for a constant), no clock, no timer.
func (l *eventLoop) answered(usr *loopUser, success bool) {
	usr.step++
	if !success || usr.step >= usr.steps {
		usr.iterating = false
	}
	if l.thinkNone {
		if !l.stopped && !l.aborted.Load() {
			l.ready.push(usr)
		}
		return
	}
	think := l.w.think.Sample(usr.rng)
	now := l.e.since()
	think = min(think, usr.stopAt-now)
	if l.stopped || l.aborted.Load() {
		return
	}
	l.users.Push(int64(now+think), usr)
}

// thinksNot reports whether think is always 0, drawing nothing: none, or a
// constant 0.
func thinksNot(think scenario.Distribution) bool {
	return think.Dist == "" || (think.Dist == "constant" && think.Value <= 0)
}
