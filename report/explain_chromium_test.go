package report

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// whyBox is where report.html's explanation lies on the screen, and what
// it says.
type whyBox struct {
	Top    float64 `json:"top"`
	Bottom float64 `json:"bottom"`
	Text   string  `json:"text"`
}

// The explanation of a missed requirement, naming the slow node and its
// fault, is on the first screen of report.html (1280×900), with no
// scrolling.
func TestExplanationOnTheFirstScreen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	path, err := findChromium()
	if err != nil {
		t.Skipf("skipping the browser check of the explanation: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := filepath.Join(artifactDir(t), "report-explained.html")
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(out, explainedSlowNode()); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	browser, log := startBrowser(t, ctx, path)
	tab, closeTab := chromedp.NewContext(browser)
	defer closeTab()
	const width, height = 1280, 900
	if err := chromedp.Do(tab, chromedp.EmulateViewport(width, height), chromedp.Navigate("file://"+file)); err != nil {
		t.Fatalf("loading %s: %v\n%s", file, err, log)
	}
	box, err := chromedp.Run(tab, chromedp.Evaluate[whyBox](`(() => {
		const e = document.getElementById("why");
		if (!e) return {top: -1, bottom: -1, text: ""};
		const r = e.getBoundingClientRect();
		return {top: r.top, bottom: r.bottom, text: e.innerText};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if box.Top < 0 || box.Bottom > height || box.Bottom <= box.Top {
		t.Errorf("the explanation lies at %g..%g px, not within the first %d px", box.Top, box.Bottom, height)
	}
	for _, want := range []string{"slow app-3", "app-3 utilisation", "5s–20s"} {
		if !strings.Contains(box.Text, want) {
			t.Errorf("the explanation reads %q, without %q", box.Text, want)
		}
	}
}
