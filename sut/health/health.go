// Package health holds the rules by which the built-in proxy decides
// whether an upstream may be picked: active checks counted against rise and
// fall, passive outlier ejection with its backoff and the pool's
// max-ejected share, manual down, draining, and slow start's weight ramp.
//
// The rules are pure: no goroutines, no I/O, no clock. What depends on time
// takes it as an argument, so the proxy applies them on the wall clock and
// a simulation on a virtual one, with the same results. A change of
// availability comes back as a value; the caller publishes it (the proxy:
// to its balancer, its counters and its HealthEvents).
package health

import (
	"math"
	"sync/atomic"
	"time"
)

// Rise and fall when none is configured.
const (
	DefaultRise = 2
	DefaultFall = 2
)

// Reasons that callers name: an Upstream's first publication, and its
// leaving the pool. The other reasons come from the rule that applied.
const (
	ReasonStart   = "start"
	ReasonAdded   = "added"
	ReasonRemoved = "removed"
)

// Rules are the health rules shared by the upstreams of a proxy.
type Rules struct {
	// Rise passed active checks in a row bring an upstream back, Fall
	// failed ones take it out.
	Rise, Fall int
	// Passive is outlier ejection; off when ConsecutiveFailures is 0.
	Passive Passive
	// SlowStart ramps an upstream's weight from 10% to 100% over this long
	// from each time it becomes available. 0 disables it.
	SlowStart time.Duration
}

// Change is an upstream's new availability and what caused it.
type Change struct {
	Available bool
	Reason    string
}

// notSlowStarting marks Upstream.slowFrom when no slow start runs; not 0,
// which is a possible instant on a clock counted from the Unix epoch.
const notSlowStarting = math.MinInt64

// Upstream is the health of one upstream: why it is or is not available.
// It is available when no reason holds: not failed by active checks, not
// ejected, not marked down by hand, not draining.
//
// Exchange, Ejected, Draining and WeightScale may be called from any
// goroutine at any time: a proxy calls them on every request. The other
// methods change the state and must be called by one goroutine at a time.
type Upstream struct {
	rules Rules

	failures atomic.Int64 // passive: failed exchanges in a row
	ejected  atomic.Bool
	draining atomic.Bool
	slowFrom atomic.Int64 // Unix nanoseconds slow start began, or notSlowStarting

	activeDown bool
	rise, fall int // passed and failed active checks in a row

	ejectUntil  time.Time
	lastEjectAt time.Time
	everEjected bool
	backoff     int // exponent of the last ejection's length

	manualDown bool

	available, published bool // the availability as last published
}

// NewUpstream returns the health of an upstream under rules: nothing holds
// against it, and nothing is published yet.
func NewUpstream(rules Rules) *Upstream {
	u := &Upstream{rules: rules}
	u.slowFrom.Store(notSlowStarting)
	return u
}

// Publish publishes the availability when it is not yet published, with
// reason (ReasonStart, ReasonAdded).
func (u *Upstream) Publish(reason string, now time.Time) (Change, bool) {
	return u.publish(reason, now)
}

// MarkDown marks the upstream down by hand, or lifts the mark, as an
// operator would.
func (u *Upstream) MarkDown(down bool, now time.Time) (Change, bool) {
	u.manualDown = down
	return u.publish("manual", now)
}

// Drain takes the upstream out of the pool's choices for good: it is being
// removed.
func (u *Upstream) Drain(now time.Time) (Change, bool) {
	u.draining.Store(true)
	return u.publish("draining", now)
}

// Draining reports whether Drain was called.
func (u *Upstream) Draining() bool { return u.draining.Load() }

// publish reports the availability when it differs from the one last
// published, or none was, with reason. Becoming available starts slow
// start.
func (u *Upstream) publish(reason string, now time.Time) (Change, bool) {
	avail := !u.activeDown && !u.ejected.Load() && !u.manualDown && !u.draining.Load()
	if u.published && avail == u.available {
		return Change{}, false
	}
	u.available, u.published = avail, true
	if avail && u.rules.SlowStart > 0 {
		u.slowFrom.Store(now.UnixNano())
	}
	return Change{Available: avail, Reason: reason}, true
}
