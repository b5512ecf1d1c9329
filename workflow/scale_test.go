package workflow

import (
	"encoding/json"
	"strings"
	"testing"
)

// point is a measured count; limit > 0 makes it machine-limited at that
// rate, < 0 machine-limited at any rate tried.
func point(n int, capacity, limit float64) ScalePoint {
	c := &Capacity{Backends: n, MaxRateRPS: capacity, EstimatedRPS: capacity}
	if limit != 0 {
		limit = max(limit, 0)
		c.MachineLimited, c.MachineLimitRPS, c.InvalidRateRPS = true, limit, max(limit*1.05, 50)
		c.MachineLimitReason = "apparatus delay mean 3ms is 30% of mean(latency) < 10ms (more than 10%)"
		c.MaxRateRPS, c.EstimatedRPS = limit, limit
	}
	return ScalePoint{Backends: n, CapacityRPS: c.EstimatedRPS, MaxRateRPS: c.MaxRateRPS, MachineLimited: c.MachineLimited, Search: c}
}

// heldPoint is a count whose search the scenario's max_inflight limited
// beyond limit.
func heldPoint(n int, limit float64) ScalePoint {
	c := &Capacity{Backends: n, MaxRateRPS: limit, EstimatedRPS: limit, WorkloadLimited: true, WorkloadLimitRPS: limit,
		InvalidRateRPS: limit * 1.05, LimitedBy: "max_inflight (1000)"}
	return ScalePoint{Backends: n, CapacityRPS: limit, MaxRateRPS: limit, WorkloadLimited: true, Search: c}
}

// The fit over the counts measured, and what the study says, without runs.
func TestScaleFit(t *testing.T) {
	cases := []struct {
		name       string
		points     []ScalePoint
		fitted     int      // counts fitted (0: no fit)
		degenerate bool     // the fit is reported degenerate
		say, never []string // in the Markdown, and never in it
	}{
		{name: "linear backends: σ = κ = 0 is a finding",
			points: []ScalePoint{point(1, 200, 0), point(2, 400, 0), point(4, 800, 0)}, fitted: 3,
			say: []string{"σ (contention) = 0", "R² 1.000", "| 8 |"}, never: []string{"degenerate", "machine-limited"}},
		{name: "a machine-limited count is left out of the fit",
			points: []ScalePoint{point(1, 200, 0), point(2, 400, 0), point(4, 800, 0), point(8, 0, 700)}, fitted: 3,
			say: []string{"≥ 700.0/s, machine-limited", "8 backend(s): this machine cannot measure beyond 700.0/s", "left out of the fit", "σ (contention)"}},
		{name: "one backend measured far too low (the issue): degenerate, no σ = κ = 0 finding",
			points: []ScalePoint{point(1, 10.9, 0), point(2, 400, 0), point(4, 800, 0)}, fitted: 3, degenerate: true,
			say: []string{"The USL fit is degenerate: capacity per unit rises"}, never: []string{"σ (contention)", "peaks", "projected"}},
		{name: "a count max_inflight limits is left out of the fit, and named",
			points: []ScalePoint{point(1, 200, 0), point(2, 400, 0), point(4, 800, 0), heldPoint(1000, 161672)}, fitted: 3,
			say: []string{"≥ 161672.0/s, limited by max_inflight (1000)", "1000 backend(s): the scenario's max_inflight (1000) limits the offered load beyond 161672.0/s",
				"left out of the fit", "κ (coherency) = 0 "}, never: []string{"machine-limited", "this machine"}},
		{name: "a count max_inflight limits and one the machine does leave too few: refused, each named",
			points: []ScalePoint{point(1, 200, 0), point(2, 0, 300), heldPoint(4, 700)},
			say:    []string{"No USL fit: refused: this machine could not measure the capacity at 2 backend(s); the scenario's max_inflight limited the load offered at 4 backend(s)"}},
		{name: "machine-limited counts leave too few to fit: refused",
			points: []ScalePoint{point(1, 200, 0), point(2, 0, 300), point(4, 0, -1)},
			say: []string{"No USL fit: refused: this machine could not measure the capacity at 2, 4 backend(s)",
				"| 4 | unknown, machine-limited |", "cannot measure this scenario at any rate tried"}, never: []string{"σ (contention)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scalability{Scenario: "t", Points: tc.points}
			s.fit(nil)
			var md strings.Builder
			if err := s.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			out := md.String()
			if (s.Fit != nil) != (tc.fitted > 0) || s.Fit != nil && (s.Fit.DOF+3 < tc.fitted || s.Fit.Degenerate != tc.degenerate) {
				t.Fatalf("fit %+v (%s), want %d counts fitted, degenerate %v\n%s", s.Fit, s.FitError, tc.fitted, tc.degenerate, out)
			}
			if tc.degenerate && (len(s.Projections) > 0 || s.PeakBackends != nil) {
				t.Errorf("projections drawn from a degenerate fit: %+v", s.Projections)
			}
			for _, w := range tc.say {
				if !strings.Contains(out, w) {
					t.Errorf("Markdown lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.never {
				if strings.Contains(out, w) {
					t.Errorf("Markdown has %q:\n%s", w, out)
				}
			}
			if s.MachineLimited() != strings.Contains(out, "machine-limited") {
				t.Errorf("MachineLimited() %v disagrees with the Markdown", s.MachineLimited())
			}
			if _, err := json.Marshal(s); err != nil {
				t.Errorf("scalability.json: %v", err)
			}
			if _, err := s.Chart(); err != nil {
				t.Errorf("chart: %v", err)
			}
		})
	}
}
