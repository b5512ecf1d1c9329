package report

import (
	"errors"
	"fmt"
	"math"
	"sort"
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
	// R2 is the share of the capacities' variance the curve explains (1:
	// all of it).
	R2 float64 `json:"r2"`
	// Degenerate is set when the fitted parameters describe no law of the
	// system (DegenerateReason says why; see Degenerate): they are kept for
	// the record, never to be read as a finding.
	Degenerate       bool   `json:"degenerate,omitempty"`
	DegenerateReason string `json:"degenerate_reason,omitempty"`
	// cov is the parameters' covariance matrix, for projection errors;
	// singular when it could not be computed (StdErr then 0: undefined).
	cov      [3][3]float64
	singular bool
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

// String is e.g. "λ=102.3/s σ=0.012 κ=0.0004", or "degenerate fit: why".
func (f USLFit) String() string {
	if f.Degenerate {
		return "degenerate fit: " + f.DegenerateReason
	}
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
		} else {
			fit.singular = true
		}
	}
	fit.R2 = rSquared(c, cur)
	fit.DegenerateReason = degenerate(n, c, fit, len(distinct))
	fit.Degenerate = fit.DegenerateReason != ""
	return fit, nil
}

// Bounds of a meaningful fit (see degenerate).
const (
	uslParams = 3
	// uslMinR2 is the least share of variance a fit with σ = κ = 0 (a
	// straight line through the origin) must explain to say "linear".
	uslMinR2 = 0.9
	// uslSuperlinear is how much the capacity per unit may rise from a
	// smaller count to a larger one before it contradicts the law (which
	// allows at most linear scaling): measurement noise of a few per cent
	// is not a contradiction, a rise of 15% is.
	uslSuperlinear = 1.15
	// uslMaxRelErr bounds the standard error of λ relative to λ; σ's and
	// κ's bound is 1 (σ is a share in [0, 1]; κ = 1 already halves the
	// capacity of two units): beyond them the parameter is not measured.
	uslMaxRelErr = 0.5
)

// degenerate says why a fit describes no law of the system, or "": fewer
// distinct counts than parameters; measured capacities the law cannot
// produce (capacity per unit rising with the count, or capacity falling and
// then rising again: the law rises to at most one peak); σ above 1 (it is a
// share of the work); a parameter held at its bound 0 by a curve that fits
// poorly (the bound, not the data, set it: σ = κ = 0 then says nothing
// about linearity); or standard errors undefined or beyond any meaningful
// range.
func degenerate(n, c []float64, fit USLFit, distinct int) string {
	if distinct < uslParams {
		return fmt.Sprintf("%d distinct unit counts for %d parameters: κ was held at 0 and the curve passes through every point", distinct, uslParams)
	}
	o := byCount(n, c)
	for i := range o {
		for j := i + 1; j < len(o); j++ {
			if o[j].perUnit() > uslSuperlinear*o[i].perUnit() {
				return fmt.Sprintf("capacity per unit rises from %g/s at %g to %g/s at %g: the law allows at most linear scaling, so a measurement is suspect",
					round3(o[i].perUnit()), o[i].n, round3(o[j].perUnit()), o[j].n)
			}
			for k := j + 1; k < len(o); k++ {
				if uslSuperlinear*o[j].c < o[i].c && uslSuperlinear*o[j].c < o[k].c {
					return fmt.Sprintf("capacity falls from %g/s at %g to %g/s at %g and rises again to %g/s at %g: the law rises to at most one peak, so a measurement is suspect",
						round3(o[i].c), o[i].n, round3(o[j].c), o[j].n, round3(o[k].c), o[k].n)
				}
			}
		}
	}
	if fit.Sigma > 1 {
		return fmt.Sprintf("σ = %.3g is above 1: contention is a share of the work, so capacity falling this much with a second unit is no contention the law describes", fit.Sigma)
	}
	if (fit.Sigma == 0 || fit.Kappa == 0) && fit.R2 < uslMinR2 {
		at := "σ and κ are both"
		switch {
		case fit.Sigma != 0:
			at = "κ is"
		case fit.Kappa != 0:
			at = "σ is"
		}
		return fmt.Sprintf("%s at the bound 0 and the curve explains only %.0f%% of the capacities' variance (R² %.2f): the bound, not the data, set the fit", at, 100*math.Max(fit.R2, 0), fit.R2)
	}
	if fit.DOF > 0 {
		e := fit.StdErr
		switch {
		case fit.singular || math.IsNaN(e[0]) || math.IsNaN(e[1]) || math.IsNaN(e[2]):
			return "the standard errors are undefined: these counts cannot tell the parameters apart"
		case e[0] > uslMaxRelErr*fit.Lambda, e[1] > 1, e[2] > 1:
			return fmt.Sprintf("the standard errors are huge (λ ± %.3g, σ ± %.3g, κ ± %.3g): the counts do not determine the parameters", e[0], e[1], e[2])
		}
	}
	return ""
}

// uslPoint is one measured capacity c at n units.
type uslPoint struct{ n, c float64 }

func (p uslPoint) perUnit() float64 { return p.c / p.n }

// byCount is the points by increasing n, each count's capacities averaged.
func byCount(n, c []float64) []uslPoint {
	sum, cnt := map[float64]float64{}, map[float64]int{}
	for i := range n {
		sum[n[i]] += c[i]
		cnt[n[i]]++
	}
	var out []uslPoint
	for x, s := range sum {
		out = append(out, uslPoint{n: x, c: s / float64(cnt[x])})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].n < out[b].n })
	return out
}

// rSquared is 1 − SSR/SST for the capacities c and the fit's sum of
// squared residuals ssr; 0 when the capacities do not vary.
func rSquared(c []float64, ssr float64) float64 {
	m := mean(c)
	var sst float64
	for _, x := range c {
		sst += (x - m) * (x - m)
	}
	if sst <= 0 { // every capacity equal: a perfect fit explains it all
		if ssr <= 1e-12*m*m*float64(len(c)) {
			return 1
		}
		return 0
	}
	return 1 - ssr/sst
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
