package scenario

import "strings"

// Requirement is one non-functional requirement, parsed from text such as
//
//	p99(latency) < 150ms for browse
//	throughput >= 700/s
//	error_rate < 1%
//	availability >= 99.5%
//
// Threshold is held in the metric's base unit: milliseconds for durations,
// requests per second for rates, a fraction in [0,1] for percentages, and a
// plain number for counts.
type Requirement struct {
	Text string `json:"text"`
	// Metric is the metric's name as written, e.g. "latency", "throughput".
	Metric string `json:"metric"`
	// Agg is the aggregation for distribution metrics, by its name in
	// Aggregations (p999 also when written p99.9). Empty for scalar metrics.
	Agg string `json:"agg,omitempty"`
	// Op is one of <, <=, >, >=, ==, !=.
	Op        string  `json:"op"`
	Threshold float64 `json:"threshold"`
	Unit      Unit    `json:"unit"`
	// Scope is a workload name ("for browse"), a request name when
	// RequestScope (quoted: for "POST /cart"), or "" for the whole run.
	Scope        string `json:"scope,omitempty"`
	RequestScope bool   `json:"request_scope,omitempty"`
	// Baseline, when set, makes Threshold relative to a baseline run's
	// figure ("baseline * 1.10"): it is filled in when one is given.
	Baseline *Relative `json:"baseline,omitempty"`
	// Line and Column locate the requirement in its file (1-based; 0 if unknown).
	Line   int `json:"-"`
	Column int `json:"-"`
}

// Unit is the kind of quantity a metric measures.
type Unit string

const (
	UnitDuration Unit = "ms" // thresholds in milliseconds
	UnitRate     Unit = "/s" // requests per second
	UnitPercent  Unit = "%"  // a fraction in [0,1], shown as a percentage
	UnitCount    Unit = "count"
)

// MetricInfo describes a metric a requirement may name.
type MetricInfo struct {
	Name string
	Unit Unit
	// Distribution metrics need an aggregation: p99(latency).
	Distribution bool
	// Aggs, when set, are the only aggregations the metric takes.
	Aggs []string
	Help string
}

// Metrics is the vocabulary of requirement metrics. The report package
// evaluates each of them; a name not listed here is a validation error.
var Metrics = []MetricInfo{
	{Name: "latency", Unit: UnitDuration, Distribution: true, Help: "completion - intended send time (open loop)"},
	{Name: "service_latency", Unit: UnitDuration, Distribution: true, Help: "completion - actual send time"},
	{Name: "throughput", Unit: UnitRate, Help: "successful responses per second"},
	{Name: "request_rate", Unit: UnitRate, Help: "completed requests per second"},
	{Name: "error_rate", Unit: UnitPercent, Help: "failed / scheduled"},
	{Name: "availability", Unit: UnitPercent, Help: "succeeded / scheduled"},
	{Name: "availability(time)", Unit: UnitPercent, Help: "fraction of one-second windows with success ratio >= window_ok"},
	{Name: "scheduled", Unit: UnitCount, Help: "arrivals scheduled"},
	{Name: "succeeded", Unit: UnitCount, Help: "successful responses"},
	{Name: "failed", Unit: UnitCount, Help: "failed requests"},
	{Name: "dropped", Unit: UnitCount, Help: "arrivals the generator could not send"},
	{Name: "utilisation", Unit: UnitPercent, Distribution: true, Aggs: []string{"max", "min", "mean"}, Help: "busy worker-time / (workers x wall time) of the nodes: max, min or mean over them"},
	{Name: "recovery_time", Unit: UnitDuration, Help: "per fault, until success is back at or above window_ok for 3 windows; the longest"},
	{Name: "detection_time", Unit: UnitDuration, Help: "per fault, until the proxy stopped sending to the node; the longest"},
	{Name: "failover_time", Unit: UnitDuration, Help: "per site-down fault, until the clients that sent the site requests while it was down could be served elsewhere through DNS (detection + TTL); the longest"},
	{Name: "requests_lost", Unit: UnitCount, Help: "requests sent to a site while it was down (site-down), which failed: the DNS failover's cost"},
	{Name: "session_loss", Unit: UnitCount, Help: "session steps answered by a backend that did not know the session"},
	{Name: "fairness", Unit: UnitPercent, Help: "Jain's index of (share / weight) over the nodes, 0..1"},
	{Name: "single_points_of_failure", Unit: UnitCount, Help: "the built-in SUT's single points of failure, read from its topology"},
	{Name: "projected_availability", Unit: UnitPercent, Help: "the service's long-run availability projected from the nodes' mtbf and mttr and the tiers' redundancy"},
}

// Aggregations are the allowed aggregations of distribution metrics.
var Aggregations = []string{"p50", "p75", "p90", "p95", "p99", "p999", "p9999", "max", "min", "mean", "stddev"}

// aggregationLabels are the aggregations the reports write with their
// decimal point; a requirement may name them either way.
var aggregationLabels = map[string]string{"p999": "p99.9", "p9999": "p99.99"}

// AggregationLabel is how the reports write an aggregation: p99.9 for p999.
func AggregationLabel(agg string) string {
	if label, ok := aggregationLabels[agg]; ok {
		return label
	}
	return agg
}

// aggregationNamed is the aggregation a requirement's spelling names, by
// its name in Aggregations: p999 for p99.9.
func aggregationNamed(spelling string) string {
	for name, label := range aggregationLabels {
		if spelling == label {
			return name
		}
	}
	return spelling
}

// aggregationList names every aggregation for an error message, each
// label beside its name: "p999 (p99.9)".
func aggregationList() string {
	names := make([]string, len(Aggregations))
	for i, agg := range Aggregations {
		names[i] = agg
		if label := AggregationLabel(agg); label != agg {
			names[i] += " (" + label + ")"
		}
	}
	return strings.Join(names, ", ")
}

// LookupMetric returns the metric's description and whether it is known.
func LookupMetric(name string) (MetricInfo, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return MetricInfo{}, false
}
