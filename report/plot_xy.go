package report

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// XYSeries is one line of an x–y chart, such as latency against offered
// load or capacity against the number of backends.
type XYSeries struct {
	Name string
	X, Y []float64
	// Dashed draws a fitted or projected line; Points marks each measured
	// point with a circle.
	Dashed, Points bool
}

// LineChart draws x–y series on linear axes from 0, in the palette's
// order. Series without finite points are left out; with none left the
// chart is nil.
func LineChart(file, title, xLabel, yLabel string, lines []XYSeries) (*Chart, error) {
	p := newPlot(title, xLabel, yLabel)
	var ys []float64
	xMax := 0.0
	drawn := 0
	for i, s := range lines {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("%s: series %s has %d x and %d y", title, s.Name, len(s.X), len(s.Y))
		}
		finite := 0
		for k := range s.X {
			if !math.IsNaN(s.Y[k]) && !math.IsInf(s.Y[k], 0) {
				finite++
				xMax = math.Max(xMax, s.X[k])
			}
		}
		if finite == 0 {
			continue
		}
		drawn++
		colour := palette[i%len(palette)]
		line := series{name: s.Name, x: s.X, y: s.Y, colour: colour, width: vg.Points(1.6)}
		if s.Dashed {
			line.dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		if err := addSeries(p, line); err != nil {
			return nil, err
		}
		if s.Points {
			var pts plotter.XYs
			for k := range s.X {
				if !math.IsNaN(s.Y[k]) && !math.IsInf(s.Y[k], 0) {
					pts = append(pts, plotter.XY{X: s.X[k], Y: s.Y[k]})
				}
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", title, err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: colour, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
		ys = append(ys, s.Y...)
	}
	if drawn == 0 {
		return nil, nil
	}
	yRange(p, 0, ys)
	p.X.Min, p.X.Max = 0, xMax*1.05
	if p.X.Max == 0 {
		p.X.Max = 1
	}
	return &Chart{File: file, Title: title, plot: p}, nil
}
