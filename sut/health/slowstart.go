package health

import "time"

// WeightScale is the upstream's weight scale at now, in thousandths, while
// a slow start runs: 100 when it becomes available, rising linearly to 1000
// over Rules.SlowStart. The call that finds it at 1000 ends the slow start;
// ok is false when none runs: the caller leaves the weight as it is. The
// ramp is reckoned in Unix nanoseconds, so instants lie between the years
// 1678 and 2262.
func (u *Upstream) WeightScale(now time.Time) (permille int, ok bool) {
	from := u.slowFrom.Load()
	if from == notSlowStarting {
		return 0, false
	}
	f := float64(now.UnixNano()-from) / float64(u.rules.SlowStart)
	if f >= 1 {
		u.slowFrom.CompareAndSwap(from, notSlowStarting)
		return 1000, true
	}
	return 100 + int(900*max(f, 0)), true
}
