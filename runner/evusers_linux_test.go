package runner

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
)

// userServer counts the requests it serves and how many it handles at
// once (its answer carries X-V for an extraction), and notes when each one began on the run's clock (Options.Started)
// with how many were in progress then, itself included.
type userServer struct {
	URL   string
	conc  concurrency
	count atomic.Int64
	t0    atomic.Pointer[time.Time]

	mu     sync.Mutex
	starts []userStart
}

type userStart struct {
	at       time.Duration
	inflight int64
}

func newUserServer(t *testing.T, delay time.Duration) *userServer {
	s := &userServer{}
	s.URL = okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		s.count.Add(1)
		s.conc.enter()
		defer s.conc.leave()
		if t0 := s.t0.Load(); t0 != nil {
			s.mu.Lock()
			s.starts = append(s.starts, userStart{time.Since(*t0), s.conc.now.Load()})
			s.mu.Unlock()
		}
		if delay > 0 {
			time.Sleep(delay)
		}
		w.Header().Set("X-V", "1")
		w.Write([]byte("ok"))
	}).URL
	return s
}

// started is the run's Started hook: the server's clock starts with it.
func (s *userServer) started(t0 time.Time) { s.t0.Store(&t0) }

// peakIn is the most requests in progress at the start of a request that
// began in [from, to) of the run.
func (s *userServer) peakIn(from, to time.Duration) (peak int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.starts {
		if st.at >= from && st.at < to {
			peak = max(peak, st.inflight)
		}
	}
	return peak
}

// A closed workload runs on the event loop by the open loop's rule: one
// plain-HTTP/1.1 kept-alive target, requests sent as built. The result
// names the engine, and a run on the loop holds one processor more while
// it lasts (the loop keeps its own); requests rendered or checked per send,
// several targets and a run told to keep off the loop use goroutines.
func TestClosedLoopEngine(t *testing.T) {
	srv := newUserServer(t, time.Millisecond)
	other := newUserServer(t, time.Millisecond)
	cases := []struct {
		name   string
		w      func() scenario.Workload
		urls   []string
		forced bool
		want   string
	}{
		{"closed loop", func() scenario.Workload { return closedWorkload("w", 3) }, nil, false, EngineEventLoop},
		{"session with cookies", func() scenario.Workload {
			return sessionWorkload(scenario.Request{Path: "/a"}, scenario.Request{Path: "/b"})
		}, nil, false, EngineEventLoop},
		{"open loop: the same rule", func() scenario.Workload { return openWorkload("w", 200) }, nil, false, EngineEventLoop},
		{"extracted variable: rendered per send", func() scenario.Workload {
			w := closedWorkload("w", 3)
			w.Requests[0].Extract = map[string]scenario.Extract{"v": {Header: "X-V"}}
			w.Variables = []string{"v"}
			return w
		}, nil, false, EngineGoroutines},
		{"two targets", func() scenario.Workload { return closedWorkload("w", 3) }, []string{srv.URL, other.URL}, false, EngineGoroutines},
		{"kept off the loop", func() scenario.Workload { return closedWorkload("w", 3) }, nil, true, EngineGoroutines},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.w()
			sc := newScenario(300*time.Millisecond, w)
			before := runtime.GOMAXPROCS(0)
			var during int
			sent := srv.count.Load() + other.count.Load()
			res := run(t, sc, Options{URL: srv.URL, URLs: tc.urls, forceWorkers: tc.forced,
				Started: func(time.Time) { during = runtime.GOMAXPROCS(0) }})
			checkAccounting(t, res)
			sent = srv.count.Load() + other.count.Load() - sent
			if got := res.Generator.Engines[w.Name]; got != tc.want {
				t.Fatalf("engine %q, want %q", got, tc.want)
			}
			if extra := during - before; (extra == 1) != (tc.want == EngineEventLoop) || extra > 1 {
				t.Errorf("GOMAXPROCS %d before, %d during the run: an event loop holds one more, goroutines none", before, during)
			}
			if res.Totals.Failed != 0 || sent != res.Totals.Succeeded || sent == 0 {
				t.Errorf("the servers answered %d requests, the result counts %+v", sent, res.Totals)
			}
		})
	}
}

// N virtual users never have more than N requests in flight (nor more than
// max_connections when that is fewer), and every request the server
// answered is counted once: in a closed loop nothing is dropped or cut, and
// a session's iterations account for their steps.
func TestClosedLoopInFlightBound(t *testing.T) {
	cases := []struct {
		name     string
		users    int
		conns    int // max_connections, 0 for one per user
		session  bool
		wantPeak int64
	}{
		{"one user", 1, 0, false, 1},
		{"three users", 3, 0, false, 3},
		{"sixteen users", 16, 0, false, 16},
		{"eight users on two connections", 8, 2, false, 2},
		{"five users in sessions of three steps", 5, 0, true, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newUserServer(t, 5*time.Millisecond)
			w := closedWorkload("users", tc.users)
			if tc.session {
				w = sessionWorkload(scenario.Request{Path: "/a"}, scenario.Request{Path: "/b"}, scenario.Request{Path: "/c"})
				w.Users, w.ThinkTime = tc.users, scenario.Distribution{}
			}
			w.Client.MaxConnections = tc.conns
			sc := newScenario(500*time.Millisecond, w)
			requireLoop(t, sc, srv.URL)
			res := run(t, sc, Options{URL: srv.URL, Started: srv.started})
			checkAccounting(t, res)
			tot, peak := res.Totals, srv.conc.peak.Load()
			t.Logf("totals %+v, peak %d in flight", tot, peak)
			if res.Generator.Engines[w.Name] != EngineEventLoop {
				t.Fatalf("engines %v", res.Generator.Engines)
			}
			if peak > tc.wantPeak {
				t.Errorf("%d requests in flight at once, want at most %d", peak, tc.wantPeak)
			}
			if n := srv.count.Load(); n != tot.Scheduled || tot.Succeeded != n || tot.Failed+tot.Dropped+tot.CutAtEnd+tot.Late != 0 {
				t.Errorf("the server answered %d requests; totals %+v", n, tot)
			}
			if tc.session {
				// Each iteration sends /a, then /b, then /c: at the end each
				// user may be part-way through one.
				a, b, c := res.Requests[0].Totals.Scheduled, res.Requests[1].Totals.Scheduled, res.Requests[2].Totals.Scheduled
				if a < b || b < c || a-c > int64(tc.users) || c == 0 {
					t.Errorf("steps sent %d, %d, %d times: want every iteration whole but the users' last", a, b, c)
				}
			}
			if peak < tc.wantPeak {
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Errorf("%d requests in flight at most, want the %d users' (or connections')", peak, tc.wantPeak)
			}
		})
	}
}

// Think time spaces a user's requests: the next is sent no sooner than
// the think time after the answer, so the server sees them at least that
// far apart, and about as many as the time allows.
func TestClosedLoopThinkTime(t *testing.T) {
	cases := []struct {
		name     string
		think    scenario.Distribution
		least    time.Duration // the shortest think time
		mostReqs int
	}{
		{"constant 40ms", scenario.Distribution{Dist: "constant", Value: scenario.Duration(40 * time.Millisecond)}, 40 * time.Millisecond, 15},
		{"uniform 20-40ms", scenario.Distribution{Dist: "uniform", Min: scenario.Duration(20 * time.Millisecond), Max: scenario.Duration(40 * time.Millisecond)}, 20 * time.Millisecond, 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newUserServer(t, 0)
			w := closedWorkload("thinker", 1)
			w.ThinkTime = tc.think
			sc := newScenario(600*time.Millisecond, w)
			requireLoop(t, sc, srv.URL)
			res := run(t, sc, Options{URL: srv.URL, Started: srv.started})
			checkAccounting(t, res)
			srv.mu.Lock()
			starts := srv.starts
			srv.mu.Unlock()
			if int64(len(starts)) != res.Totals.Succeeded {
				t.Fatalf("server saw %d requests, result %+v", len(starts), res.Totals)
			}
			for i := 1; i < len(starts); i++ {
				if gap := starts[i].at - starts[i-1].at; gap < tc.least {
					t.Fatalf("requests %d and %d %v apart, want at least the think time %v", i-1, i, gap, tc.least)
				}
			}
			if len(starts) > tc.mostReqs {
				t.Errorf("%d requests in 600ms thinking at least %v", len(starts), tc.least)
			}
			if len(starts) < tc.mostReqs/2 {
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Errorf("%d requests in 600ms thinking %v: want about %d", len(starts), tc.least, tc.mostReqs*3/4)
			}
		})
	}
}

// A user profile's steps on the loop: a user added later starts at its
// start time, a user removed stops after its request in flight.
func TestClosedLoopUserProfile(t *testing.T) {
	const half = 500 * time.Millisecond
	cases := []struct {
		name          string
		first, second int
	}{
		{"one user, then three", 1, 3},
		{"four users, then one", 4, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newUserServer(t, 10*time.Millisecond)
			w := closedWorkload("steps", 0)
			w.Stages = []scenario.Stage{
				{Hold: scenario.Rate(tc.first), For: scenario.Duration(half)},
				{Hold: scenario.Rate(tc.second), For: scenario.Duration(half)},
			}
			sc := newScenario(2*half, w)
			requireLoop(t, sc, srv.URL)
			res := run(t, sc, Options{URL: srv.URL, Started: srv.started})
			checkAccounting(t, res)
			// A removed user's last request began before the step and
			// lasts 10ms; the server's clock starts a little after the run's.
			settle := 50 * time.Millisecond
			p1, p2 := srv.peakIn(0, half), srv.peakIn(half+settle, 2*half)
			t.Logf("totals %+v, in flight at most %d then %d", res.Totals, p1, p2)
			if p1 > int64(tc.first) || p2 > int64(tc.second) {
				t.Errorf("in flight at most %d then %d, want %d then %d", p1, p2, tc.first, tc.second)
			}
			if n := srv.count.Load(); n != res.Totals.Succeeded || res.Totals.Failed != 0 {
				t.Errorf("server answered %d, totals %+v", n, res.Totals)
			}
			if p1 < int64(tc.first) || p2 < int64(tc.second) {
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Errorf("in flight at most %d then %d, want %d then %d", p1, p2, tc.first, tc.second)
			}
		})
	}
}

// A stopped run's users on the loop finish the requests they have in
// flight and send no more: nothing aborted, every request counted.
func TestClosedLoopInterrupted(t *testing.T) {
	srv := newUserServer(t, 50*time.Millisecond)
	sc := newScenario(5*time.Second, closedWorkload("w", 4))
	requireLoop(t, sc, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	begun := time.Now()
	res, err := Run(ctx, sc, Options{URL: srv.URL, Started: func(time.Time) { time.AfterFunc(300*time.Millisecond, cancel) }})
	if err != nil {
		t.Fatal(err)
	}
	checkAccounting(t, res)
	t.Logf("measured %.3fs in %v: %+v", res.MeasuredS, time.Since(begun), res.Totals)
	if !res.Incomplete || res.MeasuredS >= 1 || res.Errors[ClassAborted] != 0 || res.Totals.Failed != 0 {
		t.Errorf("incomplete %v, measured %.3fs, errors %v", res.Incomplete, res.MeasuredS, res.Errors)
	}
	if n := srv.count.Load(); n != res.Totals.Succeeded || n == 0 {
		t.Errorf("server answered %d, totals %+v", n, res.Totals)
	}
}

// userLoop is an event loop for the closed workload w against url, its
// users active for an hour from now, stepped by the test (step) rather
// than run; it holds its processor as in Run, and ends with the test.
func userLoop(t *testing.T, w scenario.Workload, url string, users int) (*eventLoop, *recorder) {
	t.Helper()
	sc := newScenario(time.Hour, w)
	wr, err := newWorkloadRun(sc, 0, []string{url}, time.Hour, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wr.client.close)
	e := &engine{duration: time.Hour, stop: make(chan struct{}), seed: 1}
	rec := &recorder{}
	l := newEventLoop(e, wr, rec)
	if l == nil {
		t.Skip("no event loop on this kernel")
	}
	t.Cleanup(l.closeAll)
	t.Cleanup(holdProcs(1)) // the loop keeps its processor while it waits, as in Run
	for u := range users {
		l.addUser(u, []Span{{0, time.Hour}})
	}
	e.start = time.Now()
	return l, rec
}

// In its steady state the loop allocates nothing per request of a user:
// the exchanges, the heap's entries and the connections' buffers are
// reused. The server answers with canned bytes and allocates nothing either.
func TestClosedLoopAllocatesNothing(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"+headers.Node+": a\r\n\r\nok")
	w := closedWorkload("w", 2)
	w.Requests = append(w.Requests, scenario.Request{Method: http.MethodGet, Path: "/b", Weight: 1})
	w.ThinkTime = scenario.Distribution{Dist: "uniform", Max: scenario.Duration(time.Microsecond)}
	l, rec := userLoop(t, w, url, 2)
	steps := func(n int) {
		for range n {
			if !l.step() {
				t.Fatal("the loop ended")
			}
		}
	}
	steps(2000) // connections open, buffers and spares at their peak
	rec.buf = make([]sample, 0, 1<<16)
	// Counted over the process (testing.AllocsPerRun would leave one
	// processor, the loop's, and the server could not run while it waits).
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	steps(2000)
	runtime.ReadMemStats(&after)
	sent, allocs := len(rec.buf), after.Mallocs-before.Mallocs
	for _, s := range rec.buf {
		if s.outcome != outSuccess || !s.closed {
			t.Fatalf("sample %+v", s)
		}
	}
	t.Logf("%d requests in 2,000 turns of the loop, %d allocations", sent, allocs)
	if sent < 1000 {
		t.Fatalf("%d requests in 2,000 turns of the loop", sent)
	}
	// A stray allocation of the runtime's or the test's is not the loop's.
	if allocs > uint64(sent)/100 {
		t.Errorf("%d allocations for %d requests", allocs, sent)
	}
}

// A user on the loop draws what it would draw on a goroutine, in the same
// order (its request from the mix, then its think time, after every
// answer): with the same seed, the server sees one user's requests in the
// same order on either engine, as far as the shorter run goes.
func TestClosedLoopEnginesAgree(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
	})
	w := closedWorkload("w", 1)
	w.Requests = []scenario.Request{
		{Method: http.MethodGet, Path: "/a", Weight: 3},
		{Method: http.MethodGet, Path: "/b", Weight: 2},
		{Method: http.MethodGet, Path: "/c", Weight: 1},
	}
	w.ThinkTime = scenario.Distribution{Dist: "uniform", Max: scenario.Duration(2 * time.Millisecond)}
	sc := newScenario(300*time.Millisecond, w)
	requireLoop(t, sc, srv.URL)
	seen := map[string][]string{}
	for _, engine := range []struct {
		name string
		opts Options
	}{{EngineEventLoop, Options{URL: srv.URL}}, {EngineGoroutines, Options{URL: srv.URL, forceWorkers: true}}} {
		mu.Lock()
		paths = nil
		mu.Unlock()
		res := run(t, sc, engine.opts)
		checkAccounting(t, res)
		if got := res.Generator.Engines["w"]; got != engine.name {
			t.Fatalf("ran on %q, want %q", got, engine.name)
		}
		mu.Lock()
		seen[engine.name] = paths
		mu.Unlock()
		if int64(len(paths)) != res.Totals.Succeeded {
			t.Fatalf("%s: server saw %d requests, result %+v", engine.name, len(paths), res.Totals)
		}
	}
	loop, goroutines := seen[EngineEventLoop], seen[EngineGoroutines]
	n := min(len(loop), len(goroutines))
	t.Logf("%d requests on the loop, %d on a goroutine", len(loop), len(goroutines))
	if n < 20 {
		t.Fatalf("%d and %d requests: too few to compare", len(loop), len(goroutines))
	}
	for i := range n {
		if loop[i] != goroutines[i] {
			t.Fatalf("request %d: %s on the loop, %s on a goroutine (first ones %v, %v)", i, loop[i], goroutines[i], loop[:i+1], goroutines[:i+1])
		}
	}
}

// A connection holds a read buffer of its own only while a response it is
// reading stops short of a whole line: reads go to the loop's one scratch
// buffer. Users whose answers arrived in pieces that cut their lines, now
// thinking, hold none; the buffers went back to the spares, no more of
// them than the bound.
func TestClosedLoopIdleUsersHoldNoBuffer(t *testing.T) {
	const users = 6
	cases := []struct {
		name  string
		parts []string
		kept  bool // a piece ends inside a line: a connection's buffer was needed
	}{
		{"whole responses", []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, false},
		{"a field cut", []string{"HTTP/1.1 200 OK\r\nContent-Le", "ngth: 2\r\n\r\nok"}, true},
		{"a chunk's size line cut", []string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2", "\r\nok\r\n0\r\n\r\n"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := splitServer(t, 20*time.Millisecond, tc.parts...)
			w := closedWorkload("w", users)
			w.ThinkTime = scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Hour)}
			l, rec := userLoop(t, w, url, users)
			for deadline := time.Now().Add(5 * time.Second); l.inflight > 0 || len(rec.buf)+len(l.samples) < users; {
				if time.Now().After(deadline) {
					t.Fatalf("%d answers, %d in flight after 5 s", len(rec.buf)+len(l.samples), l.inflight)
				}
				if !l.step() {
					t.Fatal("the loop ended")
				}
			}
			l.flush()
			for _, s := range rec.buf {
				if s.outcome != outSuccess {
					t.Fatalf("sample %+v", s)
				}
			}
			open := 0
			for c := range l.conns.All() {
				open++
				if c.buf != nil || c.start != c.filled {
					t.Errorf("an idle connection holds a buffer of %d bytes (%d unread)", len(c.buf), c.filled-c.start)
				}
			}
			if open != users {
				t.Errorf("%d connections open, want one per user (%d)", open, users)
			}
			if kept := len(l.bufs) > 0; kept != tc.kept || len(l.bufs) > loopSpareBufs {
				t.Errorf("%d spare buffers: want some (%v), at most %d", len(l.bufs), tc.kept, loopSpareBufs)
			}
		})
	}
}

// A user that does not think (no think time, or a constant 0) goes back
// to the ready queue after each answer and never into the timer heap; one
// that thinks waits in the heap. Either way it keeps sending.
func TestClosedLoopReadyWithoutThink(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	cases := []struct {
		name  string
		think scenario.Distribution
		heap  bool
	}{
		{"no think time", scenario.Distribution{}, false},
		{"constant 0", scenario.Distribution{Dist: "constant"}, false},
		{"constant 1µs", scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Microsecond)}, true},
		{"uniform up to 1µs", scenario.Distribution{Dist: "uniform", Max: scenario.Duration(time.Microsecond)}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := closedWorkload("w", 3)
			w.ThinkTime = tc.think
			l, rec := userLoop(t, w, url, 3)
			inHeap := false
			for range 500 {
				if !l.step() {
					t.Fatal("the loop ended")
				}
				inHeap = inHeap || l.users.Len() > 0
			}
			l.flush()
			if len(rec.buf) < 100 {
				t.Fatalf("%d requests in 500 turns", len(rec.buf))
			}
			if inHeap != tc.heap {
				t.Errorf("users in the timer heap: %v, want %v", inHeap, tc.heap)
			}
		})
	}
}
