package report

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pageCheck is what a headless browser saw of a page.
type pageCheck struct {
	consoleErrors []string // console errors, uncaught exceptions, CSP and other log errors
	requests      []string // every URL the page requested besides itself and data: URIs
	brokenImages  []string // images that did not decode, or decoded to nothing
	images        int
	banner        rect // the verdict banner, in CSS pixels
	lastReq       rect // the last requirement row
	bannerOnTop   bool // the banner is what is at its own centre (nothing covers it)
	bannerText    string
	viewport      rect
	screenshot    []byte
}

type rect struct {
	Top, Bottom, Left, Right, Width, Height float64
}

// The page's own test of what a reader sees, evaluated through DevTools.
const pageProbe = `(() => {
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
		images: Array.from(document.images, i => ({src: i.currentSrc.slice(0, 40), complete: i.complete, w: i.naturalWidth, h: i.naturalHeight})),
		banner: box(banner), visible, onTop, text,
		lastReq: rows.length ? box(rows[rows.length - 1]) : null,
		viewport: {Top: 0, Left: 0, Right: innerWidth, Bottom: innerHeight, Width: innerWidth, Height: innerHeight},
	};
})()`

// checkPageInChromium opens file in a fresh tab of b at width x height and
// reports what it saw.
func checkPageInChromium(t *testing.T, ctx context.Context, b *browser, file string, width, height int) pageCheck {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	pageURL := "file://" + abs
	session, err := b.openPage(ctx, pageURL, width, height)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.stderr)
	}
	// Images decode asynchronously: wait (bounded) until all are complete.
	var probe struct {
		Images []struct {
			Src      string
			Complete bool
			W, H     int
		}
		Banner, LastReq, Viewport *rect
		Visible, OnTop            bool
		Text                      string
	}
	for {
		if err := b.evaluate(ctx, session, pageProbe, &probe); err != nil {
			t.Fatal(err)
		}
		complete := true
		for _, img := range probe.Images {
			complete = complete && img.Complete
		}
		if complete || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var pc pageCheck
	pc.images = len(probe.Images)
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
	if pc.screenshot, err = b.screenshot(ctx, session); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.sessionEvents(session) {
		var p struct {
			Type      string                `json:"type"`
			Args      []struct{ Value any } `json:"args"`
			Exception struct {
				Text string `json:"text"`
			} `json:"exceptionDetails"`
			Entry struct {
				Level, Source, Text, URL string
			} `json:"entry"`
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		json.Unmarshal(e.Params, &p)
		switch e.Method {
		case "Runtime.consoleAPICalled":
			if p.Type == "error" || p.Type == "assert" {
				pc.consoleErrors = append(pc.consoleErrors, fmt.Sprintf("console.%s %v", p.Type, p.Args))
			}
		case "Runtime.exceptionThrown":
			pc.consoleErrors = append(pc.consoleErrors, "exception: "+p.Exception.Text)
		case "Log.entryAdded":
			if p.Entry.Level == "error" {
				pc.consoleErrors = append(pc.consoleErrors, fmt.Sprintf("%s: %s %s", p.Entry.Source, p.Entry.Text, p.Entry.URL))
			}
		case "Network.requestWillBeSent":
			u := p.Request.URL
			if u != pageURL && !strings.HasPrefix(u, "data:") {
				pc.requests = append(pc.requests, u)
			}
		}
	}
	return pc
}

// The acceptance check of report.html: opened in headless Chromium, the
// page logs no error, requests nothing beyond itself, every image decodes
// to a non-empty picture, and the verdict banner and every requirement are
// visible on the first screen. A screenshot of that screen is kept.
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
	if err := WriteFiles(dir, res); err != nil {
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

	b := startBrowser(t, ctx, path)
	const width, height = 1366, 768 // a common laptop screen

	t.Run("report.html", func(t *testing.T) {
		pc := checkPageInChromium(t, ctx, b, filepath.Join(dir, "report.html"), width, height)
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
		if pc.images != 5 {
			t.Errorf("%d images, want the 5 charts", pc.images)
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
		decodePNG(t, shot, pc.screenshot)
	})

	t.Run("a bad page fails the check", func(t *testing.T) {
		pc := checkPageInChromium(t, ctx, b, bad, width, height)
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
