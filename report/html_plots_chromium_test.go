package report_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

// slowNodeResult simulates examples/slow-node.yaml under round-robin, as
// `ilities simulate examples/slow-node.yaml --strategy round-robin` does
// with the model's built-in constants: app-3 slow from 5s on, the p99
// requirement failed.
func slowNodeResult(t *testing.T) *report.Result {
	t.Helper()
	sc, err := scenario.Load(filepath.Join("..", "examples", "slow-node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, site := range sc.AllSites() {
		site.SUT.Proxy.Strategy = "round-robin"
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := sim.Run(context.Background(), sc, sim.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) != 1 || res.Faults[0].Kind != "slow" || res.Verdict != report.VerdictFail {
		t.Fatalf("faults %+v, verdict %s: want the slow fault and a failed requirement", res.Faults, res.Verdict)
	}
	return res
}

// plotsProbe reads the plots as laid out: each time chart's plotting area
// (uPlot's .u-over) and the text of its legend's values.
const plotsProbe = `Array.from(document.querySelectorAll('figure.time-chart'), f => {
	const r = f.querySelector('.u-over').getBoundingClientRect();
	return {File: f.getAttribute('data-file'), X: f.querySelector('.uplot').getAttribute('data-x'),
		Left: r.left, Right: r.right, Top: r.top, Bottom: r.bottom,
		Values: Array.from(f.querySelectorAll('.u-legend .u-series .u-value'), v => v.textContent)};
})`

type plotArea struct {
	File                     string
	X                        string // the x range shown, "min max"
	Left, Right, Top, Bottom float64
	Values                   []string
}

// The plots of report.html read down the page: in a 1280×900 window every
// time chart's plotting area spans the same x pixels (within 2 px), and
// hovering one shows the values of that moment, as numbers, in its legend
// and in the other time charts' legends.
func TestPlotsShareTheirTimeAxisInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	path, err := report.FindChromium()
	if err != nil {
		t.Skipf("skipping the browser check of report.html's plots: %v (install the Debian package chromium; .ci/run does)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	dir := report.ArtifactDir(t)
	res := slowNodeResult(t)
	sub := filepath.Join(dir, "slow-node")
	if _, err := report.WriteFiles(sub, res); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(sub, "report.html")
	const width, height = 1280, 900
	browser := report.StartBrowser(t, ctx, path)
	errs, reqs := report.PageProblems(t, browser, page, width, height)
	if len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	if len(reqs) > 0 {
		t.Errorf("the page requested:\n%s", strings.Join(reqs, "\n"))
	}

	tab, closeTab := chromedp.NewContext(browser.Ctx)
	defer closeTab()
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, height), chromedp.Navigate("file://"+abs)); err != nil {
		t.Fatalf("loading the page: %v\n%s", err, browser.Output())
	}
	areas, err := chromedp.Run(tab, chromedp.Evaluate[[]plotArea](plotsProbe))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, a := range areas {
		files = append(files, a.File)
	}
	// The slow fault fails no request: no chart of failures by node.
	want := []string{"throughput.png", "errors.png", "latency.png", "node-requests.png", "node-utilisation.png"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Fatalf("time charts %v, want %v", files, want)
	}
	first := areas[0]
	if first.Right-first.Left < width/2 {
		t.Errorf("%s's plotting area is %g px wide, want most of the page's", first.File, first.Right-first.Left)
	}
	for _, a := range areas[1:] {
		if d := a.Left - first.Left; d < -2 || d > 2 {
			t.Errorf("%s's plotting area starts at x = %g, %s's at %g", a.File, a.Left, first.File, first.Left)
		}
		if d := a.Right - first.Right; d < -2 || d > 2 {
			t.Errorf("%s's plotting area ends at x = %g, %s's at %g", a.File, a.Right, first.File, first.Right)
		}
	}
	checkSameRange(t, areas, fmt.Sprintf("0 %g", res.MeasuredS))
	number := regexp.MustCompile(`^-?[0-9][0-9.]*(e[-+]?[0-9]+)? ?(ms|s|/s|%)?$`)
	for _, a := range areas {
		for _, v := range a.Values {
			if number.MatchString(v) {
				t.Fatalf("%s's legend shows %q before any hover, want only --", a.File, v)
			}
		}
	}

	// Hover the latency chart two thirds of the way along, where app-3 is
	// slow.
	latency := areas[2]
	if _, err := chromedp.Run(tab, chromedp.ScrollIntoView(`figure[data-file="latency.png"] .u-over`)); err != nil {
		t.Fatal(err)
	}
	if areas, err = chromedp.Run(tab, chromedp.Evaluate[[]plotArea](plotsProbe)); err != nil {
		t.Fatal(err)
	}
	latency = areas[2]
	x, y := latency.Left+(latency.Right-latency.Left)*2/3, (latency.Top+latency.Bottom)/2
	if err := chromedp.Do(tab, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y)); err != nil {
		t.Fatal(err)
	}
	if areas, err = chromedp.Run(tab, chromedp.Evaluate[[]plotArea](plotsProbe)); err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "plots-hover.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range areas {
		// The legend's first value is the time, then one per line.
		if len(a.Values) < 2 || !number.MatchString(a.Values[0]) || !number.MatchString(a.Values[1]) {
			t.Errorf("after hovering the latency chart, %s's legend shows %q, want numbers", a.File, a.Values)
		}
	}
	if len(areas) > 2 {
		if v := areas[2].Values; len(v) > 0 && !strings.HasSuffix(v[0], " s") {
			t.Errorf("the hovered time reads %q, want seconds", v[0])
		}
	}
	t.Logf("the hovered page: %s", filepath.Join(sub, "plots-hover.png"))

	// A drag across the latency chart from a quarter to a half of the run
	// zooms every time chart to those seconds.
	y = (latency.Top + latency.Bottom) / 2
	x0, x1 := latency.Left+(latency.Right-latency.Left)/4, latency.Left+(latency.Right-latency.Left)/2
	if err := chromedp.Do(tab,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x0+x1)/2, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x1, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
	); err != nil {
		t.Fatal(err)
	}
	if areas, err = chromedp.Run(tab, chromedp.Evaluate[[]plotArea](plotsProbe)); err != nil {
		t.Fatal(err)
	}
	var lo, hi float64
	if _, err := fmt.Sscanf(areas[2].X, "%g %g", &lo, &hi); err != nil {
		t.Fatalf("the latency chart's range %q: %v", areas[2].X, err)
	}
	if q := res.MeasuredS / 4; lo < q-1 || lo > q+1 || hi < 2*q-1 || hi > 2*q+1 {
		t.Errorf("after the drag the latency chart shows %g..%gs, want about %g..%gs", lo, hi, q, 2*q)
	}
	checkSameRange(t, areas, areas[2].X)
}

// checkSameRange: every time chart shows the x range want.
func checkSameRange(t *testing.T, areas []plotArea, want string) {
	t.Helper()
	for _, a := range areas {
		if a.X != want {
			t.Errorf("%s shows x from %q, want %q", a.File, a.X, want)
		}
	}
}
