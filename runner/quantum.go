package runner

import "time"

// The dispatch quantum is how far past an arrival's intended time the
// scheduler (or the event loop) may wake, so that one wake-up sends every
// arrival due by then: at high rates a wake-up per arrival costs more CPU
// than the request itself. At low rates it would only add lag, so it
// adapts to the local arrival rate r: the wake-ups are capped at
// wakeBudget a second, which batching reaches when it spans 1/W − 1/r
// past each first arrival (a wake-up every 1/r + q). Hence
//
//	q = clamp(1/W − 1/r, 0, maxQuantum)
//
// At r ≤ W the loop wakes for each arrival on time (q = 0); above, it
// batches, up to maxQuantum. The lag it adds is bounded, measured as send
// lag, and included in latency.
const (
	// wakeBudget is W: 4,000 wake-ups a second, a few percent of a core.
	wakeBudget = 4000
	maxQuantum = 250 * time.Microsecond
	// gapShift sets the estimator's weight, 1/16: it follows a ramp within
	// tens of arrivals and smooths Poisson's spread.
	gapShift = 4
)

// quantumFor is the rule, as a function of the mean gap between arrivals
// (1/r).
func quantumFor(gap time.Duration) time.Duration {
	return min(max(time.Second/wakeBudget-gap, 0), maxQuantum)
}

// quantum estimates the local arrival rate from the arrivals' intended
// times (an EWMA of the gaps, which suits uniform, Poisson and staged
// profiles alike) and gives the dispatch quantum for it. The zero value is
// ready: until two arrivals are seen it batches at maxQuantum.
type quantum struct {
	last time.Duration // the previous arrival's intended time
	gap  time.Duration // the mean gap; 0 until known
	q    time.Duration
	seen bool
}

// next records an arrival due at at and returns the quantum to wake by.
func (e *quantum) next(at time.Duration) time.Duration {
	switch {
	case !e.seen:
		e.seen, e.q = true, maxQuantum
	case e.gap == 0:
		e.gap = max(at-e.last, 1)
		e.q = quantumFor(e.gap)
	default:
		e.gap += (at - e.last - e.gap) >> gapShift
		e.gap = max(e.gap, 1)
		e.q = quantumFor(e.gap)
	}
	e.last = at
	return e.q
}
