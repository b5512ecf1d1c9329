package report

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/recorder"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart is one plot, built from data and ready to render. Charts are drawn
// with the legend beside the plotting area, so that no legend ever hides
// data or a fault label.
type Chart struct {
	// File is the chart's file name in an output directory, e.g. "latency.png".
	File string
	// Title says what the chart shows; the HTML report uses it as the
	// image's caption and alternative text.
	Title string
	plot  *plot.Plot
	// data is the chart as plain data, for report.html's interactive
	// chart; nil for a chart the page shows as its PNG.
	data *chartData
	// timed marks a chart over the run's time. Charts aligns those of a
	// result: left is where their plotting area starts and legendWidth
	// the width of their legend column (0: the chart's own).
	timed             bool
	left, legendWidth vg.Length
}

// Figure is a rendered chart: its PNG image and what it shows.
type Figure struct {
	File  string
	Title string
	PNG   []byte
	data  *chartData
}

// Chart geometry: every PNG has the same size, so that a report reads as
// one column of plots.
const (
	chartWidth  = 9 * vg.Inch
	chartHeight = 3.4 * vg.Inch
	chartDPI    = 120
)

// WritePNG draws the chart as a PNG image.
func (c *Chart) WritePNG(w io.Writer) error {
	img := vgimg.NewWith(vgimg.UseWH(chartWidth, chartHeight), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)
	// The legend goes in its own column on the right; the plot is drawn
	// with an empty legend in what is left, its plotting area moved right
	// to c.left when the chart is aligned with others.
	legend := c.plot.Legend
	p, area, legendWidth := c.plotArea(dc)
	p.Draw(area)
	if legendWidth > 0 {
		// Aligned with the top of the plotting area, under the title.
		area := draw.Crop(dc, chartWidth-legendWidth+6, 0, 0, -28)
		legend.Top, legend.Left = true, true
		legend.Draw(area)
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// plotArea is the chart's plot without its legend, and the part of dc it
// is drawn in: left of the legend column, its plotting area moved right
// to c.left when the chart is aligned with others.
func (c *Chart) plotArea(dc draw.Canvas) (p plot.Plot, area draw.Canvas, legendWidth vg.Length) {
	p = *c.plot
	p.Legend = plot.NewLegend()
	legendWidth = max(c.legendColumn(dc), c.legendWidth)
	area = draw.Crop(dc, 0, -legendWidth, 0, 0)
	if shift := c.left - p.DataCanvas(area).Min.X; shift > 0 {
		area = draw.Crop(area, shift, 0, 0, 0)
	}
	return p, area, legendWidth
}

// legendColumn is the width of the chart's legend beside the plot, 0
// without one.
func (c *Chart) legendColumn(dc draw.Canvas) vg.Length {
	w := c.plot.Legend.Rectangle(dc).Size().X
	if w > 0 {
		w += 12
	}
	return w
}

// layout is where the chart's plotting area would start on its own, and
// the width of its legend column.
func (c *Chart) layout() (left, legendWidth vg.Length) {
	own := *c
	own.left, own.legendWidth = 0, 0
	p, area, legendWidth := own.plotArea(measureCanvas())
	return p.DataCanvas(area).Min.X, legendWidth
}

// measureCanvas is a canvas of a chart's size that draws nothing, to lay
// a chart out on.
func measureCanvas() draw.Canvas {
	return draw.NewCanvas(&recorder.Canvas{}, chartWidth, chartHeight)
}

// Render draws the chart into a Figure.
func (c *Chart) Render() (Figure, error) {
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		return Figure{}, fmt.Errorf("drawing %s: %w", c.File, err)
	}
	return Figure{File: c.File, Title: c.Title, PNG: buf.Bytes(), data: c.data}, nil
}

// resultCharts are the charts of one result, in reading order. Each
// builder returns nil when the result has no data for its chart. Adding a
// chart is one line here.
// The charts over time come first, one under the other on one time axis.
var resultCharts = []func(*Result) (*Chart, error){
	ThroughputChart,
	ErrorsChart,
	LatencyChart,
	NodeRateChart,
	NodeFailureChart,
	UtilisationChart,
	resultSpectrumChart,
}

// Charts returns the charts res has data for. A chart that cannot be built
// (a corrupt histogram) is left out and its error returned with the
// others, so that one bad figure never costs the rest.
func Charts(res *Result) ([]*Chart, error) {
	var out []*Chart
	var errs []error
	for _, build := range resultCharts {
		c, err := build(res)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c != nil {
			out = append(out, c)
		}
	}
	alignTimeCharts(out)
	return out, errors.Join(errs...)
}

// Figures renders every chart of res, then the drawing of its
// infrastructure (TopologyFile) when it has one. On errors it returns the
// figures it could draw with them.
func Figures(res *Result) ([]Figure, error) {
	charts, err := Charts(res)
	errs := []error{err}
	figs := make([]Figure, 0, len(charts)+1)
	for _, c := range charts {
		f, ferr := c.Render()
		if ferr != nil {
			errs = append(errs, ferr)
			continue
		}
		figs = append(figs, f)
	}
	if f, ok, ferr := topologyFigure(res); ok {
		figs = append(figs, f)
	} else if ferr != nil {
		errs = append(errs, ferr)
	}
	return figs, errors.Join(errs...)
}

// palette is a set of colours that stay distinguishable on white and in
// print (Tableau 10).
var palette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, // blue
	{0xff, 0x7f, 0x0e, 0xff}, // orange
	{0x2c, 0xa0, 0x2c, 0xff}, // green
	{0xd6, 0x27, 0x28, 0xff}, // red
	{0x94, 0x67, 0xbd, 0xff}, // purple
	{0x8c, 0x56, 0x4b, 0xff}, // brown
	{0xe3, 0x77, 0xc2, 0xff}, // pink
	{0x7f, 0x7f, 0x7f, 0xff}, // grey
	{0xbc, 0xbd, 0x22, 0xff}, // olive
	{0x17, 0xbe, 0xcf, 0xff}, // cyan
}

var (
	colourBlue   = palette[0]
	colourOrange = palette[1]
	colourGreen  = palette[2]
	colourRed    = palette[3]
	colourPurple = palette[4]
	colourBrown  = palette[5]
	colourPink   = palette[6]
	colourGrey   = palette[7]
	colourOlive  = palette[8]
	colourCyan   = palette[9]
	colourBlack  = color.NRGBA{0x22, 0x22, 0x22, 0xff}
	thresholdInk = color.NRGBA{0x6a, 0x0d, 0x0e, 0xff}
	// errorColours are the failure classes' colours, most frequent first.
	errorColours = []color.NRGBA{colourRed, colourOrange, colourBrown, colourPink, colourOlive, colourCyan, colourGrey}
	faultShade   = color.NRGBA{0xd6, 0x27, 0x28, 0x22}
	faultInk     = color.NRGBA{0xa0, 0x1c, 0x1d, 0xff}
	warmupShade  = color.NRGBA{0x7f, 0x7f, 0x7f, 0x26}
)

var (
	sansFont   = font.Font{Typeface: "Liberation", Variant: "Sans"}
	dashedLine = []vg.Length{vg.Points(5), vg.Points(3)}
	dottedLine = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
)

// logFloorMS is the smallest latency a log axis shows: the histograms'
// 1µs resolution. Log axes cannot show 0.
const logFloorMS = 0.001

// newPlot returns an empty plot with the report's look: sans-serif text,
// a light grid, a title and axis labels.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sansFont, 13)
	p.Title.Padding = vg.Points(6)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansFont, 10)
		a.Tick.Label.Font = font.From(sansFont, 9)
		a.Padding = vg.Points(2)
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.TextStyle.Font = font.From(sansFont, 9)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Legend.Padding = vg.Points(3)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{0xe4}
	grid.Horizontal.Color = color.Gray{0xe4}
	p.Add(grid)
	return p
}

// series is one line of a chart. NaN values are gaps: the line breaks
// there instead of diving to zero.
type series struct {
	name   string
	x, y   []float64
	colour color.Color
	width  vg.Length
	dashes []vg.Length
}

// addSeries draws s as one or more line segments (split at gaps) with a
// single legend entry.
func addSeries(p *plot.Plot, s series) error {
	style := draw.LineStyle{Color: s.colour, Width: s.width, Dashes: s.dashes}
	if style.Width == 0 {
		style.Width = vg.Points(1.4)
	}
	var legendLine *plotter.Line
	var seg plotter.XYs
	flush := func() error {
		if len(seg) == 0 {
			return nil
		}
		if len(seg) == 1 { // a lone point still shows, as a short tick
			seg = append(seg, seg[0])
		}
		l, err := plotter.NewLine(seg)
		if err != nil {
			return fmt.Errorf("plotting %s: %w", s.name, err)
		}
		l.LineStyle = style
		p.Add(l)
		if legendLine == nil {
			legendLine = l
		}
		seg = nil
		return nil
	}
	for i := range s.x {
		if math.IsNaN(s.y[i]) || math.IsInf(s.y[i], 0) {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		seg = append(seg, plotter.XY{X: s.x[i], Y: s.y[i]})
	}
	if err := flush(); err != nil {
		return err
	}
	if legendLine != nil && s.name != "" {
		p.Legend.Add(s.name, legendLine)
	}
	return nil
}

// yRange sets a linear y axis from 0 to a little above the highest value
// (at least top), so that lines never run along the frame.
func yRange(p *plot.Plot, top float64, ys ...[]float64) {
	for _, y := range ys {
		for _, v := range y {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				top = math.Max(top, v)
			}
		}
	}
	if top <= 0 {
		top = 1
	}
	p.Y.Min, p.Y.Max = 0, top*1.08
}

// logRange sets a logarithmic y axis of milliseconds over the positive
// values, from the decade below the lowest to the decade above the highest.
// Values below logFloorMS are raised to it: a log axis cannot show 0.
func logRange(p *plot.Plot, ys ...[]float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, y := range ys {
		for i, v := range y {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			v = math.Max(v, logFloorMS)
			y[i] = v
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 10
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = millisLogTicks{}
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(hi)))
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min * 10
	}
}

// millisLogTicks marks a log axis of milliseconds with readable labels:
// "0.1ms", "1ms", "10ms", "100ms", "1s", "10s", with 2 and 5 labelled too
// when the axis spans few decades.
type millisLogTicks struct{}

func (millisLogTicks) Ticks(lo, hi float64) []plot.Tick {
	lo, hi = math.Max(lo, logFloorMS), math.Max(hi, logFloorMS*10)
	decades := math.Log10(hi / lo)
	var ticks []plot.Tick
	for d := math.Floor(math.Log10(lo)); d <= math.Ceil(math.Log10(hi)); d++ {
		base := math.Pow(10, d)
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (decades <= 2.5 && (m == 2 || m == 5)) {
				t.Label = tickMillis(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// tickMillis is a short axis label for a duration in milliseconds.
func tickMillis(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'g', 3, 64) + "s"
	}
	return strconv.FormatFloat(ms, 'g', 3, 64) + "ms"
}

// secondsTicks marks a time axis in seconds with round steps (1, 2, 5,
// 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1 h ...), about ten labels.
type secondsTicks struct{}

func (secondsTicks) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	step := 3600.0
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if span/s <= 12 {
			step = s
			break
		}
	}
	for span/step > 12 {
		step *= 2
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ticks
}

// spanMarks shades spans of a time chart and labels them: the time each
// fault was in effect, or the warm-up. A span without duration (adding or
// removing a backend) is a dashed line.
type spanMarks struct {
	legend     string // the legend entry, e.g. "fault in effect"
	shade, ink color.Color
	marks      []spanMark
}

type spanMark struct {
	from, to float64
	instant  bool
	label    string
}

// faultSpan is the time a fault was in effect, in seconds from the start
// of the run: from its start for its duration, or to endS when it lasted to
// the end of the run. Topology events have no duration.
func faultSpan(f Fault, endS float64) (from, to float64, instant bool) {
	switch {
	case f.ForS > 0:
		return f.AtS, math.Min(f.AtS+f.ForS, endS), false
	case f.IsTopologyEvent():
		return f.AtS, f.AtS, true
	}
	return f.AtS, endS, false
}

// newFaultMarks returns the marks of res's faults, nil when it had none.
func newFaultMarks(res *Result, endS float64) *spanMarks {
	if len(res.Faults) == 0 {
		return nil
	}
	fm := &spanMarks{legend: "fault in effect", shade: faultShade, ink: faultInk}
	for _, f := range res.Faults {
		from, to, instant := faultSpan(f, endS)
		label := f.Kind
		if f.Target() != "" {
			label += " " + f.Target()
		}
		fm.marks = append(fm.marks, spanMark{from: from, to: to, instant: instant, label: label})
	}
	return fm
}

// newWarmupMarks marks the warm-up, whose seconds the figures leave out;
// nil without one.
func newWarmupMarks(res *Result) *spanMarks {
	if res.WarmupS <= 0 {
		return nil
	}
	return &spanMarks{legend: "warm-up (not counted)", shade: warmupShade, ink: colourGrey,
		marks: []spanMark{{from: 0, to: res.WarmupS, label: "warm-up"}}}
}

func (sm *spanMarks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	line := draw.LineStyle{Color: sm.ink, Width: vg.Points(1), Dashes: dashedLine}
	sty := text.Style{
		Color:   sm.ink,
		Font:    font.From(sansFont, 8),
		XAlign:  draw.XLeft,
		YAlign:  draw.YTop,
		Handler: p.TextHandler,
	}
	lineHeight := sty.Height("M") + vg.Points(1)
	for i, m := range sm.marks {
		x0 := clampLength(trX(m.from), c.Min.X, c.Max.X)
		x1 := clampLength(trX(m.to), c.Min.X, c.Max.X)
		if m.instant {
			c.StrokeLine2(line, x0, c.Min.Y, x0, c.Max.Y)
		} else {
			c.FillPolygon(sm.shade, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x0, Y: c.Max.Y}, {X: x1, Y: c.Max.Y}, {X: x1, Y: c.Min.Y}})
		}
		// Labels of neighbouring spans step down so that they do not overlap.
		y := c.Max.Y - vg.Points(2) - lineHeight*vg.Length(i%3)
		c.FillText(sty, vg.Point{X: x0 + vg.Points(2), Y: y}, m.label)
	}
}

// Thumbnail draws the legend's sample of the shade.
func (sm *spanMarks) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(sm.shade, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}})
}

func clampLength(v, lo, hi vg.Length) vg.Length {
	return max(lo, min(hi, v))
}

// addSpanShades shades the warm-up and res's faults on a time chart;
// added before the data, the shades lie beneath the lines. The caller
// names them in the legend (addSpanLegends) after the data, so that their
// entries come last.
func addSpanShades(p *plot.Plot, res *Result, endS float64) []*spanMarks {
	var out []*spanMarks
	for _, sm := range []*spanMarks{newWarmupMarks(res), newFaultMarks(res, endS)} {
		if sm != nil {
			p.Add(sm)
			out = append(out, sm)
		}
	}
	return out
}

func addSpanLegends(p *plot.Plot, marks []*spanMarks) {
	for _, sm := range marks {
		p.Legend.Add(sm.legend, sm)
	}
}
