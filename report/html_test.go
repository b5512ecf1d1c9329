package report

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
)

func renderHTML(t *testing.T, res *Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, res); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// The page is self-contained and safe under its own policy: no URL but
// data: ones, one style sheet and the charts' two scripts, each allowed
// by its hash, the charts' data in a script element that is not run.
func TestHTMLIsSelfContained(t *testing.T) {
	page := renderHTML(t, richResult(t))
	csp := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]+)">`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no Content-Security-Policy meta element")
	}
	policy := html.UnescapeString(csp[1])
	for _, want := range []string{"default-src 'none'", "img-src data:", "base-uri 'none'"} {
		if !strings.Contains(policy, want) {
			t.Errorf("policy %q lacks %q", policy, want)
		}
	}
	if strings.Contains(policy, "unsafe") {
		t.Errorf("policy %q allows unsafe sources", policy)
	}
	styles := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindAllStringSubmatch(page, -1)
	if len(styles) != 1 {
		t.Fatalf("%d style elements, want 1", len(styles))
	}
	if hash := inlineHash(styles[0][1]); !strings.Contains(policy, "style-src '"+hash+"'") {
		t.Errorf("the style sheet hashes to %s, which the policy %q does not allow", hash, policy)
	}
	// The scripts: the charts' data (not run) and the two scripts that
	// draw them, each allowed by its hash; no other.
	scripts := regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1)
	var run int
	for _, sc := range scripts {
		switch sc[1] {
		case ` type="application/json" id="chart-data"`:
		case "":
			run++
			if hash := inlineHash(sc[2]); !strings.Contains(policy, "'"+hash+"'") {
				t.Errorf("a script (%.40q…) hashes to %s, which the policy %q does not allow", sc[2], hash, policy)
			}
		default:
			t.Errorf("script element <script%s>", sc[1])
		}
	}
	if len(scripts) != 3 || run != 2 {
		t.Errorf("%d script elements, %d run; want the data and the 2 scripts", len(scripts), run)
	}
	if strings.Count(policy, "'sha256-") != 3 {
		t.Errorf("policy %q: want the style sheet's and the 2 scripts' hashes", policy)
	}
	for _, banned := range []string{"<iframe", "<object", "<embed", "<link rel=\"stylesheet", "@import", " style=\"", "http-equiv=\"refresh"} {
		if strings.Contains(page, banned) {
			t.Errorf("page contains %q", banned)
		}
	}
	attrs := regexp.MustCompile(`\s(src|href|srcset|action|poster|formaction)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	for _, a := range attrs {
		if !strings.HasPrefix(a[2], "data:") {
			t.Errorf("%s=%q is not a data: URI", a[1], a[2][:min(len(a[2]), 60)])
		}
	}
	if u := regexp.MustCompile(`url\(`).FindString(styles[0][1]); u != "" {
		t.Error("the style sheet refers to a URL")
	}
}

// What a reader needs comes first, in this order; the scenario's text is
// shown, escaped.
func TestHTMLContentAndOrder(t *testing.T) {
	page := renderHTML(t, richResult(t))
	order := []string{
		"<h1>checkout under backend failure</h1>",
		`<section id="verdict" class="fail" role="status">VERDICT: FAIL<small>3 of 5 requirements failed: `,
		`<table id="requirements">`,
		`<span class="status fail">FAIL</span></td><td><code>p99(latency) &lt; 20ms for browse</code></td><td class="num">25.7ms</td><td class="num">20.0ms</td><td class="num neg">-5.68ms</td>`,
		`id="key-figures"`,
		`<h2 id="plots">`, `data-file="throughput.png"><figcaption>Throughput per second</figcaption>`, `data-file="latency-spectrum.png"><figcaption>Latency by percentile</figcaption>`,
		`<h2 id="latency">`, `<h2 id="workloads">`, `<h2 id="nodes">`,
		`<h2 id="faults">`, "<td>crash</td><td>app-2</td><td class=\"num\">20.0s</td><td class=\"num\">15.0s</td><td class=\"num\">750ms</td><td class=\"num\">2.40s</td>",
		`<h2 id="errors">`, `<h2 id="generator">`,
		`<h2 id="manifest">`, "<dt>scenario file</dt><dd>examples/checkout.yaml</dd>",
		"<dt>seed</dt><dd>42</dd>", "<dt>tool</dt><dd>ilities test</dd>",
		`<pre id="scenario">name: checkout under backend failure`,
		"# &lt;script&gt;alert(1)&lt;/script&gt; stays text",
	}
	checkInOrder(t, page, order)
}

// checkInOrder checks that each of want appears in page after the one before.
func checkInOrder(t *testing.T, page string, want []string) {
	t.Helper()
	pos := 0
	for _, w := range want {
		i := strings.Index(page[pos:], w)
		if i < 0 {
			t.Errorf("missing (or out of order) %q", w)
			continue
		}
		pos += i + len(w)
	}
}

func TestHTMLWarnsLoudly(t *testing.T) {
	page := renderHTML(t, saturatedResult())
	for _, want := range []string{
		`<p class="alert bad">GENERATOR SATURATED: send rate fell to 93.1% of the schedule (30 arrivals dropped).`,
		`<p class="alert">INCOMPLETE: the run stopped early; measured 41.2s of 60.0s.</p>`,
		`<span class="note">no workload checkout in the result</span></td><td class="num">n/a</td>`,
		"(generator saturated, run incomplete)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("missing %q", want)
		}
	}
	res := fixtureResult()
	res.Totals.Succeeded -= 7
	if page := renderHTML(t, res); !strings.Contains(page, "ACCOUNTING MISMATCH") {
		t.Error("accounting mismatch not shown")
	}
}

// A corrupt histogram costs its chart, not the page.
func TestHTMLWithACorruptHistogram(t *testing.T) {
	res := richResult(t)
	res.Histograms.Latency = "HISTFAAAA-corrupt"
	page := renderHTML(t, res)
	if !strings.Contains(page, `<p class="alert bad">Some charts could not be drawn: spectrum latency, all requests:`) {
		t.Error("the broken chart is not named")
	}
	if n := strings.Count(page, `<figure class="chart interactive`); n != 5 {
		t.Errorf("%d charts, want the 5 others", n)
	}
}

func TestHTMLWithoutAnything(t *testing.T) {
	page := renderHTML(t, &Result{SchemaVersion: SchemaVersion})
	for _, want := range []string{"(unnamed scenario)", `class="none"`, "No requirements declared", "No request completed."} {
		if !strings.Contains(page, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(page, `id="plots"`) {
		t.Error("plots section without plots")
	}
}

// Each request of a workload that sends several gets a row; each error
// class its first failure; the responses their status codes.
func TestHTMLRequestsAndFirstFailures(t *testing.T) {
	page := renderHTML(t, fixtureResult())
	order := []string{
		`<h2 id="workloads">`,
		`<h2 id="requests">`,
		`<tr><td><code>GET /item/{{products.id}}</code></td><td>browse</td><td class="num">35000</td><td class="num">581.7/s</td><td class="num">3.90ms</td><td class="num">41.0ms</td><td class="num">0.24%</td>`,
		`<tr><td><code>POST /cart</code></td><td>shoppers</td>`,
		`<h2 id="nodes">`,
		`<tr><td>timeout</td><td class="num">95</td><td class="num">52.8%</td><td>at 20.3s: no response within the timeout</td></tr>`,
		`<p class="meta">Responses by status code: 200: 47790 · 503: 60.</p>`,
	}
	checkInOrder(t, page, order)
	one := fixtureResult()
	one.Requests = one.Requests[2:] // shoppers' one request: the workloads' table says it all
	one.Workloads = one.Workloads[1:]
	if page := renderHTML(t, one); strings.Contains(page, `id="requests"`) {
		t.Error("a requests table for a workload sending one request")
	}
}
