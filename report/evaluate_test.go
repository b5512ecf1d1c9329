package report

import (
	"math"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// tenth and fifth add up, at run time, to 0.30000000000000004; met and
// scheduled divide, at run time, to 0.999. (Constant expressions fold
// exactly, so written as constants both would be exact.)
var tenth, fifth = 0.1, 0.2
var met, scheduled = 999.0, 1000.0

func TestCompareOperators(t *testing.T) {
	almostThreeTenths := tenth + fifth
	threeNines := met / scheduled
	p, err := scenario.ParsePercent("99.9%")
	if err != nil {
		t.Fatal(err)
	}
	percentThreshold := p.Fraction()
	// The rows below are about values a rounding apart: they must differ.
	if almostThreeTenths == 0.3 || threeNines == percentThreshold {
		t.Fatalf("0.1+0.2 = %v, 999/1000 = %v against 99.9%% = %v: want each pair a rounding apart",
			almostThreeTenths, threeNines, percentThreshold)
	}
	cases := []struct {
		op                  string
		observed, threshold float64
		pass                bool
		margin              float64
	}{
		{"<", 90, 100, true, 10},
		{"<", 100, 100, false, 0},
		{"<", 110, 100, false, -10},
		{"<=", 90, 100, true, 10},
		{"<=", 100, 100, true, 0},
		{"<=", 110, 100, false, -10},
		{">", 110, 100, true, 10},
		{">", 100, 100, false, 0},
		{">", 90, 100, false, -10},
		{">=", 110, 100, true, 10},
		{">=", 100, 100, true, 0},
		{">=", 90, 100, false, -10},
		{"==", 0, 0, true, 0},
		{"==", 3, 0, false, -3},
		{"==", -3, 0, false, -3},
		{"!=", 3, 0, true, 3},
		{"!=", 0, 0, false, 0},
		// A threshold parsed from "99.9%" is 0.9990000000000001; 999 of
		// 1000 must meet it, and must not beat it strictly.
		{">=", threeNines, percentThreshold, true, threeNines - percentThreshold},
		{">", threeNines, percentThreshold, false, threeNines - percentThreshold},
		{"==", threeNines, percentThreshold, true, -math.Abs(threeNines - percentThreshold)},
		{"<=", almostThreeTenths, 0.3, true, 0.3 - almostThreeTenths},
		{"<", almostThreeTenths, 0.3, false, 0.3 - almostThreeTenths},
		{"!=", almostThreeTenths, 0.3, false, math.Abs(almostThreeTenths - 0.3)},
	}
	for _, c := range cases {
		pass, margin, err := compare(c.op, c.observed, c.threshold)
		if err != nil {
			t.Fatalf("%v %s %v: %v", c.observed, c.op, c.threshold, err)
		}
		if pass != c.pass || margin != c.margin {
			t.Errorf("%v %s %v: pass %v margin %v, want %v %v", c.observed, c.op, c.threshold, pass, margin, c.pass, c.margin)
		}
	}
	if _, _, err := compare("=<", 1, 2); err == nil {
		t.Error("unknown operator accepted")
	}
}

// evalStats is a scope with a distinct value in every figure, so a metric
// reading the wrong field shows.
func evalStats() Stats {
	return Stats{
		Totals:         Totals{Scheduled: 1000, Succeeded: 970, Failed: 20, Dropped: 10, Late: 4},
		ThroughputRPS:  97,
		RequestRateRPS: 99,
		TargetRPS:      100,
		ErrorRate:      0.02,
		Availability:   Availability{Requests: 0.97, Time: 0.95},
		LatencyMS: Percentiles{Count: 990, Min: 0.5, Mean: 6, Stddev: 7, P50: 5, P75: 7.5, P90: 9,
			P95: 9.5, P99: 19, P999: 99.9, P9999: 199.99, Max: 250},
		ServiceLatencyMS: Percentiles{Count: 990, Min: 0.25, Mean: 3, Stddev: 3.5, P50: 2.5, P75: 3.75, P90: 4.5,
			P95: 4.75, P99: 9.5, P999: 49.95, P9999: 99.995, Max: 125},
	}
}

func evalResult() *Result {
	res := &Result{Stats: evalStats()}
	browse := evalStats()
	browse.Totals.Scheduled, browse.ThroughputRPS = 600, 58
	browse.LatencyMS.P99 = 31
	res.Workloads = []WorkloadResult{
		{Name: "browse", Stats: browse},
		{Name: "idle"}, // scheduled nothing
	}
	cart := evalStats()
	cart.Totals.Scheduled, cart.ThroughputRPS = 100, 9
	cart.LatencyMS.P95 = 340
	res.Requests = []RequestResult{
		{Name: "GET /", Workload: "browse", Stats: browse},
		{Name: "POST /cart", Workload: "browse", Stats: cart},
	}
	res.Nodes = []Node{{Name: "a", Utilisation: 0.5}, {Name: "b", Utilisation: 0.75}, {Name: "ext"}}
	res.Faults = []Fault{
		{Kind: "crash", Node: "a", AtS: 10, RecoveryTimeS: 2, DetectionTimeS: 0.5},
		{Kind: "slow", Node: "b", AtS: 30, RecoveryTimeS: 4, DetectionTimeS: 1.5},
	}
	return res
}

func TestEvaluateEveryMetricReadsItsFigure(t *testing.T) {
	cases := []struct {
		metric, agg string
		unit        scenario.Unit
		want        float64
	}{
		{"latency", "p99", scenario.UnitDuration, 19},
		{"service_latency", "p99", scenario.UnitDuration, 9.5},
		{"throughput", "", scenario.UnitRate, 97},
		{"request_rate", "", scenario.UnitRate, 99},
		{"error_rate", "", scenario.UnitPercent, 0.02},
		{"availability", "", scenario.UnitPercent, 0.97},
		{"availability(time)", "", scenario.UnitPercent, 0.95},
		{"scheduled", "", scenario.UnitCount, 1000},
		{"succeeded", "", scenario.UnitCount, 970},
		{"failed", "", scenario.UnitCount, 20},
		{"dropped", "", scenario.UnitCount, 10},
		{"utilisation", "", scenario.UnitPercent, 0.75},
		{"utilisation", "mean", scenario.UnitPercent, 0.625},
		{"utilisation", "min", scenario.UnitPercent, 0.5},
		{"recovery_time", "", scenario.UnitDuration, 4000},
		{"recovery_time", "mean", scenario.UnitDuration, 3000},
		{"detection_time", "max", scenario.UnitDuration, 1500},
	}
	res := evalResult()
	for _, c := range cases {
		// Threshold equal to the figure: <= passes with margin 0 only if
		// the evaluator read exactly that figure.
		req := scenario.Requirement{Metric: c.metric, Agg: c.agg, Op: "<=", Threshold: c.want, Unit: c.unit}
		v := EvaluateRequirement(res, req)
		if !v.Pass || v.Observed != c.want || v.Margin != 0 || v.Unit != string(c.unit) || v.Note != "" {
			t.Errorf("%s(%s): %+v, want observed %v in %s", c.agg, c.metric, v, c.want, c.unit)
		}
	}
}

func TestEvaluateEveryAggregation(t *testing.T) {
	lat := evalStats().LatencyMS
	want := map[string]float64{
		"p50": lat.P50, "p75": lat.P75, "p90": lat.P90, "p95": lat.P95, "p99": lat.P99, "p999": lat.P999,
		"p9999": lat.P9999, "max": lat.Max, "min": lat.Min, "mean": lat.Mean, "stddev": lat.Stddev,
	}
	res := evalResult()
	for _, agg := range scenario.Aggregations {
		w, ok := want[agg]
		if !ok {
			t.Errorf("aggregation %s has no expected value in this test", agg)
			continue
		}
		v := EvaluateRequirement(res, scenario.Requirement{Metric: "latency", Agg: agg, Op: "<", Threshold: 1000, Unit: scenario.UnitDuration})
		if v.Observed != w || !v.Pass {
			t.Errorf("%s(latency) = %v (pass %v, note %q), want %v", agg, v.Observed, v.Pass, v.Note, w)
		}
	}
}

func TestEveryMetricHasAnEvaluator(t *testing.T) {
	if missing := UnknownMetrics(); len(missing) > 0 {
		t.Fatalf("metrics of scenario.Metrics without an evaluator: %v", missing)
	}
	for _, m := range scenario.Metrics {
		if def := metricEvaluators[m.Name]; def.unit != m.Unit {
			t.Errorf("%s: evaluator in %q, scenario.Metrics says %q", m.Name, def.unit, m.Unit)
		}
	}
	for _, agg := range scenario.Aggregations {
		if _, ok := percentileAggregations[agg]; !ok {
			t.Errorf("aggregation %s has no reader", agg)
		}
	}
}

func TestUnknownMetricsNoticesAMissingEvaluator(t *testing.T) {
	name := scenario.Metrics[len(scenario.Metrics)-1].Name
	saved := metricEvaluators[name]
	delete(metricEvaluators, name)
	defer func() { metricEvaluators[name] = saved }()
	if got := UnknownMetrics(); len(got) != 1 || got[0] != name {
		t.Fatalf("UnknownMetrics() = %v, want [%s]", got, name)
	}
}

func TestEvaluateScope(t *testing.T) {
	res := evalResult()
	cases := []struct {
		name string
		req  scenario.Requirement
		pass bool
		obs  float64
		note string
	}{
		{"whole run", scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 90, Unit: scenario.UnitRate}, true, 97, ""},
		{"workload", scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 90, Unit: scenario.UnitRate, Scope: "browse"}, false, 58, ""},
		{"workload latency", scenario.Requirement{Metric: "latency", Agg: "p99", Op: "<", Threshold: 30, Unit: scenario.UnitDuration, Scope: "browse"}, false, 31, ""},
		{"missing workload", scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 0, Unit: scenario.UnitRate, Scope: "checkout"}, false, 0, "no workload checkout in the result"},
		{"workload with nothing scheduled", scenario.Requirement{Metric: "error_rate", Op: "<", Threshold: 0.01, Unit: scenario.UnitPercent, Scope: "idle"}, false, 0, "no samples: nothing was scheduled for idle"},
		{"request", scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 5, Unit: scenario.UnitRate, Scope: "POST /cart", RequestScope: true}, true, 9, ""},
		{"request latency", scenario.Requirement{Metric: "latency", Agg: "p95", Op: "<", Threshold: 300, Unit: scenario.UnitDuration, Scope: "POST /cart", RequestScope: true}, false, 340, ""},
		{"a workload's name is no request", scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 0, Unit: scenario.UnitRate, Scope: "browse", RequestScope: true}, false, 0, "no request browse in the result"},
		{"a request's name is no workload", scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 0, Unit: scenario.UnitRate, Scope: "POST /cart"}, false, 0, "no workload POST /cart in the result"},
		{"per-node metric scoped", scenario.Requirement{Metric: "utilisation", Op: "<", Threshold: 1, Unit: scenario.UnitPercent, Scope: "browse"}, false, 0, "utilisation is measured per node, not per workload or request"},
	}
	for _, c := range cases {
		v := EvaluateRequirement(res, c.req)
		if v.Pass != c.pass || v.Observed != c.obs || v.Note != c.note {
			t.Errorf("%s: %+v, want pass %v observed %v note %q", c.name, v, c.pass, c.obs, c.note)
		}
	}
}

func TestEvaluateNeverPassesWithoutSamples(t *testing.T) {
	empty := &Result{Workloads: []WorkloadResult{{Name: "browse"}}}
	cases := []struct {
		req  scenario.Requirement
		note string
	}{
		{scenario.Requirement{Metric: "latency", Agg: "p99", Op: "<", Threshold: 100, Unit: scenario.UnitDuration}, "no samples: no request completed"},
		{scenario.Requirement{Metric: "service_latency", Agg: "max", Op: "<", Threshold: 100, Unit: scenario.UnitDuration, Scope: "browse"}, "no samples: no request completed for browse"},
		{scenario.Requirement{Metric: "error_rate", Op: "<", Threshold: 0.01, Unit: scenario.UnitPercent}, "no samples: nothing was scheduled"},
		{scenario.Requirement{Metric: "failed", Op: "==", Threshold: 0, Unit: scenario.UnitCount}, "no samples: nothing was scheduled"},
		{scenario.Requirement{Metric: "throughput", Op: ">=", Threshold: 0, Unit: scenario.UnitRate}, "no samples: nothing was scheduled"},
		{scenario.Requirement{Metric: "utilisation", Op: "<", Threshold: 0.8, Unit: scenario.UnitPercent}, "no samples: no node reported its utilisation"},
		{scenario.Requirement{Metric: "recovery_time", Op: "<", Threshold: 3000, Unit: scenario.UnitDuration}, "no samples: the run had no faults"},
	}
	for _, c := range cases {
		v := EvaluateRequirement(empty, c.req)
		if v.Pass || v.Note != c.note || !v.Unobserved() {
			t.Errorf("%s(%s) on an empty run: %+v, want a failure noting %q", c.req.Agg, c.req.Metric, v, c.note)
		}
	}
	// scheduled is the one figure whose zero is an observation.
	v := EvaluateRequirement(empty, scenario.Requirement{Metric: "scheduled", Op: "==", Threshold: 0, Unit: scenario.UnitCount})
	if !v.Pass || v.Unobserved() {
		t.Errorf("scheduled == 0 on an empty run: %+v", v)
	}
}

func TestEvaluateRejectsWhatItCannotJudge(t *testing.T) {
	res := evalResult()
	res.Faults = append(res.Faults, Fault{Kind: "hang", Node: "b", AtS: 50, RecoveryTimeS: -1, DetectionTimeS: 1})
	cases := []struct {
		req  scenario.Requirement
		note string
	}{
		{scenario.Requirement{Metric: "goodput", Op: ">", Threshold: 1}, `unknown metric "goodput"`},
		{scenario.Requirement{Metric: "latency", Op: "<", Threshold: 1, Unit: scenario.UnitDuration}, "latency needs an aggregation such as p99(latency)"},
		{scenario.Requirement{Metric: "latency", Agg: "p42", Op: "<", Threshold: 1, Unit: scenario.UnitDuration}, `unknown aggregation "p42"`},
		{scenario.Requirement{Metric: "latency", Agg: "p99", Op: "<", Threshold: 0.5, Unit: scenario.UnitPercent}, "latency is measured in ms, the threshold is in %"},
		{scenario.Requirement{Metric: "throughput", Op: "=>", Threshold: 1, Unit: scenario.UnitRate}, `unknown operator "=>"`},
		{scenario.Requirement{Metric: "utilisation", Agg: "p99", Op: "<", Threshold: 1, Unit: scenario.UnitPercent}, `aggregation "p99" does not apply here (use max, min or mean)`},
		{scenario.Requirement{Metric: "recovery_time", Op: "<", Threshold: 3000, Unit: scenario.UnitDuration}, "did not recover within the run: hang b at 50.0s"},
	}
	for _, c := range cases {
		v := EvaluateRequirement(res, c.req)
		if v.Pass || v.Note != c.note {
			t.Errorf("%+v: got %+v, want a failure noting %q", c.req, v, c.note)
		}
	}
}

func TestEvaluateVerdict(t *testing.T) {
	pass := scenario.Requirement{Text: "throughput >= 90/s", Metric: "throughput", Op: ">=", Threshold: 90, Unit: scenario.UnitRate}
	fail := scenario.Requirement{Text: "p99(latency) < 10ms", Metric: "latency", Agg: "p99", Op: "<", Threshold: 10, Unit: scenario.UnitDuration}
	cases := []struct {
		name    string
		reqs    []scenario.Requirement
		verdict string
	}{
		{"no requirements", nil, VerdictPass},
		{"all met", []scenario.Requirement{pass, pass}, VerdictPass},
		{"one missed", []scenario.Requirement{pass, fail, pass}, VerdictFail},
	}
	for _, c := range cases {
		res := evalResult()
		res.Verdict = "stale"
		Evaluate(res, c.reqs)
		if res.Verdict != c.verdict || len(res.Requirements) != len(c.reqs) {
			t.Errorf("%s: verdict %q with %d verdicts, want %q with %d", c.name, res.Verdict, len(res.Requirements), c.verdict, len(c.reqs))
		}
		for i, v := range res.Requirements {
			if v.Text != c.reqs[i].Text {
				t.Errorf("%s: verdict %d is for %q, want %q", c.name, i, v.Text, c.reqs[i].Text)
			}
		}
	}
	res := evalResult()
	Evaluate(res, []scenario.Requirement{fail})
	if v := res.Requirements[0]; v.Observed != 19 || v.Threshold != 10 || v.Margin != -9 || v.Unit != "ms" {
		t.Errorf("missed p99: %+v, want observed 19ms, threshold 10ms, margin -9ms", v)
	}
}

func TestRequirementText(t *testing.T) {
	cases := []struct {
		req  scenario.Requirement
		want string
	}{
		{scenario.Requirement{Text: "p99(latency) < 150ms for browse"}, "p99(latency) < 150ms for browse"},
		{scenario.Requirement{Metric: "latency", Agg: "p99", Op: "<", Threshold: 150, Scope: "browse"}, "p99(latency) < 150ms for browse"},
		{scenario.Requirement{Metric: "availability", Op: ">=", Threshold: 0.999}, "availability >= 99.90%"},
		{scenario.Requirement{Metric: "dropped", Op: "==", Threshold: 0}, "dropped == 0"},
	}
	for _, c := range cases {
		if got := RequirementText(c.req); got != c.want {
			t.Errorf("RequirementText(%+v) = %q, want %q", c.req, got, c.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	cases := []struct {
		v    float64
		unit scenario.Unit
		want string
	}{
		{0, scenario.UnitDuration, "0ms"},
		{0.4125, scenario.UnitDuration, "0.412ms"},
		{4.214, scenario.UnitDuration, "4.21ms"},
		{12.34, scenario.UnitDuration, "12.3ms"},
		{9.999, scenario.UnitDuration, "10.0ms"},
		{153.4, scenario.UnitDuration, "153ms"},
		{999.7, scenario.UnitDuration, "1.00s"},
		{1200, scenario.UnitDuration, "1.20s"},
		{65432, scenario.UnitDuration, "65.4s"},
		{-21.3, scenario.UnitDuration, "-21.3ms"},
		{812.44, scenario.UnitRate, "812.4/s"},
		{0, scenario.UnitRate, "0.0/s"},
		{0.995, scenario.UnitPercent, "99.50%"},
		{0.9995, scenario.UnitPercent, "99.950%"},
		{1, scenario.UnitPercent, "100.00%"},
		// Two significant figures of the distance to 100%, however the
		// last bits fall: the same availability twice reads the same.
		{0.99999, scenario.UnitPercent, "99.9990%"},
		{0.9999900000001, scenario.UnitPercent, "99.9990%"},
		{0.9999899999999, scenario.UnitPercent, "99.9990%"},
		{0.999994, scenario.UnitPercent, "99.99940%"},
		{0.9999943, scenario.UnitPercent, "99.99943%"},
		{0.0000002, scenario.UnitPercent, "0.000020%"},
		{0, scenario.UnitPercent, "0.00%"},
		// A negative value rounded to zero shows no sign.
		{math.Copysign(0, -1), scenario.UnitPercent, "0.00%"},
		{-1e-14, scenario.UnitPercent, "0.000000000%"},
		{-0.00001, scenario.UnitDuration, "0.000ms"},
		{-0.01, scenario.UnitRate, "0.0/s"},
		{-0.2, scenario.UnitCount, "0"},
		{1234, scenario.UnitCount, "1234"},
		{math.NaN(), scenario.UnitRate, "n/a"},
	}
	for _, c := range cases {
		if got := FormatValue(c.v, c.unit); got != c.want {
			t.Errorf("FormatValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
	if got := FormatMargin(96.5, scenario.UnitRate); got != "+96.5/s" {
		t.Errorf("FormatMargin(96.5/s) = %q", got)
	}
	if got := FormatMargin(-0.0006, scenario.UnitPercent); got != "-0.060%" {
		t.Errorf("FormatMargin(-0.06%%) = %q", got)
	}
}

func TestWrapWords(t *testing.T) {
	got := wrapWords("aaa bbb ccc ddd", 8, "  ")
	if want := "aaa bbb\n  ccc\n  ddd"; strings.Join(got, "\n") != want {
		t.Errorf("got %q, want %q", strings.Join(got, "\n"), want)
	}
	if got := wrapWords("unbreakable-word", 5, ""); len(got) != 1 {
		t.Errorf("a long word was cut: %q", got)
	}
}

// TestEvaluateParsedRequirements checks the seam with the scenario parser:
// thresholds parsed from text are in the units the evaluators read.
func TestEvaluateParsedRequirements(t *testing.T) {
	res := evalResult()
	res.Stats.Availability.Requests = 999.0 / 1000
	cases := []struct {
		text string
		pass bool
		obs  float64
	}{
		{"availability >= 99.9%", true, 0.999},
		{"p99(latency) < 20ms", true, 19},
		{"p99(latency) < 0.019s", false, 19},
		{"throughput >= 100/s", false, 97},
		{"error_rate < 1%", false, 0.02},
		{"dropped == 0", false, 10},
		{"p99(latency) < 30ms for browse", false, 31},
		{"p99(latency) < 30ms for checkout", false, 0},
	}
	for _, c := range cases {
		req, err := scenario.ParseRequirement(c.text)
		if err != nil {
			t.Fatalf("%s: %v", c.text, err)
		}
		v := EvaluateRequirement(res, req)
		if v.Pass != c.pass || math.Abs(v.Observed-c.obs) > 1e-12 || v.Text != c.text {
			t.Errorf("%s: %+v, want pass %v observed %v", c.text, v, c.pass, c.obs)
		}
	}
}
