package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/workflow"
)

func newCompareCmd() *cobra.Command {
	var opts workflow.CompareOptions
	var out string
	var seed int64
	var quiet bool
	cmd := &cobra.Command{
		Use:   "compare SCENARIO (--strategies a,b,c | --proxies builtin,nginx,haproxy) [--repeat N] [--simulate]",
		Short: "Run one scenario per balancing strategy or per proxy (same seed, load and faults) and rank them (exit 0 when one meets every requirement in every run, 3 when none does for certain but one is inconclusive, 1 otherwise)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := loadScenario(cmd, args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("seed") {
				sc.Seed = seed
			}
			if opts.Repeat < 1 {
				return withCode(exitInvalid, fmt.Errorf("--repeat %d: each variant runs at least once", opts.Repeat))
			}
			opts.Version = version
			if !quiet {
				opts.Progress = cmd.ErrOrStderr()
			}
			cmp, err := workflow.Compare(cmd.Context(), sc, opts)
			if cmp == nil {
				if cmd.Context().Err() != nil {
					return withCode(exitRun, err)
				}
				return withCode(exitInvalid, err)
			}
			if out != "" {
				if werr := cmp.WriteFiles(out); werr != nil {
					return withCode(exitRun, fmt.Errorf("writing results: %w", werr))
				}
			}
			if werr := cmp.WriteMarkdown(cmd.OutOrStdout()); werr != nil {
				return withCode(exitRun, werr)
			}
			if err != nil {
				return withCode(exitRun, err)
			}
			// The run's rule across variants: 0 when one met every
			// requirement, 3 when none did but one was only inconclusive
			// (the tool's own delay could have decided it), 1 otherwise.
			unsure := 0
			for _, r := range cmp.Rows {
				switch r.Verdict {
				case report.VerdictPass:
					return nil
				case report.VerdictInconclusive:
					unsure++
				}
			}
			if unsure > 0 {
				return withCode(exitRun, fmt.Errorf("no variant met every requirement for certain; %d inconclusive (see each variant's verdict_reason)", unsure))
			}
			return withCode(exitFail, errors.New("no variant met every requirement"))
		},
	}
	f := cmd.Flags()
	strategiesFlag(cmd, &opts.Strategies)
	proxiesFlag(cmd, &opts.Proxies)
	f.IntVar(&opts.Repeat, "repeat", 1, "runs of each variant, with seeds seed, seed+1, …, interleaved; the report gives medians, 95% intervals and the passing runs")
	f.BoolVar(&opts.Simulate, "simulate", false, "simulate every run on a virtual clock (as ilities simulate) instead of running it live")
	f.DurationVar(&opts.Cooldown, "cooldown", 0, "pause between runs (default 500ms; none simulated)")
	outDirFlag(cmd, &out, "write compare.json, compare.md, charts and each variant's results into `DIR`")
	setFlag(cmd)
	f.Int64Var(&seed, "seed", 0, "override the scenario's seed")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines")
	return cmd
}
