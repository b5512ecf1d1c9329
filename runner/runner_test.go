package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// openWorkload is an open-loop workload with every default filled in.
func openWorkload(name string, rate float64) scenario.Workload {
	return scenario.Workload{
		Name:        name,
		Model:       "open",
		Arrival:     "uniform",
		Rate:        scenario.Rate(rate),
		Requests:    []scenario.Request{{Method: http.MethodGet, Path: "/", Weight: 1}},
		Timeout:     sec(2),
		MaxInflight: 50,
		MaxLateness: sec(1),
	}
}

func newScenario(d time.Duration, ws ...scenario.Workload) *scenario.Scenario {
	return &scenario.Scenario{
		Name:     "test",
		Seed:     42,
		Duration: scenario.Duration(d),
		WindowOK: 0.99,
		Workload: ws,
	}
}

// concurrency counts the requests a test server is handling at once.
type concurrency struct{ now, peak atomic.Int64 }

func (c *concurrency) enter() {
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *concurrency) leave() { c.now.Add(-1) }

func okServer(t *testing.T, delay time.Duration, conc *concurrency) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if conc != nil {
			conc.enter()
			defer conc.leave()
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// checkAccounting asserts scheduled = succeeded + failed + dropped for the
// run, each workload and each window, that the scopes add up, and that the
// error classes add up to the failures.
func checkAccounting(t *testing.T, res *report.Result) {
	t.Helper()
	holds := func(scope string, scheduled, succeeded, failed, dropped, cut int64) {
		t.Helper()
		if scheduled != succeeded+failed+dropped+cut {
			t.Errorf("%s: scheduled %d != succeeded %d + failed %d + dropped %d + cut %d", scope, scheduled, succeeded, failed, dropped, cut)
		}
	}
	sumErrors := func(m map[string]int64) (n int64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	tot := res.Totals
	holds("run", tot.Scheduled, tot.Succeeded, tot.Failed, tot.Dropped, tot.CutAtEnd+tot.Exhausted)
	if n := sumErrors(res.Errors); n != tot.Failed {
		t.Errorf("run: error classes add up to %d, failed %d", n, tot.Failed)
	}
	var wl report.Totals
	for _, w := range res.Workloads {
		holds("workload "+w.Name, w.Totals.Scheduled, w.Totals.Succeeded, w.Totals.Failed, w.Totals.Dropped, w.Totals.CutAtEnd+w.Totals.Exhausted)
		if n := sumErrors(w.Errors); n != w.Totals.Failed {
			t.Errorf("workload %s: error classes add up to %d, failed %d", w.Name, n, w.Totals.Failed)
		}
		wl.Add(w.Totals)
	}
	if wl != tot {
		t.Errorf("workloads add up to %+v, run %+v", wl, tot)
	}
	byWorkload := map[string]report.Totals{}
	for _, r := range res.Requests {
		holds("request "+r.Name, r.Totals.Scheduled, r.Totals.Succeeded, r.Totals.Failed, r.Totals.Dropped, r.Totals.CutAtEnd+r.Totals.Exhausted)
		w := byWorkload[r.Workload]
		w.Add(r.Totals)
		byWorkload[r.Workload] = w
	}
	for _, w := range res.Workloads {
		if byWorkload[w.Name] != w.Totals {
			t.Errorf("workload %s: its requests add up to %+v, the workload %+v", w.Name, byWorkload[w.Name], w.Totals)
		}
	}
	var win report.Totals
	for _, w := range res.Windows {
		holds(fmt.Sprintf("window %d", w.T), w.Scheduled, w.Succeeded, w.Failed, w.Dropped, w.CutAtEnd+w.Exhausted)
		if n := sumErrors(w.Errors); n != w.Failed {
			t.Errorf("window %d: error classes add up to %d, failed %d", w.T, n, w.Failed)
		}
		win.Scheduled += w.Scheduled
		win.Succeeded += w.Succeeded
		win.Failed += w.Failed
		win.Dropped += w.Dropped
		win.CutAtEnd += w.CutAtEnd
		win.Exhausted += w.Exhausted
	}
	win.Late, win.Held = tot.Late, tot.Held
	if win != tot {
		t.Errorf("windows add up to %+v, run %+v", win, tot)
	}
	if want := int(math.Ceil(res.MeasuredS)); len(res.Windows) != want {
		t.Errorf("%d windows for %.3fs measured, want %d", len(res.Windows), res.MeasuredS, want)
	}
}

// pacerCount is the number of arrivals workload i's pacer yields before upTo.
func pacerCount(t *testing.T, sc *scenario.Scenario, i int, upTo time.Duration) int64 {
	t.Helper()
	p, err := NewPacer(sc.Workload[i], sc.Duration.D(), sc.Seed, i)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for {
		at, ok := p.Next()
		if !ok || at >= upTo {
			return n
		}
		n++
	}
}

func run(t *testing.T, sc *scenario.Scenario, opts Options) *report.Result {
	t.Helper()
	res, err := Run(context.Background(), sc, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// TestCoordinatedOmissionIsMeasured stalls the server for one second while
// the generator, like a closed-loop tool, has a single connection. Arrivals
// intended during the stall all complete when it ends, so their latency
// from the intended send time is uniform on (0, 1s]: with 10% of the
// arrivals affected, P(L > x) = 0.1·(1 − x/1s) and p99 = 0.9 s. Latency
// measured from the actual send sees only the one stalled request.
func TestCoordinatedOmissionIsMeasured(t *testing.T) {
	var t0 atomic.Pointer[time.Time]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := *t0.Load()
		from, until := start.Add(5*time.Second), start.Add(6*time.Second)
		if now := time.Now(); !now.Before(from) && now.Before(until) {
			time.Sleep(time.Until(until))
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	w := openWorkload("co", 100)
	w.MaxInflight = 1
	w.MaxLateness = sec(3) // nothing is dropped: every arrival waits its turn
	w.Timeout = sec(5)
	sc := newScenario(10*time.Second, w)
	var progress bytes.Buffer
	now := time.Now()
	t0.Store(&now)
	res := run(t, sc, Options{URL: srv.URL, Progress: &progress})
	checkAccounting(t, res)
	// The stall is the server's; a host that delays the tool as well drops
	// or cuts arrivals of its own.
	skipWhenHostDelayed(t, res, hostDelayForExactCounts)

	lat, svc := res.LatencyMS, res.ServiceLatencyMS
	t.Logf("latency p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms", lat.P50, lat.P90, lat.P99, lat.Max)
	t.Logf("service latency p50 %.2fms p99 %.2fms max %.2fms", svc.P50, svc.P99, svc.Max)
	t.Logf("late %d, send lag p99 %.2fms max %.2fms", res.Totals.Late, res.Generator.SendLagMS.P99, res.Generator.SendLagMS.Max)
	t.Logf("progress:\n%s", progress.String())

	if res.Totals.Scheduled != 1000 || res.Totals.Succeeded != 1000 {
		t.Fatalf("totals %+v, want 1000 scheduled and succeeded", res.Totals)
	}
	if lat.P99 < 810 || lat.P99 > 990 {
		t.Errorf("p99(latency) = %.1fms, want 900ms ± 10%%", lat.P99)
	}
	if svc.P99 >= 100 {
		t.Errorf("p99(service_latency) = %.1fms, want far below p99(latency) (< 100ms)", svc.P99)
	}
	if svc.Max < 900 {
		t.Errorf("max(service_latency) = %.1fms, want the stalled request's ~1s", svc.Max)
	}
	if res.Totals.Late < 90 {
		t.Errorf("%d late arrivals, want the ~99 that waited for the stall", res.Totals.Late)
	}
	if res.Generator.Saturated {
		t.Errorf("generator saturated: %s", res.Generator.Reason)
	}
	if p := res.Windows[5].LatencyMS.P99; p < 900 {
		t.Errorf("window 5 p99 = %.1fms, want ~1s", p)
	}
	if p := res.Windows[3].LatencyMS.P99; p >= 100 {
		t.Errorf("window 3 p99 = %.1fms, want the unstalled latency", p)
	}
	if !strings.Contains(progress.String(), "5s/10s") {
		t.Errorf("no progress line at 5s: %q", progress.String())
	}
}

func TestAccountingOfANormalRun(t *testing.T) {
	var conc concurrency
	srv := okServer(t, 0, &conc)
	uniform := openWorkload("uniform", 100)
	poisson := openWorkload("poisson", 150)
	poisson.Arrival = "poisson"
	ramp := openWorkload("ramp", 0)
	ramp.Stages = []scenario.Stage{{RampTo: 200, Over: sec(2)}}
	sc := newScenario(2*time.Second, uniform, poisson, ramp)
	res := run(t, sc, Options{URL: srv.URL})
	checkAccounting(t, res)

	for i, w := range res.Workloads {
		want := pacerCount(t, sc, i, sc.Duration.D())
		t.Logf("%s: %+v, p99 %.2fms", w.Name, w.Totals, w.LatencyMS.P99)
		if w.Totals.Scheduled != want {
			t.Errorf("%s: scheduled %d, the pacer yields %d", w.Name, w.Totals.Scheduled, want)
		}
		if w.Totals.Succeeded != want || w.Totals.Dropped != 0 {
			t.Errorf("%s: %+v, want every arrival to succeed", w.Name, w.Totals)
		}
		if w.LatencyMS.Count != want {
			t.Errorf("%s: %d latency samples, want %d", w.Name, w.LatencyMS.Count, want)
		}
		h, err := report.DecodeHistogram(w.Histograms.Latency)
		if err != nil || h.TotalCount() != want {
			t.Errorf("%s: encoded histogram holds %v samples (err %v), want %d", w.Name, h.TotalCount(), err, want)
		}
		if w.Availability.Requests != 1 || w.Availability.Time != 1 {
			t.Errorf("%s: availability %+v, want 1", w.Name, w.Availability)
		}
		if got := w.ThroughputRPS; math.Abs(got-float64(want)/2) > 1e-9 {
			t.Errorf("%s: throughput %v, want %v", w.Name, got, float64(want)/2)
		}
	}
	if res.Workloads[0].Totals.Scheduled != 200 || res.Workloads[2].Totals.Scheduled != 200 {
		t.Errorf("uniform 100/s and a ramp to 200/s over 2s must each schedule exactly 200")
	}
	if res.Generator.Saturated || res.Totals.Dropped != 0 {
		// The target runs in this process: a host that starves it starves
		// the generator too, and the run's apparatus says so.
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
		t.Errorf("generator saturated on an easy run: %s", res.Generator.Reason)
	}
	if res.SchemaVersion != report.SchemaVersion || res.Tool != "ilities dev" || res.Target != srv.URL ||
		res.Seed != 42 || res.DurationS != 2 || res.MeasuredS != 2 || res.Incomplete {
		t.Errorf("header fields: %+v", res)
	}
	for _, w := range res.Windows {
		if w.LatencyMS.P99 <= 0 || w.LatencyMS.Max < w.LatencyMS.P50 {
			t.Errorf("window %d latency summary %+v", w.T, w.LatencyMS)
		}
	}
	if p := conc.peak.Load(); p > 150 {
		t.Errorf("server saw %d requests at once, more than the workloads' max_inflight", p)
	}
}

// TestAccountingOfAStarvedRun gives the generator one or three slots
// against a server that needs 50 ms per request, at 100/s: most arrivals
// cannot be sent within max_lateness and are dropped.
func TestAccountingOfAStarvedRun(t *testing.T) {
	for _, slots := range []int{1, 3} {
		t.Run(fmt.Sprintf("max_inflight %d", slots), func(t *testing.T) {
			var conc concurrency
			srv := okServer(t, 50*time.Millisecond, &conc)
			w := openWorkload("starved", 100)
			w.MaxInflight = slots
			w.MaxLateness = scenario.Duration(200 * time.Millisecond)
			sc := newScenario(2*time.Second, w)
			res := run(t, sc, Options{URL: srv.URL})
			checkAccounting(t, res)
			tot := res.Totals
			t.Logf("%+v, send lag p50 %.1fms max %.1fms, reason: %s", tot, res.Generator.SendLagMS.P50, res.Generator.SendLagMS.Max, res.Generator.Reason)

			if want := pacerCount(t, sc, 0, sc.Duration.D()); tot.Scheduled != want {
				t.Errorf("scheduled %d, want the pacer's %d", tot.Scheduled, want)
			}
			if tot.Dropped == 0 || tot.Late == 0 {
				t.Errorf("want dropped and late arrivals, got %+v", tot)
			}
			// The slots serve at most one request per 50 ms each, until
			// the end and its grace (min(max_lateness, endGrace) = 200 ms),
			// plus the ones started before then.
			if most := int64(slots) * ((2000+200)/50 + 1); tot.Succeeded > most {
				t.Errorf("%d succeeded, more than %d slots can serve (%d)", tot.Succeeded, slots, most)
			}
			if !res.Generator.Saturated || res.Generator.Reason == "" {
				t.Errorf("generator not reported saturated: %+v", res.Generator)
			}
			if lag := res.Generator.SendLagMS.Max; lag > 200+20 {
				t.Errorf("an arrival was sent %.1fms late, past max_lateness 200ms", lag)
			}
			if p := conc.peak.Load(); p != int64(slots) {
				t.Errorf("server saw up to %d requests at once, want max_inflight %d", p, slots)
			}
			// Latency includes the wait for a slot.
			if res.LatencyMS.P50 <= res.ServiceLatencyMS.P50+10 {
				t.Errorf("p50 latency %.1fms not above p50 service latency %.1fms", res.LatencyMS.P50, res.ServiceLatencyMS.P50)
			}
		})
	}
}

// TestRequestsInFlightAtTheEndAreAwaited: the last arrivals complete after
// the run's end and still count, in their own windows.
func TestRequestsInFlightAtTheEndAreAwaited(t *testing.T) {
	srv := okServer(t, 300*time.Millisecond, nil)
	sc := newScenario(time.Second, openWorkload("w", 10))
	res := run(t, sc, Options{URL: srv.URL})
	checkAccounting(t, res)
	if res.Totals.Scheduled != 10 || res.Totals.Succeeded != 10 || res.Incomplete || res.MeasuredS != 1 {
		t.Fatalf("totals %+v, incomplete %v, measured %v", res.Totals, res.Incomplete, res.MeasuredS)
	}
	if res.LatencyMS.Min < 300 {
		t.Errorf("min latency %.1fms, want at least the server's 300ms", res.LatencyMS.Min)
	}
}

func TestFailureClasses(t *testing.T) {
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}
	serve := func(h http.HandlerFunc) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			return srv.URL
		}
	}
	hijack := func(w http.ResponseWriter) *net.TCPConn {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		return conn.(*net.TCPConn)
	}
	status := func(code int) func(t *testing.T) string {
		return serve(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
	}
	cases := []struct {
		name    string
		target  func(t *testing.T) string
		expect  []int
		class   string // "" for success
		noReply bool   // no response at all: Run returns ErrNoResponse
	}{
		{name: "refused", target: closedPort, class: ClassRefused, noReply: true},
		{name: "timeout", target: serve(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}), class: ClassTimeout, noReply: true},
		{name: "5xx", target: status(503), class: Class5xx},
		{name: "4xx", target: status(404), class: Class4xx},
		{name: "reset", target: serve(func(w http.ResponseWriter, r *http.Request) {
			c := hijack(w)
			c.SetLinger(0) // close with RST
			c.Close()
		}), class: ClassReset, noReply: true},
		{name: "closed without a response", target: serve(func(w http.ResponseWriter, r *http.Request) {
			hijack(w).Close()
		}), class: ClassReset, noReply: true},
		{name: "truncated body", target: serve(func(w http.ResponseWriter, r *http.Request) {
			c := hijack(w)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort")
			c.Close()
		}), class: ClassTruncated},
		{name: "status outside expect", target: status(204), expect: []int{200}, class: ClassOther},
		{name: "expected 404", target: status(404), expect: []int{404}},
		{name: "redirect is measured, not followed", target: serve(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/elsewhere" {
				w.WriteHeader(500)
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		})},
		{name: "body read to the end", target: serve(func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte("x"), 256<<10))
		})},
	}
	for _, path := range clientPaths {
		for _, tc := range cases {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				w := openWorkload(tc.name, 40)
				// The timeout case times out at 200 ms; every other target
				// answers at once, and a long timeout keeps a busy host from
				// turning its answer into a timeout.
				w.Timeout = scenario.Duration(5 * time.Second)
				if tc.class == ClassTimeout {
					w.Timeout = scenario.Duration(200 * time.Millisecond)
				}
				w.MaxInflight = 20 // 40/s that may each take the 200 ms timeout
				w.Expect.Status = tc.expect
				sc := newScenario(500*time.Millisecond, w)
				opts := path.opts
				opts.URL = tc.target(t)
				meter := hiccup.Start()
				res, err := Run(context.Background(), sc, opts)
				host := meter.Stop()
				if res == nil {
					t.Fatalf("no result: %v", err)
				}
				checkAccounting(t, res)
				t.Logf("%+v errors %v latency p50 %.1fms; %v", res.Totals, res.Errors, res.LatencyMS.P50, host)
				tot := res.Totals
				sent := sentArrivals(t, res, 20, host, 25*time.Millisecond)
				if tc.noReply != errors.Is(err, ErrNoResponse) {
					t.Errorf("err = %v, want ErrNoResponse: %v", err, tc.noReply)
				} else if err != nil && !errors.Is(err, ErrNoResponse) {
					t.Errorf("err = %v", err)
				}
				if tc.class == "" {
					if tot.Succeeded != sent || len(res.Errors) != 0 {
						t.Errorf("totals %+v errors %v, want all %d sent to succeed", tot, res.Errors, sent)
					}
					return
				}
				if tot.Failed != sent || res.Errors[tc.class] != sent {
					t.Errorf("totals %+v errors %v, want all %d sent failed as %q", tot, res.Errors, sent, tc.class)
				}
				// Histograms keep 3 significant digits: a 200ms timeout may
				// read back up to 0.1% lower. Its end is a wake-up, as late
				// as the host makes it.
				if most := host.Allow(400 * time.Millisecond); tc.class == ClassTimeout &&
					(res.ServiceLatencyMS.Min < 200*(1-0.001) || res.ServiceLatencyMS.Max > float64(most)/1e6) {
					t.Errorf("timeouts took %.1f..%.1fms, want ~200ms (at most %v on this host)", res.ServiceLatencyMS.Min, res.ServiceLatencyMS.Max, most)
				}
			})
		}
	}
}

func TestNodesAreCountedFromTheResponseHeader(t *testing.T) {
	var (
		mu     sync.Mutex
		served = map[string]int64{}
		n      atomic.Int64
	)
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		node := []string{"a", "a", "b", "c", ""}[(n.Add(1)-1)%5]
		if node != "" {
			w.Header().Set(headers.Node, node)
		}
		mu.Lock()
		served[node]++
		mu.Unlock()
	})
	sc := newScenario(2*time.Second, openWorkload("w", 100))
	sc.SUT = &scenario.SUT{Proxy: scenario.Proxy{Strategy: "round-robin"}}
	res := run(t, sc, Options{URL: srv.URL, NodeStats: func() []NodeReport {
		return []NodeReport{
			{Name: "a", Weight: 2, Utilisation: 0.5},
			{Name: "b", Weight: 1, Utilisation: 0.25},
			{Name: "c", Weight: 1, Utilisation: 0.25},
			{Name: "d", Weight: 1, Utilisation: 0},
		}
	}})
	checkAccounting(t, res)
	if res.Strategy != "round-robin" {
		t.Errorf("strategy %q", res.Strategy)
	}
	withNode := served["a"] + served["b"] + served["c"]
	want := []report.Node{
		{Name: "a", Requests: served["a"], Share: float64(served["a"]) / float64(withNode), Weight: 2, Utilisation: 0.5},
		{Name: "b", Requests: served["b"], Share: float64(served["b"]) / float64(withNode), Weight: 1, Utilisation: 0.25},
		{Name: "c", Requests: served["c"], Share: float64(served["c"]) / float64(withNode), Weight: 1, Utilisation: 0.25},
		{Name: "d", Weight: 1},
	}
	if fmt.Sprint(res.Nodes) != fmt.Sprint(want) {
		t.Fatalf("nodes\n got %+v\nwant %+v", res.Nodes, want)
	}
	xs := []float64{want[0].Share / 2, want[1].Share, want[2].Share, 0}
	if math.Abs(res.Fairness-report.JainIndex(xs)) > 1e-12 || res.Fairness <= 0.7 || res.Fairness >= 0.8 {
		t.Errorf("fairness %v, want %v (three fair nodes and an idle one: ~0.75)", res.Fairness, report.JainIndex(xs))
	}
	perWindow := map[string]int64{}
	for _, w := range res.Windows {
		for name, c := range w.Nodes {
			perWindow[name] += c
		}
	}
	for _, node := range want {
		if perWindow[node.Name] != node.Requests {
			t.Errorf("node %s: windows add up to %d, run %d", node.Name, perWindow[node.Name], node.Requests)
		}
	}
}

func okServerFunc(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestRequestMixIsDeterministic(t *testing.T) {
	mixWorkload := func() scenario.Workload {
		w := openWorkload("mix", 200)
		w.Requests = []scenario.Request{
			{Method: http.MethodGet, Path: "/a", Weight: 6},
			{Method: http.MethodGet, Path: "/b", Weight: 3},
			{Method: http.MethodGet, Path: "/c", Weight: 1},
		}
		return w
	}
	// The sequence itself, offline.
	sequence := func(seed int64) []int {
		sc := newScenario(time.Second, mixWorkload())
		sc.Seed = seed
		w, err := newWorkloadRun(sc, 0, []string{"http://127.0.0.1:1"}, time.Second, Options{})
		if err != nil {
			t.Fatal(err)
		}
		seq := make([]int, 200)
		for i := range seq {
			seq[i] = w.pick()
		}
		return seq
	}
	a, b, c := sequence(42), sequence(42), sequence(43)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("same seed, different request sequences")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("another seed gives the same request sequence")
	}
	offline := map[string]int64{}
	for _, i := range a {
		offline[[]string{"/a", "/b", "/c"}[i]]++
	}
	if !(offline["/a"] > offline["/b"] && offline["/b"] > offline["/c"] && offline["/c"] > 0) {
		t.Errorf("mix %v does not follow the weights 6:3:1", offline)
	}

	// What the server receives, run after run.
	served := func() map[string]int64 {
		var mu sync.Mutex
		got := map[string]int64{}
		srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[r.URL.Path]++
			mu.Unlock()
		})
		res := run(t, newScenario(time.Second, mixWorkload()), Options{URL: srv.URL})
		checkAccounting(t, res)
		if res.Totals.Succeeded != 200 {
			t.Fatalf("totals %+v", res.Totals)
		}
		return got
	}
	first, second := served(), served()
	t.Logf("offline %v, runs %v and %v", offline, first, second)
	if fmt.Sprint(first) != fmt.Sprint(offline) || fmt.Sprint(second) != fmt.Sprint(offline) {
		t.Errorf("served mixes %v and %v, want the seeded sequence's %v", first, second, offline)
	}
}

func TestRequestCarriesMethodHeadersAndBody(t *testing.T) {
	type seen struct{ method, path, query, host, header, agent, auth, body string }
	got := make(chan seen, 100)
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, password, _ := r.BasicAuth()
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("X-Test"), r.UserAgent(), user + ":" + password, string(body)}
	})
	w := openWorkload("post", 10)
	w.Requests = []scenario.Request{{
		Method: http.MethodPost, Path: "/cart?x=1", Weight: 1, Body: `{"sku":1}`,
		Headers: map[string]string{"X-Test": "yes", "host": "shop.example"},
	}}
	res := run(t, newScenario(time.Second, w), Options{URL: strings.Replace(srv.URL, "://", "://u:p@", 1) + "/api/", Version: "1.2.3"})
	if res.Totals.Succeeded != 10 || res.Tool != "ilities 1.2.3" {
		t.Fatalf("tool %q, totals %+v", res.Tool, res.Totals)
	}
	want := seen{"POST", "/api/cart", "x=1", "shop.example", "yes", "ilities/1.2.3", "u:p", `{"sku":1}`}
	for range 10 {
		if s := <-got; s != want {
			t.Fatalf("server saw %+v, want %+v", s, want)
		}
	}
}

func TestInterruptedRun(t *testing.T) {
	srv := okServer(t, 100*time.Millisecond, nil)
	sc := newScenario(5*time.Second, openWorkload("w", 100))
	ctx, cancel := context.WithCancel(context.Background())
	// Stopped 1.2 s into the run, on the run's own clock (a busy host may
	// take a while to start it).
	var started, stopped time.Time
	stop := make(chan struct{})
	res, err := Run(ctx, sc, Options{URL: srv.URL, Started: func(t0 time.Time) {
		started = t0
		time.AfterFunc(1200*time.Millisecond, func() {
			stopped = time.Now()
			cancel()
			close(stop)
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-stop
	checkAccounting(t, res)
	atStop := stopped.Sub(started).Seconds()
	t.Logf("measured %.3fs of %.0fs, stopped at %.3fs: %+v errors %v", res.MeasuredS, res.DurationS, atStop, res.Totals, res.Errors)
	if !res.Incomplete || res.DurationS != 5 || res.MeasuredS < atStop-0.001 || res.MeasuredS >= res.DurationS {
		t.Errorf("incomplete %v, measured %.3fs of %.1fs, stopped at %.3fs", res.Incomplete, res.MeasuredS, res.DurationS, atStop)
	}
	measured := time.Duration(res.MeasuredS * float64(time.Second))
	if want := pacerCount(t, sc, 0, measured); res.Totals.Scheduled != want {
		t.Errorf("scheduled %d, want the %d arrivals due before the stop", res.Totals.Scheduled, want)
	}
	// Requests in flight at the stop were awaited, not abandoned.
	if res.Errors[ClassAborted] != 0 || res.Totals.Failed != 0 {
		t.Errorf("errors %v after a stop with 100ms requests in flight", res.Errors)
	}
}

func TestInterruptedRunAbandonsHungRequests(t *testing.T) {
	hung := make(chan struct{}, 128)
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case hung <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	w := openWorkload("w", 20)
	w.Timeout = sec(20)
	sc := newScenario(5*time.Second, w)
	// Stopped once three requests hang at the server: a busy host may take
	// a while to start the run and send them, and a stop before the first
	// send would test nothing.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer cancel()
		for range 3 {
			select {
			case <-hung:
			case <-time.After(30 * time.Second):
				return
			}
		}
	}()
	res, err := Run(ctx, sc, Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	checkAccounting(t, res)
	t.Logf("measured %.3fs: %+v errors %v", res.MeasuredS, res.Totals, res.Errors)
	// Every request sent was aborted; an arrival due before the stop that
	// a busy host kept from being sent is cut, not lost.
	tot := res.Totals
	if !res.Incomplete || tot.Scheduled == 0 || res.Errors[ClassAborted] == 0 || res.Errors[ClassAborted]+tot.CutAtEnd != tot.Scheduled {
		t.Errorf("incomplete %v, totals %+v, errors %v: want every hung request aborted", res.Incomplete, tot, res.Errors)
	}
}

func TestNoResponseAtAll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	res, err := Run(context.Background(), newScenario(time.Second, openWorkload("w", 50)), Options{URL: url})
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	if res == nil || res.Totals.Scheduled != 50 || res.Errors[ClassRefused] != 50 {
		t.Fatalf("result %+v, want 50 refused", res)
	}
	checkAccounting(t, res)
}

func TestRunRejectsBadInput(t *testing.T) {
	closed := openWorkload("users", 1)
	closed.Model = "closed"
	cases := []struct {
		name string
		sc   *scenario.Scenario
		url  string
	}{
		{"no workload", newScenario(time.Second), "http://127.0.0.1:1"},
		{"bad url", newScenario(time.Second, openWorkload("w", 1)), "127.0.0.1:1"},
		{"closed model", newScenario(time.Second, closed), "http://127.0.0.1:1"},
	}
	for _, tc := range cases {
		if res, err := Run(context.Background(), tc.sc, Options{URL: tc.url}); err == nil || res != nil {
			t.Errorf("%s: want an error and no result, got %v", tc.name, err)
		}
	}
}
