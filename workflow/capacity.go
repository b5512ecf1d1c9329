package workflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// CapacityOptions tune the search for the highest sustainable rate.
type CapacityOptions struct {
	// StepDuration is each step's run, warm-up included. Default 10s.
	StepDuration time.Duration
	// Warmup starts each step (whole seconds): queues fill to their steady
	// state before anything is measured. Default 2s, and never more than
	// half the step.
	Warmup time.Duration
	// Cooldown is the pause between steps. Default 1s.
	Cooldown time.Duration
	// MaxSteps bounds the number of runs. Default 20.
	MaxSteps int
	// Start is the first rate tried (/s). Default: the scenario's own
	// total open-loop rate.
	Start float64
	// Growth is the bracketing factor: the rate is multiplied (while the
	// requirements hold) or divided (while they do not) by it until a
	// passing and a failing rate bracket the capacity. Default 2.
	Growth float64
	// Precision ends the binary search once the failing rate is within
	// this fraction of the passing one. Default 0.05.
	Precision float64
	// Repeats is how many runs a rate within the bracket needs, all
	// passing, to count as sustainable (runs near the edge are repeated
	// because one lucky run proves little). Default 2.
	Repeats int
	// Progress, when set, receives one line per step.
	Progress io.Writer
}

func (o *CapacityOptions) defaults() {
	if o.StepDuration <= 0 {
		o.StepDuration = 10 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 2 * time.Second
	}
	o.Warmup = min(o.Warmup, o.StepDuration/2).Truncate(time.Second)
	if o.Cooldown == 0 {
		o.Cooldown = time.Second
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = 20
	}
	if o.Growth <= 1 {
		o.Growth = 2
	}
	if o.Precision <= 0 {
		o.Precision = 0.05
	}
	if o.Repeats <= 0 {
		o.Repeats = 2
	}
}

// Step is one run of the search at one offered rate.
type Step struct {
	RateRPS float64 `json:"rate_rps"`
	// Seed is the step's seed: the scenario's plus the step's index, so
	// that a repeated rate is a new sample of arrivals and service times
	// (not the same one again) and the whole search stays reproducible.
	Seed int64 `json:"seed"`
	// Phase is "bracket" or "search".
	Phase string `json:"phase"`
	Pass  bool   `json:"pass"`
	// Valid is false when the run proves nothing about the SUT: the
	// generator saturated, or the run could not be carried out.
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
	// Failed lists the requirements missed.
	Failed        []string `json:"failed,omitempty"`
	ThroughputRPS float64  `json:"throughput_rps"`
	MeanMS        float64  `json:"mean_ms"`
	P50MS         float64  `json:"p50_ms"`
	P99MS         float64  `json:"p99_ms"`
	ErrorRate     float64  `json:"error_rate"`
	// SendLagP99MS is the generator's own lateness, for its health check.
	SendLagP99MS float64 `json:"send_lag_p99_ms"`
	// margins are each requirement's margin relative to its threshold
	// (NaN where that means nothing: an equality, a zero threshold).
	margins []float64
}

// Capacity is the outcome of the search.
type Capacity struct {
	Scenario string `json:"scenario"`
	// Backends is the backend count when part of a scalability study.
	Backends int `json:"backends,omitempty"`
	// MaxRateRPS is the highest rate at which every run met every
	// requirement; 0 when even the lowest rate tried failed.
	MaxRateRPS float64 `json:"max_rate_rps"`
	// FailRateRPS is the lowest rate seen failing (0: none failed).
	FailRateRPS float64 `json:"fail_rate_rps"`
	// EstimatedRPS interpolates between the highest passing and the lowest
	// failing rate where the requirement that failed crosses its threshold
	// (linear in its margin); MaxRateRPS when it cannot be interpolated.
	EstimatedRPS float64 `json:"estimated_rps"`
	// KneeRPS is the offered rate where latency turns from flat to steep
	// (0 with fewer than three distinct rates).
	KneeRPS float64 `json:"knee_rps"`
	// GeneratorLimited is set when the generator saturated at some step:
	// capacity above that rate could not be measured from this machine.
	GeneratorLimited bool   `json:"generator_limited,omitempty"`
	Converged        bool   `json:"converged"`
	Note             string `json:"note,omitempty"`
	Steps            []Step `json:"steps"`
}

// FindCapacity searches the highest open-loop rate at which sc meets every
// requirement: bracketing (the rate doubles while the requirements hold,
// halves while they do not), then binary search between the highest
// passing and lowest failing rate, each rate in the bracket run Repeats
// times. Every step is a fresh run of sc with its open workloads scaled to
// the rate (their shares kept), a constant rate for StepDuration, no fault
// timeline, a seed of its own (the scenario's + the step's index), and a
// cool-down before it. A step where the generator
// saturated is invalid: it counts as a failure (nothing above it can be
// trusted) and the result is marked generator-limited.
func FindCapacity(ctx context.Context, sc *scenario.Scenario, opts CapacityOptions) (*Capacity, error) {
	opts.defaults()
	base, err := declaredRate(sc)
	if err != nil {
		return nil, err
	}
	if len(sc.Requirements) == 0 {
		return nil, errors.New("capacity: the scenario has no requirements to hold")
	}
	c := &Capacity{Scenario: sc.Name}
	rate := opts.Start
	if rate <= 0 {
		rate = base
	}
	lo, hi := 0.0, math.Inf(1)
	run := func(rate float64, phase string) (bool, error) {
		if len(c.Steps) > 0 {
			if err := sleep(ctx, opts.Cooldown); err != nil {
				return false, err
			}
		}
		st, err := runStep(ctx, sc, rate, base, len(c.Steps), opts)
		if err != nil {
			return false, err
		}
		st.Phase = phase
		c.Steps = append(c.Steps, st)
		if !st.Valid && strings.HasPrefix(st.Reason, "generator saturated") {
			c.GeneratorLimited = true
		}
		if opts.Progress != nil {
			verdict := "pass"
			if !st.Pass {
				verdict = "fail: " + strings.Join(append(st.Failed, st.Reason), "; ")
			}
			fmt.Fprintf(opts.Progress, "capacity: step %d (%s) %.1f/s: p50 %.2fms p99 %.2fms mean %.2fms: %s\n",
				len(c.Steps), phase, rate, st.P50MS, st.P99MS, st.MeanMS, strings.TrimSuffix(verdict, "; "))
		}
		return st.Pass, nil
	}
	// Bracketing.
	for len(c.Steps) < opts.MaxSteps {
		ok, err := run(rate, "bracket")
		if err != nil {
			return c, err
		}
		if ok {
			lo = rate
		} else {
			hi = rate
		}
		if lo > 0 && !math.IsInf(hi, 1) {
			break
		}
		if ok {
			rate *= opts.Growth
		} else {
			rate /= opts.Growth
			if rate < 0.1 {
				break
			}
		}
	}
	// Binary search; every rate in the bracket needs Repeats passing runs.
	for lo > 0 && !math.IsInf(hi, 1) && (hi-lo)/lo > opts.Precision && len(c.Steps) < opts.MaxSteps {
		mid := (lo + hi) / 2
		pass := true
		for range opts.Repeats {
			if len(c.Steps) >= opts.MaxSteps {
				pass = false
				break
			}
			ok, err := run(mid, "search")
			if err != nil {
				return c, err
			}
			if !ok {
				pass = false
				break
			}
		}
		if pass {
			lo = mid
		} else {
			hi = mid
		}
	}
	c.MaxRateRPS = lo
	if !math.IsInf(hi, 1) {
		c.FailRateRPS = hi
	}
	c.Converged = lo > 0 && !math.IsInf(hi, 1) && (hi-lo)/lo <= opts.Precision
	switch {
	case lo == 0:
		c.Note = "no rate tried met every requirement"
	case math.IsInf(hi, 1):
		c.Note = "no rate tried failed: the capacity is above the highest rate tried (raise --max-steps)"
	case !c.Converged:
		c.Note = "the search ran out of steps before reaching the precision (raise --max-steps)"
	}
	if c.GeneratorLimited {
		c.Note = strings.TrimPrefix(c.Note+"; the generator saturated at some step: capacity above it is not measurable from here", "; ")
	}
	c.KneeRPS = knee(c.Curve())
	c.EstimatedRPS = c.estimate()
	return c, nil
}

// estimate interpolates the rate where the requirement that failed at the
// lowest failing rate crosses its threshold, from its mean relative margin
// at that rate and at the highest passing rate.
func (c *Capacity) estimate() float64 {
	if c.MaxRateRPS <= 0 || c.FailRateRPS <= 0 {
		return c.MaxRateRPS
	}
	margins := func(rate float64) []float64 {
		var sum []float64
		n := 0
		for _, s := range c.Steps {
			if s.RateRPS != rate || !s.Valid {
				continue
			}
			if sum == nil {
				sum = make([]float64, len(s.margins))
			}
			for i := range min(len(sum), len(s.margins)) {
				sum[i] += s.margins[i]
			}
			n++
		}
		for i := range sum {
			sum[i] /= float64(n)
		}
		return sum
	}
	lo, hi := margins(c.MaxRateRPS), margins(c.FailRateRPS)
	if len(lo) == 0 || len(lo) != len(hi) {
		return c.MaxRateRPS
	}
	binding := -1
	for i := range hi {
		if !math.IsNaN(hi[i]) && hi[i] < 0 && (binding < 0 || hi[i] < hi[binding]) {
			binding = i
		}
	}
	if binding < 0 || math.IsNaN(lo[binding]) || lo[binding] < 0 {
		return c.MaxRateRPS
	}
	f := lo[binding] / (lo[binding] - hi[binding])
	return c.MaxRateRPS + f*(c.FailRateRPS-c.MaxRateRPS)
}

// declaredRate is the scenario's total open-loop rate: each open workload's
// constant rate, or its highest stage rate.
func declaredRate(sc *scenario.Scenario) (float64, error) {
	var total float64
	for _, w := range sc.Workload {
		if w.Model == "closed" {
			return 0, fmt.Errorf("capacity: workload %s is closed-loop; capacity searches open-loop rates only", w.Name)
		}
		total += peakRate(w)
	}
	if total <= 0 {
		return 0, errors.New("capacity: the scenario declares no open-loop rate")
	}
	return total, nil
}

func peakRate(w scenario.Workload) float64 {
	r := float64(w.Rate)
	for _, s := range w.Stages {
		r = math.Max(r, math.Max(float64(s.RampTo), float64(s.Hold)))
	}
	return r
}

// atRate is sc with its open workloads at a constant total rate (each
// keeping its share of the declared rate), lasting one step, without faults.
func atRate(sc *scenario.Scenario, rate, base float64, opts CapacityOptions) *scenario.Scenario {
	c := clone(sc)
	c.Duration = scenario.Duration(opts.StepDuration)
	c.Warmup = scenario.Duration(opts.Warmup)
	c.Faults = nil
	for i := range c.Workload {
		w := &c.Workload[i]
		w.Rate = scenario.Rate(peakRate(*w) * rate / base)
		w.Stages = nil
	}
	return c
}

// runStep runs one step and judges it.
func runStep(ctx context.Context, sc *scenario.Scenario, rate, base float64, index int, opts CapacityOptions) (Step, error) {
	st := Step{RateRPS: rate, Seed: sc.Seed + int64(index)}
	run := atRate(sc, rate, base, opts)
	run.Seed = st.Seed
	res, err := runner.Execute(ctx, run, runner.Options{})
	if ctx.Err() != nil {
		return st, ctx.Err()
	}
	if res == nil {
		st.Reason = fmt.Sprintf("run failed: %v", err)
		return st, nil
	}
	st.ThroughputRPS, st.MeanMS, st.P50MS, st.P99MS = res.ThroughputRPS, res.LatencyMS.Mean, res.LatencyMS.P50, res.LatencyMS.P99
	st.ErrorRate, st.SendLagP99MS = res.ErrorRate, res.Generator.SendLagMS.P99
	for i, v := range res.Requirements {
		if !v.Pass {
			st.Failed = append(st.Failed, fmt.Sprintf("%s (observed %.4g)", v.Text, v.Observed))
		}
		m := math.NaN()
		if i < len(sc.Requirements) && v.Threshold != 0 && v.Note == "" {
			if op := sc.Requirements[i].Op; op != "==" && op != "!=" {
				m = v.Margin / math.Abs(v.Threshold)
			}
		}
		st.margins = append(st.margins, m)
	}
	switch {
	case res.Generator.Saturated:
		st.Reason = "generator saturated: " + res.Generator.Reason
	case err != nil:
		st.Reason = "run failed: " + err.Error()
	default:
		st.Valid = true
		st.Pass = res.Verdict == "pass"
	}
	return st, nil
}

// CurvePoint is the latency at one offered rate, averaged over the valid
// runs at that rate.
type CurvePoint struct {
	RateRPS       float64 `json:"rate_rps"`
	ThroughputRPS float64 `json:"throughput_rps"`
	MeanMS        float64 `json:"mean_ms"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
}

// Curve is latency against offered load, by increasing rate.
func (c *Capacity) Curve() []CurvePoint {
	byRate := map[float64][]Step{}
	for _, s := range c.Steps {
		if s.Valid {
			byRate[s.RateRPS] = append(byRate[s.RateRPS], s)
		}
	}
	var out []CurvePoint
	for r, steps := range byRate {
		p := CurvePoint{RateRPS: r}
		for _, s := range steps {
			p.ThroughputRPS += s.ThroughputRPS / float64(len(steps))
			p.MeanMS += s.MeanMS / float64(len(steps))
			p.P50MS += s.P50MS / float64(len(steps))
			p.P99MS += s.P99MS / float64(len(steps))
		}
		out = append(out, p)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].RateRPS < out[b].RateRPS })
	return out
}

// knee finds where p99 latency turns from flat to steep: the point of the
// curve farthest below the chord from its first to its last point, both
// axes scaled to [0,1] (the "Kneedle" construction).
func knee(curve []CurvePoint) float64 {
	if len(curve) < 3 {
		return 0
	}
	x0, x1 := curve[0].RateRPS, curve[len(curve)-1].RateRPS
	y0, y1 := curve[0].P99MS, curve[len(curve)-1].P99MS
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	best, at := 0.0, 0.0
	for _, p := range curve[1 : len(curve)-1] {
		x := (p.RateRPS - x0) / (x1 - x0)
		y := (p.P99MS - y0) / (y1 - y0)
		if d := x - y; d > best {
			best, at = d, p.RateRPS
		}
	}
	return at
}

// WriteMarkdown writes the result and every step.
func (c *Capacity) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Capacity: %s\n\n", c.Scenario)
	fmt.Fprintf(&b, "Maximum sustainable rate: **%.1f/s**", c.MaxRateRPS)
	if c.FailRateRPS > 0 {
		fmt.Fprintf(&b, " (fails at %.1f/s; interpolated threshold %.1f/s)", c.FailRateRPS, c.EstimatedRPS)
	}
	if c.KneeRPS > 0 {
		fmt.Fprintf(&b, "; latency knee near %.1f/s", c.KneeRPS)
	}
	b.WriteString(".\n")
	if c.Note != "" {
		fmt.Fprintf(&b, "\nNote: %s.\n", c.Note)
	}
	b.WriteString("\n| step | phase | offered | throughput | mean | p50 | p99 | send lag p99 | result |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for i, s := range c.Steps {
		res := "pass"
		if !s.Pass {
			res = "fail: " + strings.Join(s.Failed, "; ")
		}
		if !s.Valid {
			res = "invalid: " + s.Reason
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f/s | %.1f/s | %.2fms | %.2fms | %.2fms | %.2fms | %s |\n",
			i+1, s.Phase, s.RateRPS, s.ThroughputRPS, s.MeanMS, s.P50MS, s.P99MS, s.SendLagP99MS, res)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Chart is latency against offered load (p50, mean and p99).
func (c *Capacity) Chart() (*report.Chart, error) {
	curve := c.Curve()
	var x, p50, mean, p99 []float64
	for _, p := range curve {
		x = append(x, p.RateRPS)
		p50, mean, p99 = append(p50, p.P50MS), append(mean, p.MeanMS), append(p99, p.P99MS)
	}
	return report.LineChart("latency-vs-load.png", "Latency vs offered load", "offered load (requests/s)", "latency (ms)", []report.XYSeries{
		{Name: "p50", X: x, Y: p50, Points: true},
		{Name: "mean", X: x, Y: mean, Points: true},
		{Name: "p99", X: x, Y: p99, Points: true},
	})
}

// WriteFiles writes capacity.json, capacity.md and latency-vs-load.png into dir.
func (c *Capacity) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "capacity.json"), struct {
		*Capacity
		Curve []CurvePoint `json:"curve"`
	}{c, c.Curve()}); err != nil {
		return err
	}
	if err := writeWith(filepath.Join(dir, "capacity.md"), c.WriteMarkdown); err != nil {
		return err
	}
	ch, err := c.Chart()
	if err != nil {
		return err
	}
	if ch == nil {
		return nil
	}
	return writeCharts(dir, []*report.Chart{ch})
}
