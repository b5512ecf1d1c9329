package report

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ilities/ilities/scenario"
)

// richResult is a synthetic 60-second run with everything the charts and
// the HTML report draw: per-second windows with latency histograms, three
// nodes with per-second utilisation, two workloads, and a crash of app-2
// from 20s to 35s (during which app-2 serves nothing and errors rise), and
// a backend added at 45s; the topology of its built-in SUT (one pool behind
// one proxy replica). It is deterministic.
func richResult(t testing.TB) *Result {
	t.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	const seconds, rate = 60, 200
	nodes := []string{"app-1", "app-2", "app-3"}
	all, svc := NewHistogram(), NewHistogram()
	perWorkload := []*hdrhistogram.Histogram{NewHistogram(), NewHistogram()}
	res := &Result{
		SchemaVersion: SchemaVersion,
		Tool:          "ilities test",
		Scenario:      "checkout under backend failure",
		Seed:          42,
		Target:        "http://127.0.0.1:41234",
		Strategy:      "least-connections",
		Started:       time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		DurationS:     seconds,
		MeasuredS:     seconds,
		Nodes: []Node{
			{Name: "app-1", Weight: 1, Utilisation: 0.52},
			{Name: "app-2", Weight: 1, Utilisation: 0.31},
			{Name: "app-3", Weight: 1, Utilisation: 0.55},
		},
		Faults: []Fault{
			{Kind: "crash", Node: "app-2", AtS: 20, ForS: 15, DetectionTimeS: 0.75, RecoveryTimeS: 2.4},
			{Kind: "add-backend", Node: "app-4", AtS: 45, DetectionTimeS: -1, RecoveryTimeS: 0},
		},
		Manifest: Manifest{
			ScenarioFile: "examples/checkout.yaml",
			ScenarioYAML: "name: checkout under backend failure\nseed: 42\nduration: 60s\n# <script>alert(1)</script> stays text\n",
			GoVersion:    "go1.26.8",
			Platform:     "linux/amd64",
			CPUs:         2,
		},
		Generator: Generator{SendLagMS: Percentiles{Count: 12000, P50: 0.02, P90: 0.05, P99: 0.12, Max: 3.1}},
	}
	res.Stats.Errors = map[string]int64{}
	for sec := range seconds {
		crashed := sec >= 20 && sec < 35
		h := NewHistogram()
		win := Window{T: sec, Nodes: map[string]int64{}, Utilisation: map[string]float64{}, Errors: map[string]int64{}}
		for i := range rate {
			win.Scheduled++
			wl := i % 2
			// The second after the crash loses requests until the proxy ejects app-2.
			if crashed && sec < 22 && i%3 == 1 {
				win.Failed++
				win.Errors["refused"]++
				continue
			}
			node := nodes[i%3]
			if crashed && node == "app-2" {
				node = nodes[(i/3)%2*2] // app-1 or app-3 take over
			}
			mean := 4.0
			if crashed {
				mean = 9
			}
			us := int64(1000 * mean * math.Exp(rng.NormFloat64()*0.6))
			RecordUS(h, us)
			RecordUS(all, us)
			RecordUS(perWorkload[wl], us)
			RecordUS(svc, us*9/10)
			win.Succeeded++
			win.Nodes[node]++
		}
		win.ThroughputRPS = float64(win.Succeeded)
		win.LatencyMS = WindowLatencyOf(h)
		var err error
		if win.Histogram, err = EncodeHistogram(h); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			u := float64(win.Nodes[n]) / rate * 1.6
			if n == "app-2" && crashed {
				u = 0
			}
			win.Utilisation[n] = u
		}
		if len(win.Errors) == 0 {
			win.Errors = nil
		}
		res.Totals.Scheduled += win.Scheduled
		res.Totals.Succeeded += win.Succeeded
		res.Totals.Failed += win.Failed
		for k, v := range win.Errors {
			res.Stats.Errors[k] += v
		}
		for n, c := range win.Nodes {
			for i := range res.Nodes {
				if res.Nodes[i].Name == n {
					res.Nodes[i].Requests += c
				}
			}
		}
		res.Windows = append(res.Windows, win)
	}
	res.LatencyMS, res.ServiceLatencyMS = PercentilesOf(all), PercentilesOf(svc)
	var err error
	if res.Histograms.Latency, err = EncodeHistogram(all); err != nil {
		t.Fatal(err)
	}
	if res.Histograms.ServiceLatency, err = EncodeHistogram(svc); err != nil {
		t.Fatal(err)
	}
	res.Stats.Derive(res.MeasuredS)
	res.Availability.Time = AvailabilityByTime(res.Windows, 0.99)
	for i, name := range []string{"browse", "shoppers"} {
		w := WorkloadResult{Name: name}
		w.LatencyMS = PercentilesOf(perWorkload[i])
		if w.Histograms.Latency, err = EncodeHistogram(perWorkload[i]); err != nil {
			t.Fatal(err)
		}
		w.Totals = Totals{Scheduled: res.Totals.Scheduled / 2, Succeeded: res.Totals.Succeeded / 2, Failed: res.Totals.Failed / 2}
		w.Derive(res.MeasuredS)
		res.Workloads = append(res.Workloads, w)
	}
	var total int64
	for _, n := range res.Nodes {
		total += n.Requests
	}
	for i := range res.Nodes {
		res.Nodes[i].Share = float64(res.Nodes[i].Requests) / float64(total)
	}
	// The infrastructure behind it: one proxy replica (a single point of
	// failure) in front of the pool.
	sut := &scenario.SUT{Proxy: scenario.Proxy{ProxyOptions: scenario.ProxyOptions{Replicas: 1}},
		Pools: []scenario.Pool{{Name: "app", Backends: backendsOf("app", 3)}}}
	var counters []TierNodeCounters
	for _, n := range res.Nodes {
		counters = append(counters, TierNodeCounters{Name: n.Name, Pool: "app", Workers: 1, Utilisation: n.Utilisation})
	}
	AttachTiers(res, sut, counters)
	res.SinglePointsOfFailure = SinglePointsOfFailure(&scenario.Scenario{SUT: sut})
	Evaluate(res, []scenario.Requirement{
		{Text: "throughput >= 190/s", Metric: "throughput", Op: ">=", Threshold: 190, Unit: scenario.UnitRate},
		{Text: "p99(latency) < 40ms", Metric: "latency", Agg: "p99", Op: "<", Threshold: 40, Unit: scenario.UnitDuration},
		{Text: "p99(latency) < 20ms for browse", Metric: "latency", Agg: "p99", Op: "<", Threshold: 20, Unit: scenario.UnitDuration, Scope: "browse"},
		{Text: "availability >= 99.9%", Metric: "availability", Op: ">=", Threshold: 0.999, Unit: scenario.UnitPercent},
		{Text: "error_rate < 1%", Metric: "error_rate", Op: "<", Threshold: 0.01, Unit: scenario.UnitPercent},
	})
	return res
}
