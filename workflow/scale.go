package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// ScaleOptions choose the backend counts; each count's capacity is found
// with Capacity.
type ScaleOptions struct {
	Backends []int
	Capacity CapacityOptions
	// Simulate simulates every count's search (it sets Capacity.Simulate):
	// the curve up to a thousand backends at a fraction of the wall time,
	// with no count machine-limited (the scenario's max_inflight may still
	// limit one).
	Simulate bool
	// Project lists the backend counts to project capacity for. Default:
	// 2× and 4× the largest count measured.
	Project []int
}

// Scalability is capacity against backend count and its USL fit.
type Scalability struct {
	Scenario string `json:"scenario"`
	// Mode is "simulated" when every search was (ScaleOptions.Simulate).
	Mode   string       `json:"mode,omitempty"`
	Points []ScalePoint `json:"points"`
	// Fit is absent when it could not be made (FitError says why). A
	// degenerate fit (Fit.Degenerate) is kept for the record only: no
	// peak, fitted values or projections are drawn from it.
	Fit      *report.USLFit `json:"usl,omitempty"`
	FitError string         `json:"usl_error,omitempty"`
	// PeakBackends is where the fitted capacity peaks (+Inf: never; JSON null).
	PeakBackends *float64     `json:"peak_backends,omitempty"`
	Projections  []Projection `json:"projections,omitempty"`
}

// ScalePoint is one backend count's measured capacity.
type ScalePoint struct {
	Backends    int     `json:"backends"`
	CapacityRPS float64 `json:"capacity_rps"`
	// CapacityRPS is the search's interpolated threshold (EstimatedRPS),
	// which the fit uses; MaxRateRPS is the highest rate that passed.
	MaxRateRPS float64 `json:"max_rate_rps"`
	// MachineLimited is set when this count's search was (see
	// Capacity.MachineLimited): CapacityRPS is then only a lower bound, and
	// the point is left out of the fit and the efficiencies.
	MachineLimited bool `json:"machine_limited,omitempty"`
	// WorkloadLimited is set when the scenario's max_inflight limited this
	// count's search (Capacity.WorkloadLimited): a lower bound likewise,
	// left out likewise; the bound, not the SUT, would bend the curve.
	WorkloadLimited bool `json:"workload_limited,omitempty"`
	// Efficiency is capacity / (backends × capacity of the smallest count
	// fitted, per backend).
	Efficiency       float64   `json:"efficiency"`
	FittedRPS        float64   `json:"fitted_rps,omitempty"`
	FittedEfficiency float64   `json:"fitted_efficiency,omitempty"`
	Search           *Capacity `json:"search"`
}

// Projection is the fitted capacity at a backend count not measured.
type Projection struct {
	Backends    int     `json:"backends"`
	CapacityRPS float64 `json:"capacity_rps"`
	// StdErrRPS is the projection's standard error (0: unknown, when there
	// are no more measured counts than USL parameters).
	StdErrRPS  float64 `json:"std_err_rps"`
	Efficiency float64 `json:"efficiency"`
}

// WithBackends is sc with its first pool made of n copies of that pool's
// first backend (named POOL-1 ... POOL-n), so that capacity can be
// measured against the backend count alone.
func WithBackends(sc *scenario.Scenario, n int) (*scenario.Scenario, error) {
	if err := oneSite(sc, "capacity --backends"); err != nil {
		return nil, err
	}
	if sc.SUT == nil || len(sc.SUT.Pools) == 0 || len(sc.SUT.Pools[0].Backends) == 0 {
		return nil, errors.New("scalability needs a built-in sut: with a pool and a backend to copy")
	}
	if n < 1 {
		return nil, fmt.Errorf("backend count must be at least 1, got %d", n)
	}
	c := clone(sc)
	pool := &c.SUT.Pools[0]
	template := pool.Backends[0]
	pool.Backends = nil
	for i := 1; i <= n; i++ {
		b := template
		b.Name = fmt.Sprintf("%s-%d", pool.Name, i)
		b.Listen = anyPort(b.Listen)
		pool.Backends = append(pool.Backends, b)
	}
	c.Faults = nil
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Scale finds the capacity at each backend count, in increasing order
// (each search starts from the previous capacity scaled linearly, so that
// it brackets in few steps), and fits the Universal Scalability Law.
func Scale(ctx context.Context, sc *scenario.Scenario, opts ScaleOptions) (*Scalability, error) {
	counts := append([]int(nil), opts.Backends...)
	sort.Ints(counts)
	if len(counts) == 0 {
		return nil, errors.New("name the backend counts, e.g. --backends 1,2,4,8")
	}
	opts.Capacity.Simulate = opts.Capacity.Simulate || opts.Simulate
	if opts.Capacity.Confirm {
		return nil, errors.New("--confirm confirms one capacity live, not a scalability study: leave out --backends")
	}
	// Every count is checked before the first search: one past a limit,
	// or a search that cannot be made, is bad input, not an error found
	// an hour into the study.
	for _, n := range counts {
		scn, err := WithBackends(sc, n)
		if err == nil {
			_, err = checkCapacity(scn, opts.Capacity)
		}
		if err != nil {
			return nil, fmt.Errorf("--backends %d: %w", n, err)
		}
	}
	s := &Scalability{Scenario: sc.Name, Mode: newExecutor(opts.Capacity.Simulate, "").mode}
	prevN, prevCap := 0, 0.0
	for _, n := range counts {
		scn, err := WithBackends(sc, n)
		if err != nil {
			return nil, err
		}
		copts := opts.Capacity
		if prevCap > 0 {
			copts.Start = min(prevCap*float64(n)/float64(prevN), scenario.MaxRate)
			if copts.Growth == 0 {
				copts.Growth = 1.25 // a linear guess is close: a narrow bracket
			}
		}
		if copts.Progress != nil {
			fmt.Fprintf(copts.Progress, "scalability: %d backend(s)\n", n)
		}
		c, err := FindCapacity(ctx, scn, copts)
		if err != nil {
			return s, err
		}
		c.Backends = n
		s.Points = append(s.Points, ScalePoint{Backends: n, CapacityRPS: c.EstimatedRPS, MaxRateRPS: c.MaxRateRPS,
			MachineLimited: c.MachineLimited, WorkloadLimited: c.WorkloadLimited, Search: c})
		if c.MaxRateRPS > 0 && !c.Limited() {
			prevN, prevCap = n, c.MaxRateRPS
		}
	}
	s.fit(opts.Project)
	return s, nil
}

// MachineLimited reports whether some count's capacity was machine-limited.
func (s *Scalability) MachineLimited() bool {
	for _, p := range s.Points {
		if p.MachineLimited {
			return true
		}
	}
	return false
}

// Limited reports whether some count's capacity is only a lower bound:
// machine-limited, or limited by the scenario's max_inflight.
func (s *Scalability) Limited() bool {
	for _, p := range s.Points {
		if p.limited() {
			return true
		}
	}
	return false
}

// limited: the count's capacity is only a lower bound, left out of the fit.
func (p ScalePoint) limited() bool { return p.MachineLimited || p.WorkloadLimited }

// fit fits the USL to the counts whose capacity was measured (found, and
// neither machine- nor workload-limited: a lower bound would bend the
// curve).
func (s *Scalability) fit(project []int) {
	var ns, cs []float64
	var machine, workload []string
	for _, p := range s.Points {
		switch {
		case p.MachineLimited:
			machine = append(machine, fmt.Sprint(p.Backends))
		case p.WorkloadLimited:
			workload = append(workload, fmt.Sprint(p.Backends))
		case p.CapacityRPS > 0:
			ns, cs = append(ns, float64(p.Backends)), append(cs, p.CapacityRPS)
		}
	}
	if len(cs) > 0 {
		perUnit := cs[0] / ns[0]
		for i, p := range s.Points {
			if !p.limited() {
				s.Points[i].Efficiency = p.CapacityRPS / (float64(p.Backends) * perUnit)
			}
		}
	}
	fit, err := report.FitUSL(ns, cs)
	if err != nil {
		s.FitError = err.Error()
		var why []string
		if len(machine) > 0 {
			why = append(why, fmt.Sprintf("this machine could not measure the capacity at %s backend(s)", strings.Join(machine, ", ")))
		}
		if len(workload) > 0 {
			why = append(why, fmt.Sprintf("the scenario's max_inflight limited the load offered at %s backend(s)", strings.Join(workload, ", ")))
		}
		if len(why) > 0 {
			s.FitError = fmt.Sprintf("refused: %s, and the other counts are too few (%v)", strings.Join(why, "; "), err)
		}
		return
	}
	s.Fit = &fit
	if fit.Degenerate {
		return
	}
	if peak := fit.PeakN(); !math.IsInf(peak, 1) {
		s.PeakBackends = &peak
	}
	for i := range s.Points {
		n := float64(s.Points[i].Backends)
		s.Points[i].FittedRPS = fit.Capacity(n)
		s.Points[i].FittedEfficiency = fit.Efficiency(n)
	}
	if len(project) == 0 {
		last := s.Points[len(s.Points)-1].Backends
		project = []int{2 * last, 4 * last}
	}
	for _, n := range project {
		s.Projections = append(s.Projections, Projection{Backends: n, CapacityRPS: fit.Capacity(float64(n)),
			StdErrRPS: fit.CapacityError(float64(n)), Efficiency: fit.Efficiency(float64(n))})
	}
}

// WriteMarkdown writes the measured and fitted capacities, the fit and the projections.
func (s *Scalability) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Scalability: %s%s\n\n", s.Scenario, simulatedSuffix(s.Mode))
	b.WriteString("| backends | capacity | efficiency | USL fit | fitted efficiency |\n| ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range s.Points {
		capacity, eff, fitted, fittedEff := fmt.Sprintf("%.1f/s", p.CapacityRPS), fmt.Sprintf("%.3f", p.Efficiency), "—", "—"
		switch {
		case p.MachineLimited && p.Search.MachineLimitRPS > 0:
			capacity, eff = fmt.Sprintf("≥ %.1f/s, machine-limited", p.Search.MachineLimitRPS), "—"
		case p.MachineLimited:
			capacity, eff = "unknown, machine-limited", "—"
		case p.WorkloadLimited && p.Search.WorkloadLimitRPS > 0:
			capacity, eff = fmt.Sprintf("≥ %.1f/s, limited by %s", p.Search.WorkloadLimitRPS, p.Search.LimitedBy), "—"
		case p.WorkloadLimited:
			capacity, eff = "unknown, limited by "+p.Search.LimitedBy, "—"
		}
		if p.FittedRPS > 0 {
			fitted, fittedEff = fmt.Sprintf("%.1f/s", p.FittedRPS), fmt.Sprintf("%.3f", p.FittedEfficiency)
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", p.Backends, capacity, eff, fitted, fittedEff)
	}
	for _, p := range s.Points {
		if p.limited() {
			fmt.Fprintf(&b, "\n%d backend(s): %s; left out of the fit.\n", p.Backends, p.Search.Headline())
		}
	}
	switch {
	case s.Fit == nil:
		fmt.Fprintf(&b, "\nNo USL fit: %s.\n", s.FitError)
	case s.Fit.Degenerate:
		fmt.Fprintf(&b, "\nThe USL fit is degenerate: %s. Its parameters are no finding about this system (scalability.json keeps them for the record); no peak or projection is drawn from it.\n", s.Fit.DegenerateReason)
	default:
		f := s.Fit
		fmt.Fprintf(&b, "\nUniversal Scalability Law C(N) = λN / (1 + σ(N−1) + κN(N−1)):\n")
		fmt.Fprintf(&b, "λ = %.4g/s ± %.2g, σ (contention) = %.4g ± %.2g, κ (coherency) = %.4g ± %.2g; RMSE %.3g/s, R² %.3f, %d degree(s) of freedom.\n",
			f.Lambda, f.StdErr[0], f.Sigma, f.StdErr[1], f.Kappa, f.StdErr[2], f.RMSE, f.R2, f.DOF)
		if s.PeakBackends != nil {
			fmt.Fprintf(&b, "Capacity peaks near %.1f backends.\n", *s.PeakBackends)
		} else {
			b.WriteString("The fitted capacity never falls with more backends (κ ≤ 0).\n")
		}
		if f.DOF == 0 {
			b.WriteString("With no more counts than parameters, the fit's error is unknown: measure more counts for error bars.\n")
		}
		b.WriteString("\n| backends (projected) | capacity | ± std error | efficiency |\n| ---: | ---: | ---: | ---: |\n")
		for _, p := range s.Projections {
			se := "unknown"
			if f.DOF > 0 {
				se = fmt.Sprintf("%.1f/s", p.StdErrRPS)
			}
			fmt.Fprintf(&b, "| %d | %.1f/s | %s | %.3f |\n", p.Backends, p.CapacityRPS, se, p.Efficiency)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Chart is measured capacity against backend count with the USL fit and
// linear scaling for reference.
func (s *Scalability) Chart() (*report.Chart, error) {
	var n, measured []float64
	for _, p := range s.Points {
		if !p.limited() {
			n, measured = append(n, float64(p.Backends)), append(measured, p.CapacityRPS)
		}
	}
	lines := []report.XYSeries{{Name: "measured", X: n, Y: measured, Points: true}}
	if s.Fit != nil && !s.Fit.Degenerate && len(n) > 0 {
		top := n[len(n)-1]
		for _, p := range s.Projections {
			top = math.Max(top, float64(p.Backends))
		}
		var fx, fy, lx, ly []float64
		for i := 0; i <= 100; i++ {
			x := 1 + (top-1)*float64(i)/100
			fx, fy = append(fx, x), append(fy, s.Fit.Capacity(x))
			lx, ly = append(lx, x), append(ly, s.Fit.Lambda*x)
		}
		lines = append(lines,
			report.XYSeries{Name: "USL fit", X: fx, Y: fy, Dashed: true},
			report.XYSeries{Name: "linear", X: lx, Y: ly, Dashed: true})
	}
	return report.LineChart("scalability.png", "Capacity vs backends: measured and USL fit", "backends", "capacity (requests/s)", lines)
}

// WriteFiles writes scalability.json, scalability.md, scalability.png and
// each count's search (capacity-N/) into dir.
func (s *Scalability) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range s.Points {
		if err := p.Search.WriteFiles(filepath.Join(dir, fmt.Sprintf("capacity-%d", p.Backends))); err != nil {
			return err
		}
	}
	if err := writeJSON(filepath.Join(dir, "scalability.json"), s); err != nil {
		return err
	}
	if err := report.WriteAtomic(filepath.Join(dir, "scalability.md"), s.WriteMarkdown); err != nil {
		return err
	}
	ch, err := s.Chart()
	if err != nil || ch == nil {
		return err
	}
	return writeCharts(dir, []*report.Chart{ch})
}

// anyPort keeps a listen address's host with port 0, so that copies of a
// backend do not compete for one port.
func anyPort(listen string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, "0")
}
