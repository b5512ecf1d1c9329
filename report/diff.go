package report

import (
	"fmt"
	"math"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ilities/ilities/scenario"
)

// DiffOptions are the baseline gate's settings: how much a figure must
// worsen to matter (the practical tolerances) and how sure the gate must be
// that it did (the confidence). A figure is a regression only when both
// hold: with 10^4–10^6 samples any trivial difference is significant, and
// two runs on a shared machine differ by a little anyway.
type DiffOptions struct {
	// LatencyTolerance is the relative rise of a latency figure (p50, p90,
	// p95, p99, mean) that matters: 0.10 is 10%.
	LatencyTolerance float64 `json:"latency_tolerance"`
	// LatencyFloorMS is the smallest rise of a latency figure, in
	// milliseconds, that matters whatever its relative size: a shared
	// machine's scheduling moves sub-millisecond percentiles by tens of
	// percent between identical runs.
	LatencyFloorMS float64 `json:"latency_floor_ms"`
	// ThroughputTolerance is the relative fall of throughput that matters.
	ThroughputTolerance float64 `json:"throughput_tolerance"`
	// ErrorRateTolerance is the rise of the error rate that matters, in
	// absolute terms: 0.001 is 0.1 percentage points.
	ErrorRateTolerance float64 `json:"error_rate_tolerance"`
	// Confidence is the family-wise confidence of the tests: two runs of
	// identical systems show a significant change anywhere, by sampling
	// alone, with probability at most 1 − Confidence.
	Confidence float64 `json:"confidence"`
	// AcceptSaturated takes a run in which the generator saturated as a
	// reference (run --allow-saturated).
	AcceptSaturated bool `json:"accept_saturated,omitempty"`
}

// DefaultDiffOptions are the gate's defaults: 10% and 1ms on latency, 5% on
// throughput, 0.1 percentage points on the error rate, 99% confidence.
func DefaultDiffOptions() DiffOptions {
	return DiffOptions{LatencyTolerance: 0.10, LatencyFloorMS: 1, ThroughputTolerance: 0.05, ErrorRateTolerance: 0.001, Confidence: 0.99}
}

// Validate says what is wrong with the options, if anything.
func (o DiffOptions) Validate() error {
	switch {
	case !(o.LatencyTolerance >= 0), !(o.LatencyFloorMS >= 0), !(o.ThroughputTolerance >= 0 && o.ThroughputTolerance < 1), !(o.ErrorRateTolerance >= 0 && o.ErrorRateTolerance < 1):
		return fmt.Errorf("a tolerance is a percentage of at least 0%% (throughput and error rate below 100%%)")
	case !(o.Confidence >= 0.5 && o.Confidence < 1):
		return fmt.Errorf("confidence %v: expected a percentage from 50%% to below 100%%, such as 99%%", o.Confidence)
	}
	return nil
}

// Status of one figure in a diff.
const (
	DiffSame         = "same"         // no significant change beyond the tolerance
	DiffWorse        = "worse"        // a regression: significant and beyond the tolerance
	DiffBetter       = "better"       // an improvement, significant and beyond the tolerance
	DiffInconclusive = "inconclusive" // worse, but the tool's own delay could explain it
	DiffUntested     = "untested"     // shown, not tested (a maximum, too few samples)
)

// Diff is a run compared with a baseline run: per scope (the whole run,
// each workload, each request name) the change in each figure, whether it
// is a regression, and the verdict of the comparison.
type Diff struct {
	Baseline DiffRun     `json:"baseline"`
	Run      DiffRun     `json:"run"`
	Options  DiffOptions `json:"options"`
	// Tests is how many figures were tested; each interval has confidence
	// 1 − (1 − Confidence)/Tests (Bonferroni), so that they hold together.
	Tests int `json:"tests"`
	// Verdict is "fail" when some figure is worse, "inconclusive" when none
	// is but either run is invalid or a worse figure is within the tool's
	// own delay, "pass" otherwise; Reason names the figures.
	Verdict string      `json:"verdict"`
	Reason  string      `json:"reason,omitempty"`
	Notes   []string    `json:"notes,omitempty"`
	Scopes  []ScopeDiff `json:"scopes"`
}

// DiffRun says which run a side of the diff is.
type DiffRun struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Seed     int64     `json:"seed"`
	Verdict  string    `json:"verdict"`
}

// ScopeDiff is one scope's figures: Kind "run", "workload" or "request"
// (Workload then names its workload).
type ScopeDiff struct {
	Kind     string       `json:"kind"`
	Name     string       `json:"name,omitempty"`
	Workload string       `json:"workload,omitempty"`
	Figures  []FigureDiff `json:"figures,omitempty"`
	// Note says why a scope has no figures (it is in one run only).
	Note string `json:"note,omitempty"`
}

// FigureDiff is one figure in both runs. Change is relative ((new −
// old) / old) except for the error rate, whose change is the difference of
// the two fractions; [Low, High] is the confidence interval of the change
// (absent when untested).
type FigureDiff struct {
	Figure string  `json:"figure"`
	Unit   string  `json:"unit"`
	Old    float64 `json:"old"`
	New    float64 `json:"new"`
	Change float64 `json:"change"`
	Low    float64 `json:"low,omitempty"`
	High   float64 `json:"high,omitempty"`
	Status string  `json:"status"`
	Why    string  `json:"why,omitempty"`
}

// Label is the scope as the tables show it.
func (s ScopeDiff) Label() string {
	switch s.Kind {
	case "workload":
		return "workload " + s.Name
	case "request":
		return fmt.Sprintf("%q (%s)", s.Name, s.Workload)
	}
	return "run"
}

// diffLatencyAggs are the latency figures compared; max is shown, never
// tested (one sample decides it).
var diffLatencyAggs = []string{"p50", "p90", "p95", "p99", "max", "mean"}

// Compare compares run with baseline. Each figure's change gets a
// confidence interval from the runs' own samples (docs/baseline.md):
//
//   - a latency percentile: a distribution-free interval for the
//     percentile in each run, from the order statistics of its HDR
//     histogram (the rank of the q-quantile among n samples is binomial),
//     whose width gives the standard error of its log; the log of the
//     ratio has the two together (quantileInterval);
//   - mean latency: the difference of the means, normal, from each
//     histogram's mean and standard deviation;
//   - throughput: two binomial proportions of successes when both runs
//     were offered the same arrivals, else two Poisson rates;
//   - error rate: the difference of two binomial proportions.
//
// The intervals share 1 − Confidence equally (Bonferroni), so that they
// hold together.
//
// A figure is worse when its interval lies wholly on the worse side of no
// change and the change exceeds the tolerance; it is then judged as a
// requirement with the tolerance as its threshold would be (judge): when
// the tool's own delay in run could explain it, it is inconclusive.
func Compare(baseline, run *Result, opts DiffOptions) (*Diff, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	d := &Diff{Baseline: diffRunOf(baseline), Run: diffRunOf(run), Options: opts}
	pairs := scopePairs(baseline, run, d)
	for _, p := range pairs {
		d.Tests += p.tests()
	}
	c := comparer{opts: opts, run: run}
	if d.Tests > 0 {
		alpha := (1 - opts.Confidence) / float64(d.Tests)
		c.z = distuv.UnitNormal.Quantile(1 - alpha/2) // two-sided
	}
	for _, p := range pairs {
		scope := p.scope
		if p.old != nil && p.new != nil {
			scope.Figures = c.figures(p)
		}
		d.Scopes = append(d.Scopes, scope)
	}
	d.decide(baseline, run)
	return d, nil
}

func diffRunOf(res *Result) DiffRun {
	return DiffRun{Scenario: res.Scenario, Started: res.Started, Seed: res.Seed, Verdict: res.Verdict}
}

// scopePair is one scope's stats in both runs (nil where absent).
type scopePair struct {
	scope    ScopeDiff
	old, new *Stats
	// judgeScope is the requirement scope judge reads for it: "" for the
	// run, the workload's or the request's name (judgeRequest). A request
	// whose name another workload also sends has none (judgeable false).
	judgeScope   string
	judgeRequest bool
	judgeable    bool
}

func (p scopePair) tests() int {
	if p.old == nil || p.new == nil {
		return 0
	}
	return len(diffLatencyAggs) - 1 + 2 // every latency figure but max, throughput, error rate
}

// scopePairs matches the scopes of both runs: the run, workloads by name,
// requests by workload and name, in the order run declares them and then
// those only in the baseline.
func scopePairs(baseline, run *Result, d *Diff) []scopePair {
	pairs := []scopePair{{scope: ScopeDiff{Kind: "run"}, old: &baseline.Stats, new: &run.Stats, judgeable: true}}
	workloads := func(res *Result) []scopePair {
		var out []scopePair
		for i := range res.Workloads {
			w := &res.Workloads[i]
			out = append(out, scopePair{scope: ScopeDiff{Kind: "workload", Name: w.Name}, new: &w.Stats, judgeScope: w.Name, judgeable: true})
		}
		return out
	}
	requests := func(res *Result) []scopePair {
		var out []scopePair
		sent := map[string]int{} // how many workloads send each name
		for _, r := range res.Requests {
			sent[r.Name]++
		}
		for i := range res.Requests {
			r := &res.Requests[i]
			out = append(out, scopePair{scope: ScopeDiff{Kind: "request", Name: r.Name, Workload: r.Workload}, new: &r.Stats,
				judgeScope: r.Name, judgeRequest: true, judgeable: sent[r.Name] == 1})
		}
		return out
	}
	pairs = append(pairs, matchScopes(workloads(baseline), workloads(run))...)
	pairs = append(pairs, matchScopes(requests(baseline), requests(run))...)
	if baseline.Scenario != run.Scenario {
		d.Notes = append(d.Notes, fmt.Sprintf("the runs are of different scenarios: %q and %q", baseline.Scenario, run.Scenario))
	}
	return pairs
}

// matchScopes pairs the scopes of one kind (each with its stats in new) by
// workload and name: those of run in order, then those only in the
// baseline. A lone scope in both runs is the run itself, and left out.
func matchScopes(baseline, run []scopePair) []scopePair {
	key := func(p scopePair) string { return p.scope.Workload + "\x00" + p.scope.Name }
	if len(baseline) == 1 && len(run) == 1 && key(baseline[0]) == key(run[0]) {
		return nil
	}
	old := map[string]*Stats{}
	for _, p := range baseline {
		old[key(p)] = p.new
	}
	var out []scopePair
	for _, p := range run {
		p.old = old[key(p)]
		delete(old, key(p))
		out = append(out, onlyIn(p))
	}
	for _, p := range baseline {
		if stats, left := old[key(p)]; left {
			p.old, p.new = stats, nil
			out = append(out, onlyIn(p))
		}
	}
	return out
}

// onlyIn notes a scope present in one run only.
func onlyIn(p scopePair) scopePair {
	switch {
	case p.old == nil:
		p.scope.Note = "only in this run"
	case p.new == nil:
		p.scope.Note = "only in the baseline"
	}
	return p
}

// comparer computes the figures of each scope.
type comparer struct {
	opts DiffOptions
	run  *Result
	// z bounds each two-sided interval at 1 − α, α the share of
	// 1 − Confidence each test has.
	z float64
}

func (c comparer) figures(p scopePair) []FigureDiff {
	figs := []FigureDiff{c.throughput(p), c.errorRate(p)}
	oldH, oldErr := DecodeHistogram(p.old.Histograms.Latency)
	newH, newErr := DecodeHistogram(p.new.Histograms.Latency)
	for _, agg := range diffLatencyAggs {
		oldV, newV := percentileAggregations[agg](p.old.LatencyMS), percentileAggregations[agg](p.new.LatencyMS)
		f := FigureDiff{Figure: agg + "(latency)", Unit: string(scenario.UnitDuration), Old: oldV, New: newV, Change: relativeChange(oldV, newV)}
		switch {
		case p.old.LatencyMS.Count == 0 || p.new.LatencyMS.Count == 0:
			f.Status, f.Why = DiffUntested, "no request completed in one of the runs"
		case agg == "max":
			f.Status, f.Why = DiffUntested, "a maximum is one sample: shown, not tested"
		case agg == "mean":
			c.meanInterval(&f, p.old.LatencyMS, p.new.LatencyMS)
		case oldErr != nil || newErr != nil || oldH.TotalCount() == 0 || newH.TotalCount() == 0:
			f.Status, f.Why = DiffUntested, "no latency histogram recorded"
		default:
			c.quantileInterval(&f, agg, oldH, newH)
		}
		if f.Status == "" {
			c.classify(&f, p, true, c.opts.LatencyTolerance, c.opts.LatencyFloorMS)
			c.judgeWorse(&f, p, scenario.Requirement{Metric: "latency", Agg: agg, Op: "<=", Threshold: oldV + math.Max(oldV*c.opts.LatencyTolerance, c.opts.LatencyFloorMS)})
		}
		figs = append(figs, f)
	}
	return figs
}

// throughput compares successes per second. When both runs were offered
// the same arrivals (a seeded open-loop schedule: equal counts over equal
// spans) only which of them succeeded is random, and the two success
// ratios are compared as binomial proportions; otherwise the successes
// are two Poisson counts.
func (c comparer) throughput(p scopePair) FigureDiff {
	f := FigureDiff{Figure: "throughput", Unit: string(scenario.UnitRate), Old: p.old.ThroughputRPS, New: p.new.ThroughputRPS}
	f.Change = relativeChange(f.Old, f.New)
	oldSpan, newSpan := span(p.old), span(p.new)
	if oldSpan <= 0 || newSpan <= 0 || f.Old <= 0 {
		f.Status, f.Why = DiffUntested, "no success in the baseline"
		return f
	}
	se := math.Sqrt(f.Old/oldSpan + f.New/newSpan) // var(count/T) = rate/T
	if n := float64(p.old.Totals.Scheduled); p.new.Totals.Scheduled == p.old.Totals.Scheduled && math.Abs(newSpan-oldSpan) <= 0.01*oldSpan {
		s1, s2 := float64(p.old.Totals.Succeeded)/n, float64(p.new.Totals.Succeeded)/n
		se = f.Old / s1 * math.Sqrt(s1*(1-s1)/n+s2*(1-s2)/n)
	}
	f.Low, f.High = (f.New-f.Old-c.z*se)/f.Old, (f.New-f.Old+c.z*se)/f.Old
	c.classify(&f, p, false, c.opts.ThroughputTolerance, 0)
	c.judgeWorse(&f, p, scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: f.Old * (1 - c.opts.ThroughputTolerance)})
	return f
}

// span is the seconds over which a scope's throughput was counted.
func span(s *Stats) float64 {
	if s.ThroughputRPS <= 0 {
		return 0
	}
	return float64(s.Totals.Succeeded) / s.ThroughputRPS
}

// errorRate compares failed ÷ offered as two binomial proportions; its
// change is in absolute terms.
func (c comparer) errorRate(p scopePair) FigureDiff {
	f := FigureDiff{Figure: "error_rate", Unit: string(scenario.UnitPercent), Old: p.old.ErrorRate, New: p.new.ErrorRate, Change: p.new.ErrorRate - p.old.ErrorRate}
	n1, n2 := float64(p.old.Totals.Offered()), float64(p.new.Totals.Offered())
	if n1 <= 0 || n2 <= 0 {
		f.Status, f.Why = DiffUntested, "nothing was offered in one of the runs"
		return f
	}
	se := math.Sqrt(f.Old*(1-f.Old)/n1 + f.New*(1-f.New)/n2)
	f.Low, f.High = f.Change-c.z*se, f.Change+c.z*se
	c.classify(&f, p, true, c.opts.ErrorRateTolerance, 0)
	c.judgeWorse(&f, p, scenario.Requirement{Metric: "error_rate", Op: "<=", Threshold: f.Old + c.opts.ErrorRateTolerance})
	return f
}

// meanInterval is the interval of the relative change of the mean.
func (c comparer) meanInterval(f *FigureDiff, oldP, newP Percentiles) {
	if f.Old <= 0 {
		f.Status, f.Why = DiffUntested, "a mean of 0 in the baseline"
		return
	}
	se := math.Sqrt(oldP.Stddev*oldP.Stddev/float64(oldP.Count) + newP.Stddev*newP.Stddev/float64(newP.Count))
	f.Low, f.High = (f.New-f.Old-c.z*se)/f.Old, (f.New-f.Old+c.z*se)/f.Old
}

// quantileInterval is the interval of the ratio of two percentiles less
// one. Each run's order-statistic bounds at z give the standard error of
// its log percentile, (ln hi − ln lo) / 2z; the log of the ratio then has
// the standard error of the two together, √(se₁² + se₂²).
func (c comparer) quantileInterval(f *FigureDiff, agg string, oldH, newH *hdrhistogram.Histogram) {
	q := aggQuantile[agg]
	oldLo, oldHi, okOld := quantileBounds(oldH, q, c.z)
	newLo, newHi, okNew := quantileBounds(newH, q, c.z)
	if !okOld || !okNew || f.Old <= 0 || f.New <= 0 {
		f.Status, f.Why = DiffUntested, fmt.Sprintf("too few samples to bound %s at this confidence", agg)
		return
	}
	seOld := math.Log(oldHi/oldLo) / (2 * c.z)
	seNew := math.Log(newHi/newLo) / (2 * c.z)
	logRatio, width := math.Log(f.New/f.Old), c.z*math.Hypot(seOld, seNew)
	f.Low, f.High = math.Expm1(logRatio-width), math.Expm1(logRatio+width)
}

// aggQuantile is each tested percentile as a quantile.
var aggQuantile = map[string]float64{"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}

// quantileBounds bounds the q-quantile of the distribution h was sampled
// from, in ms: the sample's order statistics at the ranks nq ∓ z·√(nq(1−q))
// (the rank of the true quantile among n samples is binomial(n, q), here
// by its normal approximation, held to where it is good: nq(1−q) ≥ 10).
func quantileBounds(h *hdrhistogram.Histogram, q, z float64) (lo, hi float64, ok bool) {
	n := float64(h.TotalCount())
	sd := math.Sqrt(n * q * (1 - q))
	if sd*sd < 10 {
		return 0, 0, false
	}
	low, high := math.Floor(n*q-z*sd), math.Ceil(n*q+z*sd)+1
	if low < 1 || high > n {
		return 0, 0, false
	}
	at := func(rank float64) float64 { return float64(h.ValueAtQuantile(100*rank/n)) / 1000 }
	lo, hi = at(low), at(high)
	return lo, hi, lo > 0
}

// classify sets a tested figure's status from its interval and change:
// worse or better only when the interval excludes no change and the change
// exceeds the tolerance, and the figure moved by more than floor (in its
// own unit). higherIsWorse tells the direction.
func (c comparer) classify(f *FigureDiff, p scopePair, higherIsWorse bool, tolerance, floor float64) {
	moved := math.Abs(f.New-f.Old) > floor
	up := f.Low > 0 && f.Change > tolerance && moved
	down := f.High < 0 && -f.Change > tolerance && moved
	switch {
	case up == higherIsWorse && (up || down):
		f.Status = DiffWorse
	case up || down:
		f.Status = DiffBetter
	default:
		f.Status = DiffSame
	}
}

// judgeWorse makes a worse figure inconclusive when the verdict rules of
// docs/verdicts.md, reading it as the requirement "no worse than the
// baseline beyond the tolerance", say the tool's own delay in this run
// could have caused the miss.
func (c comparer) judgeWorse(f *FigureDiff, p scopePair, req scenario.Requirement) {
	if f.Status != DiffWorse {
		return
	}
	req.Unit = scenario.Unit(f.Unit)
	if !p.judgeable {
		// A name several workloads send names no one scope: only a run the
		// host never disturbed, or a latency beyond the whole delay, is sure.
		a := c.run.Apparatus
		if req.Metric != "latency" && a != nil && a.DisturbedWindows > 0 {
			f.Status = DiffInconclusive
			f.Why = fmt.Sprintf("%d of %d windows disturbed by the tool's own delay, and the name %q is sent by more than one workload", a.DisturbedWindows, len(a.Windows), p.judgeScope)
			return
		}
	}
	req.Scope, req.RequestScope = p.judgeScope, p.judgeRequest
	if why, certain := judge(c.run, req, p.new, f.New); !certain && why != "" {
		f.Status, f.Why = DiffInconclusive, why
	}
}

// relativeChange is (new − old) / old; 0 from 0, which has no relative
// change (the tables say "new"), and JSON holds no infinity.
func relativeChange(old, new float64) float64 {
	if old == 0 {
		return 0
	}
	return (new - old) / old
}

// decide sets the diff's verdict. A worse figure fails it, as a failed
// requirement fails a run, even when this run saturated; a baseline that
// is invalid (saturated, incomplete) or an incomplete run is no reference,
// and leaves it inconclusive.
func (d *Diff) decide(baseline, run *Result) {
	var worse, unsure, invalid []string
	for _, s := range d.Scopes {
		for _, f := range s.Figures {
			text := s.Label() + " " + f.Figure + " " + formatChange(f)
			switch f.Status {
			case DiffWorse:
				worse = append(worse, text)
			case DiffInconclusive:
				unsure = append(unsure, text+" (within the tool's own delay)")
			}
		}
	}
	if why := invalidRun(baseline, d.Options.AcceptSaturated); why != "" {
		invalid = append(invalid, "the baseline "+why)
	}
	if why := invalidRun(run, d.Options.AcceptSaturated); why != "" {
		invalid = append(invalid, "this run "+why)
	}
	if !offeredAlike(baseline, run, d.Options.ThroughputTolerance) {
		invalid = append(invalid, fmt.Sprintf("the runs were offered different loads (%s, then %s)",
			FormatValue(baseline.TargetRPS, scenario.UnitRate), FormatValue(run.TargetRPS, scenario.UnitRate)))
	}
	noReference := invalidRun(baseline, d.Options.AcceptSaturated) != "" || run.Incomplete
	switch {
	case len(worse) > 0 && !noReference:
		d.Verdict, d.Reason = VerdictFail, "worse than the baseline: "+firstOf(worse)
	case len(invalid) > 0:
		d.Verdict, d.Reason = VerdictInconclusive, strings.Join(invalid, "; ")+": the comparison proves nothing"
		if len(worse) > 0 {
			d.Reason += " (worse: " + firstOf(worse) + ")"
		}
	case len(unsure) > 0:
		d.Verdict, d.Reason = VerdictInconclusive, firstOf(unsure)
	default:
		d.Verdict, d.Reason = VerdictPass, fmt.Sprintf("no regression beyond the tolerances (%d figures tested)", d.Tests)
	}
}

// firstOf lists the first three of items and counts the rest: the table
// has them all.
func firstOf(items []string) string {
	const shown = 3
	if len(items) <= shown {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:shown], "; "), len(items)-shown)
}

// invalidRun says why a run is no reference for a comparison, "" when it is one.
func invalidRun(res *Result, acceptSaturated bool) string {
	if res.Incomplete {
		return "is incomplete (interrupted)"
	}
	return invalidity(res, acceptSaturated)
}

// invalidity says why a run measured nothing its requirements can be judged
// on, "" when it did.
func invalidity(res *Result, acceptSaturated bool) string {
	switch {
	case res.RunError != "":
		return "is invalid: it could not be carried out: " + res.RunError
	case res.Generator.Saturated && !acceptSaturated:
		_, _, sentence := res.Generator.SaturationTitle()
		return "is invalid: " + sentence + ": " + res.Generator.Reason
	}
	return startsInvalidity(res.Starts)
}

// offeredAlike reports whether both runs were offered the same load, within
// the throughput tolerance: otherwise their figures do not compare.
func offeredAlike(baseline, run *Result, tolerance float64) bool {
	for _, res := range []*Result{baseline, run} {
		for _, w := range res.Workloads {
			if w.Model == "closed" {
				return true // the load is the users, and their pace the system's
			}
		}
	}
	if baseline.TargetRPS <= 0 || run.TargetRPS <= 0 {
		return true
	}
	return math.Abs(run.TargetRPS-baseline.TargetRPS) <= tolerance*baseline.TargetRPS
}

// formatChange is a figure's change as the tables show it: relative in
// percent, the error rate's in percentage points.
func formatChange(f FigureDiff) string {
	if f.Figure == "error_rate" {
		return signed(100*f.Change, "pp")
	}
	if f.Old == 0 && f.New != 0 {
		return "new"
	}
	return signed(100*f.Change, "%")
}

func signed(v float64, suffix string) string {
	s := fmt.Sprintf("%+.1f%s", v, suffix)
	if s == "-0.0"+suffix {
		s = "+0.0" + suffix
	}
	return s
}
