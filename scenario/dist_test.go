package scenario

import (
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"
)

func samples(d Distribution, n int, seed int64) []float64 {
	r := rand.New(rand.NewSource(seed))
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(d.Sample(r))
	}
	return out
}

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// quantile of sorted xs (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

func within(got, want, rel float64) bool { return math.Abs(got-want) <= rel*want }

func TestDistributionSampleStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test: skipped with -short")
	}
	const n = 100_000
	ms := float64(time.Millisecond)

	exp := Distribution{Dist: "exponential", Mean: Duration(5 * time.Millisecond)}
	expMean := mean(samples(exp, n, 1))
	t.Logf("exponential(mean 5ms): sample mean %.4fms", expMean/ms)
	if got := expMean; !within(got, 5*ms, 0.02) {
		t.Errorf("exponential mean = %.3fms, want 5ms ±2%%", got/ms)
	}

	logn := Distribution{Dist: "lognormal", Median: Duration(4 * time.Millisecond), P99: Duration(40 * time.Millisecond)}
	xs := samples(logn, n, 2)
	slices.Sort(xs)
	t.Logf("lognormal(median 4ms, p99 40ms): sample median %.4fms, p99 %.4fms, mean %.4fms (MeanDuration %s)",
		quantile(xs, 0.5)/ms, quantile(xs, 0.99)/ms, mean(xs)/ms, logn.MeanDuration())
	if got := quantile(xs, 0.5); !within(got, 4*ms, 0.03) {
		t.Errorf("lognormal median = %.3fms, want 4ms ±3%%", got/ms)
	}
	if got := quantile(xs, 0.99); !within(got, 40*ms, 0.03) {
		t.Errorf("lognormal p99 = %.3fms, want 40ms ±3%%", got/ms)
	}
	if got, want := mean(xs), float64(logn.MeanDuration()); !within(got, want, 0.03) {
		t.Errorf("lognormal mean = %.3fms, MeanDuration says %.3fms", got/ms, want/ms)
	}

	uni := Distribution{Dist: "uniform", Min: Duration(2 * time.Millisecond), Max: Duration(6 * time.Millisecond)}
	us := samples(uni, n, 3)
	lo, hi := slices.Min(us), slices.Max(us)
	t.Logf("uniform(2ms, 6ms): min %.4fms, max %.4fms, mean %.4fms", lo/ms, hi/ms, mean(us)/ms)
	if lo < 2*ms || hi > 6*ms {
		t.Errorf("uniform samples in [%.4f, %.4f]ms, outside [2, 6]ms", lo/ms, hi/ms)
	}
	if lo > 2.01*ms || hi < 5.99*ms {
		t.Errorf("uniform samples in [%.4f, %.4f]ms do not cover [2, 6]ms", lo/ms, hi/ms)
	}
	if got := mean(us); !within(got, 4*ms, 0.01) {
		t.Errorf("uniform mean = %.3fms, want 4ms ±1%%", got/ms)
	}
}

func TestDistributionSampleDeterministic(t *testing.T) {
	constant := Distribution{Dist: "constant", Value: Duration(5 * time.Millisecond)}
	for _, x := range samples(constant, 100, 1) {
		if x != float64(5*time.Millisecond) {
			t.Fatalf("constant sampled %v", time.Duration(x))
		}
	}
	if got := (Distribution{}).Sample(rand.New(rand.NewSource(1))); got != 0 {
		t.Errorf("zero distribution sampled %v", got)
	}
	exp := Distribution{Dist: "exponential", Mean: Duration(time.Millisecond)}
	if a, b := samples(exp, 50, 7), samples(exp, 50, 7); !slices.Equal(a, b) {
		t.Error("same seed gave different samples")
	}
}
