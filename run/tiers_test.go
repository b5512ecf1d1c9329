package run

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/stats"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/sut"
)

// jackson is a three-tier open network of queues: Poisson arrivals at the
// proxy, web → app (two nodes, round-robin) → db, where each request to app
// calls db twice with probability p. Services are exponential. Web and app
// have workers enough that no request ever waits for one, though each
// holds its worker through its calls; db has a few, and a queue.
//
// Theory (Jackson): each tier i behaves as an M/M/c station at its own
// arrival rate λ·V_i, where the visit ratios are V_web = V_app = 1 and
// V_db = 2p, so the mean time a request spends in the stations is
// Σ V_i · W_i, W_i the M/M/c mean response time (Erlang C). The network,
// the proxy and the HTTP clients between tiers add a cost per request of
// their own, which the theory has no part of: it is measured apart, as the
// median latency of the same topology with every service 0.
type jackson struct {
	rate                  float64 // requests per second
	duration              time.Duration
	web, app, db          time.Duration // mean services
	webWorkers, appWorker int
	dbWorkers             int
	p                     float64 // the chance a request to app calls db (twice)
}

func (j jackson) scenario(service func(time.Duration) string) string {
	return fmt.Sprintf(`name: jackson
seed: 5
duration: %s
sut:
  pools:
    - name: web
      backends: [{name: web-1, workers: %d, service_time: %s}]
      calls: [{pool: app}]
    - name: app
      backends:
        - {name: app-1, workers: %d, service_time: %s}
        - {name: app-2, workers: %d, service_time: %s}
      calls: [{pool: db, times: 2, probability: %g%%}]
    - name: db
      backends: [{name: db-1, workers: %d, service_time: %s}]
workload:
  - {name: w, arrival: poisson, rate: %g/s, max_inflight: 512}
`, j.duration, j.webWorkers, service(j.web), j.appWorker, service(j.app), j.appWorker, service(j.app),
		100*j.p, j.dbWorkers, service(j.db), j.rate)
}

// tiers are the stations' theory: each tier's visits and mean response.
func (j jackson) tiers() map[string][2]float64 {
	lambda := j.rate
	return map[string][2]float64{
		"web": {1, stats.MMcResponse(j.webWorkers, lambda, j.web.Seconds())},
		"app": {1, stats.MMcResponse(j.appWorker, lambda/2, j.app.Seconds())},
		"db":  {2 * j.p, stats.MMcResponse(j.dbWorkers, lambda*2*j.p, j.db.Seconds())},
	}
}

// theory is Σ V_i · W_i, in milliseconds.
func (j jackson) theory() float64 {
	sum := 0.0
	for _, t := range j.tiers() {
		sum += t[0] * t[1]
	}
	return 1000 * sum
}

func exponentialService(mean time.Duration) string {
	return fmt.Sprintf("{dist: exponential, mean: %s}", mean)
}

func zeroService(time.Duration) string { return "{dist: constant, value: 0s}" }

// A three-tier open network's mean response time, live, is the one
// queueing theory predicts (Σ visits × W of each tier's M/M/c) plus the
// path's own cost, within 10% or three standard errors, widened by the
// apparatus's delay; and each tier's figures (visits, latency shares) are
// the theory's. A miss on a host that delayed the tool past what a window
// tolerates is not judged: the test skips, printing the figures.
func TestThreeTierNetworkMatchesJackson(t *testing.T) {
	net := jackson{rate: 200, web: 2 * time.Millisecond, app: 4 * time.Millisecond, db: 6 * time.Millisecond,
		webWorkers: 64, appWorker: 32, dbWorkers: 3, p: 0.75}
	cases := []struct {
		name      string
		duration  time.Duration
		tolerance float64
	}{
		{"short", 4 * time.Second, 0.10},
		{"long", 30 * time.Second, 0.03},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.duration > 10*time.Second && testing.Short() {
				t.Skipf("%v of load", tc.duration)
			}
			j := net
			j.duration = tc.duration
			// The path's own cost: the same topology, every service 0.
			probe := j
			probe.rate, probe.duration = 50, time.Second
			cost, _ := execute(t, probe.scenario(zeroService))
			res, disturbed := execute(t, j.scenario(exponentialService))

			l := res.LatencyMS
			se := l.Stddev / math.Sqrt(float64(l.Count))
			theory := j.theory()
			want := theory + cost.LatencyMS.P50
			delay := res.Apparatus.DelayMS.Mean
			limit := max(tc.tolerance*theory, 3*se)
			if delay > theory/2 {
				t.Skipf("the apparatus's delay (mean %.3fms) leaves nothing to measure of a %.3fms mean: %s", delay, theory, disturbed)
			}
			var misses []string
			figures := []string{fmt.Sprintf("mean latency %.3fms over %d requests (s.e. %.3fms); theory %.3fms + the path's own %.3fms = %.3fms; allowed %.3fms + the apparatus delay mean %.3fms",
				l.Mean, l.Count, se, theory, cost.LatencyMS.P50, want, limit, delay)}
			if math.Abs(l.Mean-want) > limit+delay {
				misses = append(misses, fmt.Sprintf("mean latency %.3fms, want %.3fms ± %.3fms", l.Mean, want, limit+delay))
			}

			// The stations' own clocks: visits and residences.
			if len(res.Tiers) != 3 {
				t.Fatalf("%d tiers in the result, want 3: %+v", len(res.Tiers), res.Tiers)
			}
			shares := 0.0
			theoryTiers := j.tiers()
			for _, tier := range res.Tiers {
				th := theoryTiers[tier.Name]
				shares += tier.LatencyShareMS
				figures = append(figures, fmt.Sprintf("%s: visits %.3f (theory %.3f), residence %.3fms (theory %.3fms), utilisation %.3f",
					tier.Name, tier.Visits, th[0], tier.ResidenceMS, 1000*th[1], tier.Utilisation))
				// db's calls per request are 2·Bernoulli(p): four standard deviations.
				if sd := math.Sqrt(4 * j.p * (1 - j.p) / float64(l.Count)); math.Abs(tier.Visits-th[0]) > 4*sd+0.01 {
					misses = append(misses, fmt.Sprintf("%s: %.3f visits per request, want %.3f", tier.Name, tier.Visits, th[0]))
				}
			}
			if math.Abs(shares-theory) > limit+delay {
				misses = append(misses, fmt.Sprintf("the tiers' latency shares add up to %.3fms, want theory's %.3fms ± %.3fms", shares, theory, limit+delay))
			}
			t.Log(strings.Join(figures, "\n"))
			switch {
			case len(misses) > 0 && disturbed != "":
				t.Skipf("missed on a disturbed host, not judged (%s): %s", disturbed, strings.Join(misses, "; "))
			case len(misses) > 0:
				t.Error(strings.Join(misses, "\n"))
			}
		})
	}
}

// execute runs a scenario and returns its result, and why the host or the
// generator disturbed it past what a window tolerates ("" when neither did).
func execute(t *testing.T, text string) (*report.Result, string) {
	t.Helper()
	res, err := Execute(context.Background(), mustParse(t, "jackson.yaml", text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals.Failed > 0 || res.Apparatus == nil || res.LatencyMS.Count == 0 {
		t.Fatalf("%d requests failed (%v), %d answered, apparatus %v", res.Totals.Failed, res.Errors, res.LatencyMS.Count, res.Apparatus)
	}
	disturbed := report.DelayedBeyond(res, time.Duration(report.DisturbedAboveMS*float64(time.Millisecond)))
	if res.Generator.Saturated {
		disturbed = strings.TrimPrefix(disturbed+"; ", "; ") + "the generator saturated: " + res.Generator.Reason
	}
	return res, disturbed
}

// With tiers, the fairness is the routed pools' nodes': a tier's nodes
// answer no client.
func TestAttachTiersFairnessOfTheRoutedNodes(t *testing.T) {
	s := mustParse(t, "t.yaml", `name: t
duration: 1s
workload: [{rate: 1/s}]
sut:
  pools:
    - {name: web, backends: [{name: web-1}, {name: web-2}], calls: [{pool: db}]}
    - {name: db, backends: [{name: db-1}]}
`).SUT
	res := &report.Result{Nodes: []report.Node{{Name: "db-1"}, {Name: "web-1", Requests: 50}, {Name: "web-2", Requests: 50}}}
	res.Fairness = report.FinishNodes(res.Nodes, 100) // the nodes' all together: 2/3
	nodes := []sut.NodeStats{
		{Name: "web-1", Pool: "web", Served: 50}, {Name: "web-2", Pool: "web", Served: 50}, {Name: "db-1", Pool: "db", Served: 200},
	}
	attachTiers(res, s, nodes)
	if res.Fairness != 1 {
		t.Errorf("fairness %.3f, want 1: the web nodes shared evenly", res.Fairness)
	}
	if len(res.Tiers) != 2 || res.Tiers[1].Visits != 2 {
		t.Errorf("tiers %+v, want db visited twice per request", res.Tiers)
	}
}

// examples/three-tier.yaml: the database's primary crashes for 10 s.
// Reads go on, writes fail for the 2 s until the replica is promoted, and
// every failure is counted as the database's; the database stops calling
// its crashed node at once (detection by traffic) and the service is back
// 2 s after the crash.
func TestThreeTierExample(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 30 s three-tier example")
	}
	res := runExample(t, "three-tier", "")
	skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	if len(res.Tiers) != 3 || len(res.Faults) != 1 || res.Tiers[2].Database == nil {
		t.Fatalf("tiers %+v, faults %+v", res.Tiers, res.Faults)
	}
	db, f := res.Tiers[2], res.Faults[0]
	t.Logf("%d failed; db: %+v; detection %.3fs by %q, recovery %.3fs", res.Totals.Failed, *db.Database, f.DetectionTimeS, f.DetectedBy, f.RecoveryTimeS)
	if res.Verdict != report.VerdictPass {
		t.Errorf("verdict %s: %+v", res.Verdict, res.Requirements)
	}
	if d := db.Database; d.Primary != "db-2" || d.Promotions != 1 {
		t.Errorf("primary %s after %d promotions, want db-2 after one", d.Primary, d.Promotions)
	}
	if db.Failures != res.Totals.Failed || res.StatusCodes[502] != res.Totals.Failed || res.Tiers[0].Failures+res.Tiers[1].Failures != 0 {
		t.Errorf("%d failed (%d answered 502), %d started in db, %d in web, %d in app; want every one the database's",
			res.Totals.Failed, res.StatusCodes[502], db.Failures, res.Tiers[0].Failures, res.Tiers[1].Failures)
	}
	// One request in five writes: about 80 writes in the 2 s at 200/s.
	if wf := float64(db.Database.WritesFailed); math.Abs(wf-80) > 4*math.Sqrt(80) {
		t.Errorf("%0.f writes failed, want about 80", wf)
	}
	if f.DetectedBy != "traffic" || f.DetectionTimeS < 0 || f.DetectionTimeS > 0.1 {
		t.Errorf("detection %.3fs by %q, want at once by traffic", f.DetectionTimeS, f.DetectedBy)
	}
	if f.RecoveryTimeS < 1.9 || f.RecoveryTimeS > 3 {
		t.Errorf("recovery %.3fs, want the 2 s promotion, to the window", f.RecoveryTimeS)
	}
}
