package report

import (
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

func TestMergeKeepsCountsExactAndSamplesBounded(t *testing.T) {
	samples := func(ats ...float64) []ErrorSample {
		out := make([]ErrorSample, len(ats))
		for i, at := range ats {
			out[i] = ErrorSample{AtS: at, Message: "reset"}
		}
		return out
	}
	a := statsPart(t, 30, false)
	a.StatusCodes = map[int]int64{200: 28, 503: 2}
	a.ErrorSamples = map[string][]ErrorSample{"5xx": samples(1, 2), "reset": samples(1, 3, 5, 9)}
	b := statsPart(t, 20, false)
	b.StatusCodes = map[int]int64{200: 19, 404: 1}
	b.ErrorSamples = map[string][]ErrorSample{"reset": samples(0.5, 2, 4, 7)}
	out, err := mergeStats([]*Stats{a, b}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[int]int64{200: 47, 503: 2, 404: 1}; len(out.StatusCodes) != len(want) ||
		out.StatusCodes[200] != 47 || out.StatusCodes[503] != 2 || out.StatusCodes[404] != 1 {
		t.Errorf("status codes %v, want %v", out.StatusCodes, want)
	}
	cases := []struct {
		class string
		want  []float64
	}{
		{"reset", []float64{0.5, 1, 2, 9}}, // the earliest three and the latest
		{"5xx", []float64{1, 2}},
	}
	for _, c := range cases {
		got := out.ErrorSamples[c.class]
		if len(got) != len(c.want) {
			t.Fatalf("%s samples %+v, want at %v", c.class, got, c.want)
		}
		for i, at := range c.want {
			if got[i].AtS != at {
				t.Errorf("%s samples %+v, want at %v", c.class, got, c.want)
				break
			}
		}
	}
	if len(a.ErrorSamples["reset"]) != 4 || a.ErrorSamples["reset"][0].AtS != 1 {
		t.Errorf("merging changed a part's samples: %+v", a.ErrorSamples["reset"])
	}
}

func TestRequirementTextQuotesARequest(t *testing.T) {
	cases := []struct {
		req  scenario.Requirement
		want string
	}{
		{scenario.Requirement{Metric: "latency", Agg: "p95", Op: "<", Threshold: 300, Unit: scenario.UnitDuration, Scope: "POST /cart", RequestScope: true}, `p95(latency) < 300ms for "POST /cart"`},
		{scenario.Requirement{Metric: "failed", Op: "==", Threshold: 0, Unit: scenario.UnitCount, Scope: "browse"}, `failed == 0 for browse`},
	}
	for _, c := range cases {
		got := RequirementText(c.req)
		if got != c.want {
			t.Errorf("RequirementText = %q, want %q", got, c.want)
		}
		back, err := scenario.ParseRequirement(got)
		if err != nil || back.Scope != c.req.Scope || back.RequestScope != c.req.RequestScope {
			t.Errorf("%q reads back as scope %q (request %v), %v", got, back.Scope, back.RequestScope, err)
		}
	}
}

// A workload that sends one request has the workload's figures: no
// requests table repeats them.
func TestNoRequestsTableForOneRequestPerWorkload(t *testing.T) {
	res := fixtureResult()
	res.Requests = []RequestResult{{Name: "GET /", Workload: "browse", Stats: res.Workloads[0].Stats},
		{Name: "GET /", Workload: "shoppers", Stats: res.Workloads[1].Stats}}
	for name, write := range map[string]Renderer{"text": WriteText, "markdown": WriteMarkdown} {
		var buf strings.Builder
		if err := write(&buf, res); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), "GET /") {
			t.Errorf("%s lists the requests:\n%s", name, buf.String())
		}
	}
}

// A requirement relative to a baseline reads the same request's figure in
// the baseline run.
func TestBaselineRequirementOfARequest(t *testing.T) {
	withCart := func(p95 float64) *Result {
		res := fixtureResult()
		res.Requests[2].LatencyMS.P95 = p95
		return res
	}
	req, err := scenario.ParseRequirement(`p95(latency) <= baseline * 1.10 for "POST /cart"`)
	if err != nil {
		t.Fatal(err)
	}
	run := withCart(230)
	EvaluateAgainst(run, []scenario.Requirement{req}, withCart(200))
	v := run.Requirements[0]
	if v.Status != VerdictFail || v.Observed != 230 || !nearlyEqual(v.Threshold, 220) || v.Baseline == nil || *v.Baseline != 200 {
		t.Errorf("verdict %+v, want a fail: 230ms observed against 200ms × 1.10", v)
	}
}
