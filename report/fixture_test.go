package report

import (
	"time"

	"github.com/ilities/ilities/scenario"
)

// fixtureRequirements are the requirements of fixtureResult; the one for
// shoppers fails (p99 61.3ms against 40ms).
var fixtureRequirements = []scenario.Requirement{
	{Text: "throughput >= 700/s", Metric: "throughput", Op: ">=", Threshold: 700, Unit: scenario.UnitRate},
	{Text: "p99(latency) < 150ms for browse", Metric: "latency", Agg: "p99", Op: "<", Threshold: 150, Unit: scenario.UnitDuration, Scope: "browse"},
	{Text: "p99(latency) < 40ms for shoppers", Metric: "latency", Agg: "p99", Op: "<", Threshold: 40, Unit: scenario.UnitDuration, Scope: "shoppers"},
	{Text: `p95(latency) < 40ms for "search"`, Metric: "latency", Agg: "p95", Op: "<", Threshold: 40, Unit: scenario.UnitDuration, Scope: "search", RequestScope: true},
	{Text: "availability >= 99.5%", Metric: "availability", Op: ">=", Threshold: 0.995, Unit: scenario.UnitPercent},
	{Text: "error_rate < 1%", Metric: "error_rate", Op: "<", Threshold: 0.01, Unit: scenario.UnitPercent},
}

// fixtureResult is a fixed, synthetic run: two workloads (browse sends two
// requests, shoppers one), three nodes, one fault, three windows, evaluated
// against fixtureRequirements. Every figure
// is deterministic so that renderers can be compared with golden files.
func fixtureResult() *Result {
	res := &Result{
		SchemaVersion: SchemaVersion,
		Tool:          "ilities test",
		Scenario:      "checkout under backend failure",
		Seed:          42,
		Target:        "http://127.0.0.1:41234",
		Strategy:      "least-connections",
		Started:       time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		DurationS:     60,
		MeasuredS:     60,
		Stats: Stats{
			Totals: Totals{Scheduled: 48000, Succeeded: 47790, Failed: 180, Dropped: 30, Late: 12},
			Errors: map[string]int64{"timeout": 95, "5xx": 60, "refused": 25, "reset": 0},
			LatencyMS: Percentiles{Count: 47970, Min: 0.412, Mean: 7.83, Stddev: 11.2, P50: 4.21, P75: 6.9,
				P90: 12.7, P95: 19.4, P99: 48.6, P999: 212, P9999: 905, Max: 1204.5},
			ServiceLatencyMS: Percentiles{Count: 47970, Min: 0.398, Mean: 7.12, Stddev: 10.4, P50: 4.05, P75: 6.6,
				P90: 11.9, P95: 18.1, P99: 44.2, P999: 198, P9999: 870, Max: 1190.25},
			Histograms:  Histograms{Latency: "HISTFAAAAEB42pJpmSzMwMAgzQABzFCaEURcm7yEwf4DRGA7G9NfTZb9XEwveZn6uZgeijBNVGK6rch0n40JEAAA//9GgAx6", ServiceLatency: ""},
			StatusCodes: map[int]int64{200: 47790, 503: 60, 404: 0},
			ErrorSamples: map[string][]ErrorSample{
				"timeout": {{AtS: 20.31, Message: "no response within the timeout"}},
				"5xx":     {{AtS: 20.02, Message: "status 503 Service Unavailable, not an expected status"}},
				"refused": {{AtS: 20.004, Message: "dial tcp 127.0.0.1:41236: connect: connection refused"}},
			},
		},
		Workloads: []WorkloadResult{
			{Name: "browse", Stats: Stats{
				Totals:           Totals{Scheduled: 42000, Succeeded: 41850, Failed: 130, Dropped: 20, Late: 9},
				Errors:           map[string]int64{"timeout": 70, "5xx": 45, "refused": 15},
				LatencyMS:        Percentiles{Count: 41980, Mean: 6.9, P50: 4.02, P90: 11.8, P95: 17.9, P99: 45.1, P999: 198, Max: 1204.5},
				ServiceLatencyMS: Percentiles{Count: 41980, Mean: 6.3, P50: 3.9, P90: 11.1, P95: 16.8, P99: 41.7, P999: 185, Max: 1190.25},
			}},
			{Name: "shoppers", Stats: Stats{
				Totals:           Totals{Scheduled: 6000, Succeeded: 5940, Failed: 50, Dropped: 10, Late: 3},
				Errors:           map[string]int64{"timeout": 25, "5xx": 15, "refused": 10},
				LatencyMS:        Percentiles{Count: 5990, Mean: 14.3, P50: 6.1, P90: 21.4, P95: 33.0, P99: 61.3, P999: 240, Max: 802},
				ServiceLatencyMS: Percentiles{Count: 5990, Mean: 13.1, P50: 5.8, P90: 19.9, P95: 30.2, P99: 57.9, P999: 231, Max: 790},
			}},
		},
		Requests: []RequestResult{
			{Name: "GET /item/{{products.id}}", Workload: "browse", Stats: Stats{
				Totals:    Totals{Scheduled: 35000, Succeeded: 34900, Failed: 85, Dropped: 15},
				Errors:    map[string]int64{"timeout": 45, "5xx": 30, "refused": 10},
				LatencyMS: Percentiles{Count: 34985, Mean: 6.1, P50: 3.9, P90: 10.2, P95: 15.1, P99: 41.0, P999: 190, Max: 1204.5},
			}},
			{Name: "search", Workload: "browse", Stats: Stats{
				Totals:    Totals{Scheduled: 7000, Succeeded: 6950, Failed: 45, Dropped: 5},
				Errors:    map[string]int64{"timeout": 25, "5xx": 15, "refused": 5},
				LatencyMS: Percentiles{Count: 6995, Mean: 10.9, P50: 5.2, P90: 19.6, P95: 31.7, P99: 64.8, P999: 230, Max: 640},
			}},
			{Name: "POST /cart", Workload: "shoppers", Stats: Stats{
				Totals:    Totals{Scheduled: 6000, Succeeded: 5940, Failed: 50, Dropped: 10, Late: 3},
				Errors:    map[string]int64{"timeout": 25, "5xx": 15, "refused": 10},
				LatencyMS: Percentiles{Count: 5990, Mean: 14.3, P50: 6.1, P90: 21.4, P95: 33.0, P99: 61.3, P999: 240, Max: 802},
			}},
		},
		Nodes: []Node{
			{Name: "app-1", Requests: 16210, Weight: 1, Utilisation: 0.62},
			{Name: "app-2", Requests: 12950, Weight: 1, Utilisation: 0.81},
			{Name: "app-3", Requests: 18785, Weight: 1.5},
		},
		Faults: []Fault{
			{Kind: "crash", Node: "app-2", AtS: 20, ForS: 15, EndS: 35, RecoveryTimeS: 2.4, DetectionTimeS: 0.75},
		},
		Windows: []Window{
			{T: 0, Scheduled: 800, Succeeded: 800, ThroughputRPS: 800,
				LatencyMS: WindowLatency{P50: 4.1, P90: 12, P99: 40.2, Max: 77},
				Nodes:     map[string]int64{"app-1": 270, "app-2": 265, "app-3": 265}},
			{T: 1, Scheduled: 800, Succeeded: 780, Failed: 15, Dropped: 5, ThroughputRPS: 780,
				LatencyMS: WindowLatency{P50: 4.4, P90: 13.5, P99: 51.9, Max: 1204.5},
				Errors:    map[string]int64{"timeout": 10, "5xx": 5},
				Nodes:     map[string]int64{"app-1": 300, "app-3": 495}},
			{T: 2, Scheduled: 800, Succeeded: 799, Failed: 1, ThroughputRPS: 799,
				LatencyMS: WindowLatency{P50: 4.2, P90: 12.2, P99: 44, Max: 90},
				Errors:    map[string]int64{"5xx": 1},
				Nodes:     map[string]int64{"app-1": 266, "app-2": 267, "app-3": 267}},
		},
		Generator: Generator{
			SendLagMS: Percentiles{Count: 47970, Mean: 0.031, P50: 0.021, P90: 0.05, P99: 0.12, Max: 3.1},
		},
	}
	res.Stats.Derive(res.MeasuredS)
	res.Availability.Time = 59.0 / 60
	for i := range res.Workloads {
		res.Workloads[i].Derive(res.MeasuredS)
		res.Workloads[i].Availability.Time = 1
	}
	for i := range res.Requests {
		res.Requests[i].Derive(res.MeasuredS)
		res.Requests[i].Availability.Time = 1
	}
	var total int64
	for _, n := range res.Nodes {
		total += n.Requests
	}
	perWeight := make([]float64, len(res.Nodes))
	for i := range res.Nodes {
		res.Nodes[i].Share = float64(res.Nodes[i].Requests) / float64(total)
		perWeight[i] = res.Nodes[i].Share / res.Nodes[i].Weight
	}
	res.Fairness = JainIndex(perWeight)
	res.Projection = Project(fixtureSUT, res.Faults, res.MeasuredS)
	res.SinglePointsOfFailure = SinglePointsOfFailure(fixtureSUT)
	Evaluate(res, fixtureRequirements)
	return res
}

// fixtureSUT is the topology of fixtureResult: one pool of three nodes,
// each failing once a month, behind one proxy replica.
var fixtureSUT = &scenario.Scenario{SUT: &scenario.SUT{
	Proxy: scenario.Proxy{ProxyOptions: scenario.ProxyOptions{Replicas: 1}},
	Pools: []scenario.Pool{{Name: "app", Backends: []scenario.Backend{
		{Name: "app-1", MTBF: scenario.Duration(720 * time.Hour), MTTR: scenario.Duration(30 * time.Minute)},
		{Name: "app-2", MTBF: scenario.Duration(720 * time.Hour)},
		{Name: "app-3"},
	}}},
}}

// saturatedResult is fixtureResult after a run that was cut short by an
// overloaded generator, with one workload and a requirement naming a
// workload the run did not have.
func saturatedResult() *Result {
	res := fixtureResult()
	res.Incomplete = true
	res.MeasuredS = 41.2
	res.Workloads = res.Workloads[:1]
	res.Requests = res.Requests[:2]
	res.Generator.Saturated = true
	res.Generator.Reason = "send rate fell to 93.1% of the schedule"
	res.Faults, res.Projection = nil, nil
	res.Stats.Errors = map[string]int64{"timeout": 180}
	res.Stats.ErrorSamples = map[string][]ErrorSample{"timeout": res.Stats.ErrorSamples["timeout"]}
	Evaluate(res, []scenario.Requirement{
		fixtureRequirements[0],
		{Text: "p99(latency) < 100ms for checkout", Metric: "latency", Agg: "p99", Op: "<", Threshold: 100, Unit: scenario.UnitDuration, Scope: "checkout"},
		{Text: "dropped == 0", Metric: "dropped", Op: "==", Threshold: 0, Unit: scenario.UnitCount},
	})
	return res
}
