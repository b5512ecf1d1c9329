package sim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkSimulate measures how many simulated requests a second of wall
// time carries, and what each costs in allocations, for a pool of 10 and
// of 1,000 backends behind round-robin (whose pick, as every strategy's,
// reads each member's availability: it grows with the pool). Each run
// holds its arrivals, at half each backend's capacity, and every request
// is recorded as a live run records it.
func BenchmarkSimulate(b *testing.B) {
	for _, tc := range []struct {
		backends int
		rate     int // per second, over the pool
		seconds  int
	}{
		{10, 20_000, 5},
		{1000, 500_000, 2},
	} {
		b.Run(fmt.Sprintf("backends=%d", tc.backends), func(b *testing.B) {
			var pool strings.Builder
			for i := range tc.backends {
				fmt.Fprintf(&pool, "        - {name: b%d, workers: 4, service_time: {dist: exponential, mean: %s}}\n",
					i, time.Duration(float64(2*time.Second)*float64(tc.backends)/float64(tc.rate)))
			}
			sc := parse(b, fmt.Sprintf(`seed: 1
duration: %ds
sut:
  pools:
    - name: app
      backends:
%sworkload:
  - {arrival: poisson, rate: %d/s, requests: [{path: /}]}
`, tc.seconds, pool.String(), tc.rate))
			b.ReportAllocs()
			var requests int64
			start := time.Now()
			for b.Loop() {
				res, err := Run(context.Background(), sc, DefaultOptions())
				if err != nil {
					b.Fatal(err)
				}
				requests += res.Totals.Scheduled
			}
			b.ReportMetric(float64(requests)/time.Since(start).Seconds(), "requests/s")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}
