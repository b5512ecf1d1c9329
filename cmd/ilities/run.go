package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type runFlags struct {
	out            string
	seed           int64
	strategy       string
	format         string
	quiet          bool
	segment        string
	allowSaturated bool
	sutProcess     string
	metrics        metricsFlags
	baseline       string
	diff           report.DiffOptions
	// startAt is run's --start-at, noFailExit its --no-fail-exit.
	startAt    string
	noFailExit bool
}

// processStart is when this process started: what --start-at +DURATION
// counts from.
var processStart = time.Now()

func newRunCmd() *cobra.Command {
	f := runFlags{diff: report.DefaultDiffOptions()}
	cmd := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario and check its requirements (exit 0 pass, 1 fail, 2 invalid input, 3 inconclusive, run failed or interrupted, 4 internal error)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.prepare(cmd, args[0])
			if err != nil {
				return err
			}
			if err := run.Refused(p.sc); err != nil {
				return withCode(exitInvalid, err)
			}
			opts := run.Options{Options: runner.Options{Version: version, Segment: p.segment}, SUTProcess: f.sutProcess}
			if f.startAt != "" {
				if opts.StartAt, err = runner.ParseStartAt(f.startAt, processStart); err != nil {
					return withCode(exitInvalid, fmt.Errorf("--start-at: %w", err))
				}
			}
			switch f.sutProcess {
			case run.SUTInProcess:
			case run.SUTChild:
				if opts.SUTExecutable, err = os.Executable(); err != nil {
					return withCode(exitRun, fmt.Errorf("--sut-process child: finding this executable: %w", err))
				}
			default:
				return withCode(exitInvalid, fmt.Errorf("--sut-process %q: expected in or child", f.sutProcess))
			}
			if !f.quiet {
				opts.Progress = cmd.ErrOrStderr()
				opts.Live = isTerminal(opts.Progress)
			}
			return f.metrics.run(cmd, p.sc, opts, func(res *report.Result, runErr error) error {
				return f.finish(cmd, p, res, runErr)
			})
		},
		Long:    runLong,
		Example: runExample,
	}
	f.register(cmd)
	shapeFlags(cmd)
	cmd.Flags().StringVar(&f.sutProcess, "sut-process", run.SUTInProcess, "where the built-in SUT runs: in (this process, the default) or child (a child process with its own hiccup sampler; on a CPU-starved machine its verdicts can still blame the SUT for queueing the host caused, see the README)")
	cmd.Flags().StringVar(&f.startAt, "start-at", "", "start the run's clock at this instant, after everything is ready: an RFC 3339 time, +DURATION after this process started, or next:PERIOD[,LEAD], the next multiple of PERIOD since the epoch at least LEAD (2s) ahead, which every segment computes alike (docs/distributed.md)")
	cmd.Flags().BoolVar(&f.noFailExit, "no-fail-exit", false, "exit 0 when the requirements failed or were inconclusive (a segment's verdict is not the run's: merge decides); a saturated, interrupted or failed run still exits 3")
	f.metrics.register(cmd)
	return cmd
}

// register adds the flags run and simulate share: where the results go,
// the overrides of the scenario, how the result is printed, the segment,
// the baseline.
func (f *runFlags) register(cmd *cobra.Command) {
	outDirFlag(cmd, &f.out, "directory to write result.json and the reports into")
	setFlag(cmd)
	cmd.Flags().Int64Var(&f.seed, "seed", 0, "override the scenario's seed")
	strategyFlag(cmd, &f.strategy)
	formatFlag(cmd, &f.format)
	cmd.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines")
	cmd.Flags().StringVar(&f.segment, "segment", "", "run segment K/N: a deterministic 1/N slice of every workload, to be combined with ilities merge")
	cmd.Flags().BoolVar(&f.allowSaturated, "allow-saturated", false, "accept a run in which the generator saturated (otherwise exit 3)")
	baselineFlags(cmd, &f.baseline, &f.diff)
}

// prepared is what run and simulate settle before the load: the scenario
// with the command line's overrides, how the result is printed, the
// baseline it is compared with, the segment.
type prepared struct {
	sc       *scenario.Scenario
	render   report.Renderer
	baseline *report.Result
	segment  runner.Segment
}

// prepare loads the scenario at path and reads the shared flags; any
// problem is invalid input (or an interruption while loading).
func (f *runFlags) prepare(cmd *cobra.Command, path string) (*prepared, error) {
	sc, err := loadScenario(cmd, path)
	if err != nil {
		return nil, err
	}
	p := &prepared{sc: sc}
	if cmd.Flags().Changed("seed") {
		sc.Seed = f.seed
	}
	if f.strategy != "" {
		if sc.AllSites() == nil {
			return nil, withCode(exitInvalid, errors.New("--strategy applies to the built-in SUT (sut:), and this scenario has a target"))
		}
		for _, site := range sc.AllSites() {
			site.SUT.Proxy.Strategy = f.strategy // every site's proxy
		}
		if err := sc.Validate(); err != nil {
			return nil, withCode(exitInvalid, err)
		}
	}
	if p.render, err = formatRenderer(cmd, f.format); err != nil {
		return nil, err
	}
	if f.baseline == "-" && path == "-" {
		return nil, withCode(exitInvalid, errors.New("--baseline -: the scenario is read from standard input already"))
	}
	if p.baseline, err = readBaseline(cmd, f.baseline, f.diff); err != nil {
		return nil, err
	}
	if err := relativeWithoutBaseline(sc, p.baseline); err != nil {
		return nil, err
	}
	if f.segment != "" {
		if p.segment, err = runner.ParseSegment(f.segment); err != nil {
			return nil, withCode(exitInvalid, fmt.Errorf("--segment: %w", err))
		}
	}
	f.diff.AcceptSaturated = f.allowSaturated
	return p, nil
}

// finish compares the result with the baseline, writes and prints it, and
// maps the outcome to the exit code.
func (f *runFlags) finish(cmd *cobra.Command, p *prepared, res *report.Result, runErr error) error {
	notCarriedOut(res, runErr)
	if err := applyBaseline(res, p.baseline, f.diff); err != nil {
		return err
	}
	if res != nil && f.startAt != "" {
		res.Manifest.StartAt = f.startAt
	}
	err := finishRun(cmd, res, runErr, f.out, p.render, f.allowSaturated, f.quiet)
	if f.noFailExit && judgedOnly(res, err) {
		return nil
	}
	return err
}

// judgedOnly reports whether a run's exit err stands for its verdict alone
// (a failed or inconclusive requirement), not for a run that saturated,
// was interrupted or could not be carried out.
func judgedOnly(res *report.Result, err error) bool {
	var ee *exitError
	switch {
	case err == nil || res == nil || !errors.As(err, &ee):
		return false
	case ee.code == exitFail:
		return true
	}
	return ee.code == exitRun && res.Verdict == report.VerdictInconclusive &&
		!res.Incomplete && res.RunError == "" && !res.Generator.Saturated
}

// finishRun writes and prints what a run measured, whatever happened to
// it, says where the files went (unless quiet), and maps the outcome to
// the exit code.
func finishRun(cmd *cobra.Command, res *report.Result, runErr error, out string,
	render report.Renderer, allowSaturated, quiet bool) error {
	if res == nil {
		return withCode(exitRun, runErr)
	}
	notCarriedOut(res, runErr)
	if allowSaturated || res.RunError != "" {
		report.Decide(res, allowSaturated)
	}
	var written []string
	if out != "" {
		var err error
		if written, err = report.WriteFiles(out, res); err != nil {
			return withCode(exitRun, fmt.Errorf("writing results: %w", err))
		}
	}
	if err := render(cmd.OutOrStdout(), res); err != nil {
		return withCode(exitRun, err)
	}
	if !quiet && len(written) > 0 {
		// On standard error, as progress is: standard output may be --format json.
		fmt.Fprintln(cmd.ErrOrStderr(), filesWritten(out, written))
	}
	return verdictExit(res, runErr)
}

// notCarriedOut records in res why its run could not be carried out, so
// that the run is invalid in its verdict and its files, never a pass. An
// interrupted run is already incomplete.
func notCarriedOut(res *report.Result, runErr error) {
	if res != nil && runErr != nil && !res.Incomplete {
		res.RunError = runErr.Error()
	}
}

// verdictExit maps a finished run to the CLI's exit code: 1 when a
// requirement failed for certain, 3 when the run could not be carried out,
// was interrupted, is invalid (the generator saturated) or inconclusive
// (the tool's own delay could have decided a requirement), 0 when every
// requirement was met. The verdict's reason is the message.
func verdictExit(res *report.Result, runErr error) error {
	switch {
	case runErr != nil:
		return withCode(exitRun, runErr)
	case res.Incomplete:
		return withCode(exitRun, errors.New("run interrupted: results are incomplete"))
	case res.Verdict == report.VerdictFail:
		return withCode(exitFail, errSilent)
	case res.Verdict == report.VerdictInconclusive && res.Generator.Saturated:
		return withCode(exitRun, fmt.Errorf("%s (--allow-saturated accepts a saturated run)", res.VerdictReason))
	case res.Verdict == report.VerdictInconclusive:
		return withCode(exitRun, errors.New(res.VerdictReason))
	case res.Verdict != report.VerdictPass:
		return withCode(exitRun, fmt.Errorf("unknown verdict %q", res.Verdict))
	}
	return nil
}

// isTerminal reports whether w is a terminal, where progress is one line
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// loadScenario loads the scenario at path ("-": standard input), as the
// command's flags say (--allow-paths, --set, ...: loadOptions), until the
// command's context ends (a signal: exit 3).
func loadScenario(cmd *cobra.Command, path string) (*scenario.Scenario, error) {
	opts, err := loadOptions(cmd)
	if err != nil {
		return nil, withCode(exitInvalid, err)
	}
	for i, dir := range opts.AllowPaths {
		if opts.AllowPaths[i], err = filepath.Abs(dir); err != nil {
			return nil, withCode(exitInvalid, fmt.Errorf("--allow-paths %s: %w", dir, err))
		}
	}
	sc, err := scenario.LoadWith(cmd.Context(), path, opts)
	if err != nil {
		if ctxErr := cmd.Context().Err(); ctxErr != nil && !errors.As(err, &scenario.Errors{}) {
			return nil, withCode(exitRun, fmt.Errorf("interrupted while loading %s", path))
		}
		return nil, withCode(exitInvalid, err)
	}
	return sc, nil
}

func newValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate SCENARIO",
		Short: "Check a scenario file without running it (exit 0 valid, 2 invalid, 3 interrupted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := loadScenario(cmd, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: valid (%d workload(s), %d requirement(s))\n", sc.File, len(sc.Workload), len(sc.Requirements))
			switch spofs := report.SinglePointsOfFailure(sc); {
			case spofs == nil: // an external target: no topology to read
			case len(spofs) == 0:
				fmt.Fprintln(out, "single points of failure: none")
			default:
				fmt.Fprintf(out, "single points of failure (%d):\n", len(spofs))
				for _, sp := range spofs {
					fmt.Fprintf(out, "  %s: %s\n", sp.Label(), sp.Why)
				}
			}
			return nil
		},
		Long: validateLong,
	}
	setFlag(cmd)
	shapeFlags(cmd)
	return cmd
}
