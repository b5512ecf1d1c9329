package report

import (
	"errors"
	"fmt"

	"github.com/ilities/ilities/scenario"
)

// EvaluateAgainst is Evaluate with a baseline run (nil: none), from which
// each requirement relative to a baseline ("p99(latency) <= baseline *
// 1.10") reads its threshold: the baseline's observed value of the same
// metric and scope. Such a requirement is judged as any other once its
// threshold is known; it is inconclusive when there is no baseline, the
// baseline has no such figure, or the baseline run is no reference
// (saturated, incomplete), met or not.
func EvaluateAgainst(res *Result, reqs []scenario.Requirement, baseline *Result) {
	res.Requirements = make([]Verdict, 0, len(reqs))
	for _, req := range reqs {
		if req.Baseline != nil {
			res.Requirements = append(res.Requirements, evaluateRelative(res, req, baseline))
			continue
		}
		res.Requirements = append(res.Requirements, EvaluateRequirement(res, req))
	}
	Decide(res, false)
}

func evaluateRelative(res *Result, req scenario.Requirement, baseline *Result) Verdict {
	unsure := func(v Verdict, why string) Verdict {
		v.Status, v.Pass, v.Why = VerdictInconclusive, false, why
		return v
	}
	if baseline == nil {
		return unsure(Verdict{Text: RequirementText(req), Unit: string(req.Unit)}, "relative to a baseline, and none was given (--baseline)")
	}
	absolute := req
	absolute.Baseline = nil
	from := EvaluateRequirement(baseline, absolute)
	if from.Unobserved() {
		return unsure(Verdict{Text: RequirementText(req), Unit: string(req.Unit)}, "the baseline has no figure for it: "+from.Note)
	}
	absolute.Threshold = req.Baseline.Of(from.Observed)
	v := EvaluateRequirement(res, absolute)
	v.Text = RequirementText(req)
	base := from.Observed
	v.Baseline = &base
	if why := invalidRun(baseline, false); why != "" {
		return unsure(v, fmt.Sprintf("the baseline (%s) %s", FormatValue(base, req.Unit), why))
	}
	return v
}

// ApplyBaseline compares res with baseline: each requirement of res
// relative to a baseline (read again from its text) is evaluated against
// it, the comparison of every figure (Compare) becomes res.Diff, and the
// run's verdict is decided again with both.
func ApplyBaseline(res, baseline *Result, opts DiffOptions) error {
	if res == nil || baseline == nil {
		return errors.New("a comparison needs both runs")
	}
	d, err := Compare(baseline, res, opts)
	if err != nil {
		return err
	}
	for i, v := range res.Requirements {
		req, err := scenario.ParseRequirement(v.Text)
		if err != nil || req.Baseline == nil {
			continue
		}
		res.Requirements[i] = evaluateRelative(res, req, baseline)
	}
	res.Diff = d
	Decide(res, opts.AcceptSaturated)
	return nil
}
