package sim

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// tierOf is the figures of tier name in res, failing the test without it.
func tierOf(t *testing.T, res *report.Result, name string) report.Tier {
	t.Helper()
	for _, tr := range res.Tiers {
		if tr.Name == name {
			return tr
		}
	}
	t.Fatalf("no tier %q in %+v", name, res.Tiers)
	return report.Tier{}
}

// threeTier is an open network of three tiers behind the proxy, for
// seconds at rate requests a second: web calls app once, app calls db
// twice, one call after the other. Arrivals are Poisson and every service
// is exponential; app's two backends are drawn at random (a Poisson
// stream split at random stays Poisson). The callers, web and app, have
// workers enough that their own queues never form: each holds a worker
// for the whole of its request, calls included, and hundreds of them are
// never all busy; db is an M/M/2 station.
func threeTier(rate float64, seconds int, seed int64) string {
	return fmt.Sprintf(`name: three-tier
seed: %d
duration: %ds
sut:
  proxy: {timeout: 1h}
  pools:
    - name: web
      backends: [{name: web-1, workers: 256, service_time: {dist: exponential, mean: 1ms}}]
      calls: [{pool: app, timeout: 1h}]
    - name: app
      strategy: random
      backends:
        - {name: app-1, workers: 256, service_time: {dist: exponential, mean: 2ms}}
        - {name: app-2, workers: 256, service_time: {dist: exponential, mean: 2ms}}
      calls: [{pool: db, times: 2, timeout: 1h}]
    - name: db
      backends: [{name: db-1, workers: 2, queue: 100000, service_time: {dist: exponential, mean: 400us}}]
workload:
  - arrival: poisson
    rate: %g/s
    timeout: 1h
    max_inflight: 2000
    requests: [{path: /}]
`, seed, seconds, rate)
}

// The mean response time of an open network of queues is the sum over its
// tiers of visits × residence (the mean time of one visit), each tier an
// M/M/c station at its own arrival rate λ·visits: Jackson's theorem, and
// Kelly's for a route that visits db twice in a row, since each tier's
// services are exponential, first come first served, whoever calls. A
// caller holds its worker while it calls, which is no part of that model:
// with workers enough its queue never forms, so its residence is its own
// service, W = 1/μ (Erlang C with c past any number busy). The simulation,
// with no proxy cost or network delay, is within 2% of Σ visits × W.
//
// Here λ = 1750/s; web visits 1 (1ms), app 1 (2ms, split over two
// backends), db 2: 3500/s at an M/M/2 station of mean service 0.4ms
// (ρ = 0.7), W = 0.4ms/(1−ρ²) = 0.784ms. About 210,000 requests make the
// standard error of the mean, by batch means over the one-second windows,
// about 0.3% (checked): the 2% bound is six of them. The tiers' own
// figures add up to the same mean: Σ latency shares.
func TestAThreeTierNetworkIsTheSumOfItsVisits(t *testing.T) {
	const rate = 1750.0
	res := simulate(t, parse(t, threeTier(rate, 120, 1)), Options{})
	if res.Totals.Succeeded != res.Totals.Scheduled {
		t.Fatalf("%d of %d requests succeeded: none may fail", res.Totals.Succeeded, res.Totals.Scheduled)
	}
	tiers := []struct {
		name    string
		visits  float64
		workers int
		mean    time.Duration
	}{{"web", 1, 256, time.Millisecond}, {"app", 1, 256, 2 * time.Millisecond}, {"db", 2, 2, 400 * time.Microsecond}}
	want, shares := 0.0, 0.0
	for _, tc := range tiers {
		lambda := rate * tc.visits
		if tc.name == "app" {
			lambda /= 2 // each of its two backends
		}
		w := erlangW(tc.workers, lambda, 1/tc.mean.Seconds()) * 1000
		want += tc.visits * w
		got := tierOf(t, res, tc.name)
		shares += got.LatencyShareMS
		t.Logf("%s: %g visits of %.4fms (theory %.4fms)", tc.name, got.Visits, got.ResidenceMS, w)
		if math.Abs(got.Visits-tc.visits) > 0.001 {
			t.Errorf("%s: %g visits per request, want %g", tc.name, got.Visits, tc.visits)
		}
	}
	want -= 0.0005 // latencies are recorded in whole microseconds, cut down
	got, se := res.LatencyMS.Mean, batchSE(t, res)
	t.Logf("%d requests: mean %.4fms, Σ visits × W %.4fms (%+.2f%%), standard error %.2f%%; Σ latency shares %.4fms",
		res.Totals.Succeeded, got, want, 100*(got-want)/want, 100*se, shares)
	if se > 0.005 {
		t.Errorf("standard error %.2f%%: the run is too short to judge 2%%", 100*se)
	}
	if math.Abs(got-want) > 0.02*want {
		t.Errorf("mean response time %.4fms, the network's theory says %.4fms: off by more than 2%%", got, want)
	}
	if math.Abs(shares-got) > 0.005*got {
		t.Errorf("the tiers' latency shares add up to %.4fms, the mean latency is %.4fms", shares, got)
	}
	for name, n := range nodeRequests(res) {
		if n > 0 && !strings.HasPrefix(name, "web-") {
			t.Errorf("node %s gave the clients %d answers: the proxy routes to no tier", name, n)
		}
	}
}

// A caller holds its worker through its calls, made in order, one after
// the other: closed-loop users that keep a one-worker caller busy get one
// answer per own service plus every call's round trip, never more. A
// tier's connections bound its callers' calls the same way.
func TestCallsHoldTheWorkerInOrder(t *testing.T) {
	const sut = `
duration: 10s
sut:
  proxy: {timeout: 1h}
  pools:
    - name: front
      backends: [{name: front-1, workers: %d, queue: 100, service_time: {dist: constant, value: 5ms}}]
      calls: %s
    - name: a
      connections: %d
      backends: [{name: a-1, workers: 64, service_time: {dist: constant, value: 10ms}}]
    - name: b
      backends: [{name: b-1, workers: 64, service_time: {dist: constant, value: 20ms}}]
workload:
  - {model: closed, users: 8, timeout: 1h, requests: [{path: /}]}
`
	for _, tc := range []struct {
		name        string
		workers     int
		calls       string
		connections int
		hop         time.Duration
		hold        time.Duration // what one request holds the caller's worker (or a's connection)
		callsMS     float64       // its time in calls
	}{
		{"a call holds the worker", 1, "[{pool: b}]", 0, 0, 25 * time.Millisecond, 20},
		{"calls are made in order", 1, "[{pool: a}, {pool: b}]", 0, 0, 35 * time.Millisecond, 30},
		{"times are one after the other", 1, "[{pool: a, times: 3}]", 0, 0, 35 * time.Millisecond, 30},
		{"each call crosses the network both ways", 1, "[{pool: a}, {pool: b}]", 0, time.Millisecond, 39 * time.Millisecond, 34},
		// Four workers share the one connection, each busy 4 × 10ms a turn:
		// its own 5ms, then 35ms calling (mostly waiting).
		{"calls wait for one of the tier's connections", 4, "[{pool: a}]", 1, 0, 10 * time.Millisecond, 35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := fmt.Sprintf(sut, tc.workers, tc.calls, tc.connections)
			res := simulate(t, parse(t, yaml), Options{NetworkDelay: tc.hop})
			want := float64(10*time.Second) / float64(tc.hold)
			got := float64(res.Totals.Succeeded)
			if res.Totals.Failed > 0 || math.Abs(got-want) > 8 { // the users' last requests, past the duration
				t.Errorf("%.0f answers in 10s (%d failed), want %.0f: one per %s", got, res.Totals.Failed, want, tc.hold)
			}
			front := tierOf(t, res, "front")
			if front.ServiceMS != 5 || math.Abs(front.CallsMS-tc.callsMS) > 0.1 { // (the first turns)
				t.Errorf("front: service %gms, calls %gms; want 5ms and %gms", front.ServiceMS, front.CallsMS, tc.callsMS)
			}
			if tc.connections == 0 && front.Utilisation < 0.99 {
				t.Errorf("front's worker busy %.3f of the time: a worker making calls is busy", front.Utilisation)
			}
		})
	}
}

// databaseFailover is a database of two nodes, db-1 the primary, whose
// primary crashes at 2s for 3s; writer writes to it, reader reads, each at
// 100 requests a second, evenly spaced.
func databaseFailover(promotion string) string {
	return fmt.Sprintf(`
duration: 10s
sut:
  pools:
    - name: writer
      match: {path_prefix: /w}
      backends: [{name: writer-1, workers: 4, service_time: {dist: constant, value: 1ms}}]
      calls: [{pool: db, writes: 100%%}]
    - name: reader
      match: {path_prefix: /r}
      backends: [{name: reader-1, workers: 4, service_time: {dist: constant, value: 1ms}}]
      calls: [{pool: db}]
    - name: db
      database: {primary: db-1, promotion: %s}
      backends:
        - {name: db-1, workers: 4, service_time: {dist: constant, value: 1ms}}
        - {name: db-2, workers: 4, service_time: {dist: constant, value: 1ms}}
workload:
  - {name: writes, rate: 100/s, requests: [{method: POST, path: /w}]}
  - {name: reads, rate: 100/s, requests: [{path: /r}]}
faults:
  - {at: 2s, kind: crash, node: db-1, for: 3s}
`, promotion)
}

// When a database's primary crashes, its writes fail (502, the failure
// started in the database) for exactly the promotion, after which a
// replica is the primary and takes them; its reads never fail, going to
// the replicas that are up, or the new primary while none is. The old
// primary comes back a replica (no failback). With promotion: 0, no
// replica is promoted: writes fail until the primary is back.
func TestADatabasePromotesAReplica(t *testing.T) {
	for _, tc := range []struct {
		promotion    string
		writesFailed int64
		primary      string
		promotions   int64
		// each node's reads and writes: the requests at 10ms spacing
		// from 5ms, each call 1ms after its arrival; a write refused
		// while the primary is down is a write of the primary, failed.
		reads, writes map[string]int64
	}{
		{"1s", 100, "db-2", 1,
			map[string]int64{"db-1": 500, "db-2": 500},  // db-2 until db-1 is back at 5s, a replica
			map[string]int64{"db-1": 300, "db-2": 700}}, // db-1 to 3s (refused from 2s), db-2 from 3s
		{"0s", 300, "db-1", 0,
			map[string]int64{"db-1": 0, "db-2": 1000},
			map[string]int64{"db-1": 1000, "db-2": 0}},
	} {
		t.Run("promotion "+tc.promotion, func(t *testing.T) {
			s, res := simulateWatching(t, parse(t, databaseFailover(tc.promotion)), Options{}, func(*sim, event) {})
			stats := map[string]report.Stats{}
			for _, w := range res.Workloads {
				stats[w.Name] = w.Stats
			}
			if got := stats["writes"]; got.Totals.Failed != tc.writesFailed || got.StatusCodes[502] != tc.writesFailed {
				t.Errorf("writes: %d failed (%v), want %d 502s", got.Totals.Failed, got.StatusCodes, tc.writesFailed)
			}
			if got := stats["reads"].Totals; got.Failed != 0 || got.Succeeded != 1000 {
				t.Errorf("reads: %d of 1000 succeeded, %d failed: none may fail", got.Succeeded, got.Failed)
			}
			db := tierOf(t, res, "db")
			want := report.TierDatabase{Reads: 1000, Writes: 1000, WritesFailed: tc.writesFailed, Primary: tc.primary, Promotions: tc.promotions}
			if db.Database == nil || *db.Database != want {
				t.Errorf("db: %+v, want %+v", db.Database, want)
			}
			if db.Failures != tc.writesFailed || tierOf(t, res, "writer").Failures != 0 {
				t.Errorf("failures started in db %d, in writer %d: want %d and 0", db.Failures, tierOf(t, res, "writer").Failures, tc.writesFailed)
			}
			for _, n := range s.tierCounters() {
				if want, ok := tc.reads[n.Name]; ok && (n.Reads != want || n.Writes != tc.writes[n.Name]) {
					t.Errorf("%s: %d reads and %d writes, want %d and %d", n.Name, n.Reads, n.Writes, want, tc.writes[n.Name])
				}
			}
		})
	}
}

// Each request draws from its own stream whether a cache hits, whether it
// makes a call of some probability, and whether a call to a database
// writes: the shares are the scenario's, to four standard errors of a
// binomial count, and what a draw decides reaches the tier below exactly
// (a miss, and only a miss, calls down).
func TestEachRequestDrawsItsShares(t *testing.T) {
	const sut = `
seed: %d
duration: 20s
sut:
  pools:
    - name: web
      backends: [{name: web-1, workers: 64, service_time: {dist: exponential, mean: 1ms}}]
      calls: [{pool: mid, probability: %s}]
    - name: mid
      %s
      backends: [{name: mid-1, workers: 64, service_time: {dist: exponential, mean: 1ms}}]
      calls: [{pool: db, writes: %s}]
    - name: db
      database: {}
      backends: [{name: db-1, workers: 64, service_time: {dist: exponential, mean: 1ms}}]
workload:
  - {arrival: poisson, rate: 1000/s, requests: [{path: /}]}
`
	for i, tc := range []struct {
		name                     string
		probability, kind, write string
		want                     float64
		share                    func(web, mid, db report.Tier) (part, whole int64)
	}{
		{"a cache's hit ratio", "100%", "cache: {hit_ratio: 80%}", "0%", 0.8, func(web, mid, db report.Tier) (int64, int64) {
			if db.Served != mid.Cache.Misses {
				return -1, 0
			}
			return mid.Cache.Hits, mid.Served
		}},
		{"a call's probability", "30%", "", "0%", 0.3, func(web, mid, db report.Tier) (int64, int64) { return mid.Served, web.Served }},
		{"a database's writes", "100%", "", "10%", 0.1, func(web, mid, db report.Tier) (int64, int64) {
			return db.Database.Writes, db.Database.Reads + db.Database.Writes
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(sut, i+1, tc.probability, tc.kind, tc.write)), Options{})
			part, whole := tc.share(tierOf(t, res, "web"), tierOf(t, res, "mid"), tierOf(t, res, "db"))
			if part < 0 {
				t.Fatalf("the cache's misses and the database's requests differ: %+v", res.Tiers)
			}
			got, se := float64(part)/float64(whole), math.Sqrt(tc.want*(1-tc.want)/float64(whole))
			t.Logf("%d of %d: %.4f, want %.2f ± %.4f", part, whole, got, tc.want, se)
			if whole < 15000 || math.Abs(got-tc.want) > 4*se {
				t.Errorf("%d of %d: %.4f, want %.2f within %.4f", part, whole, got, tc.want, 4*se)
			}
		})
	}
}

// webAppDB is web calling app calling db, each one backend of constant
// service, 100 requests a second evenly spaced for 4s, and faults.
const webAppDB = `
duration: 4s
sut:
  pools:
    - name: web
      backends: [{name: web-1, workers: 16, service_time: {dist: constant, value: 1ms}}]
      calls: [{pool: app, timeout: 1s}]
    - name: app
      backends: [{name: app-1, workers: 16, service_time: {dist: constant, value: 1ms}}]
      calls: [{pool: db, timeout: 50ms}]
    - name: db
      backends: [{name: db-1, workers: 16, service_time: {dist: constant, value: 1ms}}]
workload:
  - {rate: 100/s, timeout: 2s, requests: [{path: /}]}
faults: [%s]
`

// A call that fails ends its caller's request with 502, and the failure
// is counted in the tier where it started, however far below: a fault in
// the database fails the web's answers as db's, not app's.
func TestAFailureIsCountedWhereItStarted(t *testing.T) {
	for _, tc := range []struct {
		name, fault string
		tier        string
		failed      int64
	}{
		{"injected errors in db", "{at: 1s, for: 1s, kind: errors, node: db-1, percent: 100%}", "db", 100},
		// app's calls held in the last 50ms are answered at the lift.
		{"db hangs past app's timeout", "{at: 1s, for: 1s, kind: hang, node: db-1}", "db", 95},
		{"app crashed", "{at: 1s, for: 1s, kind: crash, node: app-1}", "app", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(webAppDB, tc.fault)), Options{})
			if res.Totals.Failed != tc.failed || res.StatusCodes[502] != tc.failed {
				t.Errorf("%d failed (%v), want %d 502s", res.Totals.Failed, res.StatusCodes, tc.failed)
			}
			for _, tr := range res.Tiers {
				want := int64(0)
				if tr.Name == tc.tier {
					want = tc.failed
				}
				if tr.Failures != want {
					t.Errorf("%d failures started in %s, want %d", tr.Failures, tr.Name, want)
				}
			}
		})
	}
}

// One seed gives one result: a run through tiers, with a cache, a
// database failing over and calls timing out, writes the same result.json
// twice, and another with another seed.
func TestTheSameSeedGivesTheSameResultThroughTiers(t *testing.T) {
	const yaml = `name: tiers
seed: 5
duration: 6s
sut:
  proxy: {strategy: power-of-two, timeout: 200ms, retries: 1}
  pools:
    - name: web
      backends:
        - {name: web-1, workers: 8, service_time: {dist: exponential, mean: 2ms}}
        - {name: web-2, workers: 8, service_time: {dist: exponential, mean: 2ms}}
      calls: [{pool: cache}, {pool: db, probability: 40%, writes: 30%, timeout: 30ms}]
    - name: cache
      strategy: least-response-time
      cache: {hit_ratio: 70%}
      connections: 2
      backends:
        - {name: cache-1, workers: 4, service_time: {dist: exponential, mean: 500us}}
        - {name: cache-2, workers: 4, service_time: {dist: lognormal, median: 400us, p99: 3ms}}
      calls: [{pool: db, times: 2}]
    - name: db
      database: {promotion: 1s}
      backends:
        - {name: db-1, workers: 2, queue: 20, service_time: {dist: exponential, mean: 3ms}}
        - {name: db-2, workers: 2, queue: 20, service_time: {dist: exponential, mean: 3ms}}
workload:
  - {arrival: poisson, rate: 400/s, timeout: 150ms, requests: [{path: /}, {method: POST, path: /cart}]}
faults:
  - {at: 2s, kind: crash, node: db-1, for: 2s}
`
	replays(t, yaml, 5, `"tiers": `, `"hit_ratio": `, `"promotions": 1`, `"502": `, `"writes_failed": `)
}

// A tier's backends come and go as the proxy's do: add-backend joins the
// callers' choices at once, remove-backend takes one out of them at once
// and stops it once its calls in progress have ended (here at once: they
// last 2ms), with no call failing.
func TestATiersBackendsComeAndGo(t *testing.T) {
	faults := "{at: 1s, kind: add-backend, pool: app, backend: {name: app-2, workers: 16, service_time: {dist: constant, value: 1ms}}}, " +
		"{at: 2s, kind: remove-backend, node: app-1, drain: 1s}"
	s, res := simulateWatching(t, parse(t, fmt.Sprintf(webAppDB, faults)), Options{}, func(*sim, event) {})
	if res.Totals.Succeeded != 400 {
		t.Errorf("%d of 400 requests succeeded", res.Totals.Succeeded)
	}
	// app-1 alone for a second, then every other call, then app-2 alone.
	want := map[string]int64{"app-1": 150, "app-2": 250}
	for _, n := range s.tierCounters() {
		if w, ok := want[n.Name]; ok && n.Served != w {
			t.Errorf("%s served %d calls, want %d", n.Name, n.Served, w)
		}
	}
	if !s.stations[1].closed {
		t.Error("app-1 still runs after its drain")
	}
}
