package report

import (
	"errors"
	"fmt"
	"math"
)

// USLFit is the Universal Scalability Law fitted to measured capacities:
//
//	C(N) = λN / (1 + σ(N−1) + κN(N−1))
//
// λ is the capacity of one unit, σ the contention (serial share: the part
// of the work that queues for something shared), κ the coherency cost
// (pairwise crosstalk, which makes capacity fall past a peak).
type USLFit struct {
	Lambda float64 `json:"lambda"`
	Sigma  float64 `json:"sigma"`
	Kappa  float64 `json:"kappa"`
	// StdErr are the standard errors of λ, σ and κ; zero when there are no
	// more points than parameters (the curve then goes through every point
	// and its error is unknown).
	StdErr [3]float64 `json:"std_err"`
	// RMSE is the root mean square of the residuals.
	RMSE float64 `json:"rmse"`
	// DOF is the residual degrees of freedom: points − parameters.
	DOF int `json:"dof"`
	// cov is the parameters' covariance matrix, for projection errors.
	cov [3][3]float64
}

// Capacity is the fitted capacity at n units.
func (f USLFit) Capacity(n float64) float64 {
	return f.Lambda * n / (1 + f.Sigma*(n-1) + f.Kappa*n*(n-1))
}

// CapacityError is the standard error of Capacity(n) from the parameters'
// covariance (delta method); 0 when unknown (no residual degrees of freedom).
func (f USLFit) CapacityError(n float64) float64 {
	g := uslGradient(f.Lambda, f.Sigma, f.Kappa, n)
	var v float64
	for i := range 3 {
		for j := range 3 {
			v += g[i] * f.cov[i][j] * g[j]
		}
	}
	return math.Sqrt(math.Max(v, 0))
}

// Efficiency is the fitted capacity at n divided by n times one unit's.
func (f USLFit) Efficiency(n float64) float64 {
	if f.Lambda == 0 || n <= 0 {
		return 0
	}
	return f.Capacity(n) / (n * f.Lambda)
}

// PeakN is the unit count of the highest capacity, √((1−σ)/κ); +Inf when
// the fitted capacity never falls (κ ≤ 0).
func (f USLFit) PeakN() float64 {
	if f.Kappa <= 0 || f.Sigma >= 1 {
		return math.Inf(1)
	}
	return math.Sqrt((1 - f.Sigma) / f.Kappa)
}

// String is e.g. "λ=102.3/s σ=0.012 κ=0.0004".
func (f USLFit) String() string {
	return fmt.Sprintf("λ=%.4g/s σ=%.4g κ=%.4g", f.Lambda, f.Sigma, f.Kappa)
}

// uslGradient is ∂C/∂(λ, σ, κ) at n.
func uslGradient(lambda, sigma, kappa, n float64) [3]float64 {
	d := 1 + sigma*(n-1) + kappa*n*(n-1)
	return [3]float64{n / d, -lambda * n * (n - 1) / (d * d), -lambda * n * n * (n - 1) / (d * d)}
}

// FitUSL fits the USL to capacities c measured at unit counts n by
// nonlinear least squares (Levenberg–Marquardt), with σ and κ held at 0
// or above (superlinear measurements are fitted as linear). It needs at
// least two points with distinct n; with two, κ is held at 0 (two points
// cannot tell contention from coherency).
func FitUSL(n, c []float64) (USLFit, error) {
	if len(n) != len(c) {
		return USLFit{}, errors.New("usl: n and c differ in length")
	}
	distinct := map[float64]bool{}
	for i := range n {
		if n[i] < 1 || c[i] <= 0 || math.IsNaN(c[i]) || math.IsInf(c[i], 0) {
			return USLFit{}, fmt.Errorf("usl: point %d (n=%g, c=%g) must have n >= 1 and c > 0", i, n[i], c[i])
		}
		distinct[n[i]] = true
	}
	if len(distinct) < 2 {
		return USLFit{}, errors.New("usl: need capacities at two or more unit counts")
	}
	free := 3
	if len(distinct) == 2 {
		free = 2 // κ fixed at 0
	}
	// Start from linear scaling through the smallest count's throughput per unit.
	k := 0
	for i := range n {
		if n[i] < n[k] {
			k = i
		}
	}
	p := [3]float64{c[k] / n[k], 0, 0}
	ssr := func(p [3]float64) float64 {
		var s float64
		for i := range n {
			r := c[i] - USLFit{Lambda: p[0], Sigma: p[1], Kappa: p[2]}.Capacity(n[i])
			s += r * r
		}
		return s
	}
	mu := 1e-3
	cur := ssr(p)
	for range 500 {
		var jtj [3][3]float64
		var jtr [3]float64
		for i := range n {
			g := uslGradient(p[0], p[1], p[2], n[i])
			r := c[i] - USLFit{Lambda: p[0], Sigma: p[1], Kappa: p[2]}.Capacity(n[i])
			for a := range free {
				jtr[a] += g[a] * r
				for b := range free {
					jtj[a][b] += g[a] * g[b]
				}
			}
		}
		improved := false
		for range 30 {
			var m [3][3]float64
			for a := range free {
				for b := range free {
					m[a][b] = jtj[a][b]
				}
				m[a][a] += mu * math.Max(jtj[a][a], 1e-12)
			}
			step, ok := solve(m, jtr, free)
			if !ok {
				mu *= 10
				continue
			}
			next := p
			for a := range free {
				next[a] += step[a]
			}
			// σ and κ are shares of work: never negative (a projection
			// with negative coherency would rise without bound).
			next[1], next[2] = math.Max(next[1], 0), math.Max(next[2], 0)
			if s := ssr(next); s < cur && next[0] > 0 {
				rel := (cur - s) / math.Max(cur, 1e-300)
				p, cur = next, s
				mu = math.Max(mu/10, 1e-12)
				improved = true
				if rel < 1e-14 {
					improved = false
				}
				break
			}
			mu *= 10
		}
		if !improved {
			break
		}
	}
	fit := USLFit{Lambda: p[0], Sigma: p[1], Kappa: p[2], DOF: len(n) - free}
	fit.RMSE = math.Sqrt(cur / float64(len(n)))
	if fit.DOF > 0 {
		var jtj [3][3]float64
		for i := range n {
			g := uslGradient(p[0], p[1], p[2], n[i])
			for a := range free {
				for b := range free {
					jtj[a][b] += g[a] * g[b]
				}
			}
		}
		if inv, ok := invert(jtj, free); ok {
			s2 := cur / float64(fit.DOF)
			for a := range free {
				for b := range free {
					fit.cov[a][b] = inv[a][b] * s2
				}
				fit.StdErr[a] = math.Sqrt(math.Max(fit.cov[a][a], 0))
			}
		}
	}
	return fit, nil
}

// solve solves the k×k system m x = v by Gaussian elimination with
// partial pivoting.
func solve(m [3][3]float64, v [3]float64, k int) ([3]float64, bool) {
	var x [3]float64
	for col := range k {
		piv := col
		for r := col + 1; r < k; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[piv][col]) {
				piv = r
			}
		}
		if math.Abs(m[piv][col]) < 1e-300 {
			return x, false
		}
		m[col], m[piv] = m[piv], m[col]
		v[col], v[piv] = v[piv], v[col]
		for r := col + 1; r < k; r++ {
			f := m[r][col] / m[col][col]
			for c := col; c < k; c++ {
				m[r][c] -= f * m[col][c]
			}
			v[r] -= f * v[col]
		}
	}
	for r := k - 1; r >= 0; r-- {
		s := v[r]
		for c := r + 1; c < k; c++ {
			s -= m[r][c] * x[c]
		}
		x[r] = s / m[r][r]
	}
	return x, true
}

// invert inverts the leading k×k block of m.
func invert(m [3][3]float64, k int) ([3][3]float64, bool) {
	var out [3][3]float64
	for c := range k {
		var e [3]float64
		e[c] = 1
		x, ok := solve(m, e, k)
		if !ok {
			return out, false
		}
		for r := range k {
			out[r][c] = x[r]
		}
	}
	return out, true
}
