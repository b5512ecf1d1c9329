package health

import (
	"fmt"
	"time"
)

// Passive is outlier ejection: ConsecutiveFailures failed exchanges in a
// row (refused, reset, timeout, 5xx answer) eject an upstream for EjectFor,
// doubled on each ejection that follows soon after the last (up to
// MaxEjectFor), unless that would eject more than MaxEjectedPercent of the
// pool.
type Passive struct {
	ConsecutiveFailures int
	EjectFor            time.Duration // default 5s
	MaxEjectFor         time.Duration // default 10 × EjectFor
	MaxEjectedPercent   int           // default 50
}

// WithDefaults returns p with its defaults filled in when ejection is on.
func (p Passive) WithDefaults() Passive {
	if p.ConsecutiveFailures <= 0 {
		return p
	}
	if p.EjectFor <= 0 {
		p.EjectFor = 5 * time.Second
	}
	if p.MaxEjectFor <= 0 {
		p.MaxEjectFor = 10 * p.EjectFor
	}
	if p.MaxEjectedPercent <= 0 {
		p.MaxEjectedPercent = 50
	}
	return p
}

// Pool is what an ejection needs to know of the upstream's pool.
type Pool struct {
	Members int // upstreams in the pool
	Ejected int // of them ejected now
}

// MayEject reports whether one more upstream of pool may be ejected: no
// more than MaxEjectedPercent of the pool, but always at least one.
func (p Passive) MayEject(pool Pool) bool {
	return pool.Ejected == 0 || (pool.Ejected+1)*100 <= p.MaxEjectedPercent*pool.Members
}

// Exchange counts the result of one exchange with the upstream. It returns
// the failures in a row so far and whether they call for an ejection (the
// upstream is not ejected already). It costs one atomic load per success.
func (u *Upstream) Exchange(failed bool) (failures int64, eject bool) {
	threshold := int64(u.rules.Passive.ConsecutiveFailures)
	if threshold <= 0 {
		return 0, false
	}
	if !failed {
		if u.failures.Load() != 0 {
			u.failures.Store(0)
		}
		return 0, false
	}
	n := u.failures.Add(1)
	return n, n >= threshold && !u.ejected.Load()
}

// Eject ejects the upstream after failures in a row, unless it is ejected
// already or pool's share forbids it. An ejection sooner than MaxEjectFor
// plus the previous ejection's length after the previous one lasts twice
// as long as that one (up to MaxEjectFor); a later one, EjectFor again. It
// returns whether it ejected, and the availability when that changed.
func (u *Upstream) Eject(failures int64, pool Pool, now time.Time) (ejected bool, c Change, changed bool) {
	p := u.rules.Passive
	if u.ejected.Load() || !p.MayEject(pool) {
		return false, Change{}, false
	}
	if u.everEjected && now.Sub(u.lastEjectAt) < p.MaxEjectFor+p.EjectFor<<min(u.backoff, 16) {
		u.backoff++
	} else {
		u.backoff = 0
	}
	d := min(p.EjectFor<<min(u.backoff, 16), p.MaxEjectFor)
	u.ejected.Store(true)
	u.ejectUntil, u.lastEjectAt, u.everEjected = now.Add(d), now, true
	u.failures.Store(0)
	c, changed = u.publish(fmt.Sprintf("passive: %d consecutive failures, ejected for %v", failures, d), now)
	return true, c, changed
}

// Expire ends the ejection once its time is up.
func (u *Upstream) Expire(now time.Time) (Change, bool) {
	if u.ejected.Load() && !now.Before(u.ejectUntil) {
		u.ejected.Store(false)
	}
	return u.publish("ejection ended", now)
}

// Ejected reports whether the upstream is ejected.
func (u *Upstream) Ejected() bool { return u.ejected.Load() }

// EjectedUntil is when the current ejection ends (Expire ends it then);
// the zero time when the upstream is not ejected.
func (u *Upstream) EjectedUntil() time.Time {
	if !u.ejected.Load() {
		return time.Time{}
	}
	return u.ejectUntil
}
