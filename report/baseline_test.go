package report

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

func TestRelativeRequirements(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	base := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	same := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	slower := sampledResult(t, lognormalMS(rng, 6000, 6.5), 0, 10)
	saturated := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	saturated.Generator = Generator{Saturated: true, Reason: "arrivals dropped"}
	cases := []struct {
		req      string
		run      *Result
		baseline *Result
		status   string
		why      string
	}{
		{req: "p99(latency) <= baseline * 1.10", run: same, baseline: base, status: VerdictPass},
		{req: "p99(latency) <= baseline * 1.10", run: slower, baseline: base, status: VerdictFail},
		{req: "throughput >= baseline - 5%", run: same, baseline: base, status: VerdictPass},
		{req: "p50(latency) < baseline + 0.5ms for browse", run: slower, baseline: base, status: VerdictFail},
		{req: "p99(latency) <= baseline * 1.10", run: same, baseline: nil, status: VerdictInconclusive, why: "none was given"},
		{req: "p99(latency) <= baseline * 1.10 for checkout", run: same, baseline: base, status: VerdictInconclusive, why: "the baseline has no figure for it: no workload checkout"},
		{req: "p99(latency) <= baseline * 1.10", run: same, baseline: saturated, status: VerdictInconclusive, why: "the generator saturated"},
	}
	for _, c := range cases {
		t.Run(c.req+" "+c.status, func(t *testing.T) {
			req, err := scenario.ParseRequirement(c.req)
			if err != nil {
				t.Fatal(err)
			}
			res := *c.run
			EvaluateAgainst(&res, []scenario.Requirement{req}, c.baseline)
			v := res.Requirements[0]
			if v.Status != c.status || !strings.Contains(v.Why, c.why) {
				t.Fatalf("%s (%s; note %q), want %s with %q", v.Status, v.Why, v.Note, c.status, c.why)
			}
			if c.baseline == nil || v.Baseline == nil {
				return
			}
			from := EvaluateRequirement(c.baseline, scenario.Requirement{Metric: req.Metric, Agg: req.Agg, Op: req.Op, Scope: req.Scope, Unit: req.Unit})
			if *v.Baseline != from.Observed || !nearlyEqual(v.Threshold, req.Baseline.Of(from.Observed)) {
				t.Errorf("threshold %v from baseline %v, want %v from %v", v.Threshold, *v.Baseline, req.Baseline.Of(from.Observed), from.Observed)
			}
			if res.Verdict != c.status {
				t.Errorf("run verdict %s, want %s", res.Verdict, c.status)
			}
		})
	}
}

func TestApplyBaselineEvaluatesRelativeRequirementsAgain(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	base := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	res := sampledResult(t, lognormalMS(rng, 6000, 5), 0, 10)
	req, err := scenario.ParseRequirement("p99(latency) <= baseline * 1.10")
	if err != nil {
		t.Fatal(err)
	}
	Evaluate(res, []scenario.Requirement{req}) // as run and merge do, with no baseline
	if res.Verdict != VerdictInconclusive {
		t.Fatalf("without a baseline: %s, want inconclusive", res.Verdict)
	}
	if err := ApplyBaseline(res, base, DefaultDiffOptions()); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != VerdictPass || res.Requirements[0].Baseline == nil || res.Diff == nil {
		t.Errorf("with the baseline: %s (%s), requirement %+v", res.Verdict, res.VerdictReason, res.Requirements[0])
	}
}
