package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// The event loop's parser makes of every framing what the lean client's
// reader makes of it, however the bytes are cut as they arrive.
func TestRespParserFraming(t *testing.T) {
	for _, tc := range framingCases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.request(t)
			response := strings.TrimSuffix(tc.response, "<close>")
			closes := strings.HasSuffix(tc.response, "<close>")
			for _, step := range []int{1, 2, 3, 7, 64, len(response)} {
				got, node := parseInSteps(t, r, response, step, closes)
				if got != tc.want || node != tc.node {
					t.Fatalf("in steps of %d bytes: outcome %q node %q, want %q node %q", step, got.class(), node, tc.want.class(), tc.node)
				}
			}
		})
	}
}

// parseInSteps feeds response to a parser step bytes at a time, keeping
// what it leaves unconsumed as the event loop does, with the end of the
// connection after the last bytes when closes.
func parseInSteps(t *testing.T, r *request, response string, step int, closes bool) (outcome, string) {
	t.Helper()
	var p respParser
	u := newUserState(0, false)
	p.reset(r, u)
	var buf []byte
	for at := 0; ; {
		end := min(at+step, len(response))
		buf = append(buf, response[at:end]...)
		at = end
		eof := at == len(response) && closes
		n, done, err := p.feed(buf, eof)
		buf = buf[n:]
		switch {
		case err != nil:
			return classifyParseError(err), ""
		case done:
			if len(buf) > 0 {
				t.Fatalf("in steps of %d: %d bytes left after a complete response", step, len(buf))
			}
			return p.outcome(r), p.resp.node
		case at == len(response) && !closes:
			t.Fatalf("in steps of %d: the whole response fed and not complete (phase %d)", step, p.phase)
		case at == len(response):
			t.Fatalf("in steps of %d: the connection ended and the parser wants more", step)
		}
	}
}

// classifyParseError is the outcome the loop gives a parse error.
func classifyParseError(err error) outcome { return classifyError(nil, err) }

// Through Run, the loop keeps a connection exactly when the worker path
// does and classifies each response the same way.
func TestEventLoopFraming(t *testing.T) {
	for _, tc := range framingCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.response)
			w := openWorkload("framing", 20)
			if tc.method != "" {
				w.Requests[0].Method = tc.method
			}
			w.Expect = tc.expect
			w.Client = scenario.Client{HTTP: scenario.HTTP1, MaxConnections: 1}
			sc := newScenario(150*time.Millisecond, w)
			requireLoop(t, sc, srv.url)
			// Malformed responses are no HTTP response at all (ErrNoResponse).
			res, err := Run(context.Background(), sc, Options{URL: srv.url})
			if err != nil && !errors.Is(err, ErrNoResponse) {
				t.Fatal(err)
			}
			checkAccounting(t, res)
			if res.Totals.Scheduled != 3 {
				t.Fatalf("%d scheduled, want 3", res.Totals.Scheduled)
			}
			n := res.Totals.Succeeded
			if tc.want != outSuccess {
				n = res.Errors[tc.want.class()]
			}
			if n != 3 {
				t.Fatalf("outcomes %v (succeeded %d), want 3 × %q", res.Errors, res.Totals.Succeeded, tc.want.class())
			}
			if tc.node != "" && (len(res.Nodes) != 1 || res.Nodes[0].Name != tc.node || res.Nodes[0].Requests != 3) {
				t.Fatalf("nodes %+v, want 3 requests of %s", res.Nodes, tc.node)
			}
			if got := srv.accepted.Load(); got != tc.conns {
				t.Errorf("%d connections for 3 requests, want %d", got, tc.conns)
			}
		})
	}
}

// requireLoop fails the test unless the scenario's first workload is one
// the event loop drives.
func requireLoop(t *testing.T, sc *scenario.Scenario, url string) {
	t.Helper()
	w, err := newWorkloadRun(sc, 0, []string{url}, sc.Duration.D(), Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer w.client.close()
	l := newEventLoop(&engine{}, w, &recorder{})
	if l == nil {
		t.Fatal("the workload does not run on the event loop")
	}
	l.closeAll()
}

// Which workloads the loop takes, by one rule for both models: one
// plain-HTTP/1.1 kept-alive target, requests sent as built (no rendering,
// checks or WebSocket session per send), open or closed loop.
func TestEventLoopEligibility(t *testing.T) {
	noKeepAlive := false
	cases := []struct {
		name string
		urls []string
		w    func(*scenario.Workload)
		want bool
	}{
		{"open loop, one http target", []string{"http://127.0.0.1:1"}, func(*scenario.Workload) {}, true},
		{"closed loop", []string{"http://127.0.0.1:1"}, func(w *scenario.Workload) { w.Model, w.Users = scenario.ModelClosed, 1 }, true},
		{"closed loop, rendered per send", []string{"http://127.0.0.1:1"}, func(w *scenario.Workload) {
			w.Model, w.Users, w.Variables = scenario.ModelClosed, 1, []string{"v"}
		}, false},
		{"closed loop, a WebSocket session", []string{"http://127.0.0.1:1"}, func(w *scenario.Workload) {
			w.Model, w.Users = scenario.ModelClosed, 1
			w.Requests[0].WebSocket = &scenario.WebSocket{Messages: 1, Size: 1}
		}, false},
		{"two targets", []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}, func(*scenario.Workload) {}, false},
		{"https", []string{"https://127.0.0.1:1"}, func(*scenario.Workload) {}, false},
		{"HTTP/2", []string{"http://127.0.0.1:1"}, func(w *scenario.Workload) { w.Client.HTTP = scenario.HTTP2 }, false},
		{"a connection per request", []string{"http://127.0.0.1:1"}, func(w *scenario.Workload) { w.Client.KeepAlive = &noKeepAlive }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := openWorkload("w", 10)
			w.Client.HTTP = scenario.HTTP1
			tc.w(&w)
			sc := newScenario(time.Second, w)
			wr, err := newWorkloadRun(sc, 0, tc.urls, time.Second, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer wr.client.close()
			l := newEventLoop(&engine{}, wr, &recorder{})
			if l != nil {
				l.closeAll()
			}
			if got := l != nil; got != tc.want {
				t.Fatalf("on the loop: %v, want %v", got, tc.want)
			}
		})
	}
}

// The loop and the workers, on the same seeded workload against the same
// server, schedule the same arrivals and see the same outcomes and nodes;
// the loop's completion times (kernel receive timestamps) put its service
// latency where the workers' is.
func TestEventLoopMatchesWorkers(t *testing.T) {
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(headers.Node, "node-"+r.URL.Query().Get("n"))
		time.Sleep(2 * time.Millisecond)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	})
	w := openWorkload("mix", 1000)
	w.Arrival = "poisson"
	w.Requests = []scenario.Request{
		{Method: http.MethodGet, Path: "/ok?n=a", Weight: 6},
		{Method: http.MethodGet, Path: "/ok?n=b", Weight: 3},
		{Method: http.MethodGet, Path: "/fail?n=c", Weight: 1},
	}
	w.Client.HTTP = scenario.HTTP1
	sc := newScenario(time.Second, w)
	requireLoop(t, sc, srv.URL)
	loop := run(t, sc, Options{URL: srv.URL})
	workers := run(t, sc, Options{URL: srv.URL, forceWorkers: true})
	checkAccounting(t, loop)
	checkAccounting(t, workers)
	// The two must agree request for request: a host that delays either
	// run enough to drop or time out an arrival makes them differ.
	skipWhenHostDelayed(t, loop, hostDelayForExactCounts)
	skipWhenHostDelayed(t, workers, hostDelayForExactCounts)
	if loop.Totals.Scheduled != workers.Totals.Scheduled || loop.Totals.Succeeded != workers.Totals.Succeeded ||
		loop.Errors["5xx"] != workers.Errors["5xx"] || loop.Totals.Dropped != 0 {
		t.Fatalf("loop %+v %v, workers %+v %v", loop.Totals, loop.Errors, workers.Totals, workers.Errors)
	}
	count := func(nodes []report.Node) map[string]int64 {
		m := map[string]int64{}
		for _, n := range nodes {
			m[n.Name] = n.Requests
		}
		return m
	}
	if a, b := count(loop.Nodes), count(workers.Nodes); len(a) != 3 || a["node-a"] != b["node-a"] || a["node-b"] != b["node-b"] || a["node-c"] != b["node-c"] {
		t.Fatalf("nodes: loop %v, workers %v", a, b)
	}
	// Each request is served in 2 ms and a little: the medians agree
	// within a millisecond, and no completion precedes its send.
	ls, ws := loop.ServiceLatencyMS, workers.ServiceLatencyMS
	t.Logf("service latency p50/p99: loop %.3f/%.3f ms, workers %.3f/%.3f ms; send lag p99: loop %.3f, workers %.3f ms",
		ls.P50, ls.P99, ws.P50, ws.P99, loop.Generator.SendLagMS.P99, workers.Generator.SendLagMS.P99)
	if ls.Min < 2 || ls.P50 > ws.P50+1 || ls.P50 < ws.P50-1 {
		t.Errorf("loop service latency min %.3f p50 %.3f ms, workers p50 %.3f ms", ls.Min, ls.P50, ws.P50)
	}
}

// A run on the loop has one processor more while it lasts, and gives it
// back.
func TestEventLoopHoldsAProcessor(t *testing.T) {
	srv := okServer(t, 0, nil)
	before := runtime.GOMAXPROCS(0)
	var during int
	sc := newScenario(100*time.Millisecond, openWorkload("w", 50))
	requireLoop(t, sc, srv.URL)
	run(t, sc, Options{URL: srv.URL, Started: func(time.Time) { during = runtime.GOMAXPROCS(0) }})
	if after := runtime.GOMAXPROCS(0); during != before+1 || after != before {
		t.Fatalf("GOMAXPROCS %d before, %d during, %d after the run; want %d during", before, during, after, before+1)
	}
}

// With a single connection, the loop frees it as soon as its response is
// in, not at the next wake-up: requests do not queue for it longer than on
// the workers.
func TestEventLoopSingleConnection(t *testing.T) {
	srv := okServer(t, 0, nil)
	w := openWorkload("one-conn", 1000)
	w.Arrival = "poisson"
	w.Client = scenario.Client{HTTP: scenario.HTTP1, MaxConnections: 1}
	sc := newScenario(time.Second, w)
	requireLoop(t, sc, srv.URL)
	loop := run(t, sc, Options{URL: srv.URL})
	workers := run(t, sc, Options{URL: srv.URL, forceWorkers: true})
	checkAccounting(t, loop)
	skipWhenHostDelayed(t, loop, hostDelayForExactCounts)
	skipWhenHostDelayed(t, workers, hostDelayForExactCounts)
	if loop.Totals.Succeeded != workers.Totals.Succeeded || loop.Totals.Succeeded != loop.Totals.Scheduled {
		t.Fatalf("loop %+v, workers %+v", loop.Totals, workers.Totals)
	}
	l, k := loop.LatencyMS, workers.LatencyMS
	t.Logf("latency p50/p99: loop %.3f/%.3f ms, workers %.3f/%.3f ms", l.P50, l.P99, k.P50, k.P99)
	// Reading the connection's responses only at each wake-up makes the
	// arrivals queue for it: the median more than twice the workers' (0.79
	// against 0.36 ms here when it did). The tail is left out: on a loaded
	// machine it is the operating system's scheduling of one thread.
	if l.P50 > 1.5*k.P50+0.1 {
		t.Errorf("one connection: loop latency p50 %.3f p99 %.3f ms, workers %.3f %.3f ms", l.P50, l.P99, k.P50, k.P99)
	}
}

// The deadline heap gives its live entries back earliest first, skipping
// the ones whose connection has moved on, whether they came in order (its
// queue) or not (its heap), stale ones on either's top.
func TestDeadlineHeapOrder(t *testing.T) {
	cases := []struct {
		name  string
		live  []time.Duration
		stale []time.Duration
		want  []time.Duration
	}{
		{"in order", []time.Duration{1, 2, 2, 3, 8}, nil, []time.Duration{1, 2, 2, 3, 8}},
		{"out of order", []time.Duration{50, 10, 40, 30, 20, 60, 5}, []time.Duration{1}, []time.Duration{5, 10, 20, 30, 40, 50, 60}},
		{"stale ones first in the queue", nil, []time.Duration{1, 2, 3}, nil},
		{"stale ones among both", []time.Duration{10, 20, 15, 30, 25}, []time.Duration{12, 22, 11, 40}, []time.Duration{10, 15, 20, 25, 30}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h deadlineHeap
			c := &loopConn{x: &loopExchange{seq: 1}}
			stale := &loopConn{}
			// Live and stale entries pushed alternately, in the listed order.
			for i := range max(len(tc.live), len(tc.stale)) {
				if i < len(tc.stale) {
					h.push(deadlineEntry{at: tc.stale[i], c: stale, seq: 9})
				}
				if i < len(tc.live) {
					h.push(deadlineEntry{at: tc.live[i], c: c, seq: 1})
				}
			}
			var got []time.Duration
			for {
				e, ok := h.live()
				if !ok {
					break
				}
				got = append(got, e.at)
				h.pop()
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
			if h.q.len() != 0 || h.h.Len() != 0 {
				t.Errorf("%d in the queue and %d in the heap left", h.q.len(), h.h.Len())
			}
		})
	}
}

// The sending loop is the hiccup sampler while it waits between sends: at
// 1,000/s and at 20/s (an idle loop woken for its slots) the run's hiccup
// samples are its own wake-ups, about one per interval; the workers' path
// keeps the sampler's.
func TestLoopSamplesHiccups(t *testing.T) {
	srv := okServer(t, 0, nil)
	for _, tc := range []struct {
		name   string
		rate   float64
		forced bool // forceWorkers: no loop
	}{
		{"loop at 1000/s", 1000, false},
		{"idle loop at 20/s", 20, false},
		{"workers at 1000/s", 1000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario(1500*time.Millisecond, openWorkload("w", tc.rate))
			if !tc.forced {
				requireLoop(t, sc, srv.URL)
			}
			res := run(t, sc, Options{URL: srv.URL, forceWorkers: tc.forced})
			a := res.Apparatus
			perRun := int64(1500 * time.Millisecond / hiccupInterval)
			t.Logf("%d hiccup samples, %d of them the loop's; p99 %.3f ms", a.HiccupMS.Count, a.LoopSamples, a.HiccupMS.P99)
			if a.LoopSamples > a.HiccupMS.Count {
				t.Fatalf("%d loop samples of %d", a.LoopSamples, a.HiccupMS.Count)
			}
			if tc.forced {
				if a.LoopSamples != 0 {
					t.Errorf("%d loop samples without a loop", a.LoopSamples)
				}
				return
			}
			if a.LoopSamples < perRun/2 {
				// A host that keeps the loop late for its deadlines leaves it
				// few timed waits: the sampler takes over, as it should.
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Errorf("%d loop samples in %d slots, want most slots sampled by the loop", a.LoopSamples, perRun)
			}
		})
	}
}

// The loop's wake-ups and system calls per arrival: one timed wait per
// arrival at a rate under the wake budget, no more than the budget above
// it, and the responses read straight from their sockets at the next
// wake-up rather than through a second wait that asks epoll which are
// ready. Counted by the loop itself, as it ends.
func TestLoopWakeupsPerArrival(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	srv := okServer(t, 0, nil)
	const d = time.Second
	for _, tc := range []struct {
		name string
		rate float64
		// wakes bounds the timed waits a second: an arrival's each below
		// the budget, the budget above (both with a margin for the start,
		// the end and the socket waits every loopSocketWake).
		wakes float64
	}{
		{"1000/s: a wake-up per arrival", 1000, 1000 * 1.1},
		{"8000/s: the wake budget", 8000, wakeBudget * 1.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScenario(d, openWorkload("w", tc.rate))
			requireLoop(t, sc, srv.URL)
			var got loopCounts
			res := run(t, sc, Options{URL: srv.URL, loopCounts: func(c loopCounts) { got = c }})
			checkAccounting(t, res)
			n := res.Totals.Succeeded
			t.Logf("%d arrivals, %d succeeded: %d wake-ups, %d epoll waits (%d after an answer still on its way), %d responses read without one; latency p50 %.3f ms",
				res.Totals.Scheduled, n, got.wakeups, got.polls, got.unanswered, got.directReads, res.LatencyMS.P50)
			if n < int64(tc.rate*d.Seconds())*9/10 {
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Fatalf("%d of %d arrivals succeeded", n, res.Totals.Scheduled)
			}
			if limit := int(tc.wakes*d.Seconds()) + 50; got.wakeups > limit {
				t.Errorf("%d wake-ups for %d arrivals in %v, want at most %d", got.wakeups, n, d, limit)
			}
			// Before, every wake-up asked epoll; now only those that find
			// an answer still on its way do, and the socket waits. How many
			// answers are still on their way at the next wake-up is the
			// target's pace on this host (a busy one answers later), so
			// the bound is on the others: the waits the loop chose.
			if chosen := got.polls - got.unanswered; chosen > got.wakeups/4 {
				// A loop the host keeps late has arrivals waiting each
				// time it wakes, and reads their connections' answers at
				// once: that is the host's doing.
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Errorf("%d epoll waits in %d wake-ups, %d of them not after an answer still on its way: want few", got.polls, got.wakeups, chosen)
			}
			if int64(got.directReads) < n/2 {
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				if got.unanswered > got.wakeups/4 {
					t.Skipf("%d of %d wake-ups found an answer still on its way (latency p50 %.3f ms): the target answered too late for most to be read straight from their sockets",
						got.unanswered, got.wakeups, res.LatencyMS.P50)
				}
				t.Errorf("%d of %d responses read without an epoll wait, while %d of %d wake-ups found an answer still on its way: want most read straight from their sockets", got.directReads, n, got.unanswered, got.wakeups)
			}
		})
	}
}
