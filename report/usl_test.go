package report

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFitUSL(t *testing.T) {
	cases := []struct {
		name                string
		lambda, sigma, kapp float64
		n                   []float64
		noise               float64 // relative, uniform ±
		tol                 float64 // on σ and κ, absolute; on λ relative
	}{
		{"linear", 100, 0, 0, []float64{1, 2, 4, 8}, 0, 1e-6},
		{"contention", 100, 0.05, 0, []float64{1, 2, 4, 8, 16}, 0, 1e-6},
		{"coherency", 250, 0.03, 0.002, []float64{1, 2, 4, 8, 16, 32}, 0, 1e-6},
		{"noisy", 250, 0.03, 0.002, []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32}, 0.01, 0.02},
		{"three points exact", 80, 0.1, 0.01, []float64{1, 2, 4}, 0, 1e-5},
		{"peak inside the counts", 1000, 0.02, 0.005, []float64{1, 2, 4, 8, 12, 16, 24}, 0, 1e-6},
		{"heavy contention", 50, 0.6, 0, []float64{1, 2, 3, 4, 6, 8}, 0, 1e-6},
		{"no count of one unit: λ extrapolated", 300, 0.1, 0.001, []float64{2, 4, 8, 16}, 0, 1e-6},
		{"counts over two decades", 1800, 0.0007, 0.00002, []float64{1, 3, 9, 27, 81}, 0, 1e-6},
		{"contention with noise", 120, 0.25, 0.01, []float64{1, 2, 3, 4, 5, 6, 8, 10}, 0.02, 0.05},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			truth := USLFit{Lambda: c.lambda, Sigma: c.sigma, Kappa: c.kapp}
			rng := rand.New(rand.NewPCG(1, 2))
			var caps []float64
			for _, n := range c.n {
				caps = append(caps, truth.Capacity(n)*(1+c.noise*(2*rng.Float64()-1)))
			}
			fit, err := FitUSL(c.n, caps)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(fit.Lambda-c.lambda)/c.lambda > c.tol || math.Abs(fit.Sigma-c.sigma) > c.tol || math.Abs(fit.Kappa-c.kapp) > c.tol {
				t.Errorf("fit %v, want λ=%g σ=%g κ=%g (tolerance %g)", fit, c.lambda, c.sigma, c.kapp, c.tol)
			}
			if c.noise > 0 {
				if fit.StdErr[1] <= 0 || fit.CapacityError(64) <= 0 {
					t.Errorf("noisy fit has no error estimate: %+v", fit)
				}
				// The truth lies within a few standard errors of the projection.
				if d := math.Abs(fit.Capacity(40) - truth.Capacity(40)); d > 4*fit.CapacityError(40)+1 {
					t.Errorf("projection at 40: %g ± %g, truth %g", fit.Capacity(40), fit.CapacityError(40), truth.Capacity(40))
				}
			}
		})
	}
}

func TestUSLDerived(t *testing.T) {
	f := USLFit{Lambda: 100, Sigma: 0.04, Kappa: 0.0024}
	if got := f.PeakN(); math.Abs(got-20) > 1e-9 {
		t.Errorf("PeakN = %g, want 20", got)
	}
	if got := (USLFit{Lambda: 100}).Efficiency(8); got != 1 {
		t.Errorf("linear efficiency = %g, want 1", got)
	}
	if !math.IsInf((USLFit{Lambda: 1}).PeakN(), 1) {
		t.Error("no coherency cost: the peak should be infinite")
	}
	// Superlinear points (noise) fit as linear, not as a curve with a pole.
	sup, err := FitUSL([]float64{1, 2, 4}, []float64{142.5, 261.2, 555.2})
	if err != nil || sup.Sigma < 0 || sup.Kappa < 0 || sup.Capacity(16) < 8*142.5 {
		t.Errorf("superlinear noise: %v, %v (capacity at 16: %g)", sup, err, sup.Capacity(16))
	}
	if _, err := FitUSL([]float64{2, 2}, []float64{1, 1}); err == nil {
		t.Error("one distinct unit count: want an error")
	}
	two, err := FitUSL([]float64{1, 2}, []float64{100, 190})
	if err != nil || two.Kappa != 0 || math.Abs(two.Sigma-1.0/19) > 1e-6 {
		t.Errorf("two points: %+v, %v; want κ=0, σ=%g", two, err, 1.0/19)
	}
	// Two counts, one measured twice: κ held at 0, the errors of λ and σ
	// known, and so the projection's.
	rep, err := FitUSL([]float64{1, 2, 2}, []float64{100, 190, 186})
	if err != nil || rep.Kappa != 0 || rep.StdErr[2] != 0 || rep.StdErr[1] <= 0 || rep.CapacityError(4) <= 0 {
		t.Errorf("two counts, three points: %+v, %v; want κ=0 with no error, σ and the projection with one", rep, err)
	}
}

func TestLineChart(t *testing.T) {
	c, err := LineChart("x.png", "latency vs offered load", "offered load (/s)", "p99 (ms)", []XYSeries{
		{Name: "p99", X: []float64{10, 20, 40}, Y: []float64{5, 6, 30}, Points: true},
		{Name: "fit", X: []float64{10, 40}, Y: []float64{5, math.NaN()}, Dashed: true},
	})
	if err != nil || c == nil {
		t.Fatalf("chart %v, %v", c, err)
	}
	fig, err := c.Render()
	if err != nil || len(fig.PNG) < 1000 {
		t.Fatalf("render: %v (%d bytes)", err, len(fig.PNG))
	}
	if c, err := LineChart("x.png", "t", "x", "y", []XYSeries{{Name: "empty", X: []float64{1}, Y: []float64{math.NaN()}}}); c != nil || err != nil {
		t.Errorf("no finite point: want a nil chart, got %v, %v", c, err)
	}
}

// The fit is the least-squares answer within the bounds: no small step of
// λ, σ or κ (a step below 0 excepted for σ and κ) lowers the sum of
// squared residuals.
func TestFitUSLIsLeastSquares(t *testing.T) {
	cases := []struct {
		name string
		n, c []float64
	}{
		{"contention, three counts", []float64{1, 2, 4}, []float64{138.1, 224.5, 334.9}},
		{"κ would be negative", []float64{1, 2, 4}, []float64{428.4, 487.4, 540.3}},
		{"peak, noisy", []float64{2, 3, 5, 8}, []float64{2936.4, 4411.9, 6471.2, 6104.1}},
		{"contention, noisy", []float64{1, 2, 3, 4, 5, 6}, []float64{98, 160, 230, 262, 300, 331}},
	}
	ssr := func(f USLFit, n, c []float64) float64 {
		var s float64
		for i := range n {
			r := c[i] - f.Capacity(n[i])
			s += r * r
		}
		return s
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fit, err := FitUSL(tc.n, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			best := ssr(fit, tc.n, tc.c)
			for j, name := range []string{"λ", "σ", "κ"} {
				for _, step := range []float64{-1e-3, -1e-5, 1e-5, 1e-3} {
					moved := fit
					p := []*float64{&moved.Lambda, &moved.Sigma, &moved.Kappa}[j]
					*p += step * math.Max(*p, 1e-2)
					if *p < 0 {
						continue
					}
					if s := ssr(moved, tc.n, tc.c); s < best*(1-1e-9) {
						t.Errorf("%s moved by %g lowers the squared residuals from %g to %g: fit %v", name, step, best, s, fit)
					}
				}
			}
		})
	}
}

// uslPoints are the capacities of truth at the counts n.
func uslPoints(truth USLFit, n ...float64) []float64 {
	var c []float64
	for _, x := range n {
		c = append(c, truth.Capacity(x))
	}
	return c
}

// A fit is degenerate when its parameters describe no law of the system;
// a fine one, including an honest σ = κ = 0 for linear data, is not.
func TestUSLDegenerate(t *testing.T) {
	cases := []struct {
		name string
		n, c []float64
		why  string // "" when the fit is fine; else a word of the reason
	}{
		{"linear: σ = κ = 0 is a finding", []float64{1, 2, 4}, []float64{200, 400, 800}, ""},
		{"linear with noise", []float64{1, 2, 4, 8}, []float64{270, 561, 1090, 2230}, ""},
		{"superlinear within noise", []float64{1, 2, 4}, []float64{142.5, 261.2, 555.2}, ""},
		{"contention", []float64{1, 2, 4, 8}, []float64{200, 380, 690, 1160}, ""},
		{"coherency past a peak", []float64{1, 2, 4, 8}, []float64{200, 400, 800, 1000}, ""},
		{"three exact points", []float64{1, 2, 3}, []float64{100, 112, 118}, ""},
		{"flat: fully serialised", []float64{1, 2, 3, 4}, []float64{100, 100, 100, 100}, ""},
		{"two counts for three parameters", []float64{1, 2}, []float64{100, 190}, "distinct"},
		{"one count's capacity far too low (machine-limited)", []float64{1, 2, 4}, []float64{10.9, 400, 800}, "per unit rises"},
		{"superlinear beyond noise", []float64{1, 2, 4, 8}, []float64{100, 210, 380, 900}, "per unit rises"},
		{"falls then rises", []float64{1, 2, 3, 4}, []float64{100, 180, 150, 210}, "rises again"},
		{"σ above 1", []float64{1, 2, 4, 8}, []float64{200, 110, 115, 120}, "above 1"},
		{"a bound set the fit", []float64{4, 5, 6}, []float64{400, 570, 460}, "bound 0"},
		// Made from λ=1018, σ=10.35, κ=0.281: the fit finds σ above 1.
		{"generated with σ above 1", []float64{4, 5, 6}, uslPoints(USLFit{Lambda: 1018, Sigma: 10.35, Kappa: 0.281}, 4, 5, 6), "above 1"},
		// Falling from the smallest count faster than any λ fits: the best
		// fit runs towards λ → ∞ and σ with it.
		{"falling steeply from the smallest count", []float64{4, 5, 6}, []float64{1592.3, 1460.5, 1377.2}, "above 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fit, err := FitUSL(tc.n, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if fit.Degenerate != (tc.why != "") || !strings.Contains(fit.DegenerateReason, tc.why) {
				t.Fatalf("degenerate %v (%q), want %v (%q); fit %v R² %.3f", fit.Degenerate, fit.DegenerateReason, tc.why != "", tc.why, fit, fit.R2)
			}
			if fit.Degenerate && !strings.HasPrefix(fit.String(), "degenerate fit: ") {
				t.Errorf("a degenerate fit shows its parameters: %s", fit)
			}
		})
	}
	// Standard errors: a fit with degrees of freedom whose parameters the
	// counts do not determine.
	if r := degenerate([]float64{1, 2, 4, 8}, []float64{100, 190, 350, 600},
		USLFit{Lambda: 100, Sigma: 0.1, Kappa: 0.001, R2: 0.99, DOF: 1, StdErr: [3]float64{80, 0.5, 0.01}}, 4); !strings.Contains(r, "huge") {
		t.Errorf("huge standard error of λ: %q", r)
	}
	if r := degenerate([]float64{1, 2, 4, 8}, []float64{100, 190, 350, 600},
		USLFit{Lambda: 100, Sigma: 0.1, Kappa: 0.001, R2: 0.99, DOF: 1, singular: true}, 4); !strings.Contains(r, "undefined") {
		t.Errorf("singular covariance: %q", r)
	}
}
