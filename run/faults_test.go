package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// faultScenario is three backends behind the proxy under 200/s for 4 s,
// with one fault on app-2 from 1s to 3s (the fault's YAML is spliced in).
func faultScenario(proxy, size, fault string) string {
	return fmt.Sprintf(`
name: fault
seed: 3
duration: 4s
sut:
  proxy: {strategy: round-robin%[1]s}
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 4, service_time: {dist: constant, value: 2ms}, response_size: {dist: constant, value: %[3]s}}
        - {name: app-2, workers: 4, service_time: {dist: constant, value: 2ms}, response_size: {dist: constant, value: %[3]s}}
        - {name: app-3, workers: 4, service_time: {dist: constant, value: 2ms}, response_size: {dist: constant, value: %[3]s}}
workload:
  - name: w
    rate: 200/s
    timeout: 500ms
faults:
  - %[2]s
`, proxy, fault, size)
}

// checkFaultAccounting asserts the accounting identity for the run, each
// workload and each window.
func checkFaultAccounting(t *testing.T, res *report.Result) {
	t.Helper()
	tot := res.Totals
	if tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd {
		t.Errorf("accounting: %+v", tot)
	}
	var failed int64
	for _, n := range res.Errors {
		failed += n
	}
	if failed != tot.Failed {
		t.Errorf("error classes add up to %d, failed %d", failed, tot.Failed)
	}
	for _, w := range res.Windows {
		if w.Scheduled != w.Succeeded+w.Failed+w.Dropped+w.CutAtEnd {
			t.Errorf("window %d accounting: %+v", w.T, w)
		}
	}
	if tot.Scheduled != 800 {
		t.Errorf("scheduled %d, want 800", tot.Scheduled)
	}
}

// TestFaultKindsEndToEnd runs each fault kind through the built-in SUT and
// checks what the client saw, the fault's record and the accounting.
func TestFaultKindsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a 4 s run per fault kind")
	}
	type check func(t *testing.T, res *report.Result)
	failedWith := func(class string, min, max float64) check {
		return func(t *testing.T, res *report.Result) {
			share := float64(res.Errors[class]) / float64(res.Totals.Scheduled)
			if share < min || share > max {
				t.Errorf("%s: %.1f%% of requests (errors %v), want %.0f%%-%.0f%%", class, share*100, res.Errors, min*100, max*100)
			}
		}
	}
	noFailure := func(t *testing.T, res *report.Result) {
		if res.Totals.Failed != 0 {
			t.Errorf("failures: %v", res.Errors)
		}
	}
	// app-2 gets a third of 200/s for 2 s: about 133 requests, 17% of 800.
	cases := []struct {
		name, proxy, fault string
		check              check
		// size is the response size; the cut kinds need bodies larger than
		// the proxy's buffer for the cut to reach the client (see docs/faults.md).
		size string
	}{
		{"crash", "", "{at: 1s, for: 2s, kind: crash, node: app-2}", failedWith("5xx", 0.14, 0.19), ""},
		{"hang", "", "{at: 1s, for: 2s, kind: hang, node: app-2}", failedWith("timeout", 0.10, 0.19), ""},
		{"errors", "", "{at: 1s, for: 2s, kind: errors, node: app-2, percent: 50%, status: 503}", failedWith("5xx", 0.06, 0.11), ""},
		{"reset", "", "{at: 1s, for: 2s, kind: reset, node: app-2}", failedWith("truncated", 0.14, 0.19), "256KB"},
		{"truncate", "", "{at: 1s, for: 2s, kind: truncate, node: app-2}", failedWith("truncated", 0.14, 0.19), "256KB"},
		{"slow", "", "{at: 1s, for: 2s, kind: slow, node: app-2, latency: {dist: constant, value: 20ms}}", func(t *testing.T, res *report.Result) {
			noFailure(t, res)
			if p := res.LatencyMS.P90; p < 20 {
				t.Errorf("p90 latency %.1fms: the slow node's 20ms does not show", p)
			}
			if p := res.LatencyMS.P50; p > 10 {
				t.Errorf("p50 latency %.1fms: the other nodes are slowed too", p)
			}
		}, ""},
		{"degrade", "", "{at: 1s, for: 2s, kind: degrade, node: app-2, workers: 1}", func(t *testing.T, res *report.Result) {
			noFailure(t, res) // 67/s of 2ms on one worker still keeps up
		}, ""},
		{"flap", "", "{at: 1s, for: 2s, kind: flap, node: app-2, period: 1s}", failedWith("5xx", 0.06, 0.12), ""},
		{"add-backend", "", "{at: 1s, kind: add-backend, pool: app, backend: {name: app-4, workers: 4}}", func(t *testing.T, res *report.Result) {
			noFailure(t, res)
			if n := nodeCounts(res)["app-4"]; n < 100 || n > 170 {
				t.Errorf("app-4 served %d, want about a quarter of 3 s at 200/s (150)", n)
			}
		}, ""},
		{"remove-backend", "", "{at: 1s, kind: remove-backend, node: app-2, drain: 1s}", func(t *testing.T, res *report.Result) {
			noFailure(t, res)
			if n := nodeCounts(res)["app-2"]; n < 55 || n > 75 {
				t.Errorf("app-2 served %d, want a third of its first second (67)", n)
			}
		}, ""},
		{"crash-proxy", ", replicas: 2", "{at: 1s, for: 2s, kind: crash-proxy, node: proxy-2}", func(t *testing.T, res *report.Result) {
			if share := float64(res.Totals.Failed) / float64(res.Totals.Scheduled); share > 0.05 {
				t.Errorf("%.1f%% failed (%v): clients should fail over to proxy-1", share*100, res.Errors)
			}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // 11 light runs of 4 s each
			size := tc.size
			if size == "" {
				size = "4KB"
			}
			sc, err := scenario.Parse("fault.yaml", []byte(faultScenario(tc.proxy, size, tc.fault)))
			if err != nil {
				t.Fatal(err)
			}
			meter := hiccup.Start()
			res, err := Execute(context.Background(), sc, Options{})
			host := meter.Stop()
			if errors.Is(err, runner.ErrNoResponse) && (host.Max >= 250*time.Millisecond || host.Stretch() >= 2) {
				// Not one answer within the requests' 500 ms: a host that
				// delays this process half that at once, or doubles its
				// waits, can keep every answer from arriving in time.
				t.Skipf("%v, on a host that delayed this process: %v", err, host)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkFaultAccounting(t, res)
			if len(res.Faults) != 1 {
				t.Fatalf("faults: %+v", res.Faults)
			}
			f := res.Faults[0]
			if f.Error != "" {
				t.Fatalf("fault not applied: %s", f.Error)
			}
			// What the client saw depends on the SUT in this process
			// answering within its timeouts.
			skipWhenHostDelayed(t, res, hostDelayForExactCounts)
			// 10 ms on a quiet host; the timeline's wake-up is as late as
			// this host makes any (measured over the run).
			limit := (10*time.Millisecond + host.Max).Seconds()
			if d := f.AtS - 1; d < -0.001 || d > limit { // times are kept to the millisecond
				t.Errorf("fault took effect at %.3fs, more than %.0fms after 1s (%v)", f.AtS, limit*1e3, host)
			}
			if d := f.EndS - 3; f.ForS > 0 && (d < -0.001 || d > limit) {
				t.Errorf("fault lifted at %.3fs, more than %.0fms after 3s (%v)", f.EndS, limit*1e3, host)
			}
			tc.check(t, res)
			t.Logf("errors %v  p50 %.1fms p90 %.1fms  nodes %v  fault %+v", res.Errors, res.LatencyMS.P50, res.LatencyMS.P90, nodeCounts(res), f)
		})
	}
}

// TestFaultsFireOnTime checks the timeline's precision over several faults.
func TestFaultsFireOnTime(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a 2 s run")
	}
	var faults []string
	for i := range 8 {
		faults = append(faults, fmt.Sprintf("{at: %dms, for: 100ms, kind: errors, node: a, percent: 1%%}", 200+200*i))
	}
	sc, err := scenario.Parse("t.yaml", []byte(`
duration: 2s
sut:
  pools:
    - backends: [{name: a, workers: 2}]
workload:
  - rate: 50/s
faults:
  - `+strings.Join(faults, "\n  - ")))
	if err != nil {
		t.Fatal(err)
	}
	meter := hiccup.Start()
	res, err := Execute(context.Background(), sc, Options{})
	host := meter.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) != 8 {
		t.Fatalf("%d faults recorded", len(res.Faults))
	}
	// Never early, in planned order, and late by at most 10 ms on a quiet
	// host, stretched as this host stretched this process's waits, plus the
	// longest wake-up delay it imposed over the run.
	limit := host.Allow(10 * time.Millisecond)
	t.Logf("limit %v; %v", limit, host)
	for i, f := range res.Faults {
		late := time.Duration((f.AtS - f.PlannedAtS) * float64(time.Second))
		if late < -time.Millisecond || late > limit { // times are kept to the millisecond
			t.Errorf("fault planned at %.3fs fired at %.3fs (limit %v late)", f.PlannedAtS, f.AtS, limit)
		}
		if i > 0 && f.AtS < res.Faults[i-1].AtS {
			t.Errorf("fault planned at %.3fs fired at %.3fs, before the one planned at %.3fs (%.3fs)", f.PlannedAtS, f.AtS, res.Faults[i-1].PlannedAtS, res.Faults[i-1].AtS)
		}
	}
}
