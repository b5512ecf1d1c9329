package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/workflow"
)

func newCapacityCmd() *cobra.Command {
	var opts workflow.CapacityOptions
	var backends []int
	var out string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "capacity SCENARIO [--backends 1,2,4,8] [--simulate [--confirm]]",
		Short: "Find the highest open-loop rate meeting every requirement; with --backends, per backend count with a USL fit (exit 0 found, 1 no rate met the requirements or the live run of --confirm missed one, 3 run failed, this machine or the scenario's max_inflight kept the capacity from being measured, or the live run could not confirm it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := loadScenario(cmd, args[0])
			if err != nil {
				return err
			}
			opts.Version = version
			if !quiet {
				opts.Progress = cmd.ErrOrStderr()
			}
			if opts.InvalidRetries == 0 {
				opts.InvalidRetries = -1 // the option's zero is its default
			}
			w := cmd.OutOrStdout()
			if len(backends) > 0 {
				s, err := workflow.Scale(cmd.Context(), sc, workflow.ScaleOptions{Backends: backends, Capacity: opts})
				if s == nil {
					return withCode(exitInvalid, err)
				}
				if err != nil {
					return withCode(exitRun, err)
				}
				if out != "" {
					if err := s.WriteFiles(out); err != nil {
						return withCode(exitRun, fmt.Errorf("writing results: %w", err))
					}
				}
				if werr := s.WriteMarkdown(w); werr != nil {
					return withCode(exitRun, werr)
				}
				if s.Limited() {
					return withCode(exitRun, errors.New("the capacity is not known at every backend count, only a lower bound (see above)"))
				}
				return nil
			}
			c, err := workflow.FindCapacity(cmd.Context(), sc, opts)
			if c == nil {
				return withCode(exitInvalid, err)
			}
			if out != "" {
				if werr := c.WriteFiles(out); werr != nil {
					return withCode(exitRun, fmt.Errorf("writing results: %w", werr))
				}
			}
			if werr := c.WriteMarkdown(w); werr != nil {
				return withCode(exitRun, werr)
			}
			if err != nil {
				return withCode(exitRun, err)
			}
			if c.Limited() {
				return withCode(exitRun, errors.New(c.Headline()))
			}
			if c.MaxRateRPS == 0 {
				return withCode(exitFail, errors.New("no rate tried met every requirement"))
			}
			switch f := c.Confirmation; {
			case f == nil, f.Live.Valid && f.Live.Pass:
				return nil
			case f.Live.Valid:
				return withCode(exitFail, fmt.Errorf("the live run at %.1f/s missed what the simulation met: %s", f.RateRPS, strings.Join(f.Live.Failed, "; ")))
			default:
				return withCode(exitRun, fmt.Errorf("the live run at %.1f/s could not confirm the simulated capacity: %s", f.RateRPS, f.Live.Reason))
			}
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&backends, "backends", nil, "backend counts for a scalability study, e.g. 1,2,4,8 (copies of the first pool's first backend)")
	f.BoolVar(&opts.Simulate, "simulate", false, "simulate every step on a virtual clock (as ilities simulate) instead of running it live")
	f.BoolVar(&opts.Confirm, "confirm", false, "with --simulate: run one live step at the capacity found and report it beside the simulated figures")
	f.DurationVar(&opts.StepDuration, "step-duration", 0, "length of each step's run, warm-up included (default 10s; 1m simulated)")
	f.DurationVar(&opts.Warmup, "warmup", 2*time.Second, "warm-up at the start of each step (whole seconds)")
	f.DurationVar(&opts.Cooldown, "cooldown", time.Second, "pause between steps")
	f.IntVar(&opts.MaxSteps, "max-steps", 20, "most runs per search")
	f.Float64Var(&opts.Start, "start", 0, "first rate tried, per second (default: the scenario's rate)")
	f.Float64Var(&opts.Growth, "growth", 0, "bracketing factor (default 2, or 1.25 when --backends starts from the previous count's capacity)")
	f.Float64Var(&opts.Precision, "precision", 0.05, "stop when the failing rate is within this fraction of the passing one")
	f.IntVar(&opts.Repeats, "repeats", 2, "runs a rate in the bracket needs, all passing")
	f.IntVar(&opts.InvalidRetries, "invalid-retries", 2, "times an invalid step (the apparatus, not the SUT, decided it) is run again before its rate counts as unmeasurable here")
	f.DurationVar(&opts.InvalidCooldown, "invalid-cooldown", 3*time.Second, "pause before running an invalid step again")
	outDirFlag(cmd, &out, "write capacity.json / scalability.json, Markdown and charts into `DIR`")
	setFlag(cmd)
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	return cmd
}
