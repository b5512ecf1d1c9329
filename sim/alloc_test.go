package sim

import (
	"context"
	"fmt"
	"testing"
)

// A request costs the simulation no allocation of its own: ten times the
// requests over the same simulated seconds (the same windows, whose
// histograms the recording allocates) allocate about the same while the
// calendar plays. The requests all take the same time (constant service,
// evenly spaced arrivals that never queue), so that the windows'
// histograms, encoded as they are finished, fill as many buckets either
// way: hdrhistogram-go allocates per bucket it encodes.
func TestNoAllocationPerRequest(t *testing.T) {
	allocs := func(rate int) (float64, int64) {
		sc := parse(t, fmt.Sprintf(`
seed: 2
duration: 3s
sut:
  pools:
    - name: app
      backends:
        - {name: a, workers: 8, service_time: {dist: constant, value: 1ms}}
        - {name: b, workers: 8, service_time: {dist: constant, value: 1ms}}
workload:
  - {arrival: uniform, rate: %d/s, timeout: 1s, requests: [{path: /a}, {path: /b}]}
`, rate))
		var requests int64
		n := testing.AllocsPerRun(2, func() {
			s, err := build(sc, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			requests = int64(s.workloads[0].drawn)
		})
		return n, requests
	}
	few, fewRequests := allocs(1000)
	many, manyRequests := allocs(10000)
	perRequest := (many - few) / float64(manyRequests-fewRequests)
	t.Logf("%.0f allocations for %d requests, %.0f for %d: %.4f per request", few, fewRequests, many, manyRequests, perRequest)
	if perRequest > 0.01 {
		t.Errorf("%.4f allocations per request, want none", perRequest)
	}
}
