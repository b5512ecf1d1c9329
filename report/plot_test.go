package report

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
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
	want := []string{"throughput.png", "latency.png", "latency-spectrum.png", "node-requests.png", "node-utilisation.png", TopologyFile}
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
		}, []string{"throughput.png", "latency.png", "latency-spectrum.png"}},
		{"no utilisation", func(r *Result) {
			for i := range r.Windows {
				r.Windows[i].Utilisation = nil
			}
		}, []string{"throughput.png", "latency.png", "latency-spectrum.png", "node-requests.png"}},
		{"nothing completed", func(r *Result) {
			for i := range r.Windows {
				r.Windows[i].LatencyMS = WindowLatency{}
			}
			r.Histograms = Histograms{}
			r.Workloads = nil
			r.Faults = nil
		}, []string{"throughput.png", "node-requests.png", "node-utilisation.png"}},
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
