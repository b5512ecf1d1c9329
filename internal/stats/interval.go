package stats

import (
	"math"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
)

// TInterval is the two-sided confidence interval at level (0.95 for 95%)
// of the mean of xs by Student's t: mean ± t(level, n−1)·s/√n. It suits a
// handful of independent measurements of one figure, where a bootstrap
// has too few values to resample. One value gives [x, x]; none gives NaNs.
func TInterval(xs []float64, level float64) (low, high float64) {
	switch len(xs) {
	case 0:
		return math.NaN(), math.NaN()
	case 1:
		return xs[0], xs[0]
	}
	mean, sd := stat.MeanStdDev(xs, nil)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(1 - (1-level)/2)
	half := t * sd / math.Sqrt(float64(len(xs)))
	return mean - half, mean + half
}
