package runner

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The quantum as a function of the arrival rate: none up to the wake-up
// budget, then batching that keeps the wake-ups at the budget, capped.
func TestQuantumRule(t *testing.T) {
	us := time.Microsecond
	cases := []struct {
		rate float64 // arrivals a second
		want time.Duration
	}{
		{1, 0},
		{200, 0},
		{1000, 0},
		{wakeBudget, 0},
		{5000, 50 * us},   // 1/4000 − 1/5000 s
		{10000, 150 * us}, // a wake-up every 100 + 150 µs: 4,000/s
		{100000, 240 * us},
		{1e9, 250*us - 1},
		{1e12, maxQuantum},
	}
	for _, tc := range cases {
		gap := time.Duration(float64(time.Second) / tc.rate)
		got := quantumFor(gap)
		if d := got - tc.want; d < -us || d > us {
			t.Errorf("%g/s (gap %v): quantum %v, want %v", tc.rate, gap, got, tc.want)
		}
		if got > 0 {
			if wakes := float64(time.Second) / float64(gap+got); wakes > wakeBudget*1.001 {
				t.Errorf("%g/s: %.0f wake-ups a second, over the budget", tc.rate, wakes)
			}
		}
	}
}

// The estimator follows the rate of the arrivals it is shown, uniform or
// Poisson, and a step from one rate to another within a hundred or two
// arrivals.
func TestQuantumFollowsRate(t *testing.T) {
	feed := func(q *quantum, from time.Duration, rate float64, n int, poisson bool, rng *rand.Rand) (time.Duration, time.Duration) {
		at, got := from, time.Duration(0)
		for range n {
			gap := 1 / rate
			if poisson {
				gap = rng.ExpFloat64() / rate
			}
			at += time.Duration(gap * float64(time.Second))
			got = q.next(at)
		}
		return at, got
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var q quantum
	if got := q.next(0); got != maxQuantum {
		t.Fatalf("first arrival: quantum %v, want %v until the rate is known", got, maxQuantum)
	}
	at, got := feed(&q, 0, 200, 100, true, rng)
	if got != 0 {
		t.Fatalf("Poisson at 200/s: quantum %v, want 0", got)
	}
	at, got = feed(&q, at, 20000, 200, false, rng)
	if want := quantumFor(50 * time.Microsecond); got < want-5*time.Microsecond || got > want+5*time.Microsecond {
		t.Fatalf("200 arrivals after a step to 20,000/s: quantum %v, want about %v", got, want)
	}
	_, got = feed(&q, at, 1000, 100, true, rng)
	if got != 0 {
		t.Fatalf("back to Poisson at 1,000/s: quantum %v, want 0", got)
	}
}
