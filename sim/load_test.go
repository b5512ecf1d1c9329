package sim

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// load loads a scenario written in a test from a folder of its own, beside
// the data files it names.
func load(t testing.TB, yaml string, files map[string]string) *scenario.Scenario {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// rows is a CSV data file of n rows of one field.
func rows(n int) string {
	var b strings.Builder
	b.WriteString("name\n")
	for i := range n {
		fmt.Fprintf(&b, "user%d\n", i)
	}
	return b.String()
}

// requestTotals are the totals of each request of the first workload, by
// name.
func requestTotals(res *report.Result) map[string]report.Totals {
	out := map[string]report.Totals{}
	for _, r := range res.Requests {
		if r.Workload == res.Workloads[0].Name {
			out[r.Name] = r.Totals
		}
	}
	return out
}

// near reports whether a latency read from a histogram is want, to the
// histograms' three significant digits.
func near(got, want float64) bool { return math.Abs(got-want) <= 0.001*want }

// A closed loop obeys the interactive response-time law, exactly in the
// model: its users N, its throughput X, its mean response time R and
// think time Z have N = X·(R + Z). A station the users saturate sets X
// (its capacity), and R grows to fit.
func TestAClosedLoopKeepsTheResponseTimeLaw(t *testing.T) {
	for _, tc := range []struct {
		name           string
		users, workers int
		think, service string
		thinkMS        float64 // Z
		capacity       float64 // X when the station saturates; 0: not saturated
	}{
		{"exponential think and service", 20, 4, "{dist: exponential, mean: 10ms}", "{dist: exponential, mean: 1ms}", 10, 0},
		{"lognormal think, uniform service", 50, 8, "{dist: lognormal, median: 20ms, p99: 80ms}", "{dist: uniform, min: 1ms, max: 3ms}", 0, 0},
		{"a saturated station", 10, 1, "{dist: constant, value: 10ms}", "{dist: constant, value: 2ms}", 10, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := parse(t, fmt.Sprintf(`seed: 4
duration: 60s
sut:
  pools:
    - name: app
      backends: [{name: b1, workers: %d, queue: 1000, service_time: %s}]
workload:
  - {model: closed, users: %d, think_time: %s, timeout: 1h, requests: [{path: /}]}
`, tc.workers, tc.service, tc.users, tc.think))
			z := tc.thinkMS
			if z == 0 {
				z = float64(sc.Workload[0].ThinkTime.MeanDuration().Microseconds()) / 1000
			}
			res := simulate(t, sc, DefaultOptions())
			if res.Totals.Failed+res.Totals.Dropped != 0 || res.Generator.SendLagMS.Count != 0 {
				t.Fatalf("totals %+v, send lag %+v: want every request answered, none late", res.Totals, res.Generator.SendLagMS)
			}
			x := float64(res.Totals.Succeeded) / res.MeasuredS
			n := x * (res.LatencyMS.Mean + z) / 1000
			t.Logf("X %.1f/s, R %.4fms, Z %.3fms: X(R+Z) = %.4f users of %d", x, res.LatencyMS.Mean, z, n, tc.users)
			if math.Abs(n-float64(tc.users)) > 0.01*float64(tc.users) {
				t.Errorf("X(R+Z) = %.3f, want the %d users within 1%%", n, tc.users)
			}
			if tc.capacity > 0 && math.Abs(x-tc.capacity) > 0.005*tc.capacity {
				t.Errorf("throughput %.1f/s, want the station's capacity %.0f/s", x, tc.capacity)
			}
		})
	}
}

// Staged users come and go as the profile says: a ramp to 10 users over
// 10 s, a hold for 5 s, a ramp down over 5 s. User k (from 1) starts at k
// seconds and, on the way down, leaves at 15 + (10−k)/2 s; each sends a
// request every 100 ms (1 ms of service, 99 ms of thought), and a request
// belongs to the second it was sent in.
func TestStagedUsersFollowTheProfile(t *testing.T) {
	res := simulate(t, parse(t, `
duration: 20s
sut:
  pools:
    - name: app
      backends: [{name: b1, workers: 10, service_time: {dist: constant, value: 1ms}}]
workload:
  - model: closed
    stages: [{ramp_to: 10, over: 10s}, {hold: 10, for: 5s}, {ramp_to: 0, over: 5s}]
    think_time: {dist: constant, value: 99ms}
    requests: [{path: /}]
`), Options{})
	want := make([]int64, 20)
	for k := 1; k <= 10; k++ {
		leave := 150 + 5*(10-k) // in tenths of a second
		for tenth := 10 * k; tenth < leave; tenth++ {
			want[tenth/10]++
		}
	}
	if len(res.Windows) != len(want) {
		t.Fatalf("%d windows, want %d", len(res.Windows), len(want))
	}
	for i, w := range res.Windows {
		if w.Scheduled != want[i] || w.Succeeded != want[i] {
			t.Errorf("second %d: %d sent, %d succeeded; want %d of the profile's users' requests", i, w.Scheduled, w.Succeeded, want[i])
		}
	}
}

// A step that fails (an answer its expect refuses, or a timeout) ends the
// iteration: the steps after it are not sent, and the user begins again
// after its think time. An expect that accepts the answer lets it go on.
func TestAFailedStepEndsTheIteration(t *testing.T) {
	const yaml = `
duration: 2s
sut:
  proxy: {timeout: 1h}
  pools:
    - {name: app, match: {path_prefix: /app}, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}]}
    - {name: slow, match: {path_prefix: /slow}, backends: [{name: s1, workers: 4, service_time: {dist: constant, value: 50ms}}]}
workload:
  - model: closed
    users: 2
    timeout: 20ms
    think_time: {dist: constant, value: 10ms}
    session:
      - {path: /app/login}
      - %s
      - {path: /app/after}
`
	for _, tc := range []struct {
		name, step, second string
		goesOn             bool
	}{
		{"a 404 ends it", "{path: /missing}", "GET /missing", false},
		{"a 404 that expect accepts does not", "{path: /missing, expect: {status: [404]}}", "GET /missing", true},
		{"a timeout ends it", "{path: /slow/report}", "GET /slow/report", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(yaml, tc.step)), Options{})
			steps := requestTotals(res)
			first, second, third := steps["GET /app/login"], steps[tc.second], steps["GET /app/after"]
			// The run's end may cut each user's last iteration short.
			within := func(n, of int64) bool { return n <= of && n >= of-2 }
			if first.Scheduled < 50 || !within(second.Scheduled, first.Scheduled) {
				t.Fatalf("steps %+v: want every iteration to send its first two steps", steps)
			}
			if tc.goesOn && !within(third.Scheduled, second.Scheduled) || !tc.goesOn && third.Scheduled != 0 {
				t.Errorf("the third step sent %d times after %d second steps; want it sent after each: %v", third.Scheduled, second.Scheduled, tc.goesOn)
			}
		})
	}
}

// Every iteration of a session is a session of its own, which its steps
// share: a request of a session carries its user's session, fresh at the
// first step (the cookies a backend set in an earlier iteration are gone)
// and kept by the later ones. Requests of an open loop, or of a closed
// loop without a session, carry none.
func TestEachIterationIsASessionOfItsOwn(t *testing.T) {
	sc := parse(t, `
duration: 2s
sut:
  pools: [{name: app, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}]}]
workload:
  - model: closed
    users: 3
    think_time: {dist: exponential, mean: 5ms}
    session: [{path: /login}, {path: /cart}, {path: /pay}]
  - {model: closed, users: 2, requests: [{path: /browse}]}
  - {rate: 50/s, requests: [{path: /open}]}
`)
	s, err := build(sc, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	s.begin()
	iterations, mark := 0, map[int32]string{} // a user's iteration, as its first step marked its session
	for {
		e, ok := s.cal.next()
		if !ok {
			break
		}
		if e.kind == atProxy {
			f := s.fs.all[e.id]
			switch {
			case f.workload != 0:
				if f.session != -1 {
					t.Fatalf("a request of workload %d carries session %d, want none", f.workload, f.session)
				}
			case f.user < 0 || f.session != s.users[f.user].session || f.session < 0:
				t.Fatalf("a step of user %d carries session %d, want the user's own", f.user, f.session)
			case f.request == 0:
				if got := s.sessions[f.session]; got != newSession() {
					t.Fatalf("iteration %d begins with the session %+v of an earlier one", iterations, got)
				}
				iterations++
				mark[f.user] = "iteration " + strconv.Itoa(iterations)
				s.sessions[f.session].proxyCookie = mark[f.user] // a cookie no upstream answers to, say
			case s.sessions[f.session].proxyCookie != mark[f.user]:
				t.Fatalf("step %d of user %d's %s sees session %+v", f.request, f.user, mark[f.user], s.sessions[f.session])
			}
		}
		s.handle(e)
	}
	if iterations < 3*50 {
		t.Errorf("%d iterations in 2s, want hundreds", iterations)
	}
}

// Without keep-alive each request opens its connection: its set-up, a
// round trip, adds two hops to every request, open or closed loop.
func TestAConnectionPerRequestAddsItsSetUp(t *testing.T) {
	const yaml = `
duration: 2s
sut:
  pools: [{name: app, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}]}]
workload:
  - %s
`
	opts := Options{ProxyCost: 32 * time.Microsecond, NetworkDelay: 16 * time.Microsecond}
	for _, tc := range []struct {
		name, workload string
		hops           int
	}{
		{"open, kept alive", "{rate: 20/s, requests: [{path: /}]}", 4},
		{"open, a connection per request", "{rate: 20/s, client: {keepalive: false}, requests: [{path: /}]}", 6},
		{"closed, kept alive", "{model: closed, users: 2, think_time: {dist: constant, value: 50ms}, requests: [{path: /}]}", 4},
		{"closed, a connection per request", "{model: closed, users: 2, think_time: {dist: constant, value: 50ms}, client: {keepalive: false}, requests: [{path: /}]}", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(yaml, tc.workload)), opts)
			want := (time.Millisecond + opts.ProxyCost + time.Duration(tc.hops)*opts.NetworkDelay).Seconds() * 1000
			if l := res.LatencyMS; res.Totals.Succeeded == 0 || !near(l.Min, want) || !near(l.Max, want) {
				t.Errorf("latency %+v of %d requests, want each %.3fms", l, res.Totals.Succeeded, want)
			}
		})
	}
}

// Requests beyond max_connections wait for a connection in order, holding
// their in-flight slot: the wait is in their latency, never in their send
// lag, and drops nothing. One connection carries one 15 ms request at a
// time while arrivals come every 10 ms: the k-th (from 0) takes 15 + 5k
// ms. Four users and one connection take turns: each waits
// for the three others.
func TestRequestsWaitForAConnection(t *testing.T) {
	const yaml = `
duration: 1s
sut:
  pools: [{name: app, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: %s}}]}]
workload:
  - %s
`
	for _, tc := range []struct {
		name, service, workload string
		minMS, p50MS, maxMS     float64
	}{
		{"open, one connection", "15ms", "{rate: 100/s, max_inflight: 100, timeout: 1h, client: {max_connections: 1}, requests: [{path: /}]}", 15, 260, 510},
		{"open, enough connections", "15ms", "{rate: 100/s, max_inflight: 100, timeout: 1h, client: {max_connections: 2}, requests: [{path: /}]}", 15, 15, 15},
		{"closed, one connection", "10ms", "{model: closed, users: 4, timeout: 1h, client: {max_connections: 1}, requests: [{path: /}]}", 10, 40, 40},
		{"closed, a connection each", "10ms", "{model: closed, users: 4, timeout: 1h, requests: [{path: /}]}", 10, 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(yaml, tc.service, tc.workload)), Options{})
			if l := res.LatencyMS; !near(l.Min, tc.minMS) || !near(l.P50, tc.p50MS) || !near(l.Max, tc.maxMS) {
				t.Errorf("latency min %.3f, p50 %.3f, max %.3fms; want %g, %g, %g", l.Min, l.P50, l.Max, tc.minMS, tc.p50MS, tc.maxMS)
			}
			if tot := res.Totals; tot.Succeeded != tot.Scheduled || res.Generator.SendLagMS.Count != 0 || res.Generator.Saturated {
				t.Errorf("totals %+v, generator %+v: want every request answered, none sent late", tot, res.Generator)
			}
		})
	}
}

// A source with when_exhausted: stop that runs out stops what draws from
// it, counting rows as the runner does: an open loop's later arrivals are
// data_exhausted, one row each, from a cursor every workload shares; a
// closed loop's users stop, one row per iteration (sequential), or one
// row for the run (unique: a user without one never sends).
func TestAStoppingSourceRunsOut(t *testing.T) {
	const head = "duration: 2s\nsut:\n  pools: [{name: app, backends: [{name: b1, workers: 8, service_time: {dist: constant, value: 1ms}}]}]\n"
	for _, tc := range []struct {
		name, data, workloads  string
		rows                   int
		sent, exhausted, users int64 // users: the closed loop sends what this many users without data send
	}{
		{"open, sequential", "{name: users, file: users.csv, when_exhausted: stop}",
			"  - {rate: 10/s, uses: [users], requests: [{path: '/u/{{users.name}}'}]}\n", 5, 5, 15, 0},
		{"open, two workloads share the cursor", "{name: users, file: users.csv, when_exhausted: stop}",
			"  - {rate: 10/s, uses: [users], requests: [{path: /a}]}\n  - {rate: 10/s, uses: [users], requests: [{path: /b}]}\n", 8, 8, 32, 0},
		{"open, wrapping", "{name: users, file: users.csv}",
			"  - {rate: 10/s, uses: [users], requests: [{path: /}]}\n", 5, 20, 0, 0},
		{"open, random rows never run out", "{name: users, file: users.csv, order: random, when_exhausted: stop}",
			"  - {rate: 10/s, uses: [users], requests: [{path: /}]}\n", 5, 20, 0, 0},
		{"closed, a row per iteration", "{name: users, file: users.csv, when_exhausted: stop}",
			"  - {model: closed, users: 3, think_time: {dist: constant, value: 100ms}, uses: [users], session: [{path: /login}, {path: /cart}]}\n", 5, 10, 0, 0},
		{"closed, a row per user", "{name: users, file: users.csv, order: unique, when_exhausted: stop}",
			"  - {model: closed, users: 3, think_time: {dist: constant, value: 100ms}, uses: [users], session: [{path: /login}, {path: /cart}]}\n", 2, 0, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := load(t, head+"data: ["+tc.data+"]\nworkload:\n"+tc.workloads, map[string]string{"users.csv": rows(tc.rows)})
			res := simulate(t, sc, Options{})
			want := tc.sent
			if tc.users > 0 {
				plain := strings.Replace(strings.Replace(tc.workloads, "users: 3", fmt.Sprintf("users: %d", tc.users), 1), "uses: [users], ", "", 1)
				want = simulate(t, parse(t, head+"workload:\n"+plain), Options{}).Totals.Succeeded
			}
			if tot := res.Totals; tot.Succeeded != want || tot.Exhausted != tc.exhausted || tot.Scheduled != tot.Succeeded+tot.Exhausted {
				t.Errorf("totals %+v: want %d sent and answered, %d data_exhausted", tot, want, tc.exhausted)
			}
		})
	}
}

// Templates that change nothing the model sees are simulated as written:
// a value after a path prefix that decides the pool, in a query, in a
// header the policies do not read, in a body within max_body_bytes; the
// request goes where its literal prefix routes it.
func TestTemplatesTheModelDoesNotSeeAreSimulated(t *testing.T) {
	const yaml = `
duration: 1s
sut:
  proxy: {limits: {max_body_bytes: 1KiB}}
  pools:
    - {name: items, match: {path_prefix: /items}, backends: [{name: items1}]}
    - {name: search, match: {path_prefix: /search/v2}, backends: [{name: search1}]}
    - {name: rest, backends: [{name: rest1}]}
data: [{name: users, file: users.csv}]
workload:
  - model: closed
    users: 2
    think_time: {dist: constant, value: 50ms}
    uses: [users]
    session: [%s]
`
	for _, tc := range []struct{ step, node string }{
		{"{path: '/items/{{uuid}}'}", "items1"},
		{"{path: '/search?q={{users.name}}&v2={{iteration}}'}", "rest1"},
		{"{path: /, headers: {X-Trace: '{{uuid}}', Cookie: 'theme=dark'}}", "rest1"},
		{"{method: POST, path: /items, body: '{\"user\": \"{{users.name}}\", \"n\": {{random 1 1000}}}'}", "items1"},
	} {
		t.Run(tc.step, func(t *testing.T) {
			sc := load(t, fmt.Sprintf(yaml, tc.step), map[string]string{"users.csv": rows(3)})
			if err := Unsupported(sc); err != nil {
				t.Fatalf("refused: %v", err)
			}
			res := simulate(t, sc, Options{})
			for _, n := range res.Nodes {
				if (n.Requests > 0) != (n.Name == tc.node) {
					t.Errorf("nodes %+v: want every request answered by %s", res.Nodes, tc.node)
				}
			}
			if res.Totals.Succeeded == 0 || res.Totals.Succeeded != res.Totals.Scheduled {
				t.Errorf("totals %+v: want every request answered", res.Totals)
			}
		})
	}
}

// A closed run is a function of its scenario and seed, as an open one:
// simulated twice, it writes the same result.json but for when it
// started; another seed writes another. Its users ramp, think, pick from
// a mix or run a session, wait for connections, open one per request,
// time out and run out of data.
func TestTheSameSeedReplaysAClosedRun(t *testing.T) {
	const yaml = `name: closed-replay
duration: 6s
warmup: 1s
sut:
  proxy: {strategy: least-connections, timeout: 40ms}
  pools:
    - name: shop
      backends:
        - {name: s1, workers: 2, queue: 4, service_time: {dist: exponential, mean: 6ms}}
        - {name: s2, workers: 1, queue: 2, service_time: {dist: lognormal, median: 4ms, p99: 60ms}}
data: [{name: users, file: users.csv, when_exhausted: stop}]
workload:
  - name: shoppers
    model: closed
    stages: [{ramp_to: 30, over: 2s}, {hold: 30, for: 4s}]
    think_time: {dist: exponential, mean: 20ms}
    timeout: 30ms
    uses: [users]
    client: {max_connections: 12}
    session:
      - {method: POST, path: /login, body: '{"user": "{{users.name}}"}'}
      - {path: '/cart/{{uuid}}'}
      - {method: POST, path: /pay, expect: {status: [200, 503]}}
  - name: browsers
    model: closed
    users: 10
    think_time: {dist: uniform, min: 5ms, max: 25ms}
    client: {keepalive: false}
    requests: [{path: /, weight: 3}, {path: /item}]
requirements:
  - p99(latency) < 50ms
`
	file := load(t, yaml, map[string]string{"users.csv": rows(2000)}).File
	write := func(seed int64) string {
		sc, err := scenario.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		sc.Seed = seed
		return resultJSON(t, sc)
	}
	checkReplay(t, write, 21, `"mode": "simulated"`, `"model": "closed"`, `"timeout": `, `"503": `)
}

// Segments split a closed loop by user, as the runner splits it: each
// user behaves the same whichever segment runs it (its own source), so
// where users do not wait for each other the segments' requests add up
// to the whole run's, exactly.
func TestSegmentsSplitTheUsers(t *testing.T) {
	sc := parse(t, `
seed: 8
duration: 3s
sut:
  pools:
    - name: app
      backends: [{name: b1, workers: 8, service_time: {dist: constant, value: 1ms}}]
workload:
  - model: closed
    users: 7
    think_time: {dist: exponential, mean: 20ms}
    requests: [{path: /a, weight: 2}, {path: /b}]
`)
	whole := simulate(t, sc, Options{})
	var parts []*report.Result
	for k := 1; k <= 3; k++ {
		part := simulate(t, sc, Options{Segment: runner.Segment{K: k, N: 3}})
		if part.Totals.Scheduled == 0 {
			t.Fatalf("segment %d/3 sent nothing", k)
		}
		parts = append(parts, part)
	}
	merged, err := report.Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	if merged.Totals != whole.Totals || merged.LatencyMS != whole.LatencyMS {
		t.Errorf("merged %+v (latency %+v), the whole run %+v (%+v)", merged.Totals, merged.LatencyMS, whole.Totals, whole.LatencyMS)
	}
	for i, r := range whole.Requests {
		if merged.Requests[i].Totals != r.Totals {
			t.Errorf("%s: merged %+v, the whole run %+v", r.Name, merged.Requests[i].Totals, r.Totals)
		}
	}
}
