package workflow

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/ilities/ilities/report"
)

// writeJSON writes v to path as indented JSON.
func writeJSON(path string, v any) error {
	return report.WriteAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// writeCharts renders and writes each chart into dir.
func writeCharts(dir string, charts []*report.Chart) error {
	_, err := renderCharts(dir, charts)
	return err
}

// renderCharts renders each chart, writes it into dir and returns the figures.
func renderCharts(dir string, charts []*report.Chart) ([]report.Figure, error) {
	var figs []report.Figure
	var errs []error
	for _, c := range charts {
		f, err := c.Render()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		figs = append(figs, f)
	}
	if err := report.WritePNGs(dir, figs); err != nil {
		return figs, err
	}
	return figs, errors.Join(errs...)
}
