package scenario

import (
	"strings"
	"testing"
)

func TestParseRequirement(t *testing.T) {
	tests := []struct {
		in   string
		want Requirement
	}{
		{"p99(latency) < 150ms for browse", Requirement{Metric: "latency", Agg: "p99", Op: "<", Threshold: 150, Unit: UnitDuration, Scope: "browse"}},
		{"p999(service_latency) <= 1.5s", Requirement{Metric: "service_latency", Agg: "p999", Op: "<=", Threshold: 1500, Unit: UnitDuration}},
		// The reports' spelling names the same aggregation.
		{"p99.9(latency) < 1s", Requirement{Metric: "latency", Agg: "p999", Op: "<", Threshold: 1000, Unit: UnitDuration}},
		{"p99.99( service_latency ) < 2s", Requirement{Metric: "service_latency", Agg: "p9999", Op: "<", Threshold: 2000, Unit: UnitDuration}},
		{"mean( latency ) < 250us", Requirement{Metric: "latency", Agg: "mean", Op: "<", Threshold: 0.25, Unit: UnitDuration}},
		{"throughput >= 700/s", Requirement{Metric: "throughput", Op: ">=", Threshold: 700, Unit: UnitRate}},
		{"request_rate > 42000/min", Requirement{Metric: "request_rate", Op: ">", Threshold: 700, Unit: UnitRate}},
		{"throughput>=700", Requirement{Metric: "throughput", Op: ">=", Threshold: 700, Unit: UnitRate}},
		{"error_rate < 1%", Requirement{Metric: "error_rate", Op: "<", Threshold: 0.01, Unit: UnitPercent}},
		{"availability >= 0.995", Requirement{Metric: "availability", Op: ">=", Threshold: 0.995, Unit: UnitPercent}},
		{"error_rate < 0.01", Requirement{Metric: "error_rate", Op: "<", Threshold: 0.01, Unit: UnitPercent}},
		{"error_rate == 0", Requirement{Metric: "error_rate", Op: "==", Threshold: 0, Unit: UnitPercent}},
		{"availability >= 1.0", Requirement{Metric: "availability", Op: ">=", Threshold: 1, Unit: UnitPercent}},
		{"fairness > 0.9", Requirement{Metric: "fairness", Op: ">", Threshold: 0.9, Unit: UnitPercent}},
		{"availability(time) >= 99%", Requirement{Metric: "availability(time)", Op: ">=", Threshold: 0.99, Unit: UnitPercent}},
		{"availability(time) >= 99% for checkout flow", Requirement{Metric: "availability(time)", Op: ">=", Threshold: 0.99, Unit: UnitPercent, Scope: "checkout flow"}},
		{"dropped == 0", Requirement{Metric: "dropped", Op: "==", Threshold: 0, Unit: UnitCount}},
		{"failed != 3 for api", Requirement{Metric: "failed", Op: "!=", Threshold: 3, Unit: UnitCount, Scope: "api"}},
	}
	for _, tt := range tests {
		got, err := ParseRequirement(tt.in)
		if err != nil {
			t.Errorf("ParseRequirement(%q): %v", tt.in, err)
			continue
		}
		tt.want.Text = tt.in
		if !near(got.Threshold, tt.want.Threshold, 1e-9) {
			t.Errorf("ParseRequirement(%q).Threshold = %v, want %v", tt.in, got.Threshold, tt.want.Threshold)
		}
		got.Threshold = tt.want.Threshold
		if got != tt.want {
			t.Errorf("ParseRequirement(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseRequirementErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"p99(latency) < 700/s", `p99(latency) needs a duration such as "150ms", got "700/s"`},
		{"throughput >= 150ms", `throughput needs a rate such as "700/s", got "150ms"`},
		{"error_rate < 5", `error_rate needs a percentage such as "99.9%", got "5"`},
		{"error_rate < 1", `error_rate needs a percentage such as "99.9%", got "1": a bare 1 is ambiguous: write "1%"`},
		{"availability >= 99", `write "99%" for a percentage`},
		{"availability >= 1.5", `a bare fraction must be between 0 and 1 (write "1.5%" for a percentage)`},
		{"fairness > 2", `write "2%" for a percentage`},
		{"max(utilisation) < 80", `write "80%" for a percentage`},
		{"error_rate < 1/s", `error_rate needs a percentage such as "99.9%", got "1/s"`},
		{"dropped == 1%", `dropped needs a count such as "0", got "1%"`},
		{"p99(latency) < 150", `p99(latency) needs a duration such as "150ms", got "150"`},
		{"cpu < 80%", `unknown metric "cpu"; known metrics: latency, service_latency, throughput, request_rate, error_rate, availability, availability(time),`},
		{"p99(latenc) < 1s", `unknown metric "latenc" (did you mean "latency"?)`},
		{"latency < 150ms", `latency is a distribution: it needs an aggregation such as p99(latency)`},
		{"p98(latency) < 150ms", `unknown aggregation "p98" in "p98(latency)"; expected one of p50,`},
		{"p99.999(latency) < 1s", `p99, p999 (p99.9), p9999 (p99.99), max`},
		{"max(throughput) > 5/s", `throughput is a single value and takes no aggregation`},
		{"p99(latency) 150ms", `no comparison operator`},
		{"dropped = 0", `write "==" to compare for equality`},
		{"< 5", `no metric before "<"`},
		{"dropped <", `no value after "<"`},
		{"dropped < 0 for", `"for" needs a workload name`},
		{"dropped < for x", `no value after "<"`},
	}
	for _, tt := range tests {
		_, err := ParseRequirement(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseRequirement(%q) error = %v\nwant it to contain %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestRequirementCompare(t *testing.T) {
	tests := []struct {
		text     string
		observed float64
		want     bool
	}{
		{"p99(latency) < 150ms", 149.9, true},
		{"p99(latency) < 150ms", 150, false},
		{"p99(latency) <= 150ms", 150, true},
		{"throughput > 700/s", 700, false},
		{"throughput >= 700/s", 700, true},
		{"dropped == 0", 0, true},
		{"dropped == 0", 1, false},
		{"dropped != 0", 1, true},
	}
	for _, tt := range tests {
		r, err := ParseRequirement(tt.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Compare(tt.observed); got != tt.want {
			t.Errorf("%q.Compare(%v) = %v, want %v", tt.text, tt.observed, got, tt.want)
		}
	}
}
