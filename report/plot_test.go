package report

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gonum.org/v1/plot/vg"
)

// artifactDir is where a test leaves files for people to look at:
// $ILITIES_TEST_ARTIFACTS when set (CI keeps it), else the test's temp dir.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ILITIES_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func decodePNG(t *testing.T, name string, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", name, err)
	}
	return img
}

// countNear counts the pixels within tol of c on every channel.
func countNear(img image.Image, c color.NRGBA, tol int) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			got := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if absDiff(got.R, c.R) <= tol && absDiff(got.G, c.G) <= tol && absDiff(got.B, c.B) <= tol {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// onWhite is c drawn over a white background.
func onWhite(c color.NRGBA) color.NRGBA {
	blend := func(v uint8) uint8 { return uint8((int(v)*int(c.A) + 255*(255-int(c.A))) / 255) }
	return color.NRGBA{blend(c.R), blend(c.G), blend(c.B), 0xff}
}

func TestFiguresOfARichResult(t *testing.T) {
	res := richResult(t)
	figs, err := Figures(res)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range figs {
		files = append(files, f.File)
	}
	want := []string{"throughput.png", "errors.png", "latency.png", "node-requests.png", "node-utilisation.png", "latency-spectrum.png", TopologyFile}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("figures %v, want %v", files, want)
	}
	figs = figs[:len(figs)-1] // the drawing is no chart: topology_test.go checks it
	dir := artifactDir(t)
	shade := onWhite(faultShade)
	for _, f := range figs {
		if err := os.WriteFile(filepath.Join(dir, f.File), f.PNG, 0o644); err != nil {
			t.Fatal(err)
		}
		img := decodePNG(t, f.File, f.PNG)
		if b := img.Bounds(); b.Dx() != 1080 || b.Dy() != 408 {
			t.Errorf("%s is %dx%d, want 1080x408", f.File, b.Dx(), b.Dy())
		}
		if f.Title == "" {
			t.Errorf("%s has no title", f.File)
		}
		// The time charts shade the crash (15 of 60 seconds): thousands of
		// pixels of the shade; the spectrum has no time axis and no shade.
		shaded := countNear(img, shade, 2)
		if f.File == "latency-spectrum.png" {
			if shaded > 50 {
				t.Errorf("%s: %d fault-shaded pixels on a chart without time", f.File, shaded)
			}
		} else if shaded < 5000 {
			t.Errorf("%s: %d fault-shaded pixels, want the crash shaded", f.File, shaded)
		}
	}
	t.Logf("figures in %s", dir)

	// Without faults, nothing is shaded.
	res.Faults = nil
	c, err := ThroughputChart(res)
	if err != nil {
		t.Fatal(err)
	}
	fig, err := c.Render()
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, fig.File, fig.PNG)
	if n := countNear(img, shade, 2); n > 50 {
		t.Errorf("%d fault-shaded pixels without faults", n)
	}
	grey := onWhite(warmupShade)
	if n := countNear(img, grey, 1); n > 1500 {
		t.Errorf("%d warm-up pixels without a warm-up", n)
	}

	// A warm-up is shaded too, in grey: 5 of 60 seconds.
	res.WarmupS = 5
	if c, err = ThroughputChart(res); err != nil {
		t.Fatal(err)
	}
	if fig, err = c.Render(); err != nil {
		t.Fatal(err)
	}
	if n := countNear(decodePNG(t, fig.File, fig.PNG), grey, 1); n < 8000 {
		t.Errorf("%d warm-up pixels, want the first 5 seconds shaded", n)
	}
}

func TestChartsNeedTheirData(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Result)
		files []string
	}{
		{"no windows, no histograms", func(r *Result) {
			r.Windows = nil
			r.Histograms = Histograms{}
			r.Workloads = nil
		}, nil},
		{"no windows", func(r *Result) { r.Windows = nil }, []string{"latency-spectrum.png"}},
		{"external target: no node figures", func(r *Result) {
			for i := range r.Windows {
				r.Windows[i].Nodes, r.Windows[i].Utilisation = nil, nil
			}
		}, []string{"throughput.png", "errors.png", "latency.png", "latency-spectrum.png"}},
		{"no utilisation", func(r *Result) {
			for i := range r.Windows {
				r.Windows[i].Utilisation = nil
			}
		}, []string{"throughput.png", "errors.png", "latency.png", "node-requests.png", "latency-spectrum.png"}},
		{"nothing completed", func(r *Result) {
			for i := range r.Windows {
				r.Windows[i].LatencyMS = WindowLatency{}
			}
			r.Histograms = Histograms{}
			r.Workloads = nil
			r.Faults = nil
		}, []string{"throughput.png", "errors.png", "node-requests.png", "node-utilisation.png"}},
	}
	base := richResult(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := *base
			res.Windows = append([]Window(nil), base.Windows...)
			tc.edit(&res)
			charts, err := Charts(&res)
			if err != nil {
				t.Fatal(err)
			}
			var files []string
			for _, c := range charts {
				files = append(files, c.File)
			}
			if !reflect.DeepEqual(files, tc.files) {
				t.Fatalf("charts %v, want %v", files, tc.files)
			}
		})
	}
}

// Log axes cannot show 0 or less; gonum panics on them. Windows with
// zeros, sub-microsecond values and gaps must still draw.
func TestLogAxesSurviveZeros(t *testing.T) {
	res := richResult(t)
	res.Windows[3].LatencyMS = WindowLatency{P50: 0, P90: 0, P99: 0, Max: 0.0001}
	res.Windows[4].LatencyMS = WindowLatency{}
	res.Windows[5].LatencyMS = WindowLatency{P50: -1, P90: 0, P99: 2, Max: 3}
	for i := 30; i < len(res.Windows); i++ {
		res.Windows[i].LatencyMS = WindowLatency{}
	}
	c, err := LatencyChart(res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Render(); err != nil {
		t.Fatal(err)
	}
	if c.plot.Y.Min <= 0 || c.plot.Y.Min > logFloorMS {
		t.Errorf("log axis starts at %g, want (0, %g]", c.plot.Y.Min, logFloorMS)
	}
}

func TestSpectrumCurve(t *testing.T) {
	h := NewHistogram()
	for v := int64(1); v <= 100000; v++ {
		RecordUS(h, v) // 1µs .. 100ms, uniform
	}
	x, y := spectrumCurve(h)
	if x[0] != 1 || x[len(x)-1] != 100000 {
		t.Fatalf("x from %g to %g, want 1 to the count (1e5)", x[0], x[len(x)-1])
	}
	if got, want := y[len(y)-1], float64(h.Max())/1000; got != want {
		t.Errorf("curve ends at %gms, want the max %gms", got, want)
	}
	for i := 1; i < len(y); i++ {
		if y[i] < y[i-1] || x[i] <= x[i-1] {
			t.Fatalf("not monotonic at %d: (%g,%g) after (%g,%g)", i, x[i], y[i], x[i-1], y[i-1])
		}
	}
	// At 1/(1-q) = 100 the curve is the 99th percentile.
	for i := range x {
		if math.Abs(x[i]-100) < 1e-9 {
			if got, want := y[i], float64(h.ValueAtQuantile(99))/1000; got != want {
				t.Errorf("y at 99%% = %g, want %g", got, want)
			}
			return
		}
	}
	t.Error("no point at the 99th percentile")
}

func TestPercentileLabels(t *testing.T) {
	for x, want := range map[float64]string{1: "0%", 2: "50%", 10: "90%", 100: "99%", 1000: "99.9%", 1e4: "99.99%", 1e6: "99.9999%"} {
		if got := percentileLabel(x); got != want {
			t.Errorf("percentileLabel(%g) = %q, want %q", x, got, want)
		}
	}
	var labels []string
	for _, tk := range (percentileTicks{}).Ticks(1, 1000) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"0%", "50%", "90%", "99%", "99.9%"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("tick labels %v, want %v", labels, want)
	}
}

func TestMillisLogTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   []string
	}{
		{0.1, 1000, []string{"0.1ms", "1ms", "10ms", "100ms", "1s"}},
		{1, 100, []string{"1ms", "2ms", "5ms", "10ms", "20ms", "50ms", "100ms"}},
		{0, 10, nil}, // a zero bound must not panic; labels then start at the floor
	}
	for _, c := range cases {
		var labels []string
		for _, tk := range (millisLogTicks{}).Ticks(c.lo, c.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if c.want != nil && !reflect.DeepEqual(labels, c.want) {
			t.Errorf("ticks(%g, %g) = %v, want %v", c.lo, c.hi, labels, c.want)
		}
		if len(labels) == 0 {
			t.Errorf("ticks(%g, %g): no labels", c.lo, c.hi)
		}
	}
}

func TestFaultSpan(t *testing.T) {
	cases := []struct {
		f        Fault
		from, to float64
		instant  bool
	}{
		{Fault{Kind: "crash", AtS: 20, ForS: 15}, 20, 35, false},
		{Fault{Kind: "crash", AtS: 50, ForS: 30}, 50, 60, false}, // cut at the end of the run
		{Fault{Kind: "slow", AtS: 10}, 10, 60, false},            // lasts to the end
		{Fault{Kind: "add-backend", AtS: 45}, 45, 45, true},
		{Fault{Kind: "remove-backend", AtS: 5}, 5, 5, true},
	}
	for _, c := range cases {
		from, to, instant := faultSpan(c.f, 60)
		if from != c.from || to != c.to || instant != c.instant {
			t.Errorf("%+v: got %g..%g instant %v, want %g..%g instant %v", c.f, from, to, instant, c.from, c.to, c.instant)
		}
	}
}

// The helpers the compare and capacity commands build on: overlaid
// spectra and bars.
func TestSpectrumOverlayAndBars(t *testing.T) {
	res := richResult(t)
	c, err := SpectrumChart("strategies.png", "Latency by percentile, per strategy", []Spectrum{
		{Name: "round-robin", Histogram: res.Workloads[0].Histograms.Latency},
		{Name: "least-connections", Histogram: res.Workloads[1].Histograms.Latency},
		{Name: "empty", Histogram: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	if fig, err := c.Render(); err != nil || len(fig.PNG) == 0 {
		t.Fatalf("render: %v", err)
	}
	if _, err := SpectrumChart("x.png", "x", []Spectrum{{Name: "bad", Histogram: "not a histogram"}}); err == nil {
		t.Error("a corrupt histogram drew a chart")
	}
	if c, err := SpectrumChart("x.png", "x", []Spectrum{{Name: "empty"}}); c != nil || err != nil {
		t.Errorf("no data: chart %v, err %v; want neither", c, err)
	}
	b, err := BarChart("throughput-by-strategy.png", "Throughput by strategy", "requests per second", []Bar{
		{Label: "round-robin", Value: 812.5}, {Label: "least-connections", Value: 799}, {Label: "random", Value: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	fig, err := b.Render()
	if err != nil {
		t.Fatal(err)
	}
	// The bars are drawn in the palette's blue.
	if n := countNear(decodePNG(t, fig.File, fig.PNG), colourBlue, 2); n < 2000 {
		t.Errorf("%d blue bar pixels", n)
	}
	os.WriteFile(filepath.Join(artifactDir(t), fig.File), fig.PNG, 0o644)
}

// Every time chart of a result has its plotting area at the same place,
// though their y axes' labels and legends differ in width: the PNGs read
// down a page on one time axis.
func TestTimeChartsShareTheirPlottingArea(t *testing.T) {
	charts, err := Charts(richResult(t))
	if err != nil {
		t.Fatal(err)
	}
	dataArea := func(c *Chart) vg.Rectangle {
		p, area, _ := c.plotArea(measureCanvas())
		return p.DataCanvas(area).Rectangle
	}
	var first vg.Rectangle
	var timed, unaligned int
	for _, c := range charts {
		if !c.timed {
			continue
		}
		got := dataArea(c)
		if timed == 0 {
			first = got
		}
		timed++
		if math.Abs(float64(got.Min.X-first.Min.X)) > 0.01 || math.Abs(float64(got.Max.X-first.Max.X)) > 0.01 {
			t.Errorf("%s's plotting area spans x %v..%v, the first's %v..%v", c.File, got.Min.X, got.Max.X, first.Min.X, first.Max.X)
		}
		own := *c
		own.left, own.legendWidth = 0, 0
		if a := dataArea(&own); a.Min.X != got.Min.X || a.Max.X != got.Max.X {
			unaligned++
		}
		if c.data == nil || c.data.XMin != 0 || c.data.XMax != 60 {
			t.Errorf("%s: data %+v, want the run's 60s as its x range", c.File, c.data)
		}
	}
	if timed != 5 {
		t.Errorf("%d time charts, want 5", timed)
	}
	if unaligned == 0 {
		t.Error("every time chart is where it would be alone: nothing was aligned")
	}
}

// seriesNamed is the chart's line named name, nil when it has none.
func seriesNamed(c *Chart, name string) *dataSeries {
	for i := range c.data.Series {
		if c.data.Series[i].Name == name {
			return &c.data.Series[i]
		}
	}
	return nil
}

func allEqual(ys []float64, want float64) bool {
	for _, y := range ys {
		if math.Abs(y-want) > 1e-9 {
			return false
		}
	}
	return len(ys) > 0
}

// The run's requirements are drawn on the chart of their metric, at their
// threshold; a workload's are not (the charts show the whole run).
func TestRequirementThresholdsAreDrawn(t *testing.T) {
	res := richResult(t)
	cases := []struct {
		build func(*Result) (*Chart, error)
		name  string
		want  float64 // every second's value
	}{
		{LatencyChart, "requirement p99(latency) < 40ms", 40},
		{ThroughputChart, "requirement throughput >= 190/s", 190},
		// 1% and 0.1% of the 200 arrivals of each second.
		{ErrorsChart, "allowed by error_rate < 1%", 2},
		{ErrorsChart, "allowed by availability >= 99.9%", 0.2},
	}
	for _, tc := range cases {
		c, err := tc.build(res)
		if err != nil {
			t.Fatal(err)
		}
		s := seriesNamed(c, tc.name)
		if s == nil {
			t.Errorf("%s has no line %q", c.File, tc.name)
			continue
		}
		if !allEqual(s.Y, tc.want) {
			t.Errorf("%s: %q at %v, want %g throughout", c.File, tc.name, s.Y[:3], tc.want)
		}
	}
	c, err := LatencyChart(res)
	if err != nil {
		t.Fatal(err)
	}
	if s := seriesNamed(c, "requirement p99(latency) < 20ms for browse"); s != nil {
		t.Error("a workload's requirement is drawn on the run's latency")
	}
}

// Failures are on their own chart, by class, not beside the throughput;
// the throughput chart draws the target over the successes.
func TestErrorsHaveTheirOwnAxis(t *testing.T) {
	res := richResult(t)
	tp, err := ThroughputChart(res)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range tp.data.Series {
		names = append(names, s.Name)
	}
	if want := []string{"succeeded (throughput)", "scheduled (target)", "requirement throughput >= 190/s"}; !reflect.DeepEqual(names, want) {
		t.Errorf("throughput chart lines %v, want %v (the target drawn after the successes)", names, want)
	}
	ec, err := ErrorsChart(res)
	if err != nil {
		t.Fatal(err)
	}
	refused := seriesNamed(ec, "refused")
	if refused == nil || refused.Y[20] != float64(res.Windows[20].Errors["refused"]) || refused.Y[0] != 0 {
		t.Fatalf("errors chart %+v: want the refused requests of each second", ec.data.Series)
	}
	if ec.data.YMax > 100 {
		t.Errorf("errors axis up to %g, want it scaled to the failures (at most 67/s)", ec.data.YMax)
	}
}

// A node's failed answers are not counted as served: a crashed node whose
// failures the proxy names it in shows at zero on the served chart, and
// its failures on a chart of their own.
func TestNodeChartsSplitSuccessesAndFailures(t *testing.T) {
	res := &Result{MeasuredS: 3, Nodes: []Node{{Name: "a"}, {Name: "b"}}}
	for sec := range 3 {
		w := Window{T: sec, Nodes: map[string]int64{"a": 100, "b": 100}}
		if sec > 0 {
			w.NodeFailed = map[string]int64{"b": 100}
		}
		res.Windows = append(res.Windows, w)
	}
	served, err := NodeRateChart(res)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := seriesNamed(served, "a"), seriesNamed(served, "b"); a == nil || b == nil ||
		!allEqual(a.Y, 100) || !reflect.DeepEqual([]float64(b.Y), []float64{100, 0, 0}) {
		t.Fatalf("served %+v: want a at 100/s, b at 100 then 0", served.data.Series)
	}
	failed, err := NodeFailureChart(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed.data.Series) != 1 || failed.data.Series[0].Name != "b" ||
		!reflect.DeepEqual([]float64(failed.data.Series[0].Y), []float64{0, 100, 100}) {
		t.Fatalf("failed %+v: want b's 100/s from the second second", failed.data.Series)
	}
	res.Windows[1].NodeFailed, res.Windows[2].NodeFailed = nil, nil
	if c, err := NodeFailureChart(res); c != nil || err != nil {
		t.Errorf("a failure chart (%v, %v) without failures", c, err)
	}
}

// With several requests in a workload, the spectrum draws each request's
// latency by its name.
func TestSpectrumByRequestName(t *testing.T) {
	res := richResult(t)
	res.Workloads = res.Workloads[:1]
	for _, name := range []string{"GET /", "POST /cart"} {
		r := RequestResult{Name: name, Workload: "browse"}
		r.Histograms.Latency = res.Histograms.Latency
		res.Requests = append(res.Requests, r)
	}
	c, err := resultSpectrumChart(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"latency, all requests", "latency, GET /", "latency, POST /cart"} {
		if seriesNamed(c, want) == nil {
			t.Errorf("spectrum lacks %q", want)
		}
	}
}

func TestChartDataJSON(t *testing.T) {
	b, err := json.Marshal(jsonFloats{1, math.NaN(), 2.5, math.Inf(1), 1.0 / 3})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "[1,null,2.5,null,0.333333]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := cssColour(faultShade); got != "rgba(214,39,40,0.133)" {
		t.Errorf("fault shade %s", got)
	}
	if got := cssColour(colourBlue); got != "#1f77b4" {
		t.Errorf("blue %s", got)
	}
}
