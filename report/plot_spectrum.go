package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Spectrum is one latency distribution of a spectrum chart.
type Spectrum struct {
	// Name is the legend entry, e.g. "browse" or "least-connections".
	Name string
	// Histogram is an encoded HDR histogram of microseconds
	// (Histograms.Latency).
	Histogram string
	// Dashed draws the line dashed, for a secondary distribution such as
	// service latency beside latency.
	Dashed bool
}

// spectrumMaxX caps the percentile axis at 99.9999%.
const spectrumMaxX = 1e6

// SpectrumChart draws latency percentile spectra HDR-style: x is the
// percentile q on a log axis of 1/(1−q), so that 90%, 99%, 99.9% ... are
// evenly spaced and the tail gets the room it deserves; y is the latency
// on a log axis. Several spectra overlay, in the palette's order (a
// comparison of strategies is one Spectrum per strategy). Empty
// histograms are left out; with none left the chart is nil.
func SpectrumChart(file, title string, spectra []Spectrum) (*Chart, error) {
	type curve struct {
		s    Spectrum
		x, y []float64
	}
	var curves []curve
	xEnd := 100.0
	for _, s := range spectra {
		h, err := DecodeHistogram(s.Histogram)
		if err != nil {
			return nil, fmt.Errorf("spectrum %s: %w", s.Name, err)
		}
		if h.TotalCount() == 0 {
			continue
		}
		var c curve
		c.s = s
		c.x, c.y = spectrumCurve(h)
		last := c.x[len(c.x)-1]
		curves = append(curves, c)
		xEnd = math.Max(xEnd, math.Pow(10, math.Ceil(math.Log10(last))))
	}
	if len(curves) == 0 {
		return nil, nil
	}
	p := newPlot(title, "percentile", "latency (log scale)")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = percentileTicks{}
	p.X.Min, p.X.Max = 1, xEnd
	ys := make([][]float64, len(curves))
	for i := range curves {
		ys[i] = curves[i].y
	}
	logRange(p, ys...)
	lines := make([]series, len(curves))
	for i, c := range curves {
		s := series{name: c.s.Name, x: c.x, y: c.y, colour: palette[i%len(palette)], width: vg.Points(1.6)}
		if c.s.Dashed {
			s.dashes = dashedLine
		}
		if err := addSeries(p, s); err != nil {
			return nil, err
		}
		lines[i] = s
	}
	return &Chart{File: file, Title: title, plot: p, data: spectrumData(file, title, lines, p.Y.Min, p.Y.Max, xEnd)}, nil
}

// spectrumCurve samples h's percentile spectrum: 50 points per decade of
// 1/(1−q), latency in milliseconds. Beyond 1/(1−q) = count the histogram
// holds no more detail, so the curve ends there, at the largest value.
func spectrumCurve(h *hdrhistogram.Histogram) (x, y []float64) {
	last := math.Min(math.Max(float64(h.TotalCount()), 1), spectrumMaxX)
	for i := 0; ; i++ {
		xi := math.Pow(10, float64(i)/50)
		if xi >= last {
			break
		}
		x = append(x, xi)
		y = append(y, float64(h.ValueAtQuantile((1-1/xi)*100))/1000)
	}
	return append(x, last), append(y, float64(h.Max())/1000)
}

// resultSpectrumChart is the spectrum of a run: latency and service
// latency over all requests and, with several workloads, each workload's,
// and each request's when a workload sends several (by name).
func resultSpectrumChart(res *Result) (*Chart, error) {
	spectra := []Spectrum{
		{Name: "latency, all requests", Histogram: res.Histograms.Latency},
	}
	if len(res.Workloads) > 1 {
		for _, w := range res.Workloads {
			spectra = append(spectra, Spectrum{Name: "latency, " + w.Name, Histogram: w.Histograms.Latency})
		}
	}
	if requestsShown(res) {
		for _, r := range res.Requests {
			name := r.Name
			if len(res.Workloads) > 1 {
				name = r.Workload + ": " + name
			}
			spectra = append(spectra, Spectrum{Name: "latency, " + name, Histogram: r.Histograms.Latency})
		}
	}
	spectra = append(spectra, Spectrum{Name: "service latency (from actual send)", Histogram: res.Histograms.ServiceLatency, Dashed: true})
	return SpectrumChart("latency-spectrum.png", "Latency by percentile", spectra)
}

// percentileTicks labels a 1/(1−q) axis with percentiles: 1 is "0%",
// 2 "50%", 10 "90%", 100 "99%", 1000 "99.9%", ...
type percentileTicks struct{}

func (percentileTicks) Ticks(lo, hi float64) []plot.Tick {
	lo, hi = math.Max(lo, 1), math.Max(hi, 10)
	var ticks []plot.Tick
	for d := 0.0; math.Pow(10, d) <= hi*(1+1e-9); d++ {
		base := math.Pow(10, d)
		for m := 1; m < 10; m++ {
			x := base * float64(m)
			if x < lo*(1-1e-9) || x > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: x}
			if m == 1 || (d == 0 && m == 2) {
				t.Label = percentileLabel(x)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// percentileLabel is the percentile at x = 1/(1−q): "99.9%" at 1000.
func percentileLabel(x float64) string {
	p := (1 - 1/x) * 100
	s := strconv.FormatFloat(p, 'f', 6, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + "%"
}

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	Value float64
}

// BarChart draws one bar per label (a strategy, a proxy, a run), each
// with its value written above it, on a linear axis from 0.
func BarChart(file, title, yLabel string, bars []Bar) (*Chart, error) {
	if len(bars) == 0 {
		return nil, nil
	}
	p := newPlot(title, "", yLabel)
	values := make(plotter.Values, len(bars))
	labels := make([]string, len(bars))
	var ys []float64
	for i, b := range bars {
		values[i], labels[i] = b.Value, b.Label
		ys = append(ys, b.Value)
	}
	bc, err := plotter.NewBarChart(values, vg.Points(36))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", title, err)
	}
	bc.Color = colourBlue
	bc.LineStyle.Width = 0
	p.Add(bc)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(bars))-0.4
	yRange(p, 0, ys)
	p.Y.Max *= 1.1 // room for the value labels
	xys := make(plotter.XYs, len(bars))
	text := make([]string, len(bars))
	for i, b := range bars {
		xys[i] = plotter.XY{X: float64(i), Y: b.Value}
		text[i] = strconv.FormatFloat(b.Value, 'g', 4, 64)
	}
	lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: text})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", title, err)
	}
	for i := range lbl.TextStyle {
		lbl.TextStyle[i].Font.Size = vg.Points(9)
		lbl.TextStyle[i].Font.Typeface = sansFont.Typeface
		lbl.TextStyle[i].Font.Variant = sansFont.Variant
		lbl.TextStyle[i].XAlign = draw.XCenter
		lbl.Offset.Y = vg.Points(3)
	}
	p.Add(lbl)
	return &Chart{File: file, Title: title, plot: p}, nil
}
