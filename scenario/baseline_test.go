package scenario

import (
	"strings"
	"testing"
)

func TestParseRelativeRequirement(t *testing.T) {
	cases := []struct {
		in      string
		want    *Relative // nil: an absolute threshold
		scope   string
		wantErr string
	}{
		{in: "p99(latency) <= baseline * 1.10", want: &Relative{Factor: 1.10}},
		{in: "p99(latency) <= baseline x 1.2 for browse", want: &Relative{Factor: 1.2}, scope: "browse"},
		{in: "throughput >= baseline - 5%", want: &Relative{Factor: 0.95}},
		{in: "throughput >= baseline", want: &Relative{Factor: 1}},
		{in: "p95(latency) < baseline + 20ms", want: &Relative{Factor: 1, Offset: 20}},
		{in: "throughput > baseline - 50/s", want: &Relative{Factor: 1, Offset: -50}},
		{in: "error_rate <= baseline + 10%", want: &Relative{Factor: 1.10}},
		{in: "failed <= baseline + 3", want: &Relative{Factor: 1, Offset: 3}},
		{in: "p99(latency) < 150ms", want: nil},
		{in: "p99(latency) <= baseline * -1", wantErr: `relative to the baseline is "baseline", "baseline * 1.10"`},
		{in: "p99(latency) <= baseline / 2", wantErr: `got "baseline / 2"`},
		{in: "throughput >= baseline - 150%", wantErr: `got "baseline - 150%"`},
		{in: "p99(latency) <= baseline + 5/s", wantErr: `expected a duration such as "250ms"`},
		{in: "error_rate <= baseline + 0.001", wantErr: `a percentage metric changes by a share of the baseline's figure`},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			req, err := ParseRequirement(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (req.Baseline == nil) != (c.want == nil) || (c.want != nil && (!near(req.Baseline.Factor, c.want.Factor, 1e-12) || req.Baseline.Offset != c.want.Offset)) {
				t.Errorf("relative %+v, want %+v", req.Baseline, c.want)
			}
			if req.Scope != c.scope {
				t.Errorf("scope %q, want %q", req.Scope, c.scope)
			}
		})
	}
}

func TestRelativeOf(t *testing.T) {
	if got := (Relative{Factor: 1.1, Offset: 2}).Of(20); !near(got, 24, 1e-12) {
		t.Errorf("1.1 × 20 + 2 = %v", got)
	}
}
