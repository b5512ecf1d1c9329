package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
)

func newMergeCmd() *cobra.Command {
	var out, format string
	var allowSaturated bool
	cmd := &cobra.Command{
		Use:   "merge PART.json... --out RESULT.json",
		Short: "Combine the result.json of every segment of a run (run --segment K/N) into one result, and check its requirements",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return withCode(exitInvalid, errors.New("--out RESULT.json is required"))
			}
			render, err := formatRenderer(cmd, format)
			if err != nil {
				return err
			}
			parts := make([]*report.Result, 0, len(args))
			for _, path := range args {
				res, err := readResult(path)
				if err != nil {
					return withCode(exitInvalid, err)
				}
				parts = append(parts, res)
			}
			res, err := report.Merge(parts)
			if err != nil {
				return withCode(exitInvalid, fmt.Errorf("merge: %w", err))
			}
			if allowSaturated {
				report.Decide(res, true)
			}
			if err := writeResult(out, res); err != nil {
				return withCode(exitRun, err)
			}
			if err := render(cmd.OutOrStdout(), res); err != nil {
				return withCode(exitRun, err)
			}
			return verdictExit(res, nil)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the merged result.json to write")
	formatFlag(cmd, &format)
	cmd.Flags().BoolVar(&allowSaturated, "allow-saturated", false, "accept parts in which the generator saturated (otherwise exit 3)")
	return cmd
}

func readResult(path string) (*report.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

func writeResult(path string, res *report.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := report.WriteJSON(f, res); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
