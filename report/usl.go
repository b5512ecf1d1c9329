package report

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
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
	// cov is the covariance matrix of the fitted parameters (λ, σ and,
	// unless held at 0, κ), for projection errors; nil when unknown.
	// singular is set when the counts leave it undefined (StdErr then 0).
	cov      *mat.SymDense
	singular bool
}

// Capacity is the fitted capacity at n units.
func (f USLFit) Capacity(n float64) float64 {
	return f.Lambda * n / (1 + f.Sigma*(n-1) + f.Kappa*n*(n-1))
}

// CapacityError is the standard error of Capacity(n) from the parameters'
// covariance (delta method); 0 when unknown (no residual degrees of freedom).
func (f USLFit) CapacityError(n float64) float64 {
	if f.cov == nil {
		return 0
	}
	g := uslGradient(f.Lambda, f.Sigma, f.Kappa, n)
	gv := mat.NewVecDense(f.cov.SymmetricDim(), g[:f.cov.SymmetricDim()])
	return math.Sqrt(math.Max(mat.Inner(gv, f.cov, gv), 0))
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
// nonlinear least squares, with σ and κ held at 0 or above (superlinear
// measurements are fitted as linear). It needs at least two points with
// distinct n; with two, κ is held at 0 (two points cannot tell contention
// from coherency).
//
// The search runs on the reciprocal form of the law, n/C(n) = a + s(n−1) +
// kn(n−1) with a = 1/λ, s = σ/λ, k = κ/λ: linear in its parameters, so a
// weighted linear fit starts the nonlinear one close to its answer, and the
// bounds are bounds on each (s, k ≥ 0). Capacities falling so steeply that
// only an ever larger λ fits them better (a pole below the smallest count)
// meet the bound λ ≤ uslMaxLambda × the smallest count's capacity per unit;
// such a fit has σ far above 1. Each combination of parameters free or at
// their bound is minimised (gonum's Newton method on the Gauss–Newton
// Hessian), and the best fit within the bounds is kept. The standard errors
// come from the covariance s²(JᵀJ)⁻¹ of λ, σ and κ at the fit.
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
	prob := newUSLProblem(n, c)
	var best [3]float64
	ssr := math.Inf(1)
	for face := range 8 { // bit j set: parameter j (a, s, k) held at its bound
		if free == 2 && face&4 == 0 {
			continue
		}
		for _, start := range prob.starts(face) {
			if r, s, ok := prob.fit(face, start); ok && s < ssr {
				best, ssr = r, s
			}
		}
	}
	// The face that holds every parameter at its bound is always within
	// them, so best is set.
	p := [3]float64{1 / best[0], best[1] / best[0], best[2] / best[0]}
	fit := USLFit{Lambda: p[0], Sigma: p[1], Kappa: p[2], DOF: len(n) - free}
	fit.RMSE = math.Sqrt(ssr / float64(len(n)))
	if fit.DOF > 0 {
		fit.cov, fit.singular = uslCovariance(n, p, free, ssr/float64(fit.DOF))
		for a := 0; fit.cov != nil && a < free; a++ {
			fit.StdErr[a] = math.Sqrt(math.Max(fit.cov.At(a, a), 0))
		}
	}
	fit.R2 = rSquared(c, ssr)
	fit.DegenerateReason = degenerate(n, c, fit, len(distinct))
	fit.Degenerate = fit.DegenerateReason != ""
	return fit, nil
}

// uslMaxLambda bounds λ, relative to the smallest count's capacity per
// unit: a fit reaches it only when the capacities need λ → ∞ (see FitUSL).
const uslMaxLambda = 1e6

// uslProblem is the least-squares fit of the reciprocal law r = (a, s, k)
// to the capacities c at counts n.
type uslProblem struct {
	n, c  []float64
	norm  float64    // Σc²: the residuals are fitted relative to it
	unit  float64    // 1/λ at linear scaling through the smallest count: the parameters' scale
	bound [3]float64 // the least a, s and k: 1/(uslMaxLambda λ₀), 0, 0
}

func newUSLProblem(n, c []float64) *uslProblem {
	k := 0
	for i := range n {
		if n[i] < n[k] {
			k = i
		}
	}
	p := &uslProblem{n: n, c: c, unit: n[k] / c[k]}
	p.bound[0] = p.unit / uslMaxLambda
	for _, x := range c {
		p.norm += x * x
	}
	return p
}

// uslBasis is ∂(n/C)/∂(a, s, k) at n: the reciprocal law is linear in them.
func uslBasis(n float64) [3]float64 { return [3]float64{1, n - 1, n * (n - 1)} }

// held says whether a face holds parameter j at its bound.
func held(face, j int) bool { return face&(1<<j) != 0 }

// starts are where the search of a face starts: linear scaling through
// the smallest count, and the weighted linear fit of n/C(n) (each residual
// of n/C weighted by C²/n, ∂C/∂(n/C), to stand for a residual of C), moved
// into the bounds. The law is not convex: two starts find the best fit
// where one may stop short.
func (p *uslProblem) starts(face int) [][3]float64 {
	linear := p.bound
	if !held(face, 0) {
		linear[0] = p.unit
	}
	starts := [][3]float64{linear}
	var cols []int
	for j := range 3 {
		if !held(face, j) {
			cols = append(cols, j)
		}
	}
	if len(cols) == 0 {
		return starts
	}
	a := mat.NewDense(len(p.n), len(cols), nil)
	b := mat.NewVecDense(len(p.n), nil)
	for i, n := range p.n {
		w := p.c[i] * p.c[i] / n
		basis := uslBasis(n)
		rhs := n / p.c[i]
		for j := range 3 {
			if held(face, j) {
				rhs -= p.bound[j] * basis[j]
			}
		}
		for col, j := range cols {
			a.Set(i, col, w*basis[j])
		}
		b.SetVec(i, w*rhs)
	}
	var x mat.VecDense
	if err := x.SolveVec(a, b); err != nil {
		return starts
	}
	fitted := p.bound
	for col, j := range cols {
		fitted[j] = math.Max(x.AtVec(col), p.bound[j])
	}
	return append(starts, fitted)
}

// fit minimises the sum of squared residuals over the parameters a face
// frees, from start, the others at their bounds. It returns the
// parameters, their sum of squared residuals, and whether the fit is within
// the bounds.
func (p *uslProblem) fit(face int, start [3]float64) ([3]float64, float64, bool) {
	var cols []int
	for j := range 3 {
		if !held(face, j) {
			cols = append(cols, j)
		}
	}
	if len(cols) == 0 {
		return start, p.ssr(start), true
	}
	// The search's variables are the free parameters in units of p.unit.
	params := func(x []float64) [3]float64 {
		r := p.bound
		for col, j := range cols {
			r[j] = x[col] * p.unit
		}
		return r
	}
	// jacobian is ∂C/∂x at n for the free parameters.
	jacobian := func(r [3]float64, n float64) []float64 {
		basis := uslBasis(n)
		q := r[0]*basis[0] + r[1]*basis[1] + r[2]*basis[2]
		out := make([]float64, len(cols))
		for col, j := range cols {
			out[col] = -n / (q * q) * basis[j] * p.unit
		}
		return out
	}
	problem := optimize.Problem{
		Func: func(x []float64) float64 { return p.ssr(params(x)) / p.norm },
		Grad: func(grad, x []float64) {
			r := params(x)
			clear(grad)
			for i, n := range p.n {
				res := p.residual(r, i)
				for col, g := range jacobian(r, n) {
					grad[col] -= 2 * res * g / p.norm
				}
			}
		},
		// The Gauss–Newton Hessian 2JᵀJ: positive semi-definite, and the
		// exact one where the residuals vanish.
		Hess: func(hess *mat.SymDense, x []float64) {
			r := params(x)
			hess.Zero()
			for _, n := range p.n {
				hess.SymRankOne(hess, 2/p.norm, mat.NewVecDense(len(cols), jacobian(r, n)))
			}
		},
	}
	x0 := make([]float64, len(cols))
	for col, j := range cols {
		x0[col] = start[j] / p.unit
	}
	// An error (a line search that can go no further) still leaves the
	// best location found, which the bounds and the caller's comparison
	// judge like any other. The evaluation bound stops a line search that
	// would not end.
	res, _ := optimize.Minimize(problem, x0, &optimize.Settings{MajorIterations: 500, FuncEvaluations: 10000}, &optimize.Newton{})
	if res == nil || math.IsNaN(res.F) {
		return [3]float64{}, 0, false
	}
	r := params(res.X)
	inBounds := true
	for _, j := range cols {
		inBounds = inBounds && r[j] >= p.bound[j]
	}
	return r, res.F * p.norm, inBounds && r[0] > 0
}

// residual is c[i] − C(n[i]) for the reciprocal parameters r.
func (p *uslProblem) residual(r [3]float64, i int) float64 {
	basis := uslBasis(p.n[i])
	return p.c[i] - p.n[i]/(r[0]*basis[0]+r[1]*basis[1]+r[2]*basis[2])
}

func (p *uslProblem) ssr(r [3]float64) float64 {
	var s float64
	for i := range p.n {
		res := p.residual(r, i)
		s += res * res
	}
	return s
}

// uslCovariance is s²(JᵀJ)⁻¹ over the first free parameters at p, or
// singular when JᵀJ has no inverse. JᵀJ is factorised with its columns
// scaled to unit length first: κ's column grows as n³ and λ's with 1/λ, so
// unscaled the matrix can look singular when only its units differ.
func uslCovariance(n []float64, p [3]float64, free int, s2 float64) (cov *mat.SymDense, singular bool) {
	var scale [3]float64
	for _, ni := range n {
		g := uslGradient(p[0], p[1], p[2], ni)
		for a := range free {
			scale[a] += g[a] * g[a]
		}
	}
	for a := range free {
		if scale[a] == 0 || math.IsNaN(scale[a]) || math.IsInf(scale[a], 0) {
			return nil, true
		}
		scale[a] = 1 / math.Sqrt(scale[a])
	}
	jtj := mat.NewSymDense(free, nil)
	for _, ni := range n {
		g := uslGradient(p[0], p[1], p[2], ni)
		for a := range free {
			g[a] *= scale[a]
		}
		jtj.SymRankOne(jtj, 1, mat.NewVecDense(free, g[:free]))
	}
	var chol mat.Cholesky
	if !chol.Factorize(jtj) {
		return nil, true
	}
	cov = mat.NewSymDense(free, nil)
	if err := chol.InverseTo(cov); err != nil {
		return nil, true
	}
	for a := range free {
		for b := a; b < free; b++ {
			cov.SetSym(a, b, cov.At(a, b)*scale[a]*scale[b]*s2)
		}
	}
	return cov, false
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
