package hrtimer

import (
	"sync/atomic"
	"time"
)

// Lead is how early a precise wait is armed so that its wake-up, late by
// the host's usual oversleep, lands on the deadline; what is left before
// the deadline is spun. A timed wait on this kind of host wakes tens of
// microseconds late even with no timer slack (a virtual CPU brought out of
// its idle halt), and that lateness would be in every response it times:
// the generator's sends, the backends' service ends.
//
// The lead follows a low quantile of the oversleeps seen (leadQuantile),
// so that most wake-ups still come late by a little and few spin, and
// never exceeds maxLead, which bounds a spin's cost. The zero value is
// ready and starts with no lead. Safe for concurrent use.
type Lead struct {
	ns atomic.Int64
}

const (
	// leadQuantile is the share of wake-ups meant to come early (and
	// spin). A stochastic estimate of that quantile of the oversleep:
	// each wait moves the lead up by leadStep·q when it overslept more,
	// down by leadStep·(1−q) otherwise.
	leadQuantile = 0.25
	leadStep     = 2 * time.Microsecond
	// maxLead bounds the lead, and so the spin of a wake-up on time: on a
	// loaded host the oversleeps are long and varied, and spinning for
	// them would take the processor from the work being timed.
	maxLead = 100 * time.Microsecond
)

var (
	leadUp   = int64(float64(leadStep) * leadQuantile)
	leadDown = int64(float64(leadStep) * (1 - leadQuantile))
)

// Get is the current lead.
func (l *Lead) Get() time.Duration { return time.Duration(l.ns.Load()) }

// Arm returns how long to wait for a deadline d away: d less the lead, or 0
// when the deadline is within the lead (spin for it, do not wait).
func (l *Lead) Arm(d time.Duration) time.Duration {
	return max(d-l.Get(), 0)
}

// Overslept records a wait armed for armed that took took (a wait ended
// early by something else than its timer is not one to record).
func (l *Lead) Overslept(armed, took time.Duration) {
	if armed <= 0 {
		return
	}
	over := int64(took - armed)
	cur := l.ns.Load()
	next := cur - leadDown
	if over > cur {
		next = cur + leadUp
	}
	l.ns.Store(min(max(next, 0), int64(maxLead)))
}

// SpinUntil returns when now() reaches deadline, reading the clock in a
// loop: for the part of a wait shorter than the host's oversleep. The
// caller bounds it (by the lead).
func SpinUntil(deadline time.Duration, now func() time.Duration) time.Duration {
	for {
		if t := now(); t >= deadline {
			return t
		}
	}
}
