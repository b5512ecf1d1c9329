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
	"github.com/ilities/ilities/scenario"
)

// CapacityOptions tune the search for the highest sustainable rate.
type CapacityOptions struct {
	// Simulate runs every step with sim.Run on a virtual clock instead of
	// run.Execute: no step is invalid (there is no apparatus to disturb
	// it), no cool-down is needed, and a step may be longer for the same
	// wall time (StepDuration is then the simulated length).
	Simulate bool
	// Confirm, after a simulated search, runs one live step at the
	// capacity found (Capacity.Confirmation). It needs Simulate.
	Confirm bool
	// StepDuration is each step's run, warm-up included. Default 10s, or
	// a minute simulated.
	StepDuration time.Duration
	// Warmup starts each step (whole seconds): queues fill to their steady
	// state before anything is measured. Default 2s, and never more than
	// half the step.
	Warmup time.Duration
	// Cooldown is the pause between steps. Default 1s; none simulated.
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
	// InvalidRetries is how many times an invalid step (see invalidity) is
	// run again at the same rate, each after InvalidCooldown, before the
	// rate counts as unmeasurable from this machine. Default 2; negative:
	// none.
	InvalidRetries int
	// InvalidCooldown is the pause before repeating an invalid step: long
	// enough for a neighbour's burst to pass. Default 3s; none simulated.
	InvalidCooldown time.Duration
	// Progress, when set, receives one line per step.
	Progress io.Writer
	// Version is the tool's version each run reports (run.Options.Version).
	Version string
}

// defaults fills in the zero options; applied twice, it changes nothing
// more.
func (o *CapacityOptions) defaults() {
	if o.StepDuration <= 0 {
		o.StepDuration = 10 * time.Second
		if o.Simulate {
			o.StepDuration = simulatedStep
		}
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
	if o.InvalidRetries == 0 {
		o.InvalidRetries = 2 // a negative count is none: no attempt exceeds it
	}
	if o.InvalidCooldown <= 0 {
		o.InvalidCooldown = 3 * time.Second
	}
	if o.Simulate {
		// A simulated run leaves nothing behind to settle, and no
		// neighbour's burst can pass meanwhile.
		o.Cooldown, o.InvalidCooldown = 0, 0
	}
}

// simulatedStep is a simulated step's length by default: six times a live
// step's, for a tighter figure at each rate, at a fraction of a live
// step's wall time.
const simulatedStep = time.Minute

// Step is one run of the search at one offered rate.
type Step struct {
	RateRPS float64 `json:"rate_rps"`
	// Seed is the step's seed: the scenario's plus the step's index, so
	// that a repeated rate is a new sample of arrivals and service times
	// (not the same one again) and the whole search stays reproducible.
	Seed int64 `json:"seed"`
	// Phase is "bracket" or "search".
	Phase string `json:"phase"`
	// Attempt counts the runs at this rate in a row, from 1: above 1 the
	// ones before were invalid.
	Attempt int  `json:"attempt"`
	Pass    bool `json:"pass"`
	// Valid is false when the run proves nothing about the SUT (Reason
	// says why): the generator saturated, the verdict was inconclusive,
	// the apparatus delayed requests by a sizeable part of a latency
	// threshold or disturbed too many windows (see invalidity), the
	// scenario's own in-flight bound held the arrivals (LimitedBy), or the
	// run could not be carried out. An invalid step never counts as failing.
	Valid  bool   `json:"valid"`
	Reason string `json:"reason,omitempty"`
	// LimitedBy names the scenario's own bound, "max_inflight (1000)",
	// when it held the step's arrivals while no requirement was missed:
	// the load offered stopped at what the workload lets in flight (rate ×
	// latency reached it), a limit of the scenario, not of the SUT or of
	// the machine.
	LimitedBy string `json:"limited_by,omitempty"`
	// Failed lists the requirements missed for certain (a valid step only).
	Failed        []string `json:"failed,omitempty"`
	ThroughputRPS float64  `json:"throughput_rps"`
	MeanMS        float64  `json:"mean_ms"`
	P50MS         float64  `json:"p50_ms"`
	P99MS         float64  `json:"p99_ms"`
	ErrorRate     float64  `json:"error_rate"`
	// SendLagP99MS is the generator's own lateness, for its health check.
	SendLagP99MS float64 `json:"send_lag_p99_ms"`
	// ApparatusDelayMS is the apparatus delay at the aggregation of the
	// latency requirement it weighs most on, and ApparatusShare that share
	// of the requirement's threshold (see invalidity).
	ApparatusDelayMS float64 `json:"apparatus_delay_ms"`
	ApparatusShare   float64 `json:"apparatus_share"`
	// DisturbedWindows of the step's measured Windows (with apparatus
	// figures only).
	DisturbedWindows int `json:"disturbed_windows,omitempty"`
	Windows          int `json:"windows,omitempty"`
	// margins are each requirement's margin relative to its threshold
	// (NaN where that means nothing: an equality, a zero threshold).
	margins []float64
}

// Capacity is the outcome of the search.
type Capacity struct {
	Scenario string `json:"scenario"`
	// Mode is "simulated" when every step was (CapacityOptions.Simulate).
	Mode string `json:"mode,omitempty"`
	// StepDurationS is each step's length, warm-up included (simulated
	// time when simulated).
	StepDurationS float64 `json:"step_duration_s"`
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
	// MachineLimited is set when a rate stayed invalid through every
	// retry and no valid failure below it bounds the capacity: then the
	// capacity is not known, only that it is at least MachineLimitRPS.
	// MachineLimitRPS is the highest rate measured validly below
	// InvalidRateRPS, the lowest rate that stayed invalid (0: none);
	// MachineLimitReason is why its last run was invalid.
	MachineLimited     bool    `json:"machine_limited,omitempty"`
	MachineLimitRPS    float64 `json:"machine_limit_rps,omitempty"`
	InvalidRateRPS     float64 `json:"invalid_rate_rps,omitempty"`
	MachineLimitReason string  `json:"machine_limit_reason,omitempty"`
	// GeneratorLimited is set when the machine limit is the generator
	// saturating.
	GeneratorLimited bool `json:"generator_limited,omitempty"`
	// WorkloadLimited is set instead of MachineLimited when the rate that
	// stayed invalid was held by the scenario's own bound (LimitedBy, as
	// Step.LimitedBy): the search could not offer more, and the capacity
	// is at least WorkloadLimitRPS, the highest rate measured validly below
	// InvalidRateRPS, not known.
	WorkloadLimited  bool    `json:"workload_limited,omitempty"`
	WorkloadLimitRPS float64 `json:"workload_limit_rps,omitempty"`
	LimitedBy        string  `json:"limited_by,omitempty"`
	Converged        bool    `json:"converged"`
	Note             string  `json:"note,omitempty"`
	Steps            []Step  `json:"steps"`
	// Confirmation is the live run at MaxRateRPS after a simulated search
	// (CapacityOptions.Confirm); nil without one.
	Confirmation *Confirmation `json:"confirmation,omitempty"`
	// Simulation is the model's constants the simulated steps took, and
	// where they came from (a calibration file or the built-in defaults);
	// nil live.
	Simulation *report.SimulationModel `json:"simulation,omitempty"`
}

// FindCapacity searches the highest open-loop rate at which sc meets every
// requirement: bracketing (the rate doubles while the requirements hold,
// halves while they do not), then binary search between the highest
// passing and lowest failing rate, each rate in the bracket run Repeats
// times. Every step is a fresh run of sc with its open workloads scaled to
// the rate (their shares kept), a constant rate for StepDuration, no fault
// timeline, a seed of its own (the scenario's + the step's index), and a
// cool-down before it.
//
// A step that proves nothing about the SUT (see invalidity: the generator
// saturated, an inconclusive verdict, the apparatus's delay a sizeable part
// of a latency threshold; or the scenario's max_inflight held its arrivals
// while no requirement was missed) is invalid, never a failure: it is run
// again, up to InvalidRetries times after InvalidCooldown (a simulated one
// held by max_inflight is not: it would give the same answer). A rate that
// stays invalid bounds the search from above like a failure would, and
// unless a valid failure below it bounds the capacity, the result is
// machine-limited (this machine cannot measure beyond the highest rate
// measured validly) or, when max_inflight held it, workload-limited (the
// scenario offers no more).
func FindCapacity(ctx context.Context, sc *scenario.Scenario, opts CapacityOptions) (*Capacity, error) {
	asked := opts
	opts.defaults()
	base, err := checkCapacity(sc, opts)
	if err != nil {
		return nil, err
	}
	if opts.Start <= 0 {
		opts.Start = base
	}
	ex := newExecutor(opts.Simulate, opts.Version)
	c, err := search(ctx, sc.Name, opts, func(rate float64, index int) (Step, error) {
		return runStep(ctx, sc, rate, base, index, opts, ex)
	})
	c.Mode, c.StepDurationS, c.Simulation = ex.mode, opts.StepDuration.Seconds(), ex.model
	if err != nil || !opts.Confirm {
		return c, err
	}
	return c, c.confirm(ctx, sc, base, asked)
}

// checkCapacity refuses, before anything runs, a search that cannot be
// made of sc with opts, and returns sc's declared open-loop rate.
func checkCapacity(sc *scenario.Scenario, opts CapacityOptions) (float64, error) {
	if err := oneSite(sc, "capacity"); err != nil {
		return 0, err
	}
	base, err := declaredRate(sc)
	if err != nil {
		return 0, err
	}
	if len(sc.Requirements) == 0 {
		return 0, errors.New("capacity: the scenario has no requirements to hold")
	}
	if opts.Start > scenario.MaxRate {
		return 0, fmt.Errorf("capacity: --start %g/s is above the most a scenario may ask, %d/s", opts.Start, scenario.MaxRate)
	}
	if opts.Confirm && !opts.Simulate {
		return 0, errors.New("capacity: --confirm runs live what a simulated search found: add --simulate")
	}
	// A step is the scenario at a constant rate without its faults: what
	// the executor cannot run of that is refused at its place.
	return base, newExecutor(opts.Simulate, opts.Version).unsupported(atRate(sc, base, base, opts))
}

// stepFunc runs the index-th step of a search at rate.
type stepFunc func(rate float64, index int) (Step, error)

// outcome is what a rate's runs showed.
type outcome int

const (
	passed outcome = iota
	failed
	invalid    // every retry invalid
	outOfSteps // MaxSteps reached before the rate was decided
)

// search is FindCapacity's search over any step function.
func search(ctx context.Context, name string, opts CapacityOptions, step stepFunc) (*Capacity, error) {
	opts.defaults()
	c := &Capacity{Scenario: name}
	inf := math.Inf(1)
	// lo: highest passing rate; hi: lowest failing; ceil: lowest that
	// stayed invalid. The capacity lies in [lo, hi); nothing at or above
	// ceil is run again.
	lo, hi, ceil := 0.0, inf, inf
	var ceilStep Step // the last run at ceil
	// measure runs rate until one run is valid, at most 1 + InvalidRetries times.
	measure := func(rate float64, phase string) (outcome, error) {
		for attempt := 1; ; attempt++ {
			if len(c.Steps) >= opts.MaxSteps {
				return outOfSteps, nil
			}
			if len(c.Steps) > 0 {
				pause := opts.Cooldown
				if attempt > 1 {
					pause = opts.InvalidCooldown
				}
				if err := sleep(ctx, pause); err != nil {
					return outOfSteps, err
				}
			}
			st, err := step(rate, len(c.Steps))
			if err != nil {
				return outOfSteps, err
			}
			st.Phase, st.Attempt = phase, attempt
			c.Steps = append(c.Steps, st)
			// A simulated step held by the scenario's own bound would be
			// held again: the model has no noise to wait out.
			last := !st.Valid && (attempt > opts.InvalidRetries || opts.Simulate && st.LimitedBy != "")
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "capacity: step %d (%s) %.1f/s: p50 %.2fms p99 %.2fms mean %.2fms: %s\n",
					len(c.Steps), phase, rate, st.P50MS, st.P99MS, st.MeanMS, st.result(last))
			}
			switch {
			case st.Valid && st.Pass:
				return passed, nil
			case st.Valid:
				return failed, nil
			case last:
				if rate < ceil {
					ceil, ceilStep = rate, st
				}
				return invalid, nil
			}
		}
	}
	settle := func(rate float64, o outcome) {
		switch o {
		case passed:
			lo = math.Max(lo, rate)
		case failed:
			hi = math.Min(hi, rate)
		}
	}
	// Bracketing: up while passing, down while failing or invalid; never
	// above the most a scenario may ask, where a passing rate ends it.
	rate := min(opts.Start, scenario.MaxRate)
	for {
		o, err := measure(rate, "bracket")
		if err != nil {
			return c, err
		}
		if o == outOfSteps {
			break
		}
		settle(rate, o)
		if lo > 0 && math.Min(hi, ceil) < inf {
			break
		}
		if o == passed {
			if rate >= scenario.MaxRate {
				break
			}
			rate = min(rate*opts.Growth, scenario.MaxRate)
			continue
		}
		if rate /= opts.Growth; rate < 0.1 {
			break
		}
	}
	// Binary search; every rate in the bracket needs Repeats passing runs.
	for lo > 0 && math.Min(hi, ceil) < inf && (math.Min(hi, ceil)-lo)/lo > opts.Precision {
		mid := (lo + math.Min(hi, ceil)) / 2
		o := passed
		for range opts.Repeats {
			var err error
			if o, err = measure(mid, "search"); err != nil {
				return c, err
			}
			if o != passed {
				break
			}
		}
		if o == outOfSteps {
			break
		}
		settle(mid, o)
	}
	c.MaxRateRPS = lo
	if hi < inf {
		c.FailRateRPS = hi
	}
	limited := ceil < inf && ceil <= hi
	c.Converged = !limited && lo > 0 && hi < inf && (hi-lo)/lo <= opts.Precision
	switch {
	case limited && ceilStep.LimitedBy != "":
		c.WorkloadLimited, c.WorkloadLimitRPS, c.InvalidRateRPS, c.LimitedBy = true, lo, ceil, ceilStep.LimitedBy
		c.Note = c.Headline()
	case limited:
		c.MachineLimited, c.MachineLimitRPS, c.InvalidRateRPS, c.MachineLimitReason = true, lo, ceil, ceilStep.Reason
		c.GeneratorLimited = strings.HasPrefix(ceilStep.Reason, "generator saturated")
		c.Note = c.Headline()
	case lo == 0:
		c.Note = "no rate tried met every requirement"
	case hi == inf && lo >= scenario.MaxRate:
		c.Note = fmt.Sprintf("no rate tried failed: the capacity is at least %d/s, the most a scenario may ask", scenario.MaxRate)
	case hi == inf:
		c.Note = "no rate tried failed: the capacity is above the highest rate tried (raise --max-steps)"
	case !c.Converged:
		c.Note = "the search ran out of steps before reaching the precision (raise --max-steps)"
	}
	if n := c.invalidSteps(); n > 0 && !limited {
		c.Note = strings.TrimPrefix(c.Note+fmt.Sprintf("; %d invalid step(s) were run again and not counted", n), "; ")
	}
	c.KneeRPS = knee(c.Curve())
	c.EstimatedRPS = c.MaxRateRPS
	if !limited {
		c.EstimatedRPS = c.estimate()
	}
	return c, nil
}

// Limited reports whether the search ended below the capacity, at a rate
// that stayed invalid (machine- or workload-limited): the capacity is then
// only a lower bound.
func (c *Capacity) Limited() bool { return c.MachineLimited || c.WorkloadLimited }

// Headline is the search's finding in one sentence.
func (c *Capacity) Headline() string {
	if c.Limited() {
		limit, anyRate, rps := "this machine cannot measure", "this scenario at any rate tried", c.MachineLimitRPS
		why := "was invalid (" + c.MachineLimitReason + ")"
		if c.WorkloadLimited {
			limit, anyRate, rps = "the scenario's "+c.LimitedBy+" limits the offered load", "at every rate tried", c.WorkloadLimitRPS
			why = "missed no requirement while its arrivals waited for an in-flight slot; raise max_inflight to search further"
		}
		if rps > 0 {
			return fmt.Sprintf("%s beyond %.1f/s: every run at %.1f/s %s; the capacity is at least %.1f/s, not known", limit, rps, c.InvalidRateRPS, why, rps)
		}
		return fmt.Sprintf("%s %s: every run at %.1f/s %s; the capacity is not known", limit, anyRate, c.InvalidRateRPS, why)
	}
	h := fmt.Sprintf("maximum sustainable rate %.1f/s", c.MaxRateRPS)
	if c.FailRateRPS > 0 {
		h += fmt.Sprintf(" (fails at %.1f/s; interpolated threshold %.1f/s)", c.FailRateRPS, c.EstimatedRPS)
	}
	return h
}

func (c *Capacity) invalidSteps() int {
	n := 0
	for _, s := range c.Steps {
		if !s.Valid {
			n++
		}
	}
	return n
}

// result is the step's outcome in words; last marks an invalid step not
// to be run again.
func (s Step) result(last bool) string {
	switch {
	case !s.Valid && last:
		return "invalid, not run again: " + s.Reason
	case !s.Valid:
		return "invalid, to be run again: " + s.Reason
	case s.Pass:
		return "pass"
	}
	return "fail: " + strings.Join(s.Failed, "; ")
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

// runStep runs one step with ex and judges it.
func runStep(ctx context.Context, sc *scenario.Scenario, rate, base float64, index int, opts CapacityOptions, ex executor) (Step, error) {
	st := Step{RateRPS: rate, Seed: sc.Seed + int64(index)}
	stepScenario := atRate(sc, rate, base, opts)
	stepScenario.Seed = st.Seed
	res, err := ex.execute(ctx, stepScenario)
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
		missed := v.Status == report.VerdictFail || v.Status == "" && !v.Pass
		if missed && !(i < len(sc.Requirements) && heldWaitMissed(res, sc.Requirements[i])) {
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
	why, chk := ex.invalidity(sc.Requirements, res)
	st.ApparatusDelayMS, st.ApparatusShare = chk.delayMS, chk.share
	st.DisturbedWindows, st.Windows = chk.disturbed, chk.windows
	switch {
	case err == nil && len(st.Failed) == 0 && res.Generator.InflightBound && (why != "" || res.Verdict != report.VerdictPass):
		// Nothing missed, yet no pass: the arrivals waited for the
		// scenario's own in-flight slots, so the load offered was its
		// bound, and their wait the apparatus's delay, not the SUT's.
		st.LimitedBy = inflightLimit(stepScenario, res)
		st.Reason, st.Failed = "limited by the scenario's "+st.LimitedBy+": "+res.Generator.Reason, nil
	case why != "":
		st.Reason, st.Failed = why, nil // nothing the SUT did: no requirement missed
	case err != nil:
		st.Reason, st.Failed = "run failed: "+err.Error(), nil
	default:
		st.Valid = true
		st.Pass = res.Verdict == report.VerdictPass
		if !st.Pass && len(st.Failed) == 0 {
			// Nothing missed for certain, yet no pass, and no apparatus
			// or bound of the scenario to blame (a simulated step): the
			// verdict's reason is the finding.
			st.Failed = []string{res.VerdictReason}
		}
	}
	return st, nil
}

// heldWaitMissed tells whether req, missed in res, was missed through the
// wait for the scenario's own in-flight slots alone: res's arrivals mostly
// waited for one (Generator.InflightBound), req is on latency, which counts
// from the intended send and so holds that wait, and latency from the
// actual send (service_latency, the same requirement without it) meets it.
// A backlog growing all run long can fail such a requirement for certain
// where the SUT answered on time.
func heldWaitMissed(res *report.Result, req scenario.Requirement) bool {
	if !res.Generator.InflightBound || req.Metric != "latency" {
		return false
	}
	req.Metric = "service_latency"
	return report.EvaluateRequirement(res, req).Status != report.VerdictFail
}

// inflightLimit names the max_inflight of sc's workloads whose arrivals
// res counts held ("max_inflight (1000)"; with several workloads each by
// name, "max_inflight (api 20, admin 5)"); every open workload's when
// none counts any past the warm-up.
func inflightLimit(sc *scenario.Scenario, res *report.Result) string {
	held := map[string]bool{}
	for _, w := range res.Workloads {
		held[w.Name] = w.Totals.Held > 0
	}
	var open, named []string
	only := 0
	for _, w := range sc.Workload {
		if w.Closed() {
			continue
		}
		only = w.MaxInflight
		open = append(open, fmt.Sprintf("%s %d", w.Name, w.MaxInflight))
		if held[w.Name] {
			named = append(named, open[len(open)-1])
		}
	}
	switch {
	case len(open) == 1:
		return fmt.Sprintf("max_inflight (%d)", only)
	case len(named) == 0:
		named = open
	}
	return "max_inflight (" + strings.Join(named, ", ") + ")"
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
	fmt.Fprintf(&b, "## Capacity: %s%s\n\n", c.Scenario, simulatedSuffix(c.Mode))
	switch {
	case c.MachineLimited:
		fmt.Fprintf(&b, "**Machine-limited**: %s.\n", c.Headline())
	case c.WorkloadLimited:
		fmt.Fprintf(&b, "**Limited by the scenario**: %s.\n", c.Headline())
	default:
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
	}
	if c.Confirmation != nil {
		c.Confirmation.writeMarkdown(&b)
	}
	b.WriteString("\n| step | phase | offered | throughput | mean | p50 | p99 | send lag p99 | apparatus delay | result |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for i, s := range c.Steps {
		last := !s.Valid && (i+1 == len(c.Steps) || c.Steps[i+1].Attempt <= s.Attempt)
		fmt.Fprintf(&b, "| %d | %s | %.1f/s | %.1f/s | %.2fms | %.2fms | %.2fms | %.2fms | %.3gms (%.0f%%) | %s |\n",
			i+1, s.Phase, s.RateRPS, s.ThroughputRPS, s.MeanMS, s.P50MS, s.P99MS, s.SendLagP99MS,
			s.ApparatusDelayMS, 100*s.ApparatusShare, s.result(last))
	}
	b.WriteString(c.footnote())
	_, err := io.WriteString(w, b.String())
	return err
}

// footnote says how the steps were judged.
func (c *Capacity) footnote() string {
	rule := fmt.Sprintf("invalid, never a failure, when the scenario's max_inflight held its arrivals while it missed no requirement, the generator saturated, the verdict was inconclusive, the apparatus delay at a latency requirement's aggregation exceeded %.0f%% of its threshold, or more than %.0f%% of its windows were disturbed",
		100*ApparatusShareMax, 100*DisturbedShareMax)
	if c.Mode != report.ModeSimulated {
		return "\nA step is " + rule + "; it is run again after a cool-down.\n"
	}
	simulated := "\nEvery step was simulated on a virtual clock (" + c.modelWords() + "): no apparatus delayed it, so none is invalid unless the scenario's max_inflight held its arrivals while it missed no requirement (not run again: the model would hold them again).\n"
	if c.Confirmation == nil {
		return simulated
	}
	return simulated + "The live run is " + rule + ".\n"
}

// modelWords says which constants the simulated steps took.
func (c *Capacity) modelWords() string {
	if c.Simulation == nil { // a result saved before it was recorded
		return "the model's costs per request and per hop"
	}
	return "the model's " + c.Simulation.String()
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
	if err := report.WriteAtomic(filepath.Join(dir, "capacity.md"), c.WriteMarkdown); err != nil {
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
