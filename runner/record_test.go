package runner

import (
	"maps"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

func TestWindowsAreSummarisedAndFreed(t *testing.T) {
	c := newCollector([]int{1, 1}, 3*time.Second, 0)
	recA, recB := c.newRecorder(0), c.newRecorder(1)
	for win := range 5 {
		base := time.Duration(win) * time.Second
		for i := 1; i <= 100; i++ {
			intended := base + time.Duration(i)*time.Millisecond
			// Latency i ms, of which 1 ms waiting to be sent.
			recA.add(sample{intended: intended, sent: intended + time.Millisecond,
				done: intended + time.Duration(i)*time.Millisecond, outcome: outSuccess, responded: true, node: "a"})
		}
		recB.add(sample{intended: base, outcome: outDropped})
		recB.add(sample{intended: base, sent: base, done: base + time.Millisecond, outcome: out5xx, responded: true})
	}
	c.harvest()
	c.closeWindows(5 * time.Second) // windows ending by 2 s have settled
	if c.closedBefore != 2 || c.finished.Len() != 2 || len(c.open) != 3 {
		t.Fatalf("at 5 s with 3 s to settle: %d windows closed, %d finished, %d open; want 2, 2, 3",
			c.closedBefore, c.finished.Len(), len(c.open))
	}
	for i, w := range c.open {
		if w.lat == nil {
			t.Errorf("open window %d has no histogram", 2+i)
		}
	}

	// A straggler for a closed window still counts, without touching the
	// freed histogram.
	recA.add(sample{intended: 500 * time.Millisecond, sent: time.Second, done: 2 * time.Second, outcome: outTimeout, responded: false})
	c.harvest()
	wins, err := c.takeWindows()
	if err != nil {
		t.Fatal(err)
	}
	if c.closedBefore != 5 || len(wins) != 5 || len(c.open) != 0 {
		t.Fatalf("%d windows closed, %d taken, %d open at the end, want 5, 5, 0", c.closedBefore, len(wins), len(c.open))
	}
	s := wins[0].Latency
	if s.P50 < 49.9 || s.P50 > 50.1 || s.P99 < 98.9 || s.P99 > 99.1 || s.Max < 99.9 || s.Max > 100.1 {
		t.Errorf("window 0 latency summary %+v, want p50 50, p99 99, max 100 (the 5xx's 1 ms included)", s)
	}
	if h, err := report.DecodeHistogram(wins[0].Histogram); err != nil || h.TotalCount() != 101 {
		t.Errorf("window 0 histogram: %v, want 101 latencies (not the straggler's)", err)
	}
	if got := wins[0].Counts; got[outSuccess] != 100 || got[outDropped] != 1 || got[out5xx] != 1 || got[outTimeout] != 1 {
		t.Errorf("window 0 counts %v", got)
	}
	if got := wins[0].Workloads; len(got) != 2 || got[0] != (report.WindowCount{101, 100}) || got[1] != (report.WindowCount{2, 0}) {
		t.Errorf("window 0 per-workload counts %v, want [[101 100] [2 0]]", got)
	}
	if got := wins[1].Nodes; len(got) != 1 || got["a"] != 100 {
		t.Errorf("window 1 nodes %v", got)
	}
	c.restoreScopeWindows(wins)
	if got := c.run.windows; len(got) != 5 || got[0] != (windowCount{103, 100}) || got[4] != (windowCount{102, 100}) {
		t.Errorf("run's windows %v", got)
	}
	tot := c.run.totals()
	if tot.Scheduled != 5*102+1 || tot.Succeeded != 500 || tot.Failed != 6 || tot.Dropped != 5 || tot.Late != 1 {
		t.Errorf("run totals %+v", tot)
	}
	if a, b := c.workloads[0].totals(), c.workloads[1].totals(); a.Scheduled != 501 || b.Scheduled != 10 {
		t.Errorf("workload totals %+v and %+v", a, b)
	}
	if c.nodes["a"] != 500 || c.responses != 505 {
		t.Errorf("nodes %v, responses %d", c.nodes, c.responses)
	}
	// Sending 1 ms late is within the tolerance; the straggler, 500 ms late, is not.
	if c.run.late != 1 {
		t.Errorf("late %d, want 1", c.run.late)
	}
}

func TestRecorderDoubleBuffers(t *testing.T) {
	r := &recorder{}
	r.add(sample{intended: 1})
	spare := make([]sample, 0, 8)
	full := r.swap(spare)
	if len(full) != 1 || len(r.buf) != 0 || cap(r.buf) != 8 {
		t.Fatalf("swap: full %d, buffer len %d cap %d", len(full), len(r.buf), cap(r.buf))
	}
	r.add(sample{intended: 2})
	again := r.swap(full)
	if len(again) != 1 || again[0].intended != 2 || cap(r.buf) != cap(full) {
		t.Fatalf("second swap: %v, buffer cap %d", again, cap(r.buf))
	}
}

// A long run must not hold its finished windows in memory: after the first
// minute, 10 more minutes of windows (each with its histogram, nodes and
// per-workload counts) leave the collector's heap where it was, and every
// window still comes back whole when the result is assembled.
func TestFinishedWindowsDoNotGrowMemory(t *testing.T) {
	c := newCollector([]int{1, 1}, 3*time.Second, 2)
	recs := []*recorder{c.newRecorder(0), c.newRecorder(1)}
	nodes := []string{"app-1", "app-2", "app-3", "app-4"}
	rng := rand.New(rand.NewPCG(1, 2))
	second := func(win int) {
		base := time.Duration(win) * time.Second
		for i := range 500 {
			intended := base + time.Duration(i)*2*time.Millisecond
			lat := time.Duration(rng.ExpFloat64() * float64(5*time.Millisecond))
			s := sample{intended: intended, sent: intended, done: intended + lat, node: nodes[i%4], outcome: outSuccess, responded: true}
			if i%50 == 0 {
				s.outcome = out5xx
			}
			recs[i%2].add(s)
		}
		c.harvest()
		c.closeWindows(base + time.Second)
	}
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}

	const first, more = 60, 600
	for win := range first {
		second(win)
	}
	before := heap()
	for win := first; win < first+more; win++ {
		second(win)
	}
	grown := heap() - before
	t.Logf("heap %+d bytes over %d windows (%+.0f a window); %d windows open", grown, more, float64(grown)/more, len(c.open))

	if len(c.open) > 5 || len(c.late) != 0 || c.run.windows != nil || c.workloads[0].windows != nil {
		t.Errorf("in memory: %d open windows, %d with stragglers, %d and %d scope windows; want at most 5 and none",
			len(c.open), len(c.late), len(c.run.windows), len(c.workloads[0].windows))
	}
	if n := c.finished.InMemory(); n != 0 {
		t.Errorf("%d finished windows kept in memory, want all on disk", n)
	}
	// Held in memory, each of these windows cost about 1.3 KB (its encoded
	// histogram, node map, summary, counts); a few bytes is noise.
	if grown > more*300 {
		t.Errorf("the collector's heap grew by %d bytes over %d windows (%d a window): finished windows are kept in memory",
			grown, more, grown/more)
	}

	wins, err := c.takeWindows()
	if err != nil {
		t.Fatal(err)
	}
	if len(wins) != first+more || c.finished.Len() != 0 {
		t.Fatalf("%d windows taken (%d left), want %d", len(wins), c.finished.Len(), first+more)
	}
	for _, i := range []int{0, first, first + more - 1} {
		w := wins[i]
		h, err := report.DecodeHistogram(w.Histogram)
		if w.Counts[outSuccess] != 490 || w.Counts[out5xx] != 10 || len(w.Nodes) != 4 || w.Nodes["app-1"] != 125 ||
			w.Workloads[0] != (report.WindowCount{250, 240}) || err != nil || h.TotalCount() != 500 || w.Latency.Max == 0 {
			t.Errorf("window %d came back as %+v (histogram %v)", i, w, err)
		}
	}
	c.restoreScopeWindows(wins)
	if len(c.warm.windows) != 2 || len(c.run.windows) != first+more || c.run.windows[1] != (windowCount{}) ||
		c.run.windows[2] != (windowCount{500, 490}) || c.workloads[1].windows[first+more-1] != (windowCount{250, 250}) {
		t.Errorf("scope windows: warm-up %d, run %d (%v, %v)", len(c.warm.windows), len(c.run.windows), c.run.windows[1], c.run.windows[2])
	}
}

// A scope counts responses by status code, a run of one code added up
// apart until the code changes or the counts are read.
func TestScopeStatusCodes(t *testing.T) {
	cases := []struct {
		name     string
		statuses []uint16
		want     map[int]int64
	}{
		{"none", nil, nil},
		{"no response", []uint16{0, 0}, nil},
		{"one code", []uint16{200, 200, 200}, map[int]int64{200: 3}},
		{"runs", []uint16{200, 200, 503, 200, 0, 503, 503, 404}, map[int]int64{200: 3, 503: 3, 404: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newScopeAcc()
			for _, st := range tc.statuses {
				a.add(&sample{outcome: outSuccess, status: st, responded: st != 0}, 0)
			}
			if got := a.statusCodes(); !maps.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Fatalf("status codes %v, want %v", got, tc.want)
			}
			// Read again: the same counts, nothing added twice.
			if got := a.statusCodes(); !maps.Equal(got, tc.want) {
				t.Fatalf("read again: %v, want %v", got, tc.want)
			}
		})
	}
}
