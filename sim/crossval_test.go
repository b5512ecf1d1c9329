package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
)

// TestSimulationMatchesLiveRuns runs small scenarios live (run.Execute, real
// sockets and time) and simulated with the same seed, and holds the
// simulation's mean latency, node shares and availability to the live
// run's within CrossBounds, the latency's bound widened by the live
// apparatus's delay. A live run the host disturbed cannot judge the model:
// the test then skips with its figures.
func TestSimulationMatchesLiveRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("live runs of several seconds")
	}
	for _, tc := range []struct {
		name, yaml string
	}{
		{"steady", `name: steady
seed: 42
duration: 5s
warmup: 1s
sut:
  proxy: {strategy: round-robin}
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 4, service_time: {dist: exponential, mean: 5ms}}
        - {name: app-2, workers: 4, service_time: {dist: exponential, mean: 5ms}}
workload:
  - {name: browse, arrival: poisson, rate: 300/s}
`},
		{"failover", `name: failover
seed: 7
duration: 7s
warmup: 1s
sut:
  proxy:
    strategy: round-robin
    health: {interval: 250ms, timeout: 200ms, fall: 2, rise: 2}
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 4, service_time: {dist: exponential, mean: 5ms}}
        - {name: app-2, workers: 4, service_time: {dist: exponential, mean: 5ms}}
        - {name: app-3, workers: 4, service_time: {dist: exponential, mean: 5ms}}
workload:
  - {name: browse, arrival: poisson, rate: 300/s}
faults:
  - {at: 3s, for: 2s, kind: crash, node: app-2}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, err := run.Execute(context.Background(), parse(t, tc.yaml), run.Options{})
			if err != nil {
				t.Fatal(err)
			}
			simulated := simulate(t, parse(t, tc.yaml), DefaultOptions())
			c := CrossCompare(live, simulated)
			if c.Disturbed != "" {
				t.Skipf("live run disturbed, not judged: %s\n%s", c.Disturbed, figures(c))
			}
			judged := 0
			for _, f := range c.Figures {
				switch f.Bound {
				case "latency mean", "share", "availability (requests)", "availability (time)":
					judged++
					if !f.Holds {
						t.Errorf("%s: live %.4g, simulated %.4g: differ by %.4g, more than the %.4g allowed", f.Name, f.Live, f.Sim, f.Sim-f.Live, f.Allowed())
					}
				}
			}
			if judged < 4 {
				t.Errorf("only %d figures judged:\n%s", judged, figures(c))
			}
			if t.Failed() {
				t.Logf("all figures:\n%s", figures(c))
			}
		})
	}
}

// figures lists a comparison's figures, one a line.
func figures(c CrossCheck) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apparatus delay mean %.3fms, p99 %.3fms\n", c.ApparatusMeanMS, c.ApparatusP99MS)
	for _, f := range c.Figures {
		fmt.Fprintf(&b, "%-32s live %-10s sim %-10s holds %v\n", f.Name, figure(f.Live, f.LiveText), figure(f.Sim, f.SimText), f.Holds)
	}
	return b.String()
}

func figure(v float64, text string) string {
	if text != "" {
		return text
	}
	return fmt.Sprintf("%.4g", v)
}

// TestCrossCompareJudgesEachFigureByItsBound compares a simulated result
// with itself changed: each change within its figure's bound holds, each
// beyond it does not, and the apparatus's delay widens a latency's bound.
func TestCrossCompareJudgesEachFigureByItsBound(t *testing.T) {
	base := simulate(t, parse(t, `name: c
seed: 3
duration: 3s
sut:
  proxy: {strategy: round-robin, health: {interval: 250ms, fall: 2, rise: 2}}
  pools:
    - name: app
      backends:
        - {name: a, workers: 2, service_time: {dist: exponential, mean: 5ms}}
        - {name: b, workers: 2, service_time: {dist: exponential, mean: 5ms}}
workload:
  - {name: w, arrival: poisson, rate: 100/s}
faults:
  - {at: 1s, kind: crash, node: b}
`), DefaultOptions())
	for _, tc := range []struct {
		name   string
		figure string
		change func(r *report.Result)
		holds  bool
	}{
		{"the same run", "latency mean", func(*report.Result) {}, true},
		{"mean 4% off", "latency mean", func(r *report.Result) { r.LatencyMS.Mean *= 1.04 }, true},
		{"mean 10% off", "latency mean", func(r *report.Result) { r.LatencyMS.Mean *= 1.10 }, false},
		{"mean 10% off within the apparatus's delay", "latency mean", func(r *report.Result) {
			r.LatencyMS.Mean *= 1.10
			r.Apparatus = &report.Apparatus{DelayMS: report.Percentiles{Mean: r.LatencyMS.Mean}}
		}, true},
		{"a share 10% off", "share a", func(r *report.Result) { r.Nodes[0].Share *= 1.10 }, false},
		{"detection 0.4s later", "crash b at 1s detection", func(r *report.Result) { r.Faults[0].DetectionTimeS += 0.4 }, true},
		{"detection 0.6s later", "crash b at 1s detection", func(r *report.Result) { r.Faults[0].DetectionTimeS += 0.6 }, false},
		{"never detected", "crash b at 1s detection", func(r *report.Result) { r.Faults[0].DetectionTimeS = -1 }, false},
		{"another verdict", "verdict", func(r *report.Result) { r.Verdict = "fail" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := *base
			live.Nodes = append([]report.Node(nil), base.Nodes...)
			live.Faults = append([]report.Fault(nil), base.Faults...)
			tc.change(&live)
			c := CrossCompare(&live, base)
			for _, f := range c.Figures {
				if f.Name == tc.figure {
					if f.Holds != tc.holds {
						t.Errorf("%s holds %v, want %v:\n%s", f.Name, f.Holds, tc.holds, figures(c))
					}
					return
				}
			}
			t.Fatalf("no figure %q:\n%s", tc.figure, figures(c))
		})
	}
}
