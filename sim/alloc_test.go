package sim

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A request costs the simulation no allocation of its own: ten times the
// requests over the same simulated seconds (the same windows, whose
// histograms the recording allocates) allocate about the same while the
// calendar plays. The requests all take the same time (constant service,
// evenly spaced arrivals or constant think times that never queue), so
// that the windows' histograms, encoded as they are finished, fill as many
// buckets either way: hdrhistogram-go allocates per bucket it encodes. A
// closed loop's users are laid out once (their spans, their sources), and
// then cost nothing per request either.
func TestNoAllocationPerRequest(t *testing.T) {
	const pools = `
seed: 2
duration: 3s
data: [{name: users, file: users.csv}]
sut:
  proxy: %s
  pools:
    - name: app
      backends:
        - {name: a, workers: 8, sessions: %[2]v, service_time: {dist: constant, value: 1ms}}
        - {name: b, workers: 8, sessions: %[2]v, service_time: {dist: constant, value: 1ms}}
workload:
`
	const tiers = `
seed: 2
duration: 3s
sut:
  pools:
    - name: web
      backends: [{name: web-1, workers: 32, service_time: {dist: constant, value: 1ms}}]
      calls: [{pool: cache}]
    - name: cache
      cache: {hit_ratio: 50%}
      connections: 4
      backends: [{name: cache-1, workers: 8, service_time: {dist: constant, value: 100us}}]
      calls: [{pool: db, writes: 50%}]
    - name: db
      database: {}
      backends:
        - {name: db-1, workers: 8, service_time: {dist: constant, value: 200us}}
        - {name: db-2, workers: 8, service_time: {dist: constant, value: 200us}}
workload:
`
	const sites = `
seed: 2
duration: 3s
sites:
  - {name: eu, sut: {pools: [{backends: [{workers: 8, service_time: {dist: constant, value: 1ms}}]}]}}
  - {name: us, sut: {pools: [{backends: [{workers: 8, service_time: {dist: constant, value: 1ms}}]}]}}
regions:
  - {name: europe, share: 50%, rtt: {eu: 10ms, us: 80ms}}
  - {name: america, share: 50%, rtt: {eu: 80ms, us: 10ms}}
dns: {policy: load, ttl: 500ms, clients: 50, health: {interval: 100ms}}
workload:
`
	for _, tc := range []struct {
		name, workload string
		few, many      int    // the rate, or the users' requests a second each
		proxy          string // and the backends keep sessions
		sut            string // instead of the two backends
	}{
		{"open loop", "  - {arrival: uniform, rate: %d/s, timeout: 1s, requests: [{path: /a}, {path: /b}]}\n", 1000, 10000, "", ""},
		{"closed loop, a session", "  - {model: closed, users: 8, think_time: {dist: constant, value: %s}, session: [{path: /a}, {path: /b}]}\n", 10, 100, "", ""},
		{"closed loop, test data", "  - {model: closed, users: 8, think_time: {dist: constant, value: %s}, uses: [users], session: [{path: '/a/{{users.name}}'}, {path: /b}]}\n", 10, 100, "", ""},
		{"closed loop, a connection per request", "  - {model: closed, users: 8, think_time: {dist: constant, value: %s}, client: {keepalive: false, max_connections: 4}, requests: [{path: /a}, {path: /b}]}\n", 10, 100, "", ""},
		{"closed loop, sticky sessions over replicas", "  - {model: closed, users: 8, think_time: {dist: constant, value: %s}, client: {max_connections: 2}, session: [{path: /a}, {path: /b}]}\n", 10, 100,
			"{strategy: cookie, replicas: 2, health: {interval: 100ms}}", ""},
		{"open loop through tiers", "  - {arrival: uniform, rate: %d/s, timeout: 1s, requests: [{path: /a}, {path: /b}]}\n", 1000, 10000, "", tiers},
		{"open loop over sites behind DNS", "  - {arrival: uniform, rate: %d/s, timeout: 1s, requests: [{path: /a}, {path: /b}]}\n", 1000, 10000, "", sites},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allocs := func(n int) (float64, int64) {
				param := any(n)
				if strings.Contains(tc.workload, "closed") {
					param = (time.Second/time.Duration(n) - 1100*time.Microsecond).String() // less a request's own time
				}
				proxy := cmp.Or(tc.proxy, "{}")
				sut := cmp.Or(tc.sut, fmt.Sprintf(pools, proxy, tc.proxy != ""))
				sc := load(t, sut+fmt.Sprintf(tc.workload, param), map[string]string{"users.csv": rows(10)})
				allocs := testing.AllocsPerRun(2, func() {
					s, err := build(sc, DefaultOptions())
					if err != nil {
						t.Fatal(err)
					}
					if err := s.run(context.Background()); err != nil {
						t.Fatal(err)
					}
				})
				return allocs, simulate(t, sc, DefaultOptions()).Totals.Scheduled
			}
			few, fewRequests := allocs(tc.few)
			many, manyRequests := allocs(tc.many)
			perRequest := (many - few) / float64(manyRequests-fewRequests)
			t.Logf("%.0f allocations for %d requests, %.0f for %d: %.4f per request", few, fewRequests, many, manyRequests, perRequest)
			if manyRequests < 5*fewRequests {
				t.Fatalf("%d requests, then %d: want ten times as many", fewRequests, manyRequests)
			}
			if perRequest > 0.01 {
				t.Errorf("%.4f allocations per request, want none", perRequest)
			}
		})
	}
}
