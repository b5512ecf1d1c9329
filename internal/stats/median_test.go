package stats

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), c.xs...)
		if got := Median(c.xs); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.xs, got, c.want)
		}
		for i := range in {
			if in[i] != c.xs[i] {
				t.Errorf("Median reordered its input: %v", c.xs)
			}
		}
	}
}

func TestTInterval(t *testing.T) {
	for _, c := range []struct {
		xs        []float64
		low, high float64
	}{
		{[]float64{4}, 4, 4},
		{[]float64{5, 5, 5}, 5, 5},
		// mean 2, s = 1, n = 3: t(0.975, 2) = 4.3027, half-width 4.3027/√3.
		{[]float64{1, 2, 3}, 2 - 4.302653/math.Sqrt(3), 2 + 4.302653/math.Sqrt(3)},
		// n = 2: t(0.975, 1) = 12.706, s = √2·1.
		{[]float64{10, 12}, 11 - 12.706205, 11 + 12.706205},
	} {
		low, high := TInterval(c.xs, 0.95)
		if math.Abs(low-c.low) > 1e-5 || math.Abs(high-c.high) > 1e-5 {
			t.Errorf("TInterval(%v) = [%g, %g], want [%g, %g]", c.xs, low, high, c.low, c.high)
		}
	}
	if low, high := TInterval(nil, 0.95); !math.IsNaN(low) || !math.IsNaN(high) {
		t.Errorf("TInterval(nil) = [%g, %g], want NaNs", low, high)
	}
}
