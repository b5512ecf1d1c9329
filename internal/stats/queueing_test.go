package stats

import (
	"math"
	"testing"
)

func TestMMcResponse(t *testing.T) {
	cases := []struct {
		c                     int
		lambda, service, want float64
	}{
		{1, 50, 0.01, 0.02},            // M/M/1 at ρ = 0.5: S / (1 − ρ)
		{1, 80, 0.01, 0.05},            // ρ = 0.8
		{2, 100, 0.01, 0.01 + 1.0/300}, // C(2, 1) = 1/3, cμ − λ = 100
		{64, 10, 0.01, 0.01},           // ample servers: the service alone
	}
	for _, tc := range cases {
		if got := MMcResponse(tc.c, tc.lambda, tc.service); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("MMcResponse(%d, %g, %g) = %.9f, want %.9f", tc.c, tc.lambda, tc.service, got, tc.want)
		}
	}
}
