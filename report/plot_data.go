package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
)

// chartData is a chart as plain data: what report.html's interactive
// chart draws, from the same lines, axis and shaded spans as the PNG.
// Values are in the chart's units (milliseconds, per second, percent).
type chartData struct {
	// Kind is "time" (x: seconds since the start, shared by every time
	// chart of the page) or "spectrum" (x: 1/(1−q) on a log axis).
	Kind   string       `json:"kind"`
	File   string       `json:"file"`
	Title  string       `json:"title"`
	YLabel string       `json:"ylabel"`
	Unit   string       `json:"unit"`
	Log    bool         `json:"log,omitempty"`
	XMin   float64      `json:"xmin"`
	XMax   float64      `json:"xmax"`
	YMin   float64      `json:"ymin"`
	YMax   float64      `json:"ymax"`
	X      jsonFloats   `json:"x"`
	Series []dataSeries `json:"series"`
	Spans  []dataSpan   `json:"spans,omitempty"`
}

type dataSeries struct {
	Name   string     `json:"name"`
	Colour string     `json:"colour"`
	Width  float64    `json:"width"` // points
	Dash   []float64  `json:"dash,omitempty"`
	Y      jsonFloats `json:"y"`
}

// dataSpan is a shaded span of a time chart (a fault, the warm-up), or a
// line at From when Instant.
type dataSpan struct {
	From    float64 `json:"from"`
	To      float64 `json:"to"`
	Instant bool    `json:"instant,omitempty"`
	Label   string  `json:"label"`
	Fill    string  `json:"fill"`
	Ink     string  `json:"ink"`
}

// jsonFloats are values written with 6 significant digits, a gap (NaN,
// ±Inf) as null.
type jsonFloats []float64

func (fs jsonFloats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(fs)+2)
	b = append(b, '[')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, f, 'g', 6, 64)
	}
	return append(b, ']'), nil
}

// cssColour is c as CSS writes it: #rrggbb, or rgba() when translucent.
func cssColour(c color.Color) string {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	if n.A == 0xff {
		return fmt.Sprintf("#%02x%02x%02x", n.R, n.G, n.B)
	}
	return fmt.Sprintf("rgba(%d,%d,%d,%.3f)", n.R, n.G, n.B, float64(n.A)/255)
}

func dataSeriesOf(lines []series) []dataSeries {
	out := make([]dataSeries, 0, len(lines))
	for _, l := range lines {
		width := l.width.Points()
		if width == 0 {
			width = 1.4
		}
		ds := dataSeries{Name: l.name, Colour: cssColour(l.colour), Width: width, Y: l.y}
		for _, d := range l.dashes {
			ds.Dash = append(ds.Dash, d.Points())
		}
		out = append(out, ds)
	}
	return out
}

func dataSpansOf(marks []*spanMarks) []dataSpan {
	var out []dataSpan
	for _, sm := range marks {
		for _, m := range sm.marks {
			out = append(out, dataSpan{From: m.from, To: m.to, Instant: m.instant, Label: m.label,
				Fill: cssColour(sm.shade), Ink: cssColour(sm.ink)})
		}
	}
	return out
}

// spectrumData is the page's data of a spectrum chart: the curves on one
// x grid, the union of their points, each curve null where it has none
// (the page joins its points across them).
func spectrumData(file, title string, lines []series, yMin, yMax, xMax float64) *chartData {
	var grid []float64
	for _, l := range lines {
		grid = append(grid, l.x...)
	}
	slices.Sort(grid)
	grid = slices.Compact(grid)
	at := make(map[float64]int, len(grid))
	for i, x := range grid {
		at[x] = i
	}
	d := &chartData{Kind: "spectrum", File: file, Title: title, YLabel: "latency (log scale)", Unit: "ms", Log: true,
		XMin: 1, XMax: xMax, YMin: yMin, YMax: yMax, X: grid, Series: dataSeriesOf(lines)}
	for i, l := range lines {
		ys := make([]float64, len(grid))
		for j := range ys {
			ys[j] = math.NaN()
		}
		for k, x := range l.x {
			ys[at[x]] = l.y[k]
		}
		d.Series[i].Y = ys
	}
	return d
}
