package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
)

type reportFlags struct {
	html, png, junit, markdown, hlog, out string
	format                                string
	baseline                              string
	diff                                  report.DiffOptions
}

func newReportCmd() *cobra.Command {
	f := reportFlags{diff: report.DefaultDiffOptions()}
	cmd := &cobra.Command{
		Use:   "report RESULT.json",
		Short: "Render a saved or merged result: HTML, PNG plots, JUnit XML, Markdown, HDR interval log (exit 0 pass, 1 fail, 2 unreadable result, 3 cannot write)",
		Long: `Render a result.json written by 'ilities run --out' or 'ilities merge' again, in any format.

With no output flag it prints the terminal report (or --format) to stdout.
The exit code is the result's verdict: 0 when every requirement was met, 1 otherwise.
RESULT.json may be - for standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := readReportInput(args[0], cmd.InOrStdin())
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if res.Explanations == nil {
				// A result written before explanations were kept.
				res.Explanations = report.Explain(res)
			}
			render, err := formatRenderer(cmd, f.format)
			if err != nil {
				return err
			}
			baseline, err := readBaseline(cmd, f.baseline, f.diff)
			if err != nil {
				return err
			}
			if err := applyBaseline(res, baseline, f.diff); err != nil {
				return err
			}
			if err := writeReports(res, f); err != nil {
				return withCode(exitRun, err)
			}
			wroteFiles := f.html != "" || f.png != "" || f.junit != "" || f.markdown != "" || f.hlog != "" || f.out != ""
			if !wroteFiles || cmd.Flags().Changed("format") {
				if err := render(cmd.OutOrStdout(), res); err != nil {
					return withCode(exitRun, err)
				}
			}
			return verdictExit(res, nil)
		},
	}
	cmd.Flags().StringVar(&f.html, "html", "", "write the HTML report (self-contained, plots embedded) to `FILE`")
	cmd.Flags().StringVar(&f.png, "png", "", "write the PNG plots into `DIR`")
	cmd.Flags().StringVar(&f.junit, "junit", "", "write JUnit XML (one test case per requirement) to `FILE`")
	cmd.Flags().StringVar(&f.markdown, "markdown", "", "write the Markdown summary to `FILE`")
	cmd.Flags().StringVar(&f.hlog, "hlog", "", "write the HdrHistogram interval log (one histogram per second) to `FILE`")
	outDirFlag(cmd, &f.out, "write every output, as 'run --out' does, into `DIR`")
	formatFlag(cmd, &f.format)
	baselineFlags(cmd, &f.baseline, &f.diff)
	return cmd
}

// readReportInput reads a result from path, or from stdin when path is "-".
func readReportInput(path string, stdin io.Reader) (*report.Result, error) {
	if path == "-" {
		return report.ReadJSON(stdin)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	res, err := report.ReadJSON(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// writeReports writes each output asked for; the charts are drawn once.
func writeReports(res *report.Result, f reportFlags) error {
	if f.out != "" {
		if _, err := report.WriteFiles(f.out, res); err != nil {
			return err
		}
	}
	var figs []report.Figure
	var figErr error
	if f.html != "" || f.png != "" {
		figs, figErr = report.Figures(res)
	}
	var errs []error
	for _, o := range []struct {
		path   string
		render report.Renderer
	}{
		{f.html, report.HTMLRenderer(figs)},
		{f.junit, report.WriteJUnit},
		{f.markdown, report.WriteMarkdown},
		{f.hlog, report.WriteHdrLog},
	} {
		if o.path != "" {
			errs = append(errs, report.WriteFile(o.path, res, o.render))
		}
	}
	if f.png != "" {
		errs = append(errs, report.WritePNGs(f.png, figs))
	}
	if figErr != nil {
		errs = append(errs, fmt.Errorf("drawing charts: %w", figErr))
	}
	return errors.Join(errs...)
}
