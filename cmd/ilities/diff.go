package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

func newDiffCmd() *cobra.Command {
	var format string
	opts := report.DefaultDiffOptions()
	cmd := &cobra.Command{
		Use:   "diff BASELINE.json RESULT.json",
		Short: "Compare a run with a baseline run: the change in every figure, tested on the recorded histograms (exit 0 no regression, 1 worse, 2 unreadable input, 3 inconclusive)",
		Long: `Compare RESULT.json with BASELINE.json, both written by 'ilities run --out' (or merge):
for the whole run, each workload and each request name, the change in throughput, error
rate and latency (p50, p90, p95, p99, max, mean), with a confidence interval from each run's
own samples. A figure is worse only when the change is significant and beyond its
tolerance, and the tool's own delay cannot explain it (docs/baseline.md).

Exit 0 when no figure is worse, 1 when one is, 3 when the comparison proves nothing (a run
saturated or incomplete, different loads offered, a change within the tool's own delay).
Either file may be - for standard input.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			render, err := report.DiffRendererFor(format)
			if err != nil {
				return withCode(exitInvalid, fmt.Errorf("--format: %w", err))
			}
			if args[0] == "-" && args[1] == "-" {
				return withCode(exitInvalid, errors.New("only one of the two results can be read from standard input"))
			}
			baseline, err := readReportInput(args[0], cmd.InOrStdin())
			if err != nil {
				return withCode(exitInvalid, err)
			}
			res, err := readReportInput(args[1], cmd.InOrStdin())
			if err != nil {
				return withCode(exitInvalid, err)
			}
			d, err := report.Compare(baseline, res, opts)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if err := render(cmd.OutOrStdout(), d); err != nil {
				return withCode(exitRun, err)
			}
			return diffExit(d)
		},
	}
	formatFlag(cmd, &format)
	diffFlags(cmd, &opts)
	return cmd
}

// diffExit maps a comparison's verdict to the exit code, as verdictExit
// does a run's.
func diffExit(d *report.Diff) error {
	switch d.Verdict {
	case report.VerdictPass:
		return nil
	case report.VerdictFail:
		return withCode(exitFail, errSilent)
	}
	return withCode(exitRun, errors.New(d.Reason))
}

// diffFlags adds the gate's tolerances and confidence to a command that
// compares with a baseline (diff, run --baseline, report --baseline).
func diffFlags(cmd *cobra.Command, opts *report.DiffOptions) {
	f := cmd.Flags()
	f.Var((*percentFlag)(&opts.LatencyTolerance), "latency-tolerance", "a latency figure (p50, p90, p95, p99, mean) is worse only when it rose by more than this")
	f.Float64Var(&opts.LatencyFloorMS, "latency-floor", opts.LatencyFloorMS, "a latency figure is worse only when it also rose by more than this many milliseconds")
	f.Var((*percentFlag)(&opts.ThroughputTolerance), "throughput-tolerance", "throughput is worse only when it fell by more than this")
	f.Var((*percentFlag)(&opts.ErrorRateTolerance), "error-rate-tolerance", "the error rate is worse only when it rose by more than this many percentage points")
	f.Var((*percentFlag)(&opts.Confidence), "confidence", "how sure a change must be, for all figures together: identical systems are called worse by chance at most 1 − this often")
}

// percentFlag is a flag holding a fraction, written as a percentage ("10%").
type percentFlag float64

func (p *percentFlag) String() string { return report.FormatValue(float64(*p), scenario.UnitPercent) }
func (p *percentFlag) Type() string   { return "percent" }

func (p *percentFlag) Set(s string) error {
	v, err := scenario.ParsePercent(s)
	if err != nil {
		return err
	}
	*p = percentFlag(v.Fraction())
	return nil
}

// baselineFlags adds --baseline and the gate's settings to run and report.
func baselineFlags(cmd *cobra.Command, path *string, opts *report.DiffOptions) {
	cmd.Flags().StringVar(path, "baseline", "", "compare with this earlier `RESULT.json`: the change in every figure (as ilities diff) is part of the verdict, and requirements such as \"p99(latency) <= baseline * 1.10\" read their thresholds from it")
	diffFlags(cmd, opts)
}

// readBaseline reads the baseline a run or a report is compared with, nil
// when none is named, and checks the gate's settings first.
func readBaseline(cmd *cobra.Command, path string, opts report.DiffOptions) (*report.Result, error) {
	if path == "" {
		return nil, nil
	}
	if err := opts.Validate(); err != nil {
		return nil, withCode(exitInvalid, err)
	}
	baseline, err := readReportInput(path, cmd.InOrStdin())
	if err != nil {
		return nil, withCode(exitInvalid, fmt.Errorf("--baseline: %w", err))
	}
	return baseline, nil
}

// relativeWithoutBaseline is an error at each requirement relative to a
// baseline when none is given; nil when there is one or none needs it.
func relativeWithoutBaseline(sc *scenario.Scenario, baseline *report.Result) error {
	if baseline != nil {
		return nil
	}
	var errs scenario.Errors
	for _, req := range sc.Requirements {
		if req.Baseline != nil {
			errs = append(errs, scenario.Error{File: sc.File, Line: req.Line, Column: req.Column,
				Msg: fmt.Sprintf("%q is relative to a baseline: give one with --baseline RESULT.json", req.Text)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return withCode(exitInvalid, errs)
}

// applyBaseline compares a finished run with its baseline, if any.
func applyBaseline(res, baseline *report.Result, opts report.DiffOptions) error {
	if res == nil || baseline == nil {
		return nil
	}
	if err := report.ApplyBaseline(res, baseline, opts); err != nil {
		return withCode(exitInvalid, fmt.Errorf("--baseline: %w", err))
	}
	return nil
}
