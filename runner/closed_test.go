package runner

import (
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

func closedWorkload(name string, users int) scenario.Workload {
	return scenario.Workload{
		Name:        name,
		Model:       scenario.ModelClosed,
		Users:       users,
		Requests:    []scenario.Request{{Method: http.MethodGet, Path: "/", Weight: 1}},
		Timeout:     sec(2),
		MaxInflight: 1000,
		Client:      scenario.Client{HTTP: scenario.HTTP1},
	}
}

// The client paths: the lean HTTP/1.1 client, its virtual users on the
// event loop where it runs (Linux) and on goroutines, and net/http.
var clientPaths = []struct {
	name string
	opts Options
}{
	{"lean", Options{}},
	{"lean-goroutines", Options{forceWorkers: true}},
	{"net-http", Options{forceStd: true}},
}

func TestUserSpans(t *testing.T) {
	seg := func(start, end, from, to float64) scenario.Segment {
		return scenario.Segment{Start: secs(start), End: secs(end), From: from, To: to}
	}
	cases := []struct {
		name    string
		profile []scenario.Segment
		user    int
		want    []Span
	}{
		{"constant: every user all the run", []scenario.Segment{seg(0, 10, 4, 4)}, 3, []Span{{0, secs(10)}}},
		{"constant: no such user", []scenario.Segment{seg(0, 10, 4, 4)}, 4, nil},
		{"ramp up: user 0 at 1s", []scenario.Segment{seg(0, 10, 0, 10)}, 0, []Span{{secs(1), secs(10)}}},
		{"ramp up: user 9 at the end", []scenario.Segment{seg(0, 10, 0, 10)}, 9, nil},
		{"ramp up then hold", []scenario.Segment{seg(0, 10, 0, 10), seg(10, 20, 10, 10)}, 9, []Span{{secs(10), secs(20)}}},
		{"ramp down: user 1 leaves at 8s", []scenario.Segment{seg(0, 10, 10, 0)}, 1, []Span{{0, secs(8)}}},
		{"up, down, up again", []scenario.Segment{seg(0, 2, 2, 2), seg(2, 3, 1, 1), seg(3, 4, 2, 2)}, 1, []Span{{0, secs(2)}, {secs(3), secs(4)}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := UserSpans(tc.profile, tc.user)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("spans %v, want %v", got, tc.want)
			}
		})
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// A closed loop keeps exactly its users busy: the server never sees more
// requests at once than users, latency is the response time, nothing is
// late or dropped.
func TestClosedLoopUsers(t *testing.T) {
	for _, path := range clientPaths {
		t.Run(path.name, func(t *testing.T) {
			var conc concurrency
			srv := okServer(t, 20*time.Millisecond, &conc)
			sc := newScenario(time.Second, closedWorkload("users", 4))
			opts := path.opts
			opts.URL = srv.URL
			res := run(t, sc, opts)
			checkAccounting(t, res)
			t.Logf("totals %+v latency p50 %.1fms peak %d", res.Totals, res.LatencyMS.P50, conc.peak.Load())
			if conc.peak.Load() != 4 {
				t.Errorf("peak concurrency %d, want the 4 users", conc.peak.Load())
			}
			tot := res.Totals
			// 4 users x 1s / ~20ms each: at most 200.
			if tot.Succeeded > 204 || tot.Failed != 0 || tot.Dropped != 0 || tot.Late != 0 {
				t.Errorf("totals %+v, want at most 204 successes and nothing else", tot)
			}
			if res.LatencyMS.Min < 20 {
				t.Errorf("latency min %.1fms, want the response time (>= 20ms)", res.LatencyMS.Min)
			}
			// How many fit in the second depends on the host: a host that
			// delays the users past the tolerated delay excuses a slow loop.
			if tot.Succeeded < 60 || res.LatencyMS.P50 > 200 {
				if why := report.DelayedBeyond(res, hostDelayForExactCounts); why != "" {
					t.Logf("%d successes, latency p50 %.1fms: not judged, %s", tot.Succeeded, res.LatencyMS.P50, why)
				} else {
					t.Errorf("%d successes, latency p50 %.1fms: want 60 or more and the response time", tot.Succeeded, res.LatencyMS.P50)
				}
			}
			if res.Generator.SendLagMS.Count != 0 || res.Generator.Saturated {
				t.Errorf("generator %+v: a closed loop has no send lag and does not saturate", res.Generator)
			}
			if res.Workloads[0].Model != scenario.ModelClosed {
				t.Errorf("workload model %q", res.Workloads[0].Model)
			}
		})
	}
}

// Ramping users follow the stages: the first second ramps 0 -> 6 users, the
// second holds 6.
func TestRampingUsers(t *testing.T) {
	var conc concurrency
	srv := okServer(t, 20*time.Millisecond, &conc)
	w := closedWorkload("ramp", 0)
	w.Stages = []scenario.Stage{{RampTo: 6, Over: sec(1)}, {Hold: 6, For: sec(1)}}
	sc := newScenario(2*time.Second, w)
	res := run(t, sc, Options{URL: srv.URL})
	checkAccounting(t, res)
	w0, w1 := res.Windows[0].Scheduled, res.Windows[1].Scheduled
	t.Logf("windows %d then %d, peak %d", w0, w1, conc.peak.Load())
	if conc.peak.Load() != 6 {
		t.Errorf("peak concurrency %d, want 6 users", conc.peak.Load())
	}
	// Users join at 1/6, 2/6, ... 1s: the ramp holds 2.5 user-seconds, the
	// hold 6. The server runs in this process: a host that holds it back
	// caps both windows alike, and shows in the run's apparatus figures.
	if w1 == 0 || float64(w0) > 0.6*float64(w1) {
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	}
	if w1 == 0 || float64(w0) > 0.6*float64(w1) || w0 == 0 {
		t.Errorf("requests per window %d, %d: want the ramp well below the hold", w0, w1)
	}
}

// Think time spaces a user's requests.
func TestThinkTime(t *testing.T) {
	srv := okServer(t, 0, nil)
	w := closedWorkload("thinkers", 2)
	w.ThinkTime = scenario.Distribution{Dist: "constant", Value: scenario.Duration(100 * time.Millisecond)}
	res := run(t, newScenario(time.Second, w), Options{URL: srv.URL})
	checkAccounting(t, res)
	// Each user: a request, 100ms of thought, ... about 10 in a second.
	if n := res.Totals.Succeeded; n < 14 || n > 22 {
		t.Errorf("%d requests from 2 users thinking 100ms for 1s, want about 20", n)
	}
}

// shop is a server with a log-in: /login issues a session cookie, /cart
// needs it, /checkout answers "order ok" for a known session.
type shop struct {
	mu       sync.Mutex
	next     int
	sessions map[string][]string // session -> paths, in order
	noCookie atomic.Int64
}

func newShop(t *testing.T) (*shop, string) {
	s := &shop{sessions: map[string][]string{}}
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.URL.Path == "/login" {
			s.next++
			id := strconv.Itoa(s.next)
			s.sessions[id] = []string{r.URL.Path}
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/"})
			return
		}
		c, err := r.Cookie("sid")
		if err != nil || s.sessions[c.Value] == nil {
			s.noCookie.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.sessions[c.Value] = append(s.sessions[c.Value], r.URL.Path)
		if r.URL.Path == "/checkout" {
			io.WriteString(w, "order ok for "+c.Value)
		}
	})
	return s, srv.URL
}

func sessionWorkload(steps ...scenario.Request) scenario.Workload {
	w := closedWorkload("shoppers", 3)
	w.Requests = nil
	for i := range steps {
		if steps[i].Method == "" {
			steps[i].Method = http.MethodGet
		}
		steps[i].Weight = 1
	}
	w.Session = steps
	w.ThinkTime = scenario.Distribution{Dist: "constant", Value: scenario.Duration(5 * time.Millisecond)}
	return w
}

// Each iteration of a session runs its steps in order with a fresh cookie
// jar: the cookie set by the first step goes with the next ones, and every
// session the server sees is one log-in, one cart, one checkout.
func TestSessionsKeepCookiesPerUser(t *testing.T) {
	for _, path := range clientPaths {
		t.Run(path.name, func(t *testing.T) {
			s, url := newShop(t)
			w := sessionWorkload(
				scenario.Request{Method: http.MethodPost, Path: "/login"},
				scenario.Request{Path: "/cart", Expect: &scenario.Expect{Status: []int{200}}},
				scenario.Request{Path: "/checkout", Expect: &scenario.Expect{BodyContains: "order ok"}},
			)
			opts := path.opts
			opts.URL = url
			res := run(t, newScenario(time.Second, w), opts)
			checkAccounting(t, res)
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Logf("totals %+v errors %v, %d sessions", res.Totals, res.Errors, len(s.sessions))
			if res.Totals.Failed != 0 || s.noCookie.Load() != 0 {
				t.Fatalf("errors %v, %d requests without the session cookie", res.Errors, s.noCookie.Load())
			}
			complete := 0
			for id, paths := range s.sessions {
				got := strings.Join(paths, " ")
				switch got {
				case "/login /cart /checkout":
					complete++
				case "/login", "/login /cart": // cut by the end of the run
				default:
					t.Errorf("session %s saw %s, want /login /cart /checkout once", id, got)
				}
			}
			if complete < 10 {
				// Three users, 5 ms of think time and three quick steps
				// complete well over a hundred sessions a second on a
				// quiet host; a host that held the tool back says so in
				// the run's own apparatus figures.
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Errorf("%d complete sessions in 1s, want many", complete)
			}
		})
	}
}

// A step's expect (status set, body_contains) decides its success; a
// failed step ends its session, so the steps after it are not sent.
func TestSessionStepExpectations(t *testing.T) {
	cases := []struct {
		name  string
		step  scenario.Request
		class string
	}{
		{"status outside the set", scenario.Request{Path: "/cart", Expect: &scenario.Expect{Status: []int{201}}}, ClassOther},
		{"body without the text", scenario.Request{Path: "/cart", Expect: &scenario.Expect{BodyContains: "order ok"}}, ClassUnexpectedBody},
	}
	for _, path := range clientPaths {
		for _, tc := range cases {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				s, url := newShop(t)
				w := sessionWorkload(
					scenario.Request{Method: http.MethodPost, Path: "/login"},
					tc.step,
					scenario.Request{Path: "/checkout"},
				)
				opts := path.opts
				opts.URL = url
				res := run(t, newScenario(500*time.Millisecond, w), opts)
				checkAccounting(t, res)
				s.mu.Lock()
				defer s.mu.Unlock()
				if res.Totals.Failed == 0 || res.Errors[tc.class] != res.Totals.Failed {
					t.Fatalf("totals %+v errors %v, want failures of class %s", res.Totals, res.Errors, tc.class)
				}
				for id, paths := range s.sessions {
					if len(paths) > 2 {
						t.Fatalf("session %s went on after its failed step: %v", id, paths)
					}
				}
			})
		}
	}
}

// The warm-up's figures are kept apart: they neither count in the totals
// nor in the verdicts, and its windows are marked.
func TestWarmupIsExcluded(t *testing.T) {
	var n atomic.Int64
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 90 { // slow while warming up
			time.Sleep(200 * time.Millisecond)
		}
	})
	w := openWorkload("w", 100)
	sc := newScenario(2*time.Second, w)
	sc.Warmup = sec(1)
	sc.Requirements = []scenario.Requirement{mustRequirement(t, "p99(latency) < 150ms")}
	res := run(t, sc, Options{URL: srv.URL})
	report.Evaluate(res, sc.Requirements)
	t.Logf("warm-up %+v p50 %.1fms; measured %+v max %.1fms", res.Warmup.Totals, res.Warmup.LatencyMS.P50, res.Totals, res.LatencyMS.Max)
	if res.WarmupS != 1 || res.Warmup == nil || res.Warmup.Totals.Scheduled != 100 || res.Totals.Scheduled != 100 {
		t.Fatalf("warm-up %vs %+v, totals %+v: want 100 arrivals in each", res.WarmupS, res.Warmup, res.Totals)
	}
	if res.LatencyMS.Max >= 150 {
		// The target runs in this process: a host that held it back shows
		// in the run's own apparatus figures.
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	}
	if res.Warmup.LatencyMS.P50 < 200 || res.LatencyMS.Max >= 150 {
		t.Errorf("warm-up p50 %.1fms, measured max %.1fms: the slow start must stay in the warm-up", res.Warmup.LatencyMS.P50, res.LatencyMS.Max)
	}
	if !res.Windows[0].Warmup || res.Windows[1].Warmup {
		t.Errorf("windows warm-up marks %v %v, want true false", res.Windows[0].Warmup, res.Windows[1].Warmup)
	}
	if res.ThroughputRPS < 95 || res.ThroughputRPS > 105 {
		t.Errorf("throughput %.1f/s over the measured second, want 100", res.ThroughputRPS)
	}
	// The warm-up counts in no requirement. A run the host kept from
	// sending on time is inconclusive whatever its requirements say: that
	// is the generator's account, given with its figures.
	for _, v := range res.Requirements {
		if v.Status != report.VerdictPass {
			t.Errorf("requirement %s is %s (%s): the warm-up must not count", v.Text, v.Status, v.Why)
		}
	}
	switch {
	case res.Verdict == report.VerdictInconclusive && res.Generator.Saturated:
		t.Logf("verdict inconclusive, as the generator's delay makes it: %s", res.VerdictReason)
	case res.Verdict != report.VerdictPass:
		t.Errorf("verdict %s (%s) %+v: the warm-up must not count", res.Verdict, res.VerdictReason, res.Requirements)
	}
}

func mustRequirement(t *testing.T, text string) scenario.Requirement {
	t.Helper()
	r, err := scenario.ParseRequirement(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A user's source gives math/rand's values for its seed, in the same
// order, whatever is drawn; its state is made at the first draw, so a user
// whose think time is constant and whose workload has one request, drawing
// nothing, holds none.
func TestUserRNGLazy(t *testing.T) {
	oneRequest := &Mix{cumWeight: []int{1}}
	cases := []struct {
		name  string
		think scenario.Distribution
		mix   *Mix
		draws bool
	}{
		{"no think time, one request", scenario.Distribution{}, oneRequest, false},
		{"constant think time, one request", scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Second)}, oneRequest, false},
		{"constant think time, a mix", scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Second)}, &Mix{cumWeight: []int{3, 4}}, true},
		{"uniform", scenario.Distribution{Dist: "uniform", Max: scenario.Duration(time.Second)}, oneRequest, true},
		{"exponential", scenario.Distribution{Dist: "exponential", Mean: scenario.Duration(time.Second)}, oneRequest, true},
		{"lognormal", scenario.Distribution{Dist: "lognormal", Median: scenario.Duration(time.Second), P99: scenario.Duration(5 * time.Second)}, oneRequest, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for u := range 3 {
				src := &lazySource{seed: userSeed(7, 1, u)}
				got, want := rand.New(src), rand.New(rand.NewSource(userSeed(7, 1, u)))
				for i := range 100 {
					gp, wp := tc.mix.PickWith(got), tc.mix.PickWith(want)
					gt, wt := tc.think.Sample(got), tc.think.Sample(want)
					if gp != wp || gt != wt {
						t.Fatalf("user %d, draw %d: %d, %v; math/rand's source gives %d, %v", u, i, gp, gt, wp, wt)
					}
				}
				if src.drawn() != tc.draws {
					t.Errorf("user %d: source made %v, want %v", u, src.drawn(), tc.draws)
				}
			}
		})
	}
}
