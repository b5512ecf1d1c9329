package report

import (
	"image/color"
	"math"
	"slices"
	"sort"

	"github.com/ilities/ilities/scenario"
	"gonum.org/v1/plot/vg"
)

// timeAxis places a result's one-second windows on a time axis: each
// window's figures are drawn at its middle, and a last, partial window
// counts per second of the time it covered. Every time chart of a result
// spans the same axis, from 0 to endS, so that a reader's eye can follow
// a moment down the page.
type timeAxis struct {
	endS float64   // the end of the axis: the measured time
	x    []float64 // the middle of each window
	span []float64 // the seconds each window covered
}

func newTimeAxis(res *Result) timeAxis {
	ta := timeAxis{endS: res.MeasuredS}
	if ta.endS <= 0 {
		ta.endS = float64(len(res.Windows))
	}
	for _, w := range res.Windows {
		span := math.Min(1, ta.endS-float64(w.T))
		if span <= 0 { // a window past the measured end: a whole second
			span = 1
		}
		ta.x = append(ta.x, float64(w.T)+span/2)
		ta.span = append(ta.span, span)
		ta.endS = math.Max(ta.endS, float64(w.T)+span)
	}
	return ta
}

// rate is a per-window count per second of the window.
func (ta timeAxis) rate(res *Result, count func(Window) float64) []float64 {
	ys := make([]float64, len(res.Windows))
	for i, w := range res.Windows {
		ys[i] = count(w) / ta.span[i]
	}
	return ys
}

// constant is a line at y over the whole axis.
func (ta timeAxis) constant(y float64) []float64 {
	ys := make([]float64, len(ta.x))
	for i := range ys {
		ys[i] = y
	}
	return ys
}

// timeChart is what a time chart shows, before it is drawn: its lines
// and its y axis. draw makes both the PNG's plot and the page's data of
// it, so that the two show the same.
type timeChart struct {
	file, title, yLabel string
	unit                scenario.Unit // how the page writes a value: ms, /s, % (of 100)
	log                 bool          // a log axis of milliseconds
	top                 float64       // a linear axis reaches at least this
	lines               []series
}

// draw builds the chart over ta with the warm-up and the faults shaded.
func (tc timeChart) draw(res *Result, ta timeAxis) (*Chart, error) {
	p := newPlot(tc.title, "time since start (s)", tc.yLabel)
	marks := addSpanShades(p, res, ta.endS)
	p.X.Min, p.X.Max = 0, ta.endS
	p.X.Tick.Marker = secondsTicks{}
	ys := make([][]float64, len(tc.lines))
	for i, l := range tc.lines {
		ys[i] = l.y
	}
	if tc.log {
		logRange(p, ys...)
	} else {
		yRange(p, tc.top, ys...)
	}
	for _, s := range tc.lines {
		if err := addSeries(p, s); err != nil {
			return nil, err
		}
	}
	addSpanLegends(p, marks)
	data := &chartData{
		Kind: "time", File: tc.file, Title: tc.title, YLabel: tc.yLabel, Unit: string(tc.unit), Log: tc.log,
		XMin: 0, XMax: ta.endS, YMin: p.Y.Min, YMax: p.Y.Max, X: ta.x,
		Series: dataSeriesOf(tc.lines), Spans: dataSpansOf(marks),
	}
	return &Chart{File: tc.file, Title: tc.title, plot: p, data: data, timed: true}, nil
}

// thresholdLine is a requirement drawn across a chart: dark and dotted,
// named by the requirement's text.
func thresholdLine(v Verdict, x, y []float64) series {
	return series{name: "requirement " + v.Text, x: x, y: y, colour: thresholdInk, width: vg.Points(1.4), dashes: dottedLine}
}

// runRequirements are res's requirements of the whole run (no workload or
// request named) on one of metrics, each with its parsed form; a chart
// draws their thresholds. A requirement whose text no longer parses is
// left out.
func runRequirements(res *Result, metrics ...string) []runRequirement {
	var out []runRequirement
	for _, v := range res.Requirements {
		req, err := scenario.ParseRequirement(v.Text)
		if err != nil || req.Scope != "" || !slices.Contains(metrics, req.Metric) {
			continue
		}
		if math.IsNaN(v.Threshold) || math.IsInf(v.Threshold, 0) {
			continue
		}
		out = append(out, runRequirement{v, req})
	}
	return out
}

type runRequirement struct {
	Verdict
	req scenario.Requirement
}

// ThroughputChart shows, per second, the successful responses
// (throughput) and the scheduled arrivals the run asked for, drawn dashed
// over it so that the target shows where the two agree, and the
// threshold of a throughput requirement. Failures have their own chart
// (ErrorsChart), on their own axis.
func ThroughputChart(res *Result) (*Chart, error) {
	if len(res.Windows) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	tc := timeChart{file: "throughput.png", title: "Throughput per second", yLabel: "requests per second", unit: scenario.UnitRate, top: 1}
	tc.lines = []series{
		{name: "succeeded (throughput)", x: ta.x, y: ta.rate(res, func(w Window) float64 { return float64(w.Succeeded) }), colour: colourBlue, width: vg.Points(2.2)},
		{name: "scheduled (target)", x: ta.x, y: ta.rate(res, func(w Window) float64 { return float64(w.Scheduled) }), colour: colourBlack, width: vg.Points(1.2), dashes: dashedLine},
	}
	for _, r := range runRequirements(res, "throughput", "request_rate") {
		tc.lines = append(tc.lines, thresholdLine(r.Verdict, ta.x, ta.constant(r.Threshold)))
	}
	return tc.draw(res, ta)
}

// ErrorsChart shows the failed requests per second by class, and the
// arrivals the generator dropped, on an axis of their own: a few failures
// a second would vanish beside hundreds of successes. An error_rate or
// availability requirement is drawn as the failures it allows each second
// (its share of that second's arrivals).
func ErrorsChart(res *Result) (*Chart, error) {
	if len(res.Windows) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	tc := timeChart{file: "errors.png", title: "Failures per second, by class", yLabel: "failures per second", unit: scenario.UnitRate, top: 1}
	totals := map[string]int64{}
	for _, w := range res.Windows {
		for class, n := range w.Errors {
			totals[class] += n
		}
	}
	classes := mapKeys(totals)
	sort.SliceStable(classes, func(i, j int) bool { return totals[classes[i]] > totals[classes[j]] })
	for i, class := range classes {
		tc.lines = append(tc.lines, series{name: class, x: ta.x, colour: errorColours[i%len(errorColours)],
			y: ta.rate(res, func(w Window) float64 { return float64(w.Errors[class]) })})
	}
	if len(classes) == 0 { // none: a line at zero says so
		tc.lines = append(tc.lines, series{name: "failed", x: ta.x, colour: colourRed, y: ta.rate(res, func(Window) float64 { return 0 })})
	}
	dropped := ta.rate(res, func(w Window) float64 { return float64(w.Dropped) })
	if res.Totals.Dropped > 0 || anyPositive(dropped) {
		tc.lines = append(tc.lines, series{name: "dropped by the generator", x: ta.x, y: dropped, colour: colourPurple})
	}
	scheduled := ta.rate(res, func(w Window) float64 { return float64(w.Scheduled) })
	for _, r := range runRequirements(res, "error_rate", "availability") {
		share := r.Threshold // error_rate: the failures' share allowed
		if r.req.Metric == "availability" {
			share = 1 - r.Threshold
		}
		ys := make([]float64, len(scheduled))
		for i, s := range scheduled {
			ys[i] = s * share
		}
		l := thresholdLine(r.Verdict, ta.x, ys)
		l.name = "allowed by " + r.Text
		tc.lines = append(tc.lines, l)
	}
	return tc.draw(res, ta)
}

// LatencyChart shows the p50, p90, p99 and maximum latency of each second
// on a log axis, the tool's own delay beside them, and the threshold of
// each latency requirement of the run. A second in which no request
// completed is a gap.
func LatencyChart(res *Result) (*Chart, error) {
	if len(res.Windows) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	pick := func(get func(WindowLatency) float64) []float64 {
		ys := make([]float64, len(res.Windows))
		for i, w := range res.Windows {
			if w.LatencyMS.Max <= 0 { // nothing completed in this second
				ys[i] = math.NaN()
				continue
			}
			ys[i] = get(w.LatencyMS)
		}
		return ys
	}
	maxima := pick(func(l WindowLatency) float64 { return l.Max })
	if !anyPositive(maxima) {
		return nil, nil
	}
	tc := timeChart{file: "latency.png", title: "Latency per second: p50, p90, p99 and max", yLabel: "latency (log scale)", unit: scenario.UnitDuration, log: true}
	tc.lines = []series{
		{name: "max", x: ta.x, y: maxima, colour: colourRed, width: vg.Points(1)},
		{name: "p99", x: ta.x, y: pick(func(l WindowLatency) float64 { return l.P99 }), colour: colourOrange},
		{name: "p90", x: ta.x, y: pick(func(l WindowLatency) float64 { return l.P90 }), colour: colourBlue},
		{name: "p50", x: ta.x, y: pick(func(l WindowLatency) float64 { return l.P50 }), colour: colourGreen},
	}
	// The tool's own delay beside the system's latency: where the two
	// meet, the apparatus could have decided the figure (docs/verdicts.md).
	if own := apparatusDelays(res); anyPositive(own) {
		tc.lines = append(tc.lines, series{name: "tool's own delay (p99)", x: ta.x, y: own, colour: colourGrey, dashes: dashedLine})
	}
	for _, r := range runRequirements(res, "latency", "service_latency") {
		if r.Threshold > 0 { // a log axis cannot show 0
			tc.lines = append(tc.lines, thresholdLine(r.Verdict, ta.x, ta.constant(r.Threshold)))
		}
	}
	return tc.draw(res, ta)
}

// apparatusDelays is each window's apparatus delay (ms), aligned with
// res.Windows; nil without an apparatus.
func apparatusDelays(res *Result) []float64 {
	if res.Apparatus == nil || len(res.Apparatus.Windows) == 0 {
		return nil
	}
	ys := make([]float64, len(res.Windows))
	for i, w := range res.Windows {
		ys[i] = math.NaN()
		if aw := res.Apparatus.Window(w.T); aw != nil {
			ys[i] = aw.DelayMS
		}
	}
	return ys
}

// NodeRateChart shows the responses each node served per second: its
// successful responses only, so that a node that answers with errors (or
// whose failures the proxy names it in) does not seem to serve. A node
// that served nothing in a second (crashed, ejected, not yet added) is at
// zero there; its failures are NodeFailureChart's.
func NodeRateChart(res *Result) (*Chart, error) {
	return nodeCountChart(res, timeChart{file: "node-requests.png", title: "Successful responses per second by node", yLabel: "served per second"},
		func(w Window) map[string]int64 { return w.Nodes },
		func(w Window, name string) int64 { return w.Nodes[name] - w.NodeFailed[name] })
}

// NodeFailureChart shows, per second, the responses of each node that
// failed the request; nil when no node's response failed.
func NodeFailureChart(res *Result) (*Chart, error) {
	return nodeCountChart(res, timeChart{file: "node-failures.png", title: "Failed responses per second by node", yLabel: "failed per second"},
		func(w Window) map[string]int64 { return w.NodeFailed },
		func(w Window, name string) int64 { return w.NodeFailed[name] })
}

// nodeCountChart draws a count per node per second, a line for each node
// that of names in some window; nil when none.
func nodeCountChart(res *Result, tc timeChart, of func(Window) map[string]int64, count func(Window, string) int64) (*Chart, error) {
	names := windowNodeNames(res, func(w Window) []string { return mapKeys(of(w)) })
	if len(names) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	tc.unit, tc.top = scenario.UnitRate, 1
	for _, name := range names {
		tc.lines = append(tc.lines, series{name: name, x: ta.x, colour: nodeColour(res, name),
			y: ta.rate(res, func(w Window) float64 { return float64(count(w, name)) })})
	}
	return tc.draw(res, ta)
}

// UtilisationChart shows each built-in node's busy worker-time share per
// second, when the nodes reported it, and the threshold of a utilisation
// requirement. A second without a sample is a gap.
func UtilisationChart(res *Result) (*Chart, error) {
	names := windowNodeNames(res, func(w Window) []string { return mapKeys(w.Utilisation) })
	if len(names) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	tc := timeChart{file: "node-utilisation.png", title: "Utilisation by node (busy worker time)", yLabel: "busy worker time (%)", unit: scenario.UnitPercent, top: 100}
	for _, name := range names {
		ys := make([]float64, len(res.Windows))
		for i, w := range res.Windows {
			u, ok := w.Utilisation[name]
			if !ok {
				ys[i] = math.NaN()
				continue
			}
			ys[i] = u * 100
		}
		tc.lines = append(tc.lines, series{name: name, x: ta.x, y: ys, colour: nodeColour(res, name)})
	}
	for _, r := range runRequirements(res, "utilisation") {
		tc.lines = append(tc.lines, thresholdLine(r.Verdict, ta.x, ta.constant(r.Threshold*100)))
	}
	return tc.draw(res, ta)
}

// windowNodeNames lists the node names the windows mention, in the order
// of res.Nodes and then by name.
func windowNodeNames(res *Result, names func(Window) []string) []string {
	seen := map[string]bool{}
	for _, w := range res.Windows {
		for _, n := range names(w) {
			seen[n] = true
		}
	}
	var out []string
	for _, n := range res.Nodes {
		if seen[n.Name] {
			out = append(out, n.Name)
			delete(seen, n.Name)
		}
	}
	rest := mapKeys(seen)
	return append(out, rest...)
}

// nodeColour gives each node one colour on every chart of a result.
func nodeColour(res *Result, name string) color.Color {
	all := windowNodeNames(res, func(w Window) []string {
		return append(mapKeys(w.Nodes), mapKeys(w.Utilisation)...)
	})
	for i, n := range all {
		if n == name {
			return palette[i%len(palette)]
		}
	}
	return colourGrey
}

func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func anyPositive(ys []float64) bool {
	for _, y := range ys {
		if y > 0 {
			return true
		}
	}
	return false
}

// alignTimeCharts gives every time chart of one page the same plotting
// area: its left edge where the widest y axis puts it, and the legend
// column as wide as the widest legend. The x axes then share their pixels
// as they share their range.
func alignTimeCharts(charts []*Chart) {
	var left, legend vg.Length
	for _, c := range charts {
		if !c.timed {
			continue
		}
		l, w := c.layout()
		left, legend = max(left, l), max(legend, w)
	}
	for _, c := range charts {
		if c.timed {
			c.left, c.legendWidth = left, legend
		}
	}
}
