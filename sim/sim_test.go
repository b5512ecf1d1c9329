package sim

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// parse loads a scenario written in a test, as ilities would load a file.
func parse(t testing.TB, yaml string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("s.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// simulate runs sc with opts and fails the test on an error.
func simulate(t testing.TB, sc *scenario.Scenario, opts Options) *report.Result {
	t.Helper()
	res, err := Run(context.Background(), sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// simulateWatching simulates sc with opts, showing see each event just
// before it happens, and returns the model and its result.
func simulateWatching(t *testing.T, sc *scenario.Scenario, opts Options, see func(s *sim, e event)) (*sim, *report.Result) {
	t.Helper()
	s, err := build(sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.begin()
	for {
		e, ok := s.cal.next()
		if !ok {
			break
		}
		see(s, e)
		s.handle(e)
	}
	res, err := s.result(sc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s, res
}

// Each way a request fails in the live SUT fails the same way in the
// model, with the live SUT's status, at the instant it would: the figures
// are exact, since the runs here have no randomness and no costs.
func TestFailuresAreTheLiveSUTs(t *testing.T) {
	const sut = `
sut:
  proxy: {timeout: %s, limits: {max_body_bytes: 1KiB}}
  pools:
    - name: app
      match: {path_prefix: /app}
      backends: [{name: b1, workers: 1, queue: %d, startup_delay: %s, service_time: {dist: constant, value: %s}}]
`
	for _, tc := range []struct {
		name string
		// the backend: the proxy's timeout, the queue, start-up, service;
		// the workload: rate, timeout, max_inflight, max_lateness, path, body
		proxyTimeout      string
		queue             int
		startup, service  string
		rate, timeout     string
		inflight          int
		lateness          string
		path, body        string
		status            int // expected of every failed request (0: none)
		class             string
		failed            int64
		latencyMS         float64
		dropped, withNode bool
	}{
		{name: "a full queue answers 503 at once", proxyTimeout: "1h", queue: 0, startup: "0s", service: "10ms",
			rate: "160/s", timeout: "1h", inflight: 100, lateness: "1h", path: "/app", // every other one finds the worker busy
			status: 503, class: "5xx", failed: 160, latencyMS: 10, withNode: true},
		{name: "a backend starting up answers 503", proxyTimeout: "1h", queue: 10, startup: "500ms", service: "1ms",
			rate: "10/s", timeout: "1h", inflight: 100, lateness: "1h", path: "/app",
			status: 503, class: "5xx", failed: 5, latencyMS: 1, withNode: true},
		{name: "the proxy's timeout answers 504", proxyTimeout: "20ms", queue: 10, startup: "0s", service: "30ms",
			rate: "10/s", timeout: "1h", inflight: 100, lateness: "1h", path: "/app",
			status: 504, class: "5xx", failed: 20, latencyMS: 20, withNode: true},
		{name: "the client's timeout", proxyTimeout: "1h", queue: 10, startup: "0s", service: "30ms",
			rate: "10/s", timeout: "20ms", inflight: 100, lateness: "1h", path: "/app",
			class: "timeout", failed: 20, latencyMS: 20},
		{name: "no pool matches: 404", proxyTimeout: "1h", queue: 10, startup: "0s", service: "1ms",
			rate: "10/s", timeout: "1h", inflight: 100, lateness: "1h", path: "/other",
			status: 404, class: "4xx", failed: 20, latencyMS: 0.001}, // the histograms' floor: no cost, no delay
		{name: "a body over max_body_bytes: 413", proxyTimeout: "1h", queue: 10, startup: "0s", service: "1ms",
			rate: "10/s", timeout: "1h", inflight: 100, lateness: "1h", path: "/app", body: strings.Repeat("x", 2048),
			status: 413, class: "4xx", failed: 20, latencyMS: 0.001},
		{name: "no free in-flight slot within max_lateness: dropped", proxyTimeout: "1h", queue: 10, startup: "0s", service: "30ms",
			rate: "100/s", timeout: "1h", inflight: 1, lateness: "5ms", path: "/app",
			dropped: true, latencyMS: 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := "duration: 2s\n" + fmt.Sprintf(sut, tc.proxyTimeout, tc.queue, tc.startup, tc.service) +
				fmt.Sprintf("workload:\n  - {rate: %s, timeout: %s, max_inflight: %d, max_lateness: %s, requests: [{method: POST, path: %s, body: '%s'}]}\n",
					tc.rate, tc.timeout, tc.inflight, tc.lateness, tc.path, tc.body)
			res := simulate(t, parse(t, yaml), Options{})
			tot := res.Totals
			if tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd {
				t.Errorf("totals %+v do not add up", tot)
			}
			if tc.dropped {
				if tot.Dropped == 0 || !res.Generator.Saturated || res.Generator.SendLagMS.Count == 0 {
					t.Errorf("totals %+v, generator %+v: want arrivals dropped, the generator saturated, the waits as send lag", tot, res.Generator)
				}
				if res.LatencyMS.Min != tc.latencyMS {
					t.Errorf("the quickest latency %.3fms, want %.3fms", res.LatencyMS.Min, tc.latencyMS)
				}
				return
			}
			if tot.Failed != tc.failed || res.Errors[tc.class] != tc.failed {
				t.Errorf("%d failed, errors %v: want %d failed as %s", tot.Failed, res.Errors, tc.failed, tc.class)
			}
			if tc.status != 0 && res.StatusCodes[tc.status] != tc.failed {
				t.Errorf("status codes %v: want %d answered %d", res.StatusCodes, tc.failed, tc.status)
			}
			// Every request takes the same time (to the histograms' 3 digits).
			if l := res.LatencyMS; tc.failed == tot.Scheduled && (l.Min != tc.latencyMS || l.Max > tc.latencyMS*1.001) {
				t.Errorf("latency %+v: want every request to take %.3fms", l, tc.latencyMS)
			}
			var answered int64
			for _, n := range res.Nodes {
				answered += n.Requests
			}
			if tc.withNode != (answered == tot.Scheduled) {
				t.Errorf("nodes %+v: want the backend named by its answers %v", res.Nodes, tc.withNode)
			}
		})
	}
}

// A request the proxy gave up on (504) leaves the backend's waiting room,
// as the live backend's does when the proxy closes the connection: after
// a burst the backend has 6 s of work queued, but serves none of it.
func TestARequestTheProxyGaveUpOnLeavesTheRoom(t *testing.T) {
	res := simulate(t, parse(t, `
duration: 10s
sut:
  proxy: {timeout: 50ms}
  pools:
    - name: app
      backends: [{name: b1, workers: 1, queue: 1000, service_time: {dist: constant, value: 30ms}}]
workload:
  - {stages: [{hold: 100/s, for: 2s}, {hold: 1/s, for: 8s}], timeout: 1h, requests: [{path: /}]}
`), Options{})
	if u := res.Windows[1].Utilisation["b1"]; u < 0.99 {
		t.Errorf("utilisation %.3f during the burst, want the worker busy", u)
	}
	for _, w := range res.Windows[3:] {
		if u := w.Utilisation["b1"]; math.Abs(u-0.03) > 1e-9 {
			t.Errorf("second %d: utilisation %.3f, want 0.03 (one 30ms request a second): the abandoned requests were served", w.T, u)
		}
	}
	if res.StatusCodes[504] == 0 {
		t.Errorf("status codes %v: want the proxy's 504s", res.StatusCodes)
	}
}

// A run is a function of its scenario and seed: simulated twice, it
// writes the same result.json, byte for byte, but for when it started;
// another seed writes another. The scenarios use a seeded strategy and one
// that reads the clock and learns from answers, and have every kind of
// failure the model knows.
func TestTheSameSeedGivesTheSameResult(t *testing.T) {
	for _, strategy := range []string{"power-of-two", "least-response-time", "resource-aware"} {
		t.Run(strategy, func(t *testing.T) {
			yaml := fmt.Sprintf(`name: replay
seed: 11
duration: 5s
warmup: 1s
sut:
  proxy: {strategy: %s, timeout: 25ms}
  pools:
    - name: api
      match: {path_prefix: /api}
      backends:
        - {name: a1, workers: 2, queue: 4, service_time: {dist: exponential, mean: 8ms}}
        - {name: a2, workers: 1, queue: 2, weight: 2, service_time: {dist: lognormal, median: 5ms, p99: 40ms}}
    - name: web
      backends:
        - {name: w1, workers: 4, service_time: {dist: uniform, min: 1ms, max: 9ms}, mtbf: 720h}
workload:
  - name: api
    arrival: poisson
    stages: [{ramp_to: 400/s, over: 2s}, {hold: 400/s, for: 3s}]
    timeout: 30ms
    max_inflight: 20
    max_lateness: 5ms
    requests: [{path: /api/items, weight: 3}, {method: POST, path: /api/cart}]
  - name: web
    arrival: uniform
    rate: 150/s
    requests: [{path: /}, {path: /static/app.js}]
requirements:
  - p99(latency) < 50ms
  - error_rate < 5%% for api
`, strategy)
			replays(t, yaml, 11, `"mode": "simulated"`, `"dropped": `, `"504": `, `"503": `)
		})
	}
}

// replays checks that yaml simulated with seed twice writes the same
// result.json, another seed another, holding each of exercised (what the
// scenario must exercise).
func replays(t *testing.T, yaml string, seed int64, exercised ...string) {
	t.Helper()
	checkReplay(t, func(seed int64) string {
		sc := parse(t, yaml)
		sc.Seed = seed
		return resultJSON(t, sc)
	}, seed, exercised...)
}

// checkReplay checks that write (a result.json by seed) writes the same
// for seed twice and another for the next seed, and that it holds each of
// exercised: what the scenario is there to exercise.
func checkReplay(t *testing.T, write func(seed int64) string, seed int64, exercised ...string) {
	t.Helper()
	first, again, other := write(seed), write(seed), write(seed+1)
	if first != again {
		t.Errorf("the same seed wrote two results; first difference at byte %d", firstDifference(first, again))
	}
	if first == other {
		t.Error("another seed wrote the same result")
	}
	for _, want := range exercised {
		if !strings.Contains(first, want) {
			t.Errorf("result.json lacks %s: the scenario no longer exercises it", want)
		}
	}
}

// resultJSON is the result.json of a simulation of sc, without the
// wall-clock start that a replay changes.
func resultJSON(t *testing.T, sc *scenario.Scenario) string {
	t.Helper()
	res := simulate(t, sc, DefaultOptions())
	path := filepath.Join(t.TempDir(), "result.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.WriteJSON(f, res); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return startedLine.ReplaceAllString(string(b), "")
}

// startedLine is result.json's wall-clock start, the one field a replay
// changes.
var startedLine = regexp.MustCompile(`(?m)^\s*"started": .*$`)

func firstDifference(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// The proxy's policy decides where requests go: two backends, one four
// times faster, get equal shares under round-robin, and the faster one
// most under least-connections, which sees the slower one's requests
// pile up.
func TestTheBalancingPolicyDecides(t *testing.T) {
	const yaml = `
seed: 3
duration: 20s
sut:
  proxy: {strategy: %s}
  pools:
    - name: app
      backends:
        - {name: fast, workers: 1, service_time: {dist: exponential, mean: 1ms}}
        - {name: slow, workers: 1, service_time: {dist: exponential, mean: 4ms}}
workload:
  - {arrival: poisson, rate: 300/s, requests: [{path: /}]}
`
	share := func(strategy string) float64 {
		res := simulate(t, parse(t, fmt.Sprintf(yaml, strategy)), DefaultOptions())
		for _, n := range res.Nodes {
			if n.Name == "fast" {
				return n.Share
			}
		}
		t.Fatalf("%s: no answer from the fast backend: %+v", strategy, res.Nodes)
		return 0
	}
	if rr := share("round-robin"); math.Abs(rr-0.5) > 0.001 {
		t.Errorf("round-robin gave the fast backend %.3f of the requests, want half", rr)
	}
	if lc := share("least-connections"); lc < 0.6 {
		t.Errorf("least-connections gave the fast backend %.3f of the requests, want most", lc)
	}
}

// The segments of a simulated run add up to it, as a live run's do:
// merged, they schedule the whole run's arrivals; a simulated part and a
// live one are refused together.
func TestSegmentsMergeIntoTheWholeRun(t *testing.T) {
	sc := parse(t, `
seed: 5
duration: 3s
sut:
  pools:
    - name: app
      backends: [{name: b1, workers: 4, service_time: {dist: exponential, mean: 2ms}}]
workload:
  - {arrival: poisson, rate: 500/s, requests: [{path: /}]}
requirements: [error_rate < 1%]
`)
	whole := simulate(t, sc, Options{})
	merged, parts := mergedSegments(t, sc, 3)
	if merged.Totals.Scheduled != whole.Totals.Scheduled || merged.Mode != report.ModeSimulated {
		t.Errorf("merged %d arrivals (mode %q), the whole run %d", merged.Totals.Scheduled, merged.Mode, whole.Totals.Scheduled)
	}
	live := *parts[2]
	live.Mode = ""
	if _, err := report.Merge([]*report.Result{parts[0], parts[1], &live}); err == nil || !strings.Contains(err.Error(), "simulated") {
		t.Errorf("a live part merged with simulated ones: %v", err)
	}
}

// mergedSegments simulates sc's n segments and merges them.
func mergedSegments(t *testing.T, sc *scenario.Scenario, n int) (*report.Result, []*report.Result) {
	t.Helper()
	var parts []*report.Result
	for k := 1; k <= n; k++ {
		parts = append(parts, simulate(t, sc, Options{Segment: runner.Segment{K: k, N: n}}))
	}
	merged, err := report.Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	return merged, parts
}

// A request goes to the pool the live proxy routes it to: the longest
// path prefix, then a pool of its host, then the earlier pool; none: 404.
func TestRequestsGoWhereTheLiveProxyRoutesThem(t *testing.T) {
	const pools = `
duration: 1s
sut:
  pools:
    - {name: web, match: {path_prefix: /w}, backends: [{name: web1}]}
    - {name: api, match: {path_prefix: /api}, backends: [{name: api1}]}
    - {name: admin, match: {host: admin.example, path_prefix: /api}, backends: [{name: admin1}]}
    - {name: api-again, match: {path_prefix: /api}, backends: [{name: api2}]}
workload:
  - {rate: 10/s, requests: [%s]}
`
	for _, tc := range []struct{ request, node string }{
		{"{path: /web/index.html}", "web1"},
		{"{path: /api/items?page=2}", "api1"},
		{`{path: /api/users, headers: {Host: "Admin.Example:8080"}}`, "admin1"},
		{`{path: /api/users, headers: {Host: other.example}}`, "api1"},
		{"{path: /ap}", ""},
	} {
		res := simulate(t, parse(t, fmt.Sprintf(pools, tc.request)), Options{})
		var answered []string
		for _, n := range res.Nodes {
			if n.Requests > 0 {
				answered = append(answered, n.Name)
			}
		}
		switch {
		case tc.node == "" && (len(answered) > 0 || res.StatusCodes[404] != res.Totals.Scheduled):
			t.Errorf("%s: answered by %v, status codes %v: want 404 from the proxy", tc.request, answered, res.StatusCodes)
		case tc.node != "" && (len(answered) != 1 || answered[0] != tc.node):
			t.Errorf("%s: answered by %v, want %s alone", tc.request, answered, tc.node)
		}
	}
}

// TestNodeUtilisationIsReadWhenTheRunEnds: a node's utilisation is its busy
// time up to the run's last answer, over its own life, as a live node
// reports it: never above 1 when requests the clients gave up on are still
// queued and served after the end, and over the time since it was added
// for a backend an add-backend started.
func TestNodeUtilisationIsReadWhenTheRunEnds(t *testing.T) {
	res := simulate(t, parse(t, `
duration: 10s
sut:
  pools:
    - backends:
        - {name: busy-1, workers: 1, queue: 1000, service_time: {dist: constant, value: 10ms}}
workload:
  - {rate: 200/s, timeout: 100ms, requests: [{path: /}]}
faults:
  - {at: 5s, kind: add-backend, pool: default, backend: {name: late-1, workers: 1, service_time: {dist: constant, value: 10ms}}}
`), Options{})
	util := map[string]float64{}
	for _, n := range res.Nodes {
		util[n.Name] = n.Utilisation
	}
	// busy-1 is saturated throughout (100/s of service for 200/s, then
	// 100/s for its half); late-1, from 5s, takes half of 200/s: 100/s of
	// 10ms, busy all its life.
	if u := util["busy-1"]; u > 1 || u < 0.98 {
		t.Errorf("busy-1 utilisation %.4f: saturated all run, want just under 1 and never above", u)
	}
	if u := util["late-1"]; u > 1 || u < 0.9 {
		t.Errorf("late-1 utilisation %.4f: busy since it was added at 5s, want about 1 over its own life, not half", u)
	}
}
