package hrtimer

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestLeadFollowsQuantile: fed oversleeps drawn from a known distribution,
// the lead settles at its leadQuantile, never beyond maxLead, and Arm
// takes it off a deadline.
func TestLeadFollowsQuantile(t *testing.T) {
	cases := []struct {
		name     string
		over     func(r *rand.Rand) time.Duration
		min, max time.Duration
	}{
		// Uniform on 40–80µs: its 25% quantile is 50µs.
		{"uniform 40-80µs", func(r *rand.Rand) time.Duration {
			return 40*time.Microsecond + time.Duration(r.Int64N(int64(40*time.Microsecond)))
		}, 46 * time.Microsecond, 54 * time.Microsecond},
		// A host that always oversleeps a millisecond: held at the bound.
		{"1ms, bounded", func(*rand.Rand) time.Duration { return time.Millisecond }, maxLead, maxLead},
		// A host on time: no lead.
		{"none", func(*rand.Rand) time.Duration { return 0 }, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l Lead
			r := rand.New(rand.NewPCG(1, 2))
			const armed = time.Millisecond
			var sum time.Duration
			const n, tail = 20000, 5000
			for i := range n {
				l.Overslept(armed, armed+c.over(r))
				if i >= n-tail {
					sum += l.Get()
				}
			}
			if got := sum / tail; got < c.min || got > c.max {
				t.Errorf("lead settled at %v, want %v–%v", got, c.min, c.max)
			}
			if l.Get() > maxLead || l.Get() < 0 {
				t.Errorf("lead %v outside 0–%v", l.Get(), maxLead)
			}
			lead := l.Get()
			if got := l.Arm(2 * time.Millisecond); got != 2*time.Millisecond-lead {
				t.Errorf("Arm(2ms) = %v with lead %v", got, lead)
			}
			if lead > 0 {
				if got := l.Arm(lead / 2); got != 0 {
					t.Errorf("Arm within the lead = %v, want 0 (spin)", got)
				}
			}
		})
	}
}

// TestLeadIgnoresUnarmed: a wait armed for nothing (a spin alone) teaches
// the lead nothing.
func TestLeadIgnoresUnarmed(t *testing.T) {
	var l Lead
	for range 100 {
		l.Overslept(0, time.Millisecond)
	}
	if l.Get() != 0 {
		t.Errorf("lead %v after unarmed waits", l.Get())
	}
}

// TestSpinUntil returns at the deadline, not before.
func TestSpinUntil(t *testing.T) {
	start := time.Now()
	since := func() time.Duration { return time.Since(start) }
	const d = 200 * time.Microsecond
	if got := SpinUntil(d, since); got < d {
		t.Errorf("SpinUntil returned at %v, before %v", got, d)
	}
	if time.Since(start) < d {
		t.Error("SpinUntil returned before its deadline")
	}
}
