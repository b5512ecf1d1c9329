package report

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"image/png"
	"io"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

var (
	//go:embed html.tmpl
	htmlTemplateText string
	//go:embed html.css
	htmlCSS string
	// The chart library, uPlot (MIT, uplot/LICENSE), as published, and the
	// page's own script that draws the charts with it.
	//go:embed uplot/uPlot.iife.min.js
	uPlotJS string
	//go:embed uplot/uPlot.min.css
	uPlotCSS string
	//go:embed html_charts.js
	chartsJS string

	htmlTemplate = template.Must(template.New("report.html").Parse(htmlTemplateText))

	// pageCSS is the page's one style sheet: uPlot's, then the page's.
	pageCSS = uPlotCSS + "\n" + htmlCSS
	// pageScripts are the page's inline scripts, in order.
	pageScripts = []template.JS{template.JS(uPlotJS), template.JS(chartsJS)}
)

// htmlCSP is the page's Content Security Policy: nothing may load from
// anywhere (no font, frame or connection), images only from data: URIs,
// styles only from the one inline style sheet and scripts only from the
// page's own inline scripts, each by its hash.
var htmlCSP = "default-src 'none'; img-src data:; style-src '" + inlineHash(pageCSS) +
	"'; script-src '" + inlineHash(uPlotJS) + "' '" + inlineHash(chartsJS) + "'; base-uri 'none'; form-action 'none'"

// inlineHash is the CSP source expression of an inline style sheet or
// script.
func inlineHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// WriteHTML writes report.html: one self-contained page (interactive
// charts drawn by the embedded chart library from data in the page, other
// images as data: URIs, one inline style sheet, nothing fetched) that
// works offline and under a strict Content Security Policy. The verdict
// and each requirement with its observed value and margin come first; then
// the key figures, the plots, latency, workloads, nodes, faults, errors,
// the generator's health and the run manifest with the scenario itself.
//
// A chart that cannot be drawn (a corrupt histogram in a hand-edited or
// merged result) is named on the page instead of costing the whole page.
func WriteHTML(w io.Writer, res *Result) error {
	figs, err := Figures(res)
	page, perr := newHTMLPage(res, figs)
	if perr != nil {
		return perr
	}
	if err != nil {
		page.ChartError = err.Error()
	}
	return htmlTemplate.Execute(w, page)
}

// HTMLRenderer returns a Renderer that writes report.html with figures
// already drawn (WriteFiles draws the charts once for both the PNG files
// and the page).
func HTMLRenderer(figs []Figure) Renderer {
	return func(w io.Writer, res *Result) error { return WriteHTMLWith(w, res, figs) }
}

// WriteHTMLWith writes report.html with the given figures.
func WriteHTMLWith(w io.Writer, res *Result, figs []Figure) error {
	page, err := newHTMLPage(res, figs)
	if err != nil {
		return err
	}
	return htmlTemplate.Execute(w, page)
}

// htmlPage is what the template shows, every figure already formatted.
type htmlPage struct {
	CSP           string
	CSS           template.CSS
	Tool          string
	Name          string
	About         []string
	Verdict       string
	VerdictWord   string
	VerdictClass  string
	VerdictDetail string
	Explanations  []Explanation // why each requirement missed, under the verdict
	Alerts        []htmlAlert
	Requirements  []htmlRequirement
	KeyFigures    []htmlPair
	Charts        []htmlChart
	ChartError    string
	ChartData     template.JS   // the interactive charts' data, JSON
	Scripts       []template.JS // the scripts that draw them
	Latency       []htmlLatencyRow
	Workloads     []htmlWorkload
	Requests      []htmlWorkload // shown when a workload sends several
	Topology      template.HTML  // the infrastructure drawn, as SVG
	Tiers         *htmlTable
	SinglePoints  []htmlPair // label, why
	NoSPOF        bool       // a built-in SUT without any
	Projection    *htmlTable
	Availability  string // the service's projected availability
	Nodes         []htmlNode
	NodePools     bool // the nodes' pools and states are known
	Fairness      string
	Faults        []htmlFault
	Errors        []htmlErrorClass
	StatusCodes   string
	Generator     []htmlPair
	Manifest      []htmlPair
	ScenarioYAML  string
}

type htmlAlert struct {
	Text string
	Bad  bool
}

type htmlRequirement struct {
	Pass                        bool
	Status                      string // pass, fail, inconclusive
	Text, Note                  string
	Observed, Threshold, Margin string
	Negative                    bool
}

type htmlPair struct{ Label, Value string }

// htmlChart is a chart of the page: drawn by the page's script from
// ChartData[Index] when Interactive (Time: over the run's time), else its
// PNG.
type htmlChart struct {
	Title         string
	File          string
	Src           template.URL
	Width, Height int
	Interactive   bool
	Time          bool
	Index         int
}

type htmlLatencyRow struct{ Label, Latency, Service string }

// htmlWorkload is a row of the workloads' or the requests' table.
type htmlWorkload struct {
	Name, Workload, Scheduled, Throughput, P50, P99, ErrorRate, Availability string
}

func htmlScopeRow(name, workload string, s *Stats) htmlWorkload {
	return htmlWorkload{
		Name: name, Workload: workload, Scheduled: formatCount(s.Totals.Scheduled),
		Throughput: FormatValue(s.ThroughputRPS, scenario.UnitRate),
		P50:        latencyCell(s.LatencyMS, s.LatencyMS.P50), P99: latencyCell(s.LatencyMS, s.LatencyMS.P99),
		ErrorRate: FormatValue(s.ErrorRate, scenario.UnitPercent), Availability: FormatValue(s.Availability.Requests, scenario.UnitPercent),
	}
}

// htmlTable is a table of formatted cells; Numeric marks the columns
// aligned right.
type htmlTable struct {
	Header  []string
	Numeric []bool
	Rows    [][]string
	Notes   []string
}

type htmlNode struct{ Name, Pool, State, Requests, Share, Weight, Utilisation string }

type htmlFault struct{ Kind, Node, At, For, Detected, Recovered string }

type htmlErrorClass struct{ Class, Count, Share, First string }

func newHTMLPage(res *Result, figs []Figure) (*htmlPage, error) {
	ms := func(v float64) string { return FormatValue(v, scenario.UnitDuration) }
	pct := func(v float64) string { return FormatValue(v, scenario.UnitPercent) }
	rate := func(v float64) string { return FormatValue(v, scenario.UnitRate) }
	p := &htmlPage{
		CSP:  htmlCSP,
		CSS:  template.CSS(pageCSS),
		Tool: res.Tool,
		Name: res.Scenario,
	}
	if p.Tool == "" {
		p.Tool = "ilities"
	}
	if p.Name == "" {
		p.Name = "(unnamed scenario)"
	}
	if res.Mode != "" {
		p.About = append(p.About, res.Mode)
	}
	if res.Target != "" {
		p.About = append(p.About, "target "+res.Target)
	}
	if res.Strategy != "" {
		p.About = append(p.About, "strategy "+res.Strategy)
	}
	p.About = append(p.About, fmt.Sprintf("seed %d", res.Seed), measuredText(res))
	if res.WarmupS > 0 {
		p.About = append(p.About, "after a warm-up of "+formatSeconds(res.WarmupS)+" (not counted)")
	}
	if !res.Started.IsZero() {
		p.About = append(p.About, "started "+res.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	}

	// The banner: verdict word, then why.
	summary := verdictSummary(res)
	word, detail, _ := strings.Cut(summary, " - ")
	if res.Verdict != VerdictPass && res.VerdictReason != "" {
		detail += ": " + res.VerdictReason
	}
	p.Verdict, p.VerdictWord, p.VerdictDetail = word, word, detail
	p.Explanations = res.Explanations
	switch res.Verdict {
	case VerdictPass:
		p.VerdictClass = "pass"
	case VerdictFail:
		p.VerdictClass = "fail"
	case VerdictInconclusive:
		p.VerdictClass = "inconclusive"
	default:
		p.VerdictClass = "none"
	}
	if res.Generator.Saturated {
		reason := res.Generator.Reason
		if reason == "" {
			reason = "the generator could not keep to the schedule"
		}
		banner, _, _ := res.Generator.SaturationTitle()
		p.Alerts = append(p.Alerts, htmlAlert{Bad: true, Text: fmt.Sprintf(
			"%s: %s (%d arrivals dropped). The figures understate the load.", banner, reason, res.Totals.Dropped)})
	}
	if m := accountingMismatch(res.Totals); m != "" {
		p.Alerts = append(p.Alerts, htmlAlert{Bad: true, Text: m})
	}
	if res.Incomplete {
		p.Alerts = append(p.Alerts, htmlAlert{Text: "INCOMPLETE: the run stopped early; " + measuredText(res) + "."})
	}

	for _, v := range res.Requirements {
		unit := scenario.Unit(v.Unit)
		note := v.Note
		if v.Why != "" {
			note = strings.TrimPrefix(note+"; "+v.Why, "; ")
		}
		r := htmlRequirement{
			Pass: v.Pass, Status: strings.ToLower(statusWord(v)), Text: v.Text, Note: note,
			Observed: FormatValue(v.Observed, unit), Threshold: FormatValue(v.Threshold, unit),
			Margin: FormatMargin(v.Margin, unit), Negative: v.Margin < 0 || !v.Pass,
		}
		if v.Unobserved() {
			r.Observed, r.Margin = "n/a", "-"
		}
		p.Requirements = append(p.Requirements, r)
	}

	s := &res.Stats
	p99 := "-"
	if s.LatencyMS.Count > 0 {
		p99 = ms(s.LatencyMS.P99)
	}
	p.KeyFigures = []htmlPair{
		{"throughput (target " + rate(s.TargetRPS) + ")", rate(s.ThroughputRPS)},
		{"p99 latency", p99},
		{"availability (" + pct(s.Availability.Time) + " of time)", pct(s.Availability.Requests)},
		{"error rate", pct(s.ErrorRate)},
		{fmt.Sprintf("scheduled = %d succeeded + %d failed + %d dropped", s.Totals.Succeeded, s.Totals.Failed, s.Totals.Dropped), formatCount(s.Totals.Scheduled)},
	}

	if err := p.charts(figs); err != nil {
		return nil, err
	}

	lat, svc := s.LatencyMS, s.ServiceLatencyMS
	if lat.Count > 0 || svc.Count > 0 {
		cell := func(pc Percentiles, v float64) string {
			if pc.Count == 0 {
				return "-"
			}
			return ms(v)
		}
		for _, agg := range []string{"p50", "p90", "p95", "p99", "p999", "p9999", "max", "mean"} {
			get := percentileAggregations[agg]
			p.Latency = append(p.Latency, htmlLatencyRow{scenario.AggregationLabel(agg), cell(lat, get(lat)), cell(svc, get(svc))})
		}
	}

	for _, w := range res.Workloads {
		p.Workloads = append(p.Workloads, htmlScopeRow(w.Name, "", &w.Stats))
	}
	if requestsShown(res) {
		for _, r := range res.Requests {
			p.Requests = append(p.Requests, htmlScopeRow(r.Name, r.Workload, &r.Stats))
		}
	}
	p.infrastructure(res)
	p.NodePools = res.Topology != nil
	states := NodeStates(res.Faults)
	for _, n := range res.Nodes {
		state := ""
		if p.NodePools {
			state = cmp.Or(states[n.Name], NodeUp)
		}
		if n.Role != "" {
			state += ", " + n.Role
		}
		p.Nodes = append(p.Nodes, htmlNode{n.Name, n.Pool, state, formatCount(n.Requests), formatShare(n.Share), nodeWeight(n), nodeUtilisation(n)})
	}
	if res.Fairness > 0 {
		p.Fairness = strconv.FormatFloat(res.Fairness, 'f', 3, 64)
	}
	for _, f := range res.Faults {
		row := faultRow(res, f)
		p.Faults = append(p.Faults, htmlFault{row[0], row[1], row[2], row[3], row[4], row[5]})
	}
	for _, c := range ErrorClassesByCount(s.Errors) {
		share := "-"
		if s.Totals.Failed > 0 {
			share = formatShare(float64(c.Count) / float64(s.Totals.Failed))
		}
		p.Errors = append(p.Errors, htmlErrorClass{c.Class, formatCount(c.Count), share, firstSample(s.ErrorSamples[c.Class])})
	}
	p.StatusCodes = statusCodesText(s.StatusCodes, " · ")

	g := res.Generator
	state := "kept to the schedule"
	if g.Saturated {
		state = "SATURATED: " + g.Reason
	}
	p.Generator = []htmlPair{
		{"state", state},
		{"dropped arrivals (never sent)", formatCount(s.Totals.Dropped)},
		{"late arrivals (sent more than 1ms after their time)", formatCount(s.Totals.Late)},
	}
	if lag := g.SendLagMS; lag.Count > 0 {
		p.Generator = append(p.Generator,
			htmlPair{"send lag p50", ms(lag.P50)}, htmlPair{"send lag p99", ms(lag.P99)}, htmlPair{"send lag max", ms(lag.Max)})
	}
	if g.CPUSeconds > 0 {
		p.Generator = append(p.Generator, htmlPair{"CPU time of the process (with the built-in SUT, includes it)", formatSeconds(g.CPUSeconds)})
	}
	if g.CPUPerRequestUS > 0 {
		p.Generator = append(p.Generator, htmlPair{"CPU per request sent", strconv.FormatFloat(g.CPUPerRequestUS, 'f', 1, 64) + "µs"})
	}
	if !g.Saturated && g.Reason != "" {
		p.Generator = append(p.Generator, htmlPair{"lateness", g.Reason})
	}
	if a := apparatusSummary(res); a != "" {
		p.Generator = append(p.Generator, htmlPair{"apparatus: the tool's own delays and the machine's load", a})
	}

	m := res.Manifest
	add := func(label, value string) {
		if value != "" {
			p.Manifest = append(p.Manifest, htmlPair{label, value})
		}
	}
	add("scenario", p.Name)
	add("scenario file", m.ScenarioFile)
	add("seed", strconv.FormatInt(res.Seed, 10))
	add("strategy", res.Strategy)
	add("target", res.Target)
	add("mode", res.Mode)
	if m.Simulation != nil {
		add("simulation model", m.Simulation.String())
	}
	add("tool", res.Tool)
	if !res.Started.IsZero() {
		add("started", res.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	add("duration", measuredText(res))
	add("Go", m.GoVersion)
	add("platform", m.Platform)
	if m.CPUs > 0 {
		add("CPUs", strconv.Itoa(m.CPUs))
	}
	if m.GOMAXPROCS > 0 {
		add("GOMAXPROCS", strconv.Itoa(m.GOMAXPROCS))
	}
	add("result schema", strconv.Itoa(res.SchemaVersion))
	p.ScenarioYAML = m.ScenarioYAML
	return p, nil
}

// charts fills the page's plots: each chart with data as an interactive
// chart (its data in ChartData, drawn by the page's scripts), any other
// as its PNG. The drawing of the infrastructure is left out: the page
// draws it itself, as SVG.
func (p *htmlPage) charts(figs []Figure) error {
	var data []*chartData
	for _, f := range figs {
		if f.File == TopologyFile {
			continue
		}
		if f.data != nil {
			p.Charts = append(p.Charts, htmlChart{Title: f.Title, File: f.File, Interactive: true, Time: f.data.Kind == "time", Index: len(data)})
			data = append(data, f.data)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(f.PNG))
		if err != nil {
			return fmt.Errorf("%s: %w", f.File, err)
		}
		p.Charts = append(p.Charts, htmlChart{
			Title: f.Title, File: f.File,
			// A data: URI of our own PNG bytes: safe by construction.
			Src:   template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(f.PNG)),
			Width: cfg.Width, Height: cfg.Height,
		})
	}
	if len(data) == 0 {
		return nil
	}
	// encoding/json writes <, > and & as \u escapes: the data cannot end
	// its script element.
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("the charts' data: %w", err)
	}
	p.ChartData, p.Scripts = template.JS(b), pageScripts
	return nil
}

// infrastructure fills the page's drawing of the SUT, its tier table, its
// single points of failure and its projected availability: the figures
// the terminal and Markdown reports show, from the same rows.
func (p *htmlPage) infrastructure(res *Result) {
	p.Topology = template.HTML(topologySVG(res)) // escaped as it is written
	if len(res.Tiers) > 0 {
		t := &htmlTable{Header: tierHeader, Numeric: []bool{false, false, true, true, true, true, true, true}}
		for _, tier := range res.Tiers {
			t.Rows = append(t.Rows, tierRow(tier))
		}
		t.Notes = append([]string{tierShares(res)}, tierNotes(res.Tiers)...)
		p.Tiers = t
	}
	for _, sp := range res.SinglePointsOfFailure {
		p.SinglePoints = append(p.SinglePoints, htmlPair{sp.Label(), sp.Why})
	}
	p.NoSPOF = res.SinglePointsOfFailure != nil && len(res.SinglePointsOfFailure) == 0
	if pr := res.Projection; pr != nil {
		p.Projection = &htmlTable{Header: projectionHeader, Numeric: []bool{false, true, true, true, true},
			Rows: projectionRows(pr), Notes: projectionNotes(pr)}
		p.Availability = fmt.Sprintf("%s (downtime %s a year)", formatFraction(pr.Service.Availability), formatSpan(pr.Service.DowntimePerYearS))
	}
}

// measuredText is "measured 60.0s", or "measured 41.2s of 60.0s" for a run
// that stopped early.
func measuredText(res *Result) string {
	s := "measured " + formatSeconds(res.MeasuredS)
	if res.DurationS > 0 && !nearlyEqual(res.DurationS, res.MeasuredS) {
		s += " of " + formatSeconds(res.DurationS)
	}
	return s
}
