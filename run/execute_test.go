package run

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

const builtInScenario = `
name: determinism
seed: 11
duration: 2s
sut:
  pools:
    - name: app
      backends:
        - {name: a, workers: 4, service_time: {dist: exponential, mean: 2ms}}
        - {name: b, workers: 4, service_time: {dist: exponential, mean: 2ms}}
        - {name: c, workers: 4, service_time: {dist: exponential, mean: 2ms}}
workload:
  - name: w
    rate: 150/s
requirements:
  - error_rate < 1%
`

// mustParse parses a scenario the test wrote.
func mustParse(t *testing.T, file, text string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func nodeCounts(res *report.Result) map[string]int64 {
	out := map[string]int64{}
	for _, n := range res.Nodes {
		out[n.Name] = n.Requests
	}
	return out
}

// Two runs of one scenario with the same seed send the same number of
// requests to each backend, whatever the strategy's randomness.
func TestSameSeedGivesSamePerBackendCounts(t *testing.T) {
	for _, strategy := range []string{"round-robin", "random"} {
		t.Run(strategy, func(t *testing.T) {
			var runs []map[string]int64
			for i := 0; i < 2; i++ {
				res := runUnsaturated(t, strategy)
				// A verdict the host's delays made inconclusive still has
				// every request's backend: the counts are what is checked.
				judged := res.Verdict == report.VerdictPass || res.Verdict == report.VerdictInconclusive
				if !judged || res.Totals.Scheduled != 300 || res.Totals.Succeeded != 300 {
					t.Fatalf("run %d: verdict %s totals %+v", i, res.Verdict, res.Totals)
				}
				runs = append(runs, nodeCounts(res))
			}
			if !reflect.DeepEqual(runs[0], runs[1]) {
				t.Fatalf("same seed, different per-backend counts: %v vs %v", runs[0], runs[1])
			}
			if strategy == "round-robin" && !reflect.DeepEqual(runs[0], map[string]int64{"a": 100, "b": 100, "c": 100}) {
				t.Errorf("round-robin counts %v, want 100 each", runs[0])
			}
			t.Logf("%s: %v", strategy, runs[0])
		})
	}
}

// runUnsaturated runs the determinism scenario. A run in which the generator
// saturated (a loaded machine can starve it) is invalid by the tool's own
// verdict, so it is run again, up to three times in all.
func runUnsaturated(t *testing.T, strategy string) *report.Result {
	t.Helper()
	var res *report.Result
	for attempt := 0; attempt < 3; attempt++ {
		sc, err := scenario.Parse("determinism.yaml", []byte(builtInScenario))
		if err != nil {
			t.Fatal(err)
		}
		sc.SUT.Proxy.Strategy = strategy
		if res, err = Execute(context.Background(), sc, Options{}); err != nil {
			t.Fatal(err)
		}
		if !res.Generator.Saturated {
			return res
		}
		t.Logf("attempt %d: generator saturated (%s); running again", attempt+1, res.Generator.Reason)
	}
	t.Skipf("the generator saturated in three runs on this host, the last: %s", res.Generator.Reason)
	return nil
}

// An external target is driven by URL; it has no node header, so no nodes.
func TestExecuteDrivesAnExternalTarget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	sc, err := scenario.Parse("external.yaml", []byte(`
duration: 1s
target: {url: `+srv.URL+`}
workload:
  - rate: 100/s
    requests: [{path: /, weight: 3}, {path: /missing, weight: 1}]
requirements:
  - error_rate < 1%
  - availability >= 50%
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tot := res.Totals
	if tot.Scheduled != 100 || tot.Failed != res.Errors[runner.Class4xx] || tot.Failed == 0 {
		t.Fatalf("totals %+v errors %v", tot, res.Errors)
	}
	if res.Verdict != report.VerdictFail || res.Requirements[0].Pass || !res.Requirements[1].Pass {
		t.Errorf("verdict %s, requirements %+v", res.Verdict, res.Requirements)
	}
	if len(res.Nodes) != 0 {
		t.Errorf("an external target without the node header has no nodes, got %+v", res.Nodes)
	}
	if res.Station != nil {
		t.Errorf("an external target without Server-Timing has no station account, got %+v", res.Station)
	}
	if res.SinglePointsOfFailure != nil || res.Projection != nil {
		t.Errorf("an external target has no topology: single points %+v, projection %+v", res.SinglePointsOfFailure, res.Projection)
	}
}

// A run of the built-in SUT names its single points of failure and
// projects its availability from the topology alone: an mttr declared, no
// fault in the run. Both requirements are judged exactly.
func TestExecuteNamesSinglePointsAndProjects(t *testing.T) {
	sc := mustParse(t, "lamp.yaml", `
duration: 1s
sut:
  pools:
    - name: lamp
      backends: [{name: lamp-1, workers: 4, mtbf: 720h, mttr: 1h}]
workload: [{rate: 20/s}]
requirements:
  - single_points_of_failure == 0
  - projected_availability >= 99.8%
`)
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range res.SinglePointsOfFailure {
		names = append(names, sp.Kind+" "+sp.Name)
	}
	if !reflect.DeepEqual(names, []string{"proxy proxy", "node lamp-1"}) {
		t.Errorf("single points of failure %v, want the proxy and lamp-1", names)
	}
	p := res.Projection
	if want := 720.0 / 721; p == nil || math.Abs(p.Service.Availability-want) > 1e-12 || p.Nodes[0].MTTRFrom != report.MTTRDeclared {
		t.Fatalf("projection %+v, want the service at %v from the declared mttr", p, want)
	}
	spof, projected := res.Requirements[0], res.Requirements[1]
	if spof.Status != report.VerdictFail || spof.Observed != 2 || projected.Status != report.VerdictPass || res.Verdict != report.VerdictFail {
		t.Errorf("verdict %s: %+v, %+v", res.Verdict, spof, projected)
	}
}

// The built-in backends' own account (their Server-Timing) covers every
// measured request, per scope: the service is the drawn one, exactly, and
// no request's account exceeds its latency.
func TestStationAccountOfTheBuiltInSUT(t *testing.T) {
	sc, err := scenario.Parse("station.yaml", []byte(`
duration: 2s
sut:
  pools:
    - name: app
      backends:
        - {name: a, workers: 2, service_time: {dist: constant, value: 5ms}}
        - {name: b, workers: 2, service_time: {dist: constant, value: 5ms}}
workload:
  - name: w
    rate: 100/s
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []report.Stats{res.Stats, res.Workloads[0].Stats} {
		st := s.Station
		if st == nil || s.Histograms.StationSojourn == "" || s.Histograms.StationService == "" {
			t.Fatalf("no station account: %+v", s)
		}
		if st.SojournMS.Count != s.LatencyMS.Count || st.ServiceMS.Count != s.LatencyMS.Count {
			t.Errorf("station counts %d and %d, latency count %d: one value per request",
				st.SojournMS.Count, st.ServiceMS.Count, s.LatencyMS.Count)
		}
		if math.Abs(st.ServiceMS.P50-5) > 0.005 || math.Abs(st.ServiceMS.Max-5) > 0.005 {
			t.Errorf("service p50 %v max %v, want the drawn 5 ms (to the histogram's 0.1%%)", st.ServiceMS.P50, st.ServiceMS.Max)
		}
		if st.SojournMS.Min < 5 || st.SojournMS.P99 > s.LatencyMS.P99 || st.SojournMS.Max > s.LatencyMS.Max {
			t.Errorf("sojourn %+v against latency %+v: between the service and the latency", st.SojournMS, s.LatencyMS)
		}
	}
}
