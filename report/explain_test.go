package report

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// explainRun is a 20-second run of 300 arrivals a second over three nodes
// (app-1..3), each a third of the requests at 12% utilisation, with a p99
// latency of 20 ms and a quiet apparatus; shape changes a window (and its
// apparatus window) to make a case.
func explainRun(shape func(t int, w *Window, aw *ApparatusWindow)) *Result {
	res := &Result{MeasuredS: 20, WindowOK: 0.99, Apparatus: &Apparatus{}}
	for t := range 20 {
		w := Window{T: t, Scheduled: 300, Succeeded: 300, ThroughputRPS: 300,
			LatencyMS:   WindowLatency{P50: 4, P90: 12, P99: 20 + float64(t%3), Max: 30},
			Nodes:       map[string]int64{},
			Utilisation: map[string]float64{},
			Proxy:       map[string]ProxyWindow{},
		}
		for i, node := range []string{"app-1", "app-2", "app-3"} {
			w.Nodes[node] = 100
			w.Utilisation[node] = 0.12 + 0.01*float64((t+i)%2)
			w.Proxy[node] = ProxyWindow{Requests: 100, Inflight: int64((t + i) % 2), Healthy: true}
		}
		aw := ApparatusWindow{T: t, DelayMS: 0.05 + 0.01*float64(t%2)}
		if shape != nil {
			shape(t, &w, &aw)
		}
		res.Windows = append(res.Windows, w)
		res.Apparatus.Windows = append(res.Apparatus.Windows, aw)
	}
	res.Nodes = []Node{{Name: "app-1"}, {Name: "app-2"}, {Name: "app-3"}}
	return res
}

// failed is a verdict that missed text, its threshold as given.
func failed(text string, threshold float64, unit string) Verdict {
	return Verdict{Text: text, Threshold: threshold, Unit: unit, Status: VerdictFail}
}

func TestExplain(t *testing.T) {
	slowFrom5 := func(t int, w *Window, _ *ApparatusWindow) {
		if t < 5 {
			return
		}
		w.LatencyMS.P99 = 150 + 60*float64(t-5)
		w.Utilisation["app-3"] = 1
		p := w.Proxy["app-3"]
		p.Inflight = int64(10 * (t - 4))
		w.Proxy["app-3"] = p
	}
	crashed10to15 := func(t int, w *Window, _ *ApparatusWindow) {
		if t < 10 || t >= 15 {
			return
		}
		w.Succeeded, w.Failed = 200, 100
		w.Errors = map[string]int64{"5xx": 100}
		w.Utilisation["app-2"] = 0
		p := w.Proxy["app-2"]
		p.Failures = 100
		w.Proxy["app-2"] = p
	}
	delayed := func(t int, w *Window, aw *ApparatusWindow) {
		if t == 3 || t == 4 || t == 12 {
			aw.DelayMS = 90
			w.LatencyMS.P99 = 110
		}
	}
	unexplained := func(t int, w *Window, _ *ApparatusWindow) {
		if t == 6 || t == 13 {
			w.LatencyMS.P99 = 80
		}
	}
	cases := []struct {
		name    string
		res     *Result
		verdict Verdict
		// first is the first cause's kind and subject; also, more kinds and
		// subjects among the causes; none: no cause at all.
		first       [2]string
		also        [][2]string
		spans       []BreachSpan
		breached    int
		noteHas     string
		seriesHas   string
		figuresHave []string
	}{
		{
			name: "slow node", verdict: failed("p99(latency) < 60ms", 60, "ms"),
			res: func() *Result {
				r := explainRun(slowFrom5)
				r.Faults = []Fault{{Kind: "slow", Node: "app-3", AtS: 5, DetectionTimeS: -1}}
				return r
			}(),
			first:       [2]string{CauseFault, "slow app-3"},
			also:        [][2]string{{CauseUtilisation, "app-3"}, {CauseQueue, "app-3"}},
			spans:       []BreachSpan{{5, 20}},
			breached:    15,
			seriesHas:   "p99(latency) per window: 20.8ms outside the breach, 570ms during it, worst 990ms at 19s",
			figuresHave: []string{"slow app-3 in effect from 5.00s to the end, in 15 of 15 breached windows and 0 of 5 others", "app-3 utilisation 12.4% outside the breach, 100.0% during it"},
		},
		{
			name: "crashed node", verdict: failed("error_rate < 1%", 0.01, "%"),
			res: func() *Result {
				r := explainRun(crashed10to15)
				r.Faults = []Fault{{Kind: "crash", Node: "app-2", AtS: 10, ForS: 5, EndS: 15, DetectionTimeS: -1, RecoveryTimeS: 5}}
				return r
			}(),
			first:       [2]string{CauseFault, "crash app-2"},
			also:        [][2]string{{CauseErrors, "app-2"}},
			spans:       []BreachSpan{{10, 15}},
			breached:    5,
			figuresHave: []string{"crash app-2 in effect from 10.0s to 15.0s", "app-2 failed or rejected at the proxy 0.0/s outside the breach, 100.0/s during it"},
		},
		{
			name: "generator delayed", verdict: Verdict{Text: "p99(latency) < 100ms", Threshold: 100, Unit: "ms", Status: VerdictInconclusive},
			res:         explainRun(delayed),
			first:       [2]string{CauseApparatus, "tool"},
			spans:       []BreachSpan{{3, 5}, {12, 13}},
			breached:    3,
			figuresHave: []string{"the tool's own delay", "up to 90.0ms"},
		},
		{
			name: "no cause found", verdict: failed("p99(latency) < 60ms", 60, "ms"),
			res:      explainRun(unexplained),
			spans:    []BreachSpan{{6, 7}, {13, 14}},
			breached: 2,
			noteHas:  "nothing the result records",
		},
		{
			name: "a count: windows that count any", verdict: failed("failed == 0", 0, "count"),
			res: func() *Result {
				r := explainRun(crashed10to15)
				r.Faults = []Fault{{Kind: "crash", Node: "app-2", AtS: 10, ForS: 5, EndS: 15}}
				return r
			}(),
			first:    [2]string{CauseFault, "crash app-2"},
			spans:    []BreachSpan{{10, 15}},
			breached: 5,
		},
		{
			name: "every window alike", verdict: failed("throughput > 400/s", 400, "/s"),
			res:     explainRun(nil),
			spans:   []BreachSpan{{0, 20}},
			noteHas: "every window alike", breached: 20,
		},
		{
			name: "no window breached on its own: the worse half", verdict: failed("p99(latency) < 22ms", 22, "ms"),
			res: func() *Result {
				r := explainRun(func(t int, w *Window, aw *ApparatusWindow) {
					w.LatencyMS.P99 = 15
					if t >= 10 {
						w.LatencyMS.P99, aw.DelayMS = 21, 8
					}
				})
				return r
			}(),
			first:       [2]string{CauseApparatus, "tool"},
			figuresHave: []string{"in the worse half"},
		},
		{
			name: "not measured per window", verdict: failed("single_points_of_failure == 0", 0, "count"),
			res:     explainRun(nil),
			noteHas: "not measured per window",
		},
		{
			name: "a fault that never recovered: its span", verdict: Verdict{Text: "recovery_time < 2s", Threshold: 2000, Unit: "ms", Status: VerdictFail, Note: "did not recover within the run: crash app-2 at 10.0s"},
			res: func() *Result {
				r := explainRun(crashed10to15)
				r.Faults = []Fault{{Kind: "crash", Node: "app-2", AtS: 10, RecoveryTimeS: -1}}
				return r
			}(),
			first:    [2]string{CauseFault, "crash app-2"},
			spans:    []BreachSpan{{10, 20}},
			breached: 10,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.res.Requirements = []Verdict{{Text: "error_rate < 5%", Status: VerdictPass, Pass: true}, tc.verdict}
			es := Explain(tc.res)
			if len(es) != 1 {
				t.Fatalf("%d explanations, want 1 (the passed requirement has none): %+v", len(es), es)
			}
			e := es[0]
			if e.Requirement != tc.verdict.Text || e.Status != tc.verdict.Status {
				t.Errorf("explains %q (%s), want %q (%s)", e.Requirement, e.Status, tc.verdict.Text, tc.verdict.Status)
			}
			if !reflect.DeepEqual(e.Spans, tc.spans) || e.Breached != tc.breached {
				t.Errorf("breached %d in %+v, want %d in %+v", e.Breached, e.Spans, tc.breached, tc.spans)
			}
			if tc.noteHas != "" && !strings.Contains(e.Note, tc.noteHas) {
				t.Errorf("note %q, want it to say %q", e.Note, tc.noteHas)
			}
			if !strings.Contains(e.Series, tc.seriesHas) {
				t.Errorf("series %q, want it to say %q", e.Series, tc.seriesHas)
			}
			if tc.first == [2]string{} {
				if len(e.Causes) > 0 {
					t.Errorf("causes %+v, want none", e.Causes)
				}
				return
			}
			if len(e.Causes) == 0 {
				t.Fatalf("no cause, want %v first (note %q)", tc.first, e.Note)
			}
			if got := [2]string{e.Causes[0].Kind, e.Causes[0].Subject}; got != tc.first {
				t.Errorf("first cause %v, want %v; all: %+v", got, tc.first, e.Causes)
			}
			var figures []string
			for i, c := range e.Causes {
				figures = append(figures, c.Figures)
				if c.Score < minCauseScore || (i > 0 && c.Score > e.Causes[i-1].Score) {
					t.Errorf("cause %d scores %.2f: below %.2f or out of order: %+v", i, c.Score, minCauseScore, e.Causes)
				}
			}
			for _, want := range tc.also {
				if !hasCause(e.Causes, want) {
					t.Errorf("no cause %v among %+v", want, e.Causes)
				}
			}
			all := strings.Join(figures, "\n")
			for _, want := range tc.figuresHave {
				if !strings.Contains(all, want) {
					t.Errorf("figures\n%s\nwant them to say %q", all, want)
				}
			}
		})
	}
}

func hasCause(cs []Cause, want [2]string) bool {
	for _, c := range cs {
		if c.Kind == want[0] && c.Subject == want[1] {
			return true
		}
	}
	return false
}

// A requirement that was not observed at all is explained by its note
// alone: no window can say more.
func TestExplainLeavesTheUnobservedToTheirNote(t *testing.T) {
	res := explainRun(nil)
	res.Requirements = []Verdict{{Text: "p99(latency) < 60ms for checkout", Threshold: 60, Unit: "ms", Status: VerdictFail, Note: "no workload checkout in the result"}}
	if es := Explain(res); len(es) != 0 {
		t.Errorf("explanations %+v, want none", es)
	}
}

// A strategy that moves the requests away from a node shows as one cause,
// the share shift, named after the node that moved most.
func TestExplainNamesTheShareShift(t *testing.T) {
	res := explainRun(func(t int, w *Window, _ *ApparatusWindow) {
		if t < 8 {
			return
		}
		w.LatencyMS.P99 = 90
		for node, n := range map[string]int64{"app-1": 140, "app-2": 140, "app-3": 20} {
			p := w.Proxy[node]
			p.Requests = n
			w.Proxy[node] = p
		}
	})
	res.Requirements = []Verdict{failed("p99(latency) < 60ms", 60, "ms")}
	es := Explain(res)
	var shares []Cause
	for _, c := range es[0].Causes {
		if c.Kind == CauseShare {
			shares = append(shares, c)
		}
	}
	if len(shares) != 1 || shares[0].Subject != "app-3" {
		t.Fatalf("share causes %+v, want one, for app-3", shares)
	}
	for _, want := range []string{"app-3 33.3% → 6.7%", "app-1 33.3% → 46.7%"} {
		if !strings.Contains(shares[0].Figures, want) {
			t.Errorf("figures %q, want %q", shares[0].Figures, want)
		}
	}
}

// Decide keeps the explanations with the verdict, and result.json carries
// them.
func TestDecideExplainsAndJSONKeepsIt(t *testing.T) {
	res := explainRun(func(t int, w *Window, _ *ApparatusWindow) {
		if t >= 5 {
			w.LatencyMS.P99, w.Utilisation["app-3"] = 200, 1
		}
	})
	res.Faults = []Fault{{Kind: "slow", Node: "app-3", AtS: 5}}
	res.Requirements = []Verdict{failed("p99(latency) < 60ms", 60, "ms")}
	Decide(res, false)
	if len(res.Explanations) != 1 || len(res.Explanations[0].Causes) == 0 {
		t.Fatalf("explanations %+v, want one with causes", res.Explanations)
	}
	var buf strings.Builder
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Explanations []Explanation `json:"explanations"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Explanations, res.Explanations) {
		t.Errorf("result.json's explanations %+v, want %+v", back.Explanations, res.Explanations)
	}
	res.Requirements[0] = Verdict{Text: "p99(latency) < 60ms", Status: VerdictPass, Pass: true}
	Decide(res, false)
	if res.Explanations != nil {
		t.Errorf("a pass explained: %+v", res.Explanations)
	}
}

// explainedSlowNode is a slow node's run, decided: app-3 slow from 5 s,
// its utilisation at 100% and p99 at 200 ms from then on.
func explainedSlowNode() *Result {
	res := explainRun(func(t int, w *Window, _ *ApparatusWindow) {
		if t >= 5 {
			w.LatencyMS.P99, w.Utilisation["app-3"] = 200, 1
		}
	})
	res.Scenario, res.Seed, res.Strategy, res.Tool = "slow-node", 13, "round-robin", "ilities test"
	res.Faults = []Fault{{Kind: "slow", Node: "app-3", AtS: 5}}
	v := failed("p99(latency) < 60ms", 60, "ms")
	v.Observed, v.Margin = 200, -140
	res.Requirements = []Verdict{v}
	Decide(res, false)
	return res
}

// Every renderer puts the explanation near its top: the terminal right
// under the verdict, Markdown under its line, HTML under the banner and
// before any table, JUnit in the failure's message and body.
func TestRenderersShowTheExplanation(t *testing.T) {
	res := explainedSlowNode()
	render := func(r Renderer) string {
		var b strings.Builder
		if err := r(&b, res); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	const why = "p99(latency) < 60ms failed: breached in 15 of 20 windows, 5s–20s"
	text := render(WriteText)
	lines := strings.Split(text, "\n")
	if !strings.HasPrefix(lines[0], "VERDICT: FAIL") || lines[2] != "  why "+why || !strings.Contains(lines[4], "1. fault: slow app-3") {
		t.Errorf("terminal report begins\n%s", strings.Join(lines[:6], "\n"))
	}
	checkGolden(t, "text_explained.golden", []byte(text))
	md := render(WriteMarkdown)
	checkGolden(t, "summary_explained.golden.md", []byte(md))
	if i, j := strings.Index(md, "**Why p99(latency) &lt; 60ms failed"), strings.Index(md, "| | requirement"); i < 0 || j < i || !strings.Contains(md, "1. fault: slow app-3") {
		t.Errorf("markdown lacks the explanation before its tables:\n%s", md)
	}
	html := render(WriteHTML)
	if i, j := strings.Index(html, `<section id="why"`), strings.Index(html, "<table"); i < 0 || j < i || i < strings.Index(html, `id="verdict"`) {
		t.Errorf("report.html lacks the explanation between the banner and the first table")
	}
	if !strings.Contains(html, "fault: slow app-3 in effect from 5.00s") {
		t.Errorf("report.html does not name the fault")
	}
	junit := render(WriteJUnit)
	for _, want := range []string{`message="observed 200ms, threshold 60.0ms, margin -140ms; breached in 15 of 20 windows, 5s–20s; with fault slow app-3, utilisation app-3" type="RequirementFailed"`, "why: " + why} {
		if !strings.Contains(junit, want) {
			t.Errorf("junit.xml lacks %q", want)
		}
	}
}
