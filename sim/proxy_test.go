package sim

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// nodeRequests is how many answers each node gave.
func nodeRequests(res *report.Result) map[string]int64 {
	out := map[string]int64{}
	for _, n := range res.Nodes {
		out[n.Name] = n.Requests
	}
	return out
}

// A crashed or hung backend is taken out by active checks within fall
// checks of it (a hang's each after the check's timeout), named by their
// reason; clients see the backend's failures until then, none after, and
// it gets requests again once rise checks pass after the lift.
func TestActiveChecksTakeAFailedBackendOut(t *testing.T) {
	const interval, timeout, fall = 100 * time.Millisecond, 40 * time.Millisecond, 2
	for _, tc := range []struct {
		kind, reason string
		status       int
		latest       time.Duration // the detection's bound
	}{
		{"crash", "active check: 2 failed (connection refused)", 502, fall * interval},
		{"hang", "active check: 2 failed (context deadline exceeded", 504, fall*interval + timeout},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(`
duration: 8s
sut:
  proxy: {strategy: round-robin, timeout: 200ms, health: {interval: 100ms, timeout: 40ms, fall: 2, rise: 2}}
  pools:
    - name: app
      backends:
        - {name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}
        - {name: b2, workers: 4, service_time: {dist: constant, value: 1ms}}
        - {name: b3, workers: 4, service_time: {dist: constant, value: 1ms}}
workload:
  - {arrival: uniform, rate: 300/s, requests: [{path: /}]}
faults:
  - {at: 2s, for: 3s, kind: %s, node: b2}
`, tc.kind)), Options{})
			if len(res.Faults) != 1 {
				t.Fatalf("faults %+v, want the one", res.Faults)
			}
			f := res.Faults[0]
			if f.AtS != 2 || f.EndS != 5 || f.PlannedAtS != 2 {
				t.Errorf("fault fired at %vs, lifted at %vs: want exactly 2s and 5s", f.AtS, f.EndS)
			}
			detection := time.Duration(f.DetectionTimeS * float64(time.Second))
			if detection <= 0 || detection > tc.latest || !strings.HasPrefix(f.DetectedBy, tc.reason) {
				t.Errorf("detected after %v by %q, want within %v by %q", detection, f.DetectedBy, tc.latest, tc.reason)
			}
			// Every failure is the backend's, before the detection: a third
			// of the arrivals until then (and what b2 held at the time).
			failed, most := res.Totals.Failed, int64(100*(detection+200*time.Millisecond).Seconds())+2
			if failed == 0 || res.StatusCodes[tc.status] != failed || failed > most {
				t.Errorf("%d failed, status codes %v: want up to %d, all %d", failed, res.StatusCodes, most, tc.status)
			}
			// No request reaches b2 from the detection to the lift; it
			// gets its share again after it.
			for _, w := range res.Windows {
				got := w.Proxy["b2"].Requests
				switch {
				case w.T >= 3 && w.T < 5 && got != 0:
					t.Errorf("second %d: b2 got %d requests while taken out", w.T, got)
				case w.T >= 6 && math.Abs(float64(got)-100) > 2:
					t.Errorf("second %d: b2 got %d requests after its recovery, want its third", w.T, got)
				}
			}
		})
	}
}

// Retries on another upstream hide a crash from the client: a refused
// connection is retried whatever the method, a reset only for an
// idempotent one without a body, and none past the budget.
func TestRetriesHideACrashWithinTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name, proxy, method, crash string
		failed                     func(int64) bool
	}{
		// b2 gets half the requests or more (a retry's pick moves the
		// round on): 50 or more refused in the short crash, fewer than the
		// budget's 100 at the start; 400 or more in the long one, past the
		// 100 and the 20% (or 1%) of the requests the budget adds.
		{"no retries: the crash's 502s", "retries: 0", "GET", "500ms", func(n int64) bool { return n >= 50 }},
		{"retried: none fails", "retries: 1", "GET", "500ms", func(n int64) bool { return n == 0 }},
		{"a POST's refusals retried too", "retries: 1", "POST", "500ms", func(n int64) bool { return n == 0 }},
		{"past the budget: the rest fail", "retries: 1", "GET", "4s", func(n int64) bool { return n > 0 && n < 400-100 }},
		{"a smaller budget: more fail", "{retries: 1, retry_budget: 1%}", "GET", "4s", func(n int64) bool { return n >= 400-100-8 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := tc.proxy
			if !strings.HasPrefix(proxy, "{") {
				proxy = "{" + proxy + "}"
			}
			res := simulate(t, parse(t, fmt.Sprintf(`
duration: 6s
sut:
  proxy: %s
  pools:
    - name: app
      backends:
        - {name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}
        - {name: b2, workers: 4, service_time: {dist: constant, value: 1ms}}
workload:
  - {arrival: uniform, rate: 200/s, requests: [{method: %s, path: /}]}
faults:
  - {at: 1s, for: %s, kind: crash, node: b2}
`, proxy, tc.method, tc.crash)), Options{})
			if !tc.failed(res.Totals.Failed) {
				t.Errorf("%d failed (%v)", res.Totals.Failed, res.StatusCodes)
			}
		})
	}
}

// Admission control holds a backend to its limit: the rest wait in the
// queue for at most its timeout, or are answered 503 at once when it is
// full, as the live proxy answers them.
func TestAdmissionQueueAnswers503(t *testing.T) {
	res := simulate(t, parse(t, `
duration: 4s
sut:
  proxy: {admission: {max_inflight: 1, queue: 2, queue_timeout: 15ms}}
  pools:
    - name: app
      backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 10ms}}]
workload:
  - {arrival: uniform, rate: 200/s, requests: [{path: /}]}
`), Options{})
	// One at a time, 10 ms each: 100 served a second; the others wait at
	// most 15 ms, so no answer takes longer than 25 ms.
	if got := res.Totals.Succeeded; math.Abs(float64(got)-400) > 4 {
		t.Errorf("%d succeeded, want the limit's 100 a second", got)
	}
	if res.StatusCodes[503] != res.Totals.Failed || res.Totals.Failed < 350 {
		t.Errorf("status codes %v: want the rest answered 503", res.StatusCodes)
	}
	if res.LatencyMS.Max > 25.1 {
		t.Errorf("the slowest answer took %.3fms, want at most the queue timeout and a service", res.LatencyMS.Max)
	}
	var rejected int64
	for _, w := range res.Windows {
		rejected += w.Proxy["b1"].Rejected
	}
	// (A request rejected past the last window is not in one.)
	if rejected < res.Totals.Failed-1 || rejected > res.Totals.Failed {
		t.Errorf("the proxy rejected %d, the clients saw %d fail", rejected, res.Totals.Failed)
	}
}

// A rate limit per client answers 429 past its rate: every simulated
// client is the generator's one address.
func TestRateLimitAnswers429(t *testing.T) {
	res := simulate(t, parse(t, `
duration: 4s
sut:
  proxy: {rate_limit: {rate: 50/s, burst: 10}}
  pools: [{name: app, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}]}]
workload:
  - {arrival: uniform, rate: 100/s, requests: [{path: /}]}
`), Options{})
	if got := res.Totals.Succeeded; math.Abs(float64(got)-(10+50*4)) > 2 {
		t.Errorf("%d succeeded, want the burst and 50 a second", got)
	}
	if res.StatusCodes[429] != res.Totals.Failed {
		t.Errorf("status codes %v: want the rest 429", res.StatusCodes)
	}
}

// Passive health ejects a backend that fails in a row, for its time, then
// lets it back (and ejects it again, for longer).
func TestPassiveHealthEjects(t *testing.T) {
	res := simulate(t, parse(t, `
duration: 6s
sut:
  proxy: {passive: {consecutive_failures: 3, eject_for: 1s}}
  pools:
    - name: app
      backends:
        - {name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}
        - {name: b2, workers: 4, service_time: {dist: constant, value: 1ms}}
workload:
  - {arrival: uniform, rate: 200/s, requests: [{path: /}]}
faults:
  - {at: 1s, for: 4s, kind: errors, node: b2, status: 500}
`), Options{})
	f := res.Faults[0]
	if !strings.HasPrefix(f.DetectedBy, "passive: 3 consecutive failures, ejected for 1s") || f.DetectionTimeS > 0.05 {
		t.Errorf("detected after %vs by %q, want the third failure's ejection", f.DetectionTimeS, f.DetectedBy)
	}
	var ejections int64
	for _, w := range res.Windows {
		ejections += w.Proxy["b2"].Ejections
	}
	// Ejected at 1s for 1s, back at 2s and ejected for 2s, back at 4s and
	// ejected for 4s: 3 ejections, 3 failures each.
	if ejections != 3 || res.StatusCodes[500] != 9 {
		t.Errorf("%d ejections, status codes %v: want 3 ejections of 3 failures", ejections, res.StatusCodes)
	}
}

// Each proxy replica keeps its own state and gets its share of the
// requests; a crashed replica's clients fail over to the others, and
// only the requests in progress there fail.
func TestReplicasShareTheLoadAndFailOver(t *testing.T) {
	sc := parse(t, `
duration: 6s
sut:
  proxy: {replicas: 2}
  pools:
    - name: app
      backends: [{name: b1, workers: 8, service_time: {dist: constant, value: 5ms}}]
workload:
  - {arrival: uniform, rate: 200/s, requests: [{path: /}]}
faults:
  - {at: 2s, for: 2s, kind: crash-proxy, node: proxy-2}
`)
	s, err := build(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := s.result(sc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Replica 2 restarted with fresh counters: 2s of its half before the
	// crash is 200, 2s after the restart 200 more.
	first, second := s.replicas[0].ups[0].counts.requests, s.replicas[1].ups[0].counts.requests
	if first < 700 || second != 200 {
		t.Errorf("replicas forwarded %d and %d (since its restart), want the first most, the second its half", first, second)
	}
	if res.Totals.Failed != res.Errors["reset"] || res.Totals.Failed == 0 || res.Totals.Failed > 2 {
		t.Errorf("%d failed, errors %v: want only the requests in progress at the crash, reset", res.Totals.Failed, res.Errors)
	}
}

// sessionsSUT is two backends that keep server-side sessions behind a
// proxy of the given strategy.
const sessionsSUT = `
sut:
  proxy: {strategy: %s}
  pools:
    - name: app
      backends:
        - {name: b1, sessions: true, service_time: {dist: constant, value: 1ms}}
        - {name: b2, sessions: true, service_time: {dist: constant, value: 1ms}}
`

// sendInSession sends request 0 of workload 0 now as a request of session
// sess, and plays the calendar until it is answered.
func sendInSession(s *sim, sess int32) {
	w := s.workloads[0]
	id := int32(len(s.fs.all)) // the flight send takes
	if n := len(s.fs.free); n > 0 {
		id = s.fs.free[n-1]
	}
	s.sendArrival(w, pending{intended: s.cal.now})
	s.fs.all[id].session = sess
	for w.inflight > 0 {
		e, _ := s.cal.next()
		s.handle(e)
	}
}

// A sticky session stays on its node; a backend's sessions live on it, so
// a request of a session that reaches another backend, or the same one
// after a crash, is answered 409 session_lost, and the backend starts a
// new one.
func TestStickinessAndServerSideSessions(t *testing.T) {
	for _, tc := range []struct {
		name, strategy string
		crash          bool
		lost           int64
		nodes          int
	}{
		{"a sticky session stays on its node", "cookie", false, 0, 1},
		{"a crashed backend's sessions are lost", "cookie", true, 1, 1},
		{"without stickiness each move loses the session", "round-robin", false, 19, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := parse(t, "duration: 1s\n"+fmt.Sprintf(sessionsSUT, tc.strategy)+`
workload:
  - {rate: 1/s, requests: [{path: /}]}
`)
			s, err := build(sc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.sessions = append(s.sessions, newSession())
			for i := range 20 {
				if tc.crash && i == 10 {
					st := s.stations[s.sessions[0].backend]
					s.crash(st)
					st.restart(s.cal.now)
				}
				sendInSession(s, 0)
			}
			res, err := s.result(sc, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			answered := 0
			for _, n := range nodeRequests(res) {
				if n > 0 {
					answered++
				}
			}
			if res.Errors["session_lost"] != tc.lost || res.Totals.Failed != tc.lost || answered != tc.nodes {
				t.Errorf("errors %v, %d nodes answered: want %d sessions lost, %d nodes", res.Errors, answered, tc.lost, tc.nodes)
			}
			if sess := s.sessions[0]; tc.strategy == "cookie" && sess.proxyCookie != s.stations[sess.backend].name {
				t.Errorf("the sticky cookie names %q, the session is %s's", sess.proxyCookie, s.stations[sess.backend].name)
			}
		})
	}
}

// Each fault kind acts as docs/faults.md says a client sees it through the
// built-in proxy, at its planned time.
func TestEveryFaultKind(t *testing.T) {
	const sut = `
duration: 4s
sut:
  proxy: {timeout: 50ms%s}
  pools:
    - name: app
      backends:
        - {name: b1, workers: 2, service_time: {dist: constant, value: 2ms}}
        - {name: b2, workers: 2, service_time: {dist: constant, value: 2ms}}
workload:
  - {arrival: uniform, rate: 200/s, timeout: 1s, requests: [{path: /}]}
faults:
  - %s
`
	for _, tc := range []struct {
		fault, proxy string
		check        func(res *report.Result) string
	}{
		{"{at: 1s, for: 1s, kind: crash, node: b2}", "", errorsAre("5xx", 100)},
		{"{at: 1s, for: 1s, kind: hang, node: b2}", "", errorsAre("5xx", 100)},
		{"{at: 1s, for: 1s, kind: errors, node: b2, percent: 50%, status: 503}", "", func(res *report.Result) string {
			if n := res.StatusCodes[503]; math.Abs(float64(n)-50) > 20 {
				return fmt.Sprintf("%d answered 503, want about half of b2's 100", n)
			}
			return ""
		}},
		{"{at: 1s, for: 1s, kind: reset, node: b2}", "", errorsAre("truncated", 100)},
		{"{at: 1s, for: 1s, kind: truncate, node: b2}", "", errorsAre("truncated", 100)},
		{"{at: 1s, for: 1s, kind: slow, node: b2, latency: {dist: constant, value: 10ms}}", "", func(res *report.Result) string {
			if res.Totals.Failed != 0 || res.LatencyMS.Max < 12 {
				return fmt.Sprintf("%d failed, the slowest %.3fms: want slower answers, none failed", res.Totals.Failed, res.LatencyMS.Max)
			}
			return ""
		}},
		{"{at: 1s, for: 1s, kind: degrade, node: b2, workers: 1}", ", strategy: round-robin", func(res *report.Result) string {
			if res.Totals.Failed != 0 {
				return fmt.Sprintf("%d failed: a degraded backend still serves", res.Totals.Failed)
			}
			return ""
		}},
		{"{at: 1s, for: 2s, kind: flap, node: b2, period: 1s}", "", errorsAre("5xx", 100)}, // down 1s-1.5s and 2s-2.5s
		{"{at: 2s, kind: add-backend, pool: app, backend: {name: b3, service_time: {dist: constant, value: 2ms}}}", ", strategy: round-robin", func(res *report.Result) string {
			if n := nodeRequests(res)["b3"]; math.Abs(float64(n)-400/3.0) > 2 || res.Totals.Failed != 0 {
				return fmt.Sprintf("b3 answered %d, %d failed: want its third from 2s, none failed", n, res.Totals.Failed)
			}
			return ""
		}},
		{"{at: 2s, kind: remove-backend, node: b2, drain: 1s}", ", strategy: round-robin", func(res *report.Result) string {
			if n := nodeRequests(res)["b2"]; n != 200 || res.Totals.Failed != 0 {
				return fmt.Sprintf("b2 answered %d, %d failed: want its half until 2s, none failed", n, res.Totals.Failed)
			}
			return ""
		}},
		{"{at: 1s, for: 1s, kind: crash-proxy, node: proxy-1}", "", func(res *report.Result) string {
			if n := res.Errors["refused"]; math.Abs(float64(n)-200) > 2 {
				return fmt.Sprintf("errors %v: want a second's requests refused", res.Errors)
			}
			return ""
		}},
		{"{at: 1s, for: 1s, kind: site-down}", "", func(res *report.Result) string {
			// One topology: every request of that second is refused, and
			// lost; nowhere to fail over to.
			f := res.Faults[0]
			if n := res.Errors["refused"]; math.Abs(float64(n)-200) > 2 || f.RequestsLost == nil || *f.RequestsLost != n || f.FailoverTimeS != nil {
				return fmt.Sprintf("errors %v, fault %+v: want a second's requests refused and lost, no failover", res.Errors, f)
			}
			return ""
		}},
	} {
		kind := strings.Fields(strings.SplitN(tc.fault, "kind: ", 2)[1])[0]
		t.Run(strings.TrimSuffix(kind, ","), func(t *testing.T) {
			res := simulate(t, parse(t, fmt.Sprintf(sut, tc.proxy, tc.fault)), Options{})
			if msg := tc.check(res); msg != "" {
				t.Error(msg)
			}
			f := res.Faults[0]
			if f.Error != "" || f.AtS != f.PlannedAtS || f.ForS > 0 && f.EndS != f.AtS+f.ForS {
				t.Errorf("fault %+v: want it applied and lifted at its planned times", f)
			}
		})
	}
}

// errorsAre checks that the run's failures are all of class and about n.
func errorsAre(class string, n int64) func(*report.Result) string {
	return func(res *report.Result) string {
		got := res.Errors[class]
		if got != res.Totals.Failed || math.Abs(float64(got-n)) > float64(n)/10+2 {
			return fmt.Sprintf("errors %v: want about %d, all %s", res.Errors, n, class)
		}
		return ""
	}
}

// A run with faults, health, retries, admission and replicas replays to
// the same result.json for the same seed.
func TestTheSameSeedGivesTheSameResultWithFaults(t *testing.T) {
	const yaml = `name: replay-faults
duration: 6s
sut:
  proxy:
    strategy: least-request
    replicas: 2
    retries: 1
    health: {interval: 200ms, fall: 2, rise: 2}
    passive: {consecutive_failures: 5}
    admission: {max_inflight: 6, queue: 4, queue_timeout: 20ms}
    slow_start: 1s
  pools:
    - name: app
      backends:
        - {name: b1, workers: 2, service_time: {dist: exponential, mean: 4ms}, mtbf: 720h}
        - {name: b2, workers: 2, service_time: {dist: lognormal, median: 3ms, p99: 30ms}, mtbf: 720h}
        - {name: b3, workers: 2, service_time: {dist: exponential, mean: 4ms}}
workload:
  - {arrival: poisson, rate: 400/s, timeout: 100ms, requests: [{path: /a}, {method: POST, path: /b, body: x}]}
faults:
  - {at: 1s, for: 1s, kind: crash, node: b1}
  - {at: 2s, for: 1s, kind: errors, node: b2, percent: 30%}
  - {at: 3s, for: 1s, kind: hang, node: b3}
  - {at: 4s, for: 1s, kind: crash-proxy, node: proxy-2}
`
	replays(t, yaml, 3, `"detected_by": `, `"projection"`, `"ejections"`, `"rejected"`)
}

// A closed loop's user keeps its session's cookies for an iteration: under
// a sticky strategy every step of an iteration goes to the node its first
// step reached, and a crash of that node between two steps loses the
// session there (409 session_lost), which ends the iteration; without
// stickiness the steps move, and lose their sessions as they do.
func TestAClosedLoopSessionKeepsToItsNode(t *testing.T) {
	const yaml = "duration: 3s\n" + sessionsSUT + `workload:
  - model: closed
    users: %d
    think_time: {dist: exponential, mean: 20ms}
    session: [{path: /login}, {path: /cart}, {path: /pay}]
%s`
	// A crash shorter than a think time: users of b2 between two steps
	// come back to it after its restart, with a session it forgot.
	const crash = "faults:\n  - {at: 1s, for: 5ms, kind: crash, node: b2}\n"
	crashed, lifted := int64(time.Second), int64(time.Second+5*time.Millisecond)
	for _, tc := range []struct {
		name, strategy, faults string
		sticky, lost           bool
	}{
		{"sticky: one node per iteration", "cookie", "", true, false},
		{"sticky: a crash loses its node's sessions", "cookie", crash, true, true},
		{"not sticky: the steps move and lose their sessions", "round-robin", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const users = 12
			node := make([]int32, users)  // the station of each user's iteration
			began := make([]int64, users) // when its iteration's first step was sent
			ended := make([]bool, users)  // its iteration failed: the next step is a first
			var lost, moved, iterations int64
			_, res := simulateWatching(t, parse(t, fmt.Sprintf(yaml, tc.strategy, users, tc.faults)), Options{}, func(s *sim, e event) {
				if e.kind != clientAnswer {
					return
				}
				f := &s.fs.all[e.id]
				if f.clientDone {
					return
				}
				u := f.user
				switch {
				case f.request == 0:
					node[u], began[u], ended[u] = f.station, f.sent, false
					iterations++
				case ended[u]:
					t.Fatalf("user %d sent step %d after its iteration failed", u, f.request)
				case f.station != node[u]:
					moved++
					if tc.sticky {
						t.Fatalf("user %d's step %d went to %s, its iteration's first to %s", u, f.request, s.stations[f.station].name, s.stations[node[u]].name)
					}
				}
				if f.status == 409 && f.sessionLost {
					lost++
					if tc.faults != "" && (s.stations[f.station].name != "b2" || s.cal.now < lifted || began[u] >= crashed) {
						t.Errorf("a session begun at %v lost at %v on %s: want only b2's, begun before its crash, lost after it",
							time.Duration(began[u]), time.Duration(s.cal.now), s.stations[f.station].name)
					}
				}
				ended[u] = f.status != 200
			})
			if got := res.Errors["session_lost"]; got != lost || tc.lost != (lost > 0) {
				t.Errorf("%d sessions lost (errors %v) in %d iterations, %d steps moved: want lost %v", lost, res.Errors, iterations, moved, tc.lost)
			}
			if !tc.sticky && moved == 0 {
				t.Errorf("no step of %d iterations moved to another node", iterations)
			}
		})
	}
}

// A closed loop's users spread over the proxy's replicas as the live
// client spreads them: user u's k-th request goes to replica (u+k) mod n,
// and max_connections holds per replica, so that two users on two
// replicas never wait for each other's connection, as they do on one.
func TestClosedLoopUsersSpreadOverReplicas(t *testing.T) {
	const yaml = `
duration: 2s
sut:
  proxy: {replicas: %d}
  pools: [{name: app, backends: [{name: b1, workers: 4, service_time: {dist: constant, value: 1ms}}]}]
workload:
  - {model: closed, users: 2, think_time: {dist: constant, value: 10ms}, client: {max_connections: 1}, requests: [{path: /}]}
`
	opts := Options{ProxyCost: 32 * time.Microsecond, NetworkDelay: 16 * time.Microsecond}
	alone := (time.Millisecond + opts.ProxyCost + 4*opts.NetworkDelay).Seconds() * 1000
	for _, tc := range []struct {
		replicas int
		slowest  float64 // the slowest request's latency
	}{
		{1, 2 * alone}, // both users' first requests share the one connection
		{2, alone},
		{3, alone},
	} {
		t.Run(fmt.Sprintf("%d replicas", tc.replicas), func(t *testing.T) {
			sent := make([]int, 2) // by user
			s, res := simulateWatching(t, parse(t, fmt.Sprintf(yaml, tc.replicas)), opts, func(s *sim, e event) {
				if e.kind != atProxy {
					return
				}
				f := &s.fs.all[e.id]
				if want := int32((int(f.user) + sent[f.user]) % tc.replicas); f.replica != want {
					t.Fatalf("user %d's request %d went to replica %d, want %d", f.user, sent[f.user], f.replica, want)
				}
				sent[f.user]++
			})
			if l := res.LatencyMS; res.Totals.Failed != 0 || math.Abs(l.Max-tc.slowest) > 0.01 {
				t.Errorf("the slowest of %d requests took %.4fms, %d failed: want %.4fms", res.Totals.Scheduled, l.Max, res.Totals.Failed, tc.slowest)
			}
			least, most := int64(math.MaxInt64), int64(0)
			for _, r := range s.replicas {
				least, most = min(least, r.ups[0].counts.requests), max(most, r.ups[0].counts.requests)
			}
			if most-least > 1 {
				t.Errorf("the replicas forwarded from %d to %d requests: want even shares", least, most)
			}
		})
	}
}

// Past its duration a run is over once no request is left in flight or to
// come, a closed loop's as an open loop's: the proxy's active checks go on
// while a user's last request is in flight (held by a hang past the
// duration), and stop once it is answered.
func TestChecksGoOnWhileAUserWaits(t *testing.T) {
	sc := parse(t, `
duration: 1s
sut:
  proxy: {health: {interval: 50ms, timeout: 40ms}}
  pools: [{name: app, backends: [{name: b1, service_time: {dist: constant, value: 1ms}}]}]
workload:
  - {model: closed, users: 1, think_time: {dist: constant, value: 1ms}, requests: [{path: /}]}
faults:
  - {at: 950ms, for: 500ms, kind: hang, node: b1}
`)
	var answered, lastCheck int64
	simulateWatching(t, sc, Options{}, func(s *sim, e event) {
		switch id := e.id & (1<<visitShift - 1); {
		case e.kind == clientAnswer:
			answered = s.cal.now
		case e.kind == atStation && s.fs.all[id].check:
			lastCheck = s.cal.now
		}
	})
	// A check every 90ms (its timeout, then the interval) while the hang
	// holds the last request, answered at its lift and a service.
	if answered != int64(1451*time.Millisecond) || lastCheck < answered-int64(90*time.Millisecond) || lastCheck > answered {
		t.Errorf("the last check at %v, the last answer at %v: want checks until the answer at 1.451s, none after",
			time.Duration(lastCheck), time.Duration(answered))
	}
}
