package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
)

func newMergeCmd() *cobra.Command {
	var out, format string
	var allowSaturated bool
	g := gathering{timeout: 10 * time.Minute}
	maxSkew := report.DefaultMaxSkew
	cmd := &cobra.Command{
		Use:   "merge PART.json|DIR... --out RESULT.json",
		Short: "Combine the result.json of every segment of a run (run --segment K/N) into one result, check that they started together and check its requirements",
		Long: `Combine the result.json of every segment of a run (run --segment K/N) into one result.

Each argument is a part's result.json or a directory: every result.json under
it is a part (a merged result there is passed over). With --wait N, merge
waits until N parts can be read (a part still being written is not there
yet), for at most --timeout: the last step of a distributed run, beside
the segments (docs/distributed.md).

The parts' windows are added up by absolute time, and the parts must have
started their clocks within --max-skew of each other (run --start-at makes
them): otherwise their loads did not overlap as one run's, and the merged
verdict is inconclusive (exit 3), which the report says.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return withCode(exitInvalid, errors.New("--out RESULT.json is required"))
			}
			if maxSkew < 0 {
				return withCode(exitInvalid, fmt.Errorf("--max-skew %s: want a duration of 0 or more", maxSkew))
			}
			render, err := formatRenderer(cmd, format)
			if err != nil {
				return err
			}
			g.out, g.progress = out, cmd.ErrOrStderr()
			parts, err := g.gather(cmd.Context(), args)
			if err != nil {
				return err
			}
			res, err := report.MergeWith(parts, report.MergeOptions{MaxSkew: maxSkew})
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
	cmd.Flags().DurationVar(&maxSkew, "max-skew", maxSkew, "how far apart the parts may have started their clocks; further apart, the merged verdict is inconclusive (exit 3)")
	cmd.Flags().IntVar(&g.wait, "wait", 0, "wait until this many parts can be read under the arguments (at most --timeout)")
	cmd.Flags().DurationVar(&g.timeout, "timeout", g.timeout, "how long --wait waits for the parts")
	return cmd
}

// gathering is how merge finds its parts: files, directories searched
// for result.json, and how long to wait for them.
type gathering struct {
	out      string // the merged result, never a part
	wait     int
	timeout  time.Duration
	progress io.Writer // told how many parts are there while waiting
}

// gather reads the parts the arguments name; with wait, until that many
// can be read (every second), the context ends or the timeout passes.
func (g gathering) gather(ctx context.Context, args []string) ([]*report.Result, error) {
	if g.wait < 0 {
		return nil, withCode(exitInvalid, fmt.Errorf("--wait %d: want a number of parts", g.wait))
	}
	deadline := time.Now().Add(g.timeout)
	told := -1
	for {
		parts, err := g.read(args)
		switch {
		case g.wait == 0 && err != nil:
			return nil, withCode(exitInvalid, err)
		case g.wait == 0 && len(parts) == 0:
			return nil, withCode(exitInvalid, fmt.Errorf("no result.json under %s", strings.Join(args, ", ")))
		case g.wait == 0 || len(parts) >= g.wait:
			return parts, nil
		case !time.Now().Before(deadline):
			why := ""
			if err != nil {
				why = " (" + err.Error() + ")"
			}
			return nil, withCode(exitRun, fmt.Errorf("waited %s for %d parts under %s: %d there%s", g.timeout, g.wait, strings.Join(args, ", "), len(parts), why))
		}
		if len(parts) != told {
			told = len(parts)
			fmt.Fprintf(g.progress, "ilities merge: %d of %d parts under %s\n", told, g.wait, strings.Join(args, ", "))
		}
		select {
		case <-ctx.Done():
			return nil, withCode(exitRun, fmt.Errorf("interrupted while waiting for %d parts: %d there", g.wait, len(parts)))
		case <-time.After(min(time.Second, time.Until(deadline))):
		}
	}
}

// read reads every part there is: the parts that could be read, and the
// first error of one that could not (one still being written, while
// waiting).
func (g gathering) read(args []string) ([]*report.Result, error) {
	var parts []*report.Result
	var first error
	for _, arg := range args {
		files, fromDir, err := partFiles(arg, g.out)
		if err != nil {
			return nil, err
		}
		for _, path := range files {
			res, err := readResult(path)
			switch {
			case err != nil:
				first = cmp.Or(first, err)
			case fromDir && len(res.Parts) > 0: // a merged result
			default:
				parts = append(parts, res)
			}
		}
	}
	return parts, first
}

// partFiles is arg itself, or every result.json under the directory arg
// (in lexical order), but the merged result's own file out.
func partFiles(arg, out string) (files []string, fromDir bool, err error) {
	info, err := os.Stat(arg)
	if err != nil || !info.IsDir() {
		return []string{arg}, false, nil // reading it says what is wrong
	}
	outAbs, _ := filepath.Abs(out)
	err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if abs, _ := filepath.Abs(path); !d.IsDir() && d.Name() == "result.json" && abs != outAbs {
			files = append(files, path)
		}
		return nil
	})
	return files, true, err
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
