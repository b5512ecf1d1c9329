package workflow

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// erlangC is the probability that an arrival waits at an M/M/c station
// with offered load a = λ/μ.
func erlangC(c int, a float64) float64 {
	sum, term := 0.0, 1.0
	for k := range c {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	last := term * a / float64(c) * float64(c) / (float64(c) - a)
	return last / (sum + last)
}

// mmcMaxRate is the arrival rate at which an M/M/c station's mean response
// time 1/μ + C(c, λ/μ)/(cμ − λ) reaches t.
func mmcMaxRate(c int, mu, t float64) float64 {
	lo, hi := 0.0, float64(c)*mu*(1-1e-9)
	for range 200 {
		m := (lo + hi) / 2
		if 1/mu+erlangC(c, m/mu)/(float64(c)*mu-m) < t {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

func TestErlangC(t *testing.T) {
	// M/M/1: C = ρ, so the mean response time is 1/(μ−λ).
	if got := mmcMaxRate(1, 200, 0.02); math.Abs(got-150) > 1e-6 {
		t.Errorf("M/M/1 max rate = %g, want 150", got)
	}
	// A textbook value: c=2, a=1 → C = 1/3.
	if got := erlangC(2, 1); math.Abs(got-1.0/3) > 1e-12 {
		t.Errorf("C(2,1) = %g, want 1/3", got)
	}
}

// fastCapacity are short steps for tests: queueing theory needs seconds,
// not minutes, at these rates. An invalid step is run again once: enough to
// ride out a neighbour's burst without doubling the test.
func fastCapacity() CapacityOptions {
	return CapacityOptions{StepDuration: 4 * time.Second, Warmup: time.Second, Cooldown: 100 * time.Millisecond,
		MaxSteps: 9, Growth: 1.5, Precision: 0.06, Repeats: 1, InvalidRetries: 1, InvalidCooldown: 500 * time.Millisecond}
}

// skipIfMachineBound skips a test of the SUT's capacity against theory
// when the machine disturbed its search: a step was invalid (the apparatus,
// not the SUT, decided it), so the machine was busy while it ran and the
// valid steps around it may be biased too (below the validity bound, and by
// delays the result's apparatus figures may not cover). A busy machine must
// not make such a test fail; the search saying so is the behaviour under
// test elsewhere (TestSearchInvalidSteps).
func skipIfMachineBound(t *testing.T, c *Capacity, log string) {
	t.Helper()
	if n := c.invalidSteps(); n > 0 {
		t.Skipf("the machine disturbed this search (%d invalid step(s)): %s\n%s", n, c.Note, log)
	}
}

// examples/capacity.yaml: two M/M/2 backends (exponential service of mean
// 5ms, two workers each) fed independent Poisson streams by the random
// strategy, and the requirement mean(latency) < 10ms: Erlang C puts the
// highest rate at 2 × 282.8/s = 565.7/s. The highest passing rate and the
// interpolated threshold must both land within 15% of it. Each
// step measures 3 s, about 1700 responses, whose mean service time alone
// varies by ±2.5%; the proxy and the loopback add about 0.5ms to every
// response (the threshold at 9.5ms would be 550/s).
func TestCapacityMatchesErlangC(t *testing.T) {
	if testing.Short() {
		t.Skip("a capacity search runs for about 30 s")
	}
	sc := loadExample(t, "capacity.yaml")
	want := 2 * mmcMaxRate(2, 200, 0.010)
	opts := fastCapacity()
	opts.Start = 400
	var progress strings.Builder
	opts.Progress = &progress
	c, err := FindCapacity(context.Background(), sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	skipIfMachineBound(t, c, progress.String())
	t.Logf("expected %.1f/s (Erlang C), found %.1f/s (fails at %.1f/s, interpolated %.1f/s, knee %.1f/s)\n%s",
		want, c.MaxRateRPS, c.FailRateRPS, c.EstimatedRPS, c.KneeRPS, progress.String())
	if math.Abs(c.MaxRateRPS-want)/want > 0.15 {
		t.Errorf("max rate %.1f/s, want %.1f/s ± 15%%", c.MaxRateRPS, want)
	}
	if math.Abs(c.EstimatedRPS-want)/want > 0.15 {
		t.Errorf("interpolated threshold %.1f/s, want %.1f/s ± 15%%", c.EstimatedRPS, want)
	}
	if c.FailRateRPS <= c.MaxRateRPS {
		t.Errorf("fail rate %.1f not above max rate %.1f", c.FailRateRPS, c.MaxRateRPS)
	}
	if len(c.Steps) > opts.MaxSteps {
		t.Errorf("%d steps, more than max %d", len(c.Steps), opts.MaxSteps)
	}
	dir := t.TempDir()
	if err := c.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"capacity.json", "capacity.md", "latency-vs-load.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
}

func TestKnee(t *testing.T) {
	var curve []CurvePoint
	for _, r := range []float64{10, 20, 30, 40, 50, 60} {
		// Flat up to 45, then a hockey stick: the knee is the last flat point.
		curve = append(curve, CurvePoint{RateRPS: r, P99MS: 5 + math.Max(0, r-45)*10})
	}
	if got := knee(curve); got != 40 {
		t.Errorf("knee = %g, want 40", got)
	}
	if got := knee(curve[:2]); got != 0 {
		t.Errorf("two points: knee %g, want 0", got)
	}
}

// Independent backends behind a random split scale linearly: USL σ and κ
// near 0, efficiency near 1.
func TestScaleIndependentBackendsIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("three capacity searches run for about a minute")
	}
	opts := fastCapacity()
	opts.Start = 240
	opts.Growth = 1.25
	opts.MaxSteps = 6
	// Near the knee (ρ ≈ 0.8 per M/M/2 station) the mean latency of a 4 s
	// step varies by a quarter from step to step: 8 s steps halve that
	// variance, so that one lucky step does not pass as capacity.
	opts.StepDuration = 8 * time.Second
	var progress strings.Builder
	opts.Progress = &progress
	s, err := Scale(context.Background(), loadExample(t, "capacity.yaml"), ScaleOptions{Backends: []int{1, 2, 4}, Capacity: opts, Project: []int{8, 16}})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	_ = s.WriteMarkdown(&md)
	t.Logf("\n%s\n%s", md.String(), progress.String())
	for _, p := range s.Points {
		skipIfMachineBound(t, p.Search, "")
	}
	if s.Fit == nil {
		t.Fatalf("no fit: %s", s.FitError)
	}
	if s.Fit.Degenerate {
		// Capacity per backend rising with backends is no behaviour of a
		// system: a step's statistical luck. The search's own figures say
		// so; nothing more can be checked of this measurement.
		t.Skipf("degenerate fit, a measurement to repeat: %s", s.Fit.DegenerateReason)
	}
	if s.Fit.Sigma > 0.1 || s.Fit.Kappa > 0.02 {
		t.Errorf("σ=%.3f κ=%.4f, want both near 0 (σ ≤ 0.1, κ ≤ 0.02)", s.Fit.Sigma, s.Fit.Kappa)
	}
	for _, p := range s.Points {
		if p.Efficiency < 0.85 || p.Efficiency > 1.15 {
			t.Errorf("%d backends: efficiency %.3f, want 1 ± 0.15", p.Backends, p.Efficiency)
		}
	}
	if e := s.Fit.Efficiency(16); e < 0.6 {
		t.Errorf("projected efficiency at 16 backends %.3f: independent backends should stay near linear", e)
	}
	dir := t.TempDir()
	if err := s.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scalability.png")); err != nil {
		t.Error("no scalability.png")
	}
}
