package report

import (
	"context"
	"testing"
)

// What the package's external tests (package report_test, which may
// import the packages that import report, such as sim) use of its own
// test helpers.

var (
	FindChromium = findChromium
	ArtifactDir  = artifactDir
)

// Browser is a headless Chromium started by StartBrowser.
type Browser struct {
	Ctx context.Context // chromedp.NewContext(Ctx) opens a tab
	out *lockedBuffer
}

// Output is what the browser wrote, for a failure's message.
func (b Browser) Output() string { return b.out.String() }

func StartBrowser(t *testing.T, ctx context.Context, path string) Browser {
	c, out := startBrowser(t, ctx, path)
	return Browser{Ctx: c, out: out}
}

// PageProblems opens file at width x height and returns the console
// errors the page logged and the URLs it requested besides itself.
func PageProblems(t *testing.T, b Browser, file string, width, height int) (consoleErrors, requests []string) {
	pc := checkPageInChromium(t, b.Ctx, b.out, file, width, height)
	return pc.consoleErrors, pc.requests
}
