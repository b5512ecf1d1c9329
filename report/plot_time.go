package report

import (
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// timeAxis places a result's one-second windows on a time axis: each
// window's figures are drawn at its middle, and a last, partial window
// counts per second of the time it covered.
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

// newTimePlot is a chart over the run's time with the warm-up and the
// faults shaded.
func newTimePlot(res *Result, ta timeAxis, title, yLabel string) (*plot.Plot, []*spanMarks) {
	p := newPlot(title, "time since start (s)", yLabel)
	fm := addSpanShades(p, res, ta.endS)
	p.X.Min, p.X.Max = 0, ta.endS
	p.X.Tick.Marker = secondsTicks{}
	return p, fm
}

// ThroughputChart shows, per second: successful responses (throughput),
// failed requests, dropped arrivals (when there were any) and the
// scheduled arrivals the run asked for.
func ThroughputChart(res *Result) (*Chart, error) {
	if len(res.Windows) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	p, fm := newTimePlot(res, ta, "Throughput and errors per second", "requests per second")
	scheduled := ta.rate(res, func(w Window) float64 { return float64(w.Scheduled) })
	succeeded := ta.rate(res, func(w Window) float64 { return float64(w.Succeeded) })
	failed := ta.rate(res, func(w Window) float64 { return float64(w.Failed) })
	dropped := ta.rate(res, func(w Window) float64 { return float64(w.Dropped) })
	lines := []series{
		{name: "scheduled (target)", x: ta.x, y: scheduled, colour: colourGrey, dashes: dashedLine},
		{name: "succeeded (throughput)", x: ta.x, y: succeeded, colour: colourBlue, width: vg.Points(1.8)},
		{name: "failed", x: ta.x, y: failed, colour: colourRed},
	}
	if res.Totals.Dropped > 0 || anyPositive(dropped) {
		lines = append(lines, series{name: "dropped by the generator", x: ta.x, y: dropped, colour: colourPurple})
	}
	for _, s := range lines {
		if err := addSeries(p, s); err != nil {
			return nil, err
		}
	}
	addSpanLegends(p, fm)
	yRange(p, 1, scheduled, succeeded, failed, dropped)
	return &Chart{File: "throughput.png", Title: "Throughput and errors per second", plot: p}, nil
}

// LatencyChart shows the p50, p90, p99 and maximum latency of each second
// on a log axis. A second in which no request completed is a gap.
func LatencyChart(res *Result) (*Chart, error) {
	if len(res.Windows) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	p, fm := newTimePlot(res, ta, "Latency per second", "latency (log scale)")
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
	p50 := pick(func(l WindowLatency) float64 { return l.P50 })
	p90 := pick(func(l WindowLatency) float64 { return l.P90 })
	p99 := pick(func(l WindowLatency) float64 { return l.P99 })
	maxima := pick(func(l WindowLatency) float64 { return l.Max })
	if !anyPositive(maxima) {
		return nil, nil
	}
	lines := []series{
		{name: "max", x: ta.x, y: maxima, colour: colourRed, width: vg.Points(1)},
		{name: "p99", x: ta.x, y: p99, colour: colourOrange},
		{name: "p90", x: ta.x, y: p90, colour: colourBlue},
		{name: "p50", x: ta.x, y: p50, colour: colourGreen},
	}
	// The tool's own delay beside the system's latency: where the two
	// meet, the apparatus could have decided the figure (docs/verdicts.md).
	if own := apparatusDelays(res); anyPositive(own) {
		lines = append(lines, series{name: "tool's own delay (p99)", x: ta.x, y: own, colour: colourGrey, dashes: dashedLine})
	}
	ys := make([][]float64, len(lines))
	for i, l := range lines {
		ys[i] = l.y
	}
	logRange(p, ys...)
	for _, s := range lines {
		if err := addSeries(p, s); err != nil {
			return nil, err
		}
	}
	addSpanLegends(p, fm)
	return &Chart{File: "latency.png", Title: "Latency per second: p50, p90, p99 and max", plot: p}, nil
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

// NodeRateChart shows the responses each node served per second. A node
// that served nothing in a second (crashed, ejected, not yet added) is at
// zero there.
func NodeRateChart(res *Result) (*Chart, error) {
	names := windowNodeNames(res, func(w Window) []string { return mapKeys(w.Nodes) })
	if len(names) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	p, fm := newTimePlot(res, ta, "Requests per second by node", "responses per second")
	var all [][]float64
	for _, name := range names {
		ys := ta.rate(res, func(w Window) float64 { return float64(w.Nodes[name]) })
		all = append(all, ys)
		if err := addSeries(p, series{name: name, x: ta.x, y: ys, colour: nodeColour(res, name)}); err != nil {
			return nil, err
		}
	}
	addSpanLegends(p, fm)
	yRange(p, 1, all...)
	return &Chart{File: "node-requests.png", Title: "Requests per second by node", plot: p}, nil
}

// UtilisationChart shows each built-in node's busy worker-time share per
// second, when the nodes reported it. A second without a sample is a gap.
func UtilisationChart(res *Result) (*Chart, error) {
	names := windowNodeNames(res, func(w Window) []string { return mapKeys(w.Utilisation) })
	if len(names) == 0 {
		return nil, nil
	}
	ta := newTimeAxis(res)
	p, fm := newTimePlot(res, ta, "Utilisation by node", "busy worker time (%)")
	var all [][]float64
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
		all = append(all, ys)
		if err := addSeries(p, series{name: name, x: ta.x, y: ys, colour: nodeColour(res, name)}); err != nil {
			return nil, err
		}
	}
	addSpanLegends(p, fm)
	yRange(p, 100, all...)
	return &Chart{File: "node-utilisation.png", Title: "Utilisation by node (busy worker time)", plot: p}, nil
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
