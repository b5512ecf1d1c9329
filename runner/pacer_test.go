package runner

import (
	"math"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

func sec(s float64) scenario.Duration { return scenario.Duration(s * float64(time.Second)) }

// profiles used by several tests, with their integral over the run worked
// out by hand.
var profileCases = []struct {
	name     string
	workload scenario.Workload
	duration time.Duration
	integral float64
}{
	{
		name:     "constant",
		workload: scenario.Workload{Rate: 100},
		duration: 10 * time.Second,
		integral: 1000,
	},
	{
		name:     "ramp from zero",
		workload: scenario.Workload{Stages: []scenario.Stage{{RampTo: 100, Over: sec(10)}}},
		duration: 10 * time.Second,
		integral: 500, // ½·100·10
	},
	{
		name: "ramp then hold, non-integer",
		workload: scenario.Workload{Stages: []scenario.Stage{
			{RampTo: 33, Over: sec(7)}, {Hold: 33, For: sec(2.5)},
		}},
		duration: 9500 * time.Millisecond,
		integral: 33*7/2.0 + 33*2.5, // 115.5 + 82.5
	},
	{
		name: "last rate holds after the stages",
		workload: scenario.Workload{Stages: []scenario.Stage{
			{RampTo: 50, Over: sec(2)},
		}},
		duration: 5 * time.Second,
		integral: 50 + 50*3,
	},
	{
		name: "ramp down",
		workload: scenario.Workload{Stages: []scenario.Stage{
			{Hold: 80, For: sec(1)}, {RampTo: 20, Over: sec(3)},
		}},
		duration: 4 * time.Second,
		integral: 80 + (80+20)/2.0*3,
	},
	{
		name: "stages cut at the end",
		workload: scenario.Workload{Stages: []scenario.Stage{
			{RampTo: 100, Over: sec(10)},
		}},
		duration: 4 * time.Second,
		integral: 40 * 4 / 2.0, // the ramp reaches 40/s at 4 s
	},
	{
		name: "idle start",
		workload: scenario.Workload{Stages: []scenario.Stage{
			{Hold: 0, For: sec(2)}, {Hold: 10, For: sec(1)}, {RampTo: 0, Over: sec(1)},
		}},
		duration: 4 * time.Second,
		integral: 10 + 5,
	},
}

func TestRateProfileIntegral(t *testing.T) {
	for _, tc := range profileCases {
		t.Run(tc.name, func(t *testing.T) {
			p := newRateProfile(tc.workload, tc.duration)
			if math.Abs(p.total-tc.integral) > 1e-9 {
				t.Fatalf("integral = %v, want %v", p.total, tc.integral)
			}
			// Λ⁻¹ inverts Λ, and Λ' is λ.
			cursor := 0
			for y := 0.25; y < p.total; y += p.total / 97 {
				at := p.inverse(y, &cursor)
				if got := p.integral(at); math.Abs(got-y) > 1e-6 {
					t.Fatalf("Λ(Λ⁻¹(%v)) = %v", y, got)
				}
			}
			for at := 0.05; at < p.dur-0.05; at += 0.1 {
				h := 1e-4
				slope := (p.integral(at+h) - p.integral(at-h)) / (2 * h)
				if math.Abs(slope-p.rateAt(at)) > 1e-3*max(1, p.rateAt(at)) {
					t.Fatalf("dΛ/dt(%v) = %v, λ = %v", at, slope, p.rateAt(at))
				}
			}
		})
	}
}

func arrivals(t *testing.T, p Pacer) []time.Duration {
	t.Helper()
	var out []time.Duration
	for {
		at, ok := p.Next()
		if !ok {
			return out
		}
		if n := len(out); n > 0 && at < out[n-1] {
			t.Fatalf("arrival %d at %v before arrival %d at %v", n, at, n-1, out[n-1])
		}
		out = append(out, at)
		if len(out) > 10_000_000 {
			t.Fatal("pacer does not stop")
		}
	}
}

func TestUniformPacerMatchesIntegral(t *testing.T) {
	for _, tc := range profileCases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPacer(tc.workload, tc.duration, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := arrivals(t, p)
			if d := float64(len(got)) - tc.integral; math.Abs(d) > 1 {
				t.Fatalf("%d arrivals, integral %v", len(got), tc.integral)
			}
			if n := len(got); n > 0 && (got[0] < 0 || got[n-1] >= tc.duration) {
				t.Fatalf("arrivals span [%v, %v], outside the run of %v", got[0], got[n-1], tc.duration)
			}
			// Every second holds its share of the integral to within one.
			prof := newRateProfile(tc.workload, tc.duration)
			perSecond := map[int]int{}
			for _, at := range got {
				perSecond[int(at/time.Second)]++
			}
			for s := 0; float64(s) < prof.dur; s++ {
				want := prof.integral(float64(s+1)) - prof.integral(float64(s))
				if math.Abs(float64(perSecond[s])-want) > 1 {
					t.Errorf("second %d: %d arrivals, integral %v", s, perSecond[s], want)
				}
			}
			// Nothing where the rate is zero (idle start: none before 2 s).
			for _, at := range got {
				if s := at.Seconds(); prof.rateAt(s) == 0 && prof.rateAt(s-1e-3) == 0 {
					t.Fatalf("arrival at %v where the rate is zero", at)
				}
			}
		})
	}
}

func TestUniformPacerIsEvenlySpaced(t *testing.T) {
	p, err := NewPacer(scenario.Workload{Rate: 100}, 2*time.Second, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := arrivals(t, p)
	if len(got) != 200 {
		t.Fatalf("%d arrivals, want 200", len(got))
	}
	if got[0] != 5*time.Millisecond {
		t.Errorf("first arrival at %v, want 5ms (the middle of its 10ms slot)", got[0])
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i] - got[i-1]; gap < 10*time.Millisecond-time.Microsecond || gap > 10*time.Millisecond+time.Microsecond {
			t.Fatalf("gap %d = %v, want 10ms", i, gap)
		}
	}
}

func newPoisson(t *testing.T, w scenario.Workload, d time.Duration, seed int64, index int) Pacer {
	t.Helper()
	w.Arrival = "poisson"
	p, err := NewPacer(w, d, seed, index)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPoissonPacerCountsFollowTheIntegral(t *testing.T) {
	for _, tc := range profileCases {
		t.Run(tc.name, func(t *testing.T) {
			// A Poisson count has variance equal to its mean: allow 5σ.
			for seed := int64(1); seed <= 5; seed++ {
				got := arrivals(t, newPoisson(t, tc.workload, tc.duration, seed, 0))
				if d := math.Abs(float64(len(got)) - tc.integral); d > 5*math.Sqrt(tc.integral)+1 {
					t.Errorf("seed %d: %d arrivals, integral %v", seed, len(got), tc.integral)
				}
			}
		})
	}
	// Over many runs of a ramp, the mean count of each second converges to
	// that second's integral: the ramp's shape is followed, not just its total.
	w := scenario.Workload{Stages: []scenario.Stage{{RampTo: 200, Over: sec(4)}}}
	prof := newRateProfile(w, 4*time.Second)
	const runs = 200
	perSecond := make([]float64, 4)
	for seed := range int64(runs) {
		for _, at := range arrivals(t, newPoisson(t, w, 4*time.Second, seed, 3)) {
			perSecond[int(at/time.Second)]++
		}
	}
	for s := range perSecond {
		want := prof.integral(float64(s+1)) - prof.integral(float64(s))
		mean := perSecond[s] / runs
		sigma := math.Sqrt(want / runs)
		if math.Abs(mean-want) > 5*sigma {
			t.Errorf("second %d: mean %.2f arrivals over %d runs, integral %.2f (σ %.2f)", s, mean, runs, want, sigma)
		}
		t.Logf("second %d: mean %.2f, integral %.2f", s, mean, want)
	}
}

func TestPoissonPacerInterArrivals(t *testing.T) {
	const rate = 1000.0
	got := arrivals(t, newPoisson(t, scenario.Workload{Rate: rate}, 200*time.Second, 42, 0))
	n := float64(len(got) - 1)
	var sum, sq float64
	for i := 1; i < len(got); i++ {
		g := (got[i] - got[i-1]).Seconds()
		sum += g
		sq += g * g
	}
	mean := sum / n
	cv := math.Sqrt(sq/n-mean*mean) / mean
	t.Logf("%d arrivals: mean gap %.4fms (want %.4fms), CV %.4f (want 1)", len(got), mean*1e3, 1e3/rate, cv)
	if math.Abs(mean*rate-1) > 0.02 {
		t.Errorf("mean gap %v s, want %v s", mean, 1/rate)
	}
	if math.Abs(cv-1) > 0.02 {
		t.Errorf("coefficient of variation %v, want 1", cv)
	}
}

func TestPacersAreDeterministic(t *testing.T) {
	w := scenario.Workload{Stages: []scenario.Stage{{RampTo: 300, Over: sec(2)}, {Hold: 300, For: sec(1)}}}
	d := 3 * time.Second
	a := arrivals(t, newPoisson(t, w, d, 7, 1))
	b := arrivals(t, newPoisson(t, w, d, 7, 1))
	if len(a) != len(b) {
		t.Fatalf("same seed: %d and %d arrivals", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed: arrival %d at %v and %v", i, a[i], b[i])
		}
	}
	differs := func(x, y []time.Duration) bool {
		if len(x) != len(y) {
			return true
		}
		for i := range x {
			if x[i] != y[i] {
				return true
			}
		}
		return false
	}
	if !differs(a, arrivals(t, newPoisson(t, w, d, 8, 1))) {
		t.Error("another seed gives the same arrivals")
	}
	if !differs(a, arrivals(t, newPoisson(t, w, d, 7, 2))) {
		t.Error("another workload index gives the same arrivals")
	}
}

func TestNewPacerRejectsUnknownArrival(t *testing.T) {
	if _, err := NewPacer(scenario.Workload{Name: "w", Arrival: "bursty", Rate: 1}, time.Second, 1, 0); err == nil {
		t.Fatal("want an error for an unknown arrival process")
	}
}
