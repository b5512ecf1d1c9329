package report

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// findChromium returns the browser to test with: $ILITIES_CHROMIUM, or
// chromium (Debian), chromium-browser or google-chrome on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("ILITIES_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH")
}

// startBrowser starts headless Chromium with everything that could reach
// the network switched off. Each chromedp.NewContext of the context it
// returns is a tab of that browser; the browser's output is in the buffer.
func startBrowser(t *testing.T, ctx context.Context, path string) (context.Context, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.CombinedOutput(out),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true), chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v\n%s", path, err, out)
	}
	return browser, out
}

// lockedBuffer is the browser's output, written by chromedp's goroutines
// and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pageCheck is what a headless browser saw of a page.
type pageCheck struct {
	consoleErrors []string // console errors, uncaught exceptions, CSP and other log errors
	requests      []string // every URL the page requested besides itself and data: URIs
	brokenImages  []string // images that did not decode, or decoded to nothing
	images        int
	charts        int  // interactive charts drawn
	banner        rect // the verdict banner, in CSS pixels
	lastReq       rect // the last requirement row
	bannerOnTop   bool // the banner is what is at its own centre (nothing covers it)
	bannerText    string
	viewport      rect
	screenshot    []byte
	drawing       rect        // the infrastructure's SVG
	drawnNodes    []drawnNode // its nodes, as laid out
	wider         []string    // elements reaching past the viewport's right edge (a sideways scroll)
}

// drawnNode is one node of the infrastructure's drawing as the browser
// laid it out.
type drawnNode struct {
	Name, State string
	Box         rect
}

type rect struct {
	Top, Bottom, Left, Right, Width, Height float64
}

// The page's own test of what a reader sees, evaluated through DevTools
// (not as page script: the page's CSP still forbids scripts of its own).
// Images decode asynchronously, so it first waits for each to load or fail.
const pageProbe = `(async () => {
	await Promise.allSettled(Array.from(document.images, i => i.decode()));
	const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
		return {Top: r.top, Bottom: r.bottom, Left: r.left, Right: r.right, Width: r.width, Height: r.height}; };
	const banner = document.getElementById('verdict');
	const rows = document.querySelectorAll('#requirements tbody tr');
	let onTop = false, text = '', visible = false;
	if (banner) {
		const r = banner.getBoundingClientRect();
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		onTop = !!hit && (hit === banner || banner.contains(hit));
		const s = getComputedStyle(banner);
		visible = s.visibility === 'visible' && s.display !== 'none' && Number(s.opacity) > 0;
		text = banner.innerText;
	}
	return {
		charts: document.querySelectorAll('figure.chart .uplot canvas').length,
		images: Array.from(document.images, i => ({src: i.currentSrc.slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
		banner: box(banner), visible, onTop, text,
		lastReq: rows.length ? box(rows[rows.length - 1]) : null,
		viewport: {Top: 0, Left: 0, Right: innerWidth, Bottom: innerHeight, Width: innerWidth, Height: innerHeight},
		drawing: box(document.getElementById('topology-drawing')),
		wider: Array.from(document.querySelectorAll('body *'), e => [e, e.getBoundingClientRect().right])
			.filter(([e, right]) => right > document.documentElement.clientWidth + 1 && !e.closest('pre'))
			.slice(0, 5).map(([e, right]) => e.tagName + ' "' + e.innerText.slice(0, 40) + '" to ' + Math.round(right)),
		drawnNodes: Array.from(document.querySelectorAll('#topology-drawing g.topology-node'),
			g => ({Name: g.getAttribute('data-name'), State: g.getAttribute('data-state'), Box: box(g)})),
	};
})()`

type probeResult struct {
	Images []struct {
		Src      string
		Complete bool
		W, H     int
	}
	Charts                    int
	Banner, LastReq, Viewport *rect
	Visible, OnTop            bool
	Text                      string
	Drawing                   *rect
	DrawnNodes                []drawnNode
	Wider                     []string
}

// checkPageInChromium opens file in a fresh tab of browser at width x
// height and reports what it saw.
func checkPageInChromium(t *testing.T, browser context.Context, out *lockedBuffer, file string, width, height int) pageCheck {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	pageURL := "file://" + abs
	tab, closeTab := chromedp.NewContext(browser)
	defer closeTab()
	var pc pageCheck
	var mu sync.Mutex // the listener runs on chromedp's reading goroutine
	err = chromedp.Listen(tab, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				pc.consoleErrors = append(pc.consoleErrors, fmt.Sprintf("console.%s %v", ev.Type, args))
			}
		case *runtime.EventExceptionThrown:
			text := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				text += " " + ex.Description
			}
			pc.consoleErrors = append(pc.consoleErrors, "exception: "+text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				pc.consoleErrors = append(pc.consoleErrors, fmt.Sprintf("%s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			if u := ev.Request.URL; u != pageURL && !strings.HasPrefix(u, "data:") {
				pc.requests = append(pc.requests, u)
			}
		}
	})
	if err != nil {
		t.Fatalf("opening a tab: %v\n%s", err, out)
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(int64(width), int64(height)), chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("loading %s: %v\n%s", pageURL, err, out)
	}
	probe, err := chromedp.Run(tab, chromedp.Evaluate[probeResult](pageProbe, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	pc.screenshot = shot
	pc.images, pc.charts = len(probe.Images), probe.Charts
	for _, img := range probe.Images {
		if !img.Complete || img.W <= 0 || img.H <= 0 {
			pc.brokenImages = append(pc.brokenImages, fmt.Sprintf("%s (complete %v, %dx%d)", img.Src, img.Complete, img.W, img.H))
		}
	}
	if probe.Banner != nil && probe.Visible {
		pc.banner = *probe.Banner
	}
	if probe.LastReq != nil {
		pc.lastReq = *probe.LastReq
	}
	if probe.Viewport != nil {
		pc.viewport = *probe.Viewport
	}
	pc.bannerOnTop, pc.bannerText = probe.OnTop, probe.Text
	if probe.Drawing != nil {
		pc.drawing = *probe.Drawing
	}
	pc.drawnNodes = probe.DrawnNodes
	pc.wider = probe.Wider
	return pc
}

// The acceptance check of report.html: opened in headless Chromium, the
// page logs no error, requests nothing beyond itself, every image decodes
// to a non-empty picture, the verdict banner and every requirement are
// visible on the first screen, every chart is drawn, and the drawing of the
// infrastructure shows every node. A screenshot of that screen is kept.
func TestHTMLReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	path, err := findChromium()
	if err != nil {
		t.Skipf("skipping the browser check of report.html: %v (install the Debian package chromium; .ci/run does)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	dir := artifactDir(t)
	res := richResult(t)
	// A generator that was late says so at length, as a run on a busy
	// machine does: the page must wrap it, not scroll sideways.
	res.Generator.Reason = "33 of 5944 arrivals sent more than 1ms late (p99 send lag 0.625ms); their latency includes the wait, which the verdict takes out of every latency requirement; hiccup p99 0.508ms max 5.20ms, own delay p99 2.89ms, CPU pressure 13.47%"
	if _, err := WriteFiles(dir, res); err != nil {
		t.Fatal(err)
	}
	// A page that breaks every rule, to show that the check catches it: a
	// script error, an image fetched from elsewhere, and one that cannot decode.
	bad := filepath.Join(t.TempDir(), "bad.html")
	if err := os.WriteFile(bad, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body>
<div id="verdict">VERDICT: PASS</div>
<img src="http://127.0.0.1:1/leak.png"><img src="data:image/png;base64,AAAA">
<script>console.error("boom"); undefinedFunction();</script></body></html>`), 0o644); err != nil {
		t.Fatal(err)
	}

	browser, out := startBrowser(t, ctx, path)
	const width, height = 1366, 768 // a common laptop screen

	t.Run("report.html", func(t *testing.T) {
		pc := checkPageInChromium(t, browser, out, filepath.Join(dir, "report.html"), width, height)
		shot := filepath.Join(dir, "report-first-screen.png")
		if err := os.WriteFile(shot, pc.screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("first screen: %s", shot)
		if len(pc.consoleErrors) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(pc.consoleErrors, "\n"))
		}
		if len(pc.requests) > 0 {
			t.Errorf("the page requested:\n%s", strings.Join(pc.requests, "\n"))
		}
		if pc.charts != 6 || pc.images != 0 {
			t.Errorf("%d charts drawn and %d images, want the 6 charts drawn and no image", pc.charts, pc.images)
		}
		if len(pc.brokenImages) > 0 {
			t.Errorf("images that did not decode:\n%s", strings.Join(pc.brokenImages, "\n"))
		}
		vp := pc.viewport
		if pc.banner.Height <= 0 || pc.banner.Width <= 0 || pc.banner.Top < 0 || pc.banner.Bottom > vp.Bottom {
			t.Errorf("verdict banner at %+v, not inside the first screen %+v", pc.banner, vp)
		}
		if !pc.bannerOnTop {
			t.Error("something covers the verdict banner")
		}
		if !strings.HasPrefix(pc.bannerText, "VERDICT: FAIL") {
			t.Errorf("banner reads %q", pc.bannerText)
		}
		if pc.lastReq.Height <= 0 || pc.lastReq.Bottom > vp.Bottom {
			t.Errorf("last requirement at %+v, below the first screen (height %g)", pc.lastReq, vp.Bottom)
		}
		if len(pc.wider) > 0 {
			t.Errorf("the page scrolls sideways at %dpx: %s", width, strings.Join(pc.wider, "; "))
		}
		decodePNG(t, shot, pc.screenshot)
		checkDrawnNodes(t, pc, res)
	})

	t.Run("a bad page fails the check", func(t *testing.T) {
		pc := checkPageInChromium(t, browser, out, bad, width, height)
		if len(pc.consoleErrors) < 2 {
			t.Errorf("console errors %q, want the console.error and the exception", pc.consoleErrors)
		}
		if len(pc.requests) != 1 || !strings.Contains(pc.requests[0], "127.0.0.1:1/leak.png") {
			t.Errorf("requests %q, want the leak", pc.requests)
		}
		if len(pc.brokenImages) != 2 {
			t.Errorf("broken images %q, want both", pc.brokenImages)
		}
	})
}

// checkDrawnNodes: the drawing shows the proxy's replica and each node of
// res, with its state, each a visible shape inside the drawing.
func checkDrawnNodes(t *testing.T, pc pageCheck, res *Result) {
	t.Helper()
	d := pc.drawing
	if d.Width <= 0 || d.Height <= 0 {
		t.Fatalf("the drawing of the infrastructure is %+v, not shown", d)
	}
	want := map[string]string{"proxy-1": NodeUp}
	states := NodeStates(res.Faults)
	for _, n := range res.Nodes {
		want[n.Name] = cmp.Or(states[n.Name], NodeUp)
	}
	got := map[string]string{}
	for _, n := range pc.drawnNodes {
		got[n.Name] = n.State
		b := n.Box
		if b.Width <= 0 || b.Height <= 0 || b.Left < d.Left || b.Right > d.Right || b.Top < d.Top || b.Bottom > d.Bottom {
			t.Errorf("node %s drawn at %+v, not a shape inside the drawing %+v", n.Name, b, d)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("drawn nodes %v, want %v", got, want)
	}
}
