package runner

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

func TestParseSegment(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Segment
		ok   bool
	}{
		{"1/4", Segment{1, 4}, true},
		{"4/4", Segment{4, 4}, true},
		{" 1/1 ", Segment{1, 1}, true},
		{"0/4", Segment{}, false},
		{"5/4", Segment{}, false},
		{"1/0", Segment{}, false},
		{"1-4", Segment{}, false},
		{"a/b", Segment{}, false},
		{"0+1/4", Segment{1, 4}, true},
		{"3+1/4", Segment{4, 4}, true},
		{"4+1/4", Segment{}, false},
		{"-1+1/4", Segment{}, false},
		{"+1/4", Segment{}, false},
		{"1+/4", Segment{}, false},
	} {
		got, err := ParseSegment(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSegment(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// The segments of a run take disjoint slices that add up to the whole:
// every open-loop arrival and every closed-loop user belongs to exactly
// one segment, and the merged parts count exactly what one run schedules.
func TestSegmentsAddUpToTheWholeRun(t *testing.T) {
	srv := okServer(t, 0, nil)
	poisson := openWorkload("poisson", 300)
	poisson.Arrival = "poisson"
	uniform := openWorkload("uniform", 130)
	uniform.Requests = []scenario.Request{{Method: http.MethodGet, Path: "/a", Weight: 2}, {Method: http.MethodGet, Path: "/b", Weight: 1}}
	sc := newScenario(time.Second, poisson, uniform)
	sc.Requirements = []scenario.Requirement{mustRequirement(t, "error_rate < 1%"), mustRequirement(t, `error_rate < 1% for "GET /b"`)}
	whole := run(t, sc, Options{URL: srv.URL})
	report.Evaluate(whole, sc.Requirements)

	var parts []*report.Result
	for k := 1; k <= 4; k++ {
		res := run(t, sc, Options{URL: srv.URL, Segment: Segment{k, 4}})
		report.Evaluate(res, sc.Requirements)
		checkAccounting(t, res)
		if want := (Segment{k, 4}).String(); res.Segment != want {
			t.Fatalf("segment %q", res.Segment)
		}
		parts = append(parts, res)
	}
	// The parts ran one after another here; merged as parts that started
	// together (as run --start-at makes them), or their windows would line
	// up one part's after another's.
	for _, p := range parts {
		p.Started = parts[0].Started
	}
	merged, err := report.Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	checkAccounting(t, merged)
	for i, w := range whole.Workloads {
		if got := merged.Workloads[i].Totals.Scheduled; got != w.Totals.Scheduled {
			t.Errorf("workload %s: merged parts scheduled %d, one run %d", w.Name, got, w.Totals.Scheduled)
		}
	}
	for i, r := range whole.Requests {
		m := merged.Requests[i]
		if m.Name != r.Name || m.Totals.Scheduled != r.Totals.Scheduled || m.LatencyMS.Count != m.Totals.Succeeded+m.Totals.Failed {
			t.Errorf("request %s: merged parts %s scheduled %d (latency of %d), one run %d", r.Name, m.Name, m.Totals.Scheduled, m.LatencyMS.Count, r.Totals.Scheduled)
		}
	}
	var ok int64
	for _, p := range parts {
		ok += p.StatusCodes[http.StatusOK]
	}
	if merged.StatusCodes[http.StatusOK] != ok || ok != merged.Totals.Succeeded {
		t.Errorf("merged %d responses 200, the parts %d, succeeded %d", merged.StatusCodes[http.StatusOK], ok, merged.Totals.Succeeded)
	}
	if merged.Totals.Scheduled != whole.Totals.Scheduled || merged.LatencyMS.Count != merged.Totals.Succeeded {
		t.Errorf("merged totals %+v (latency count %d), one run %+v", merged.Totals, merged.LatencyMS.Count, whole.Totals)
	}
	if merged.Verdict != report.VerdictPass || len(merged.Requirements) != 2 {
		// A part the host held back saturates its generator: the merged
		// verdict is then rightly inconclusive.
		for _, res := range parts {
			skipWhenHostDelayed(t, res, hostDelayForExactCounts)
		}
		t.Errorf("merged verdict %s %+v (%s)", merged.Verdict, merged.Requirements, merged.VerdictReason)
	}
	if strings.Join(merged.Parts, ",") != "1/4,2/4,3/4,4/4" {
		t.Errorf("parts %v", merged.Parts)
	}
}

func TestClosedUsersAreSplitBySegment(t *testing.T) {
	var conc concurrency
	srv := okServer(t, 30*time.Millisecond, &conc)
	sc := newScenario(300*time.Millisecond, closedWorkload("users", 10))
	// Users 1, 4, 7 of 0..9 belong to segment 2/3.
	res := run(t, sc, Options{URL: srv.URL, Segment: Segment{2, 3}})
	if got := conc.peak.Load(); got < 3 {
		// Three users that a starved host kept from overlapping within the
		// 300 ms run say nothing of the split; more than three would.
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	}
	if got := conc.peak.Load(); got != 3 {
		t.Errorf("segment 2/3 of 10 users ran %d at once, want 3", got)
	}
}

func TestMergeRefusesAnIncompleteSet(t *testing.T) {
	srv := okServer(t, 0, nil)
	sc := newScenario(200*time.Millisecond, openWorkload("w", 50))
	a := run(t, sc, Options{URL: srv.URL, Segment: Segment{1, 3}})
	b := run(t, sc, Options{URL: srv.URL, Segment: Segment{3, 3}})
	whole := run(t, sc, Options{URL: srv.URL})
	for _, tc := range []struct {
		name  string
		parts []*report.Result
		want  string
	}{
		{"missing", []*report.Result{a, b}, "segments 2/3 are missing"},
		{"twice", []*report.Result{a, a, b}, "given twice"},
		{"not a segment", []*report.Result{whole}, "not a segment"},
	} {
		if _, err := report.Merge(tc.parts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestLiveProgressRedrawsOneLine(t *testing.T) {
	srv := okServer(t, 0, nil)
	var out bytes.Buffer
	sc := newScenario(2200*time.Millisecond, openWorkload("w", 50))
	_, err := Run(context.Background(), sc, Options{URL: srv.URL, Progress: &out, Live: true,
		ActiveFaults: func() []string { return []string{"crash app-2"} }})
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Logf("%q", text)
	if strings.Count(text, "\r\x1b[2K") < 2 || strings.Count(text, "\n") != 1 || !strings.HasSuffix(text, "\n") {
		t.Errorf("progress %q: want a line redrawn every second, ended once", text)
	}
	if !strings.Contains(text, "/2s") || !strings.Contains(text, "req/s") || !strings.Contains(text, "faults: crash app-2") {
		t.Errorf("progress %q lacks elapsed/total, rate or faults", text)
	}
}
