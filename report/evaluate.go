package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// Verdict strings of a Result.
const (
	VerdictPass         = "pass"
	VerdictFail         = "fail"
	VerdictInconclusive = "inconclusive"
)

// Evaluate checks every requirement against res and records the outcome:
// res.Requirements gets one Verdict per requirement, in order, each "pass",
// "fail" or "inconclusive" (see judge), and res.Verdict the run's (see
// Decide). A requirement that cannot be evaluated (unknown metric or
// workload, no samples) fails with a note; nothing passes vacuously.
func Evaluate(res *Result, reqs []scenario.Requirement) {
	EvaluateAgainst(res, reqs, nil)
}

// Decide sets the run's verdict from its requirements' and the
// generator's health:
//
//   - "fail" when some requirement failed for certain (beyond what the
//     apparatus's own delay explains), whatever else happened;
//   - otherwise "inconclusive" when some requirement is inconclusive, or
//     when the run is invalid: it could not be carried out (RunError), or
//     the generator saturated (the SUT was not offered the load the
//     scenario asks for, so its passes prove nothing) unless
//     acceptSaturated;
//   - otherwise "pass" (also when there are no requirements).
//
// A comparison with a baseline (res.Diff) counts as one more requirement:
// worse than the baseline fails the run, inconclusive leaves it so.
// VerdictReason names the figures that made it so, and Explanations why
// each failed or inconclusive requirement missed (Explain).
func Decide(res *Result, acceptSaturated bool) {
	res.Explanations = Explain(res)
	var failed, unsure []string
	for _, v := range res.Requirements {
		switch v.Status {
		case VerdictFail:
			failed = append(failed, verdictFigure(v))
		case VerdictInconclusive:
			unsure = append(unsure, v.Text+": "+v.Why)
		}
	}
	if d := res.Diff; d != nil && d.Verdict == VerdictFail {
		failed = append(failed, "baseline: "+d.Reason)
	} else if d != nil && d.Verdict == VerdictInconclusive {
		unsure = append(unsure, "baseline: "+d.Reason)
	}
	switch {
	case len(failed) > 0:
		res.Verdict, res.VerdictReason = VerdictFail, strings.Join(failed, "; ")
	case len(unsure) > 0:
		res.Verdict, res.VerdictReason = VerdictInconclusive, strings.Join(unsure, "; ")
	case invalidity(res, acceptSaturated) != "":
		res.Verdict, res.VerdictReason = VerdictInconclusive, "the run "+invalidity(res, acceptSaturated)
	default:
		res.Verdict, res.VerdictReason = VerdictPass, ""
		if len(res.Requirements) > 0 {
			res.VerdictReason = fmt.Sprintf("every requirement met (%d)", len(res.Requirements))
		}
	}
}

// verdictFigure is a failed requirement with what was observed.
func verdictFigure(v Verdict) string {
	if v.Unobserved() {
		return v.Text + " (" + v.Note + ")"
	}
	return v.Text + " observed " + FormatValue(v.Observed, scenario.Unit(v.Unit))
}

// EvaluateRequirement evaluates one requirement against res.
func EvaluateRequirement(res *Result, req scenario.Requirement) Verdict {
	v := Verdict{Text: RequirementText(req), Threshold: req.Threshold, Unit: string(req.Unit), Status: VerdictFail}
	fail := func(note string) Verdict {
		v.Pass, v.Note = false, note
		return v
	}
	def, known := metricEvaluators[req.Metric]
	if !known {
		return fail(fmt.Sprintf("unknown metric %q", req.Metric))
	}
	if v.Unit == "" {
		v.Unit = string(def.unit)
	}
	if req.Unit != "" && req.Unit != def.unit {
		// Comparing milliseconds with a fraction would be meaningless.
		return fail(fmt.Sprintf("%s is measured in %s, the threshold is in %s", req.Metric, def.unit, req.Unit))
	}
	sc, found := scopeOf(res, req)
	if !found {
		what := "workload"
		if req.RequestScope {
			what = "request"
		}
		return fail(fmt.Sprintf("no %s %s in the result", what, req.Scope))
	}
	stats := sc.stats
	observed, note, ok := def.eval(stats, res, req)
	if !ok {
		return fail(note)
	}
	v.Observed = observed
	pass, margin, err := compare(req.Op, observed, req.Threshold)
	if err != nil {
		return fail(err.Error())
	}
	v.Pass, v.Margin = pass, roundSignificant(margin, 12)
	switch {
	case pass:
		v.Status = VerdictPass
	default:
		if why, certain := judge(res, req, stats, observed); certain {
			v.Why = why
		} else if why != "" {
			v.Status, v.Why = VerdictInconclusive, why
		}
	}
	return v
}

// Unobserved reports whether the verdict has no observed value: the
// requirement failed because its metric could not be computed, and Note
// says why.
func (v Verdict) Unobserved() bool { return !v.Pass && v.Note != "" }

// Inconclusive reports whether the apparatus's own delay could have
// decided the requirement (Why says how).
func (v Verdict) Inconclusive() bool { return v.Status == VerdictInconclusive }

// RequirementText is the requirement as written, or, for a requirement
// built in code without text, a rendering of its fields.
func RequirementText(req scenario.Requirement) string {
	if req.Text != "" {
		return req.Text
	}
	metric := req.Metric
	if req.Agg != "" {
		metric = req.Agg + "(" + metric + ")"
	}
	unit := req.Unit
	if def, ok := metricEvaluators[req.Metric]; ok && unit == "" {
		unit = def.unit
	}
	s := fmt.Sprintf("%s %s %s", metric, req.Op, FormatValue(req.Threshold, unit))
	if req.Scope != "" {
		s += " " + scopeText(req)
	}
	return s
}

// equalTolerance is the relative difference under which an observed value
// and a threshold count as equal, so that a threshold written "99.9%"
// (0.9990000000000001 after parsing) is met by an observed 999/1000.
const equalTolerance = 1e-9

// roundSignificant drops the binary noise of a subtraction (61.3 - 40 is
// 21.299999999999997) so that result.json shows the margin people expect.
func roundSignificant(x float64, digits int) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', digits, 64), 64)
	if err != nil {
		return x
	}
	return r
}

func nearlyEqual(a, b float64) bool {
	scale := math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
	return math.Abs(a-b) <= equalTolerance*scale
}

// compare applies op and returns the margin, in the value's unit:
//
//	< and <=   threshold - observed
//	> and >=   observed - threshold
//	==         -|observed - threshold|  (0 when met, negative when missed)
//	!=         |observed - threshold|   (positive when met, 0 when missed)
//
// so a margin is positive (or 0 at the boundary) when the requirement is
// met and negative when it is missed, except != whose only miss is 0.
func compare(op string, observed, threshold float64) (pass bool, margin float64, err error) {
	eq := nearlyEqual(observed, threshold)
	switch op {
	case "<":
		return observed < threshold && !eq, threshold - observed, nil
	case "<=":
		return observed < threshold || eq, threshold - observed, nil
	case ">":
		return observed > threshold && !eq, observed - threshold, nil
	case ">=":
		return observed > threshold || eq, observed - threshold, nil
	case "==":
		return eq, -math.Abs(observed - threshold), nil
	case "!=":
		return !eq, math.Abs(observed - threshold), nil
	}
	return false, 0, fmt.Errorf("unknown operator %q", op)
}

// metricEvaluator computes a metric over one scope's stats (the whole run's
// or a workload's). ok is false when there is no value to judge, and note
// then says why.
type metricEvaluator func(s *Stats, res *Result, req scenario.Requirement) (value float64, note string, ok bool)

// metricDef is how to evaluate one metric, and the unit of its values.
type metricDef struct {
	unit scenario.Unit
	eval metricEvaluator
}

// metricEvaluators maps every metric a requirement may name to its
// evaluator. TestEveryMetricHasAnEvaluator keeps it in step with
// scenario.Metrics.
var metricEvaluators = map[string]metricDef{
	"latency":            {scenario.UnitDuration, distributionMetric(func(s *Stats) Percentiles { return s.LatencyMS })},
	"service_latency":    {scenario.UnitDuration, distributionMetric(func(s *Stats) Percentiles { return s.ServiceLatencyMS })},
	"throughput":         {scenario.UnitRate, scalarMetric(func(s *Stats) float64 { return s.ThroughputRPS })},
	"request_rate":       {scenario.UnitRate, scalarMetric(func(s *Stats) float64 { return s.RequestRateRPS })},
	"error_rate":         {scenario.UnitPercent, scalarMetric(func(s *Stats) float64 { return s.ErrorRate })},
	"availability":       {scenario.UnitPercent, scalarMetric(func(s *Stats) float64 { return s.Availability.Requests })},
	"availability(time)": {scenario.UnitPercent, scalarMetric(func(s *Stats) float64 { return s.Availability.Time })},
	"scheduled":          {scenario.UnitCount, scheduledMetric},
	"succeeded":          {scenario.UnitCount, scalarMetric(func(s *Stats) float64 { return float64(s.Totals.Succeeded) })},
	"failed":             {scenario.UnitCount, scalarMetric(func(s *Stats) float64 { return float64(s.Totals.Failed) })},
	"dropped":            {scenario.UnitCount, scalarMetric(func(s *Stats) float64 { return float64(s.Totals.Dropped) })},
	"utilisation":        {scenario.UnitPercent, utilisationMetric},
	"recovery_time":      {scenario.UnitDuration, faultTimeMetric("recovery_time", "recover", func(f Fault) (float64, bool) { return f.RecoveryTimeS, true })},
	"detection_time":     {scenario.UnitDuration, faultTimeMetric("detection_time", "get detected", func(f Fault) (float64, bool) { return f.DetectionTimeS, !f.IsTopologyEvent() })},
	"failover_time":      {scenario.UnitDuration, faultTimeMetric("failover_time", "fail over", failoverTime)},
	"requests_lost":      {scenario.UnitCount, requestsLostMetric},
	"session_loss":       {scenario.UnitCount, scalarMetric(func(s *Stats) float64 { return float64(s.Errors["session_lost"]) })},
	"fairness":           {scenario.UnitPercent, fairnessMetric},
	// Read from the topology, not measured: judged exactly.
	"single_points_of_failure": {scenario.UnitCount, singlePointsMetric},
	"projected_availability":   {scenario.UnitPercent, projectedAvailabilityMetric},
}

// failoverTime is a site-down fault's failover time through DNS, when it
// has one.
func failoverTime(f Fault) (float64, bool) {
	if f.FailoverTimeS == nil {
		return 0, false
	}
	return *f.FailoverTimeS, true
}

// requestsLostMetric adds up the requests the site-down faults lost.
func requestsLostMetric(_ *Stats, res *Result, req scenario.Requirement) (float64, string, bool) {
	if req.Scope != "" {
		return 0, "requests_lost is counted per site-down fault, not per workload or request", false
	}
	lost, faults := int64(0), 0
	for _, f := range res.Faults {
		if f.RequestsLost != nil {
			lost += *f.RequestsLost
			faults++
		}
	}
	if faults == 0 {
		return 0, "no samples: no site-down fault was applied", false
	}
	return float64(lost), "", true
}

// singlePointsMetric counts the built-in SUT's single points of failure.
func singlePointsMetric(_ *Stats, res *Result, req scenario.Requirement) (float64, string, bool) {
	if req.Scope != "" {
		return 0, "single_points_of_failure is a figure of the whole system, not of a workload or request", false
	}
	if res.SinglePointsOfFailure == nil {
		return 0, "no topology: single points of failure are read from the built-in sut, and this result has none", false
	}
	return float64(len(res.SinglePointsOfFailure)), "", true
}

// projectedAvailabilityMetric is the service's projected availability.
func projectedAvailabilityMetric(_ *Stats, res *Result, req scenario.Requirement) (float64, string, bool) {
	if req.Scope != "" {
		return 0, "projected_availability is a figure of the whole system, not of a workload or request", false
	}
	if res.Projection == nil {
		return 0, "no availability projection: no node declared mtbf with a time to repair (mttr:, or a fault of the run that took a node down)", false
	}
	return res.Projection.Service.Availability, "", true
}

// fairnessMetric is Jain's index over the nodes' share / weight.
func fairnessMetric(_ *Stats, res *Result, req scenario.Requirement) (float64, string, bool) {
	if req.Scope != "" {
		return 0, "fairness is measured over the nodes, not per workload or request", false
	}
	if res.Fairness == 0 {
		return 0, "no samples: fewer than two nodes answered", false
	}
	return res.Fairness, "", true
}

// UnknownMetrics lists the metrics of scenario.Metrics that have no
// evaluator here; it is empty when the two agree.
func UnknownMetrics() []string {
	var missing []string
	for _, m := range scenario.Metrics {
		if _, ok := metricEvaluators[m.Name]; !ok {
			missing = append(missing, m.Name)
		}
	}
	return missing
}

// percentileAggregations reads each aggregation of scenario.Aggregations
// from a latency summary.
var percentileAggregations = map[string]func(Percentiles) float64{
	"p50":    func(p Percentiles) float64 { return p.P50 },
	"p75":    func(p Percentiles) float64 { return p.P75 },
	"p90":    func(p Percentiles) float64 { return p.P90 },
	"p95":    func(p Percentiles) float64 { return p.P95 },
	"p99":    func(p Percentiles) float64 { return p.P99 },
	"p999":   func(p Percentiles) float64 { return p.P999 },
	"p9999":  func(p Percentiles) float64 { return p.P9999 },
	"max":    func(p Percentiles) float64 { return p.Max },
	"min":    func(p Percentiles) float64 { return p.Min },
	"mean":   func(p Percentiles) float64 { return p.Mean },
	"stddev": func(p Percentiles) float64 { return p.Stddev },
}

func distributionMetric(of func(*Stats) Percentiles) metricEvaluator {
	return func(s *Stats, _ *Result, req scenario.Requirement) (float64, string, bool) {
		if req.Agg == "" {
			return 0, fmt.Sprintf("%s needs an aggregation such as p99(%s)", req.Metric, req.Metric), false
		}
		agg, ok := percentileAggregations[req.Agg]
		if !ok {
			return 0, fmt.Sprintf("unknown aggregation %q", req.Agg), false
		}
		p := of(s)
		if p.Count == 0 {
			return 0, "no samples: no request completed" + scopeSuffix(req), false
		}
		return agg(p), "", true
	}
}

// scalarMetric reads a figure of the scope; a scope into which nothing was
// scheduled has no figures, only zeros, so it fails rather than passing
// "error_rate < 1%" on an empty run.
func scalarMetric(of func(*Stats) float64) metricEvaluator {
	return func(s *Stats, _ *Result, req scenario.Requirement) (float64, string, bool) {
		if s.Totals.Scheduled == 0 {
			return 0, "no samples: nothing was scheduled" + scopeSuffix(req), false
		}
		return of(s), "", true
	}
}

// scheduledMetric is the one count whose zero is itself the observation.
func scheduledMetric(s *Stats, _ *Result, _ scenario.Requirement) (float64, string, bool) {
	return float64(s.Totals.Scheduled), "", true
}

func scopeSuffix(req scenario.Requirement) string {
	if req.Scope == "" {
		return ""
	}
	return " " + scopeText(req)
}

// reduce applies a whole-run aggregation (max by default, min, mean) to xs.
func reduce(agg string, xs []float64) (float64, error) {
	switch agg {
	case "", "max":
		m := xs[0]
		for _, x := range xs[1:] {
			m = math.Max(m, x)
		}
		return m, nil
	case "min":
		m := xs[0]
		for _, x := range xs[1:] {
			m = math.Min(m, x)
		}
		return m, nil
	case "mean":
		var sum float64
		for _, x := range xs {
			sum += x
		}
		return sum / float64(len(xs)), nil
	}
	return 0, fmt.Errorf("aggregation %q does not apply here (use max, min or mean)", agg)
}

// utilisationMetric aggregates the nodes' utilisation (max by default).
// Only nodes that reported one count: 0 means "not known".
func utilisationMetric(_ *Stats, res *Result, req scenario.Requirement) (float64, string, bool) {
	if req.Scope != "" {
		return 0, "utilisation is measured per node, not per workload or request", false
	}
	var xs []float64
	for _, n := range res.Nodes {
		if n.Utilisation > 0 {
			xs = append(xs, n.Utilisation)
		}
	}
	if len(xs) == 0 {
		return 0, "no samples: no node reported its utilisation", false
	}
	v, err := reduce(req.Agg, xs)
	if err != nil {
		return 0, err.Error(), false
	}
	return v, "", true
}

// faultTimeMetric aggregates a per-fault time (max by default) in
// milliseconds, over the faults it applies to (of's second result). A
// negative time means the fault's effect never ended (or was never
// detected) within the run, which fails the requirement.
func faultTimeMetric(name, verb string, of func(Fault) (float64, bool)) metricEvaluator {
	return func(_ *Stats, res *Result, req scenario.Requirement) (float64, string, bool) {
		if req.Scope != "" {
			return 0, name + " is measured per fault, not per workload or request", false
		}
		if len(res.Faults) == 0 {
			return 0, "no samples: the run had no faults", false
		}
		var xs []float64
		var never []string
		for _, f := range res.Faults {
			t, applies := of(f)
			if f.Error != "" || !applies {
				continue // not applied, or nothing to measure
			}
			if t < 0 {
				never = append(never, fmt.Sprintf("%s %s at %s", f.Kind, f.Target(), formatSeconds(f.AtS)))
				continue
			}
			xs = append(xs, t*1000)
		}
		if len(xs) == 0 && len(never) == 0 {
			return 0, "no samples: no fault of the run applies", false
		}
		if len(never) > 0 {
			sort.Strings(never)
			return 0, fmt.Sprintf("did not %s within the run: %s", verb, strings.Join(never, ", ")), false
		}
		v, err := reduce(req.Agg, xs)
		if err != nil {
			return 0, err.Error(), false
		}
		return v, "", true
	}
}
