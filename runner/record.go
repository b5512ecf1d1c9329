package runner

import (
	"slices"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ilities/ilities/internal/spill"
	"github.com/ilities/ilities/report"
)

// lateAfter is the lateness tolerance: an arrival sent more than this after
// its intended time counts as late (report.Totals.Late).
const lateAfter = time.Millisecond

// sample is what became of one arrival. Offsets are from the start of the run.
type sample struct {
	intended time.Duration
	sent     time.Duration // 0 when dropped
	done     time.Duration // completion: the body read to its end, or the failure
	node     string        // X-Ilities-Backend of the response, "" when none
	station  stationTiming // the built-in backend's own account, when it gave one
	outcome  outcome
	// responded is true when the target answered with a status line.
	responded bool
	// closed marks a closed-loop request: sent when the user was ready, so
	// it has no send lag to speak of.
	closed bool
	// held marks an open-loop arrival that found every in-flight slot of
	// its workload busy and waited for one (report.Totals.Held).
	held bool
	// req is the request's index in its workload's mix or session.
	req uint16
	// status is the response's status code, 0 when none came back.
	status uint16
	// err is why the exchange failed, when an error says more than the
	// outcome (kept for the error samples).
	err error
}

func (s *sample) wasSent() bool {
	return s.outcome != outDropped && s.outcome != outCut && s.outcome != outExhausted
}

// heldBack tells whether the arrival waited for an in-flight slot and was
// delayed by it: sent late, dropped or cut while it waited.
func (s *sample) heldBack() bool {
	if !s.held {
		return false
	}
	if s.wasSent() {
		return s.sent-s.intended > lateAfter
	}
	return s.outcome != outExhausted
}

// recorder collects the samples of one goroutine (a worker or a scheduler).
// Its mutex is only ever contended by the collector's harvest, once a
// second: the per-request path never shares a lock or a histogram with
// another worker. Samples rather than per-worker histograms are buffered
// because an HDR histogram is ~190 KB: a thousand workers each with their
// own would cost far more memory than a second of samples.
type recorder struct {
	mu  sync.Mutex
	buf []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.buf = append(r.buf, s)
	r.mu.Unlock()
}

// addAll appends samples under one lock (the event loop's, once per wake-up).
func (r *recorder) addAll(samples []sample) {
	r.mu.Lock()
	r.buf = append(r.buf, samples...)
	r.mu.Unlock()
}

// swap hands the recorder an empty buffer and returns the filled one
// (double buffering: both keep their capacity from second to second).
func (r *recorder) swap(spare []sample) []sample {
	r.mu.Lock()
	full := r.buf
	r.buf = spare[:0]
	r.mu.Unlock()
	return full
}

// scopeAcc accumulates one scope: the whole run, one workload or one
// request.
type scopeAcc struct {
	counts [numOutcomes]int64
	late   int64
	held   int64 // arrivals held back by the in-flight bound (sample.heldBack)
	// lat and svc of a request's scope are made when its first request is
	// sent (newCollector): a workload may list a thousand requests, and two
	// histograms cost ~380 KB.
	lat *hdrhistogram.Histogram
	svc *hdrhistogram.Histogram
	// sojourn and service hold the built-in backends' own account of each
	// sent request (stationTiming; 0 when untimed): nil until an answer
	// carries one, so that a run against another server keeps none.
	sojourn, service *hdrhistogram.Histogram
	outsideMaxUS     int64 // the longest latency less sojourn of a timed request
	// span is the number of windows the scope has reached: the last one
	// with a sample of the scope, plus one.
	span int
	// windows counts arrivals and successes per second, for availability
	// by time: span entries, filled from the finished windows only when the
	// result is assembled (collector.restoreScopeWindows), since a slice
	// kept up during the run would grow with its length.
	windows []windowCount
	// statuses counts the responses by status code, but for the latest
	// run of one code (status, statusRun), added to it when the code
	// changes or the counts are read: a map update per response costs more
	// than its histograms. samples keeps a few failures of each class
	// (requests.go).
	statuses  map[int]int64
	status    uint16
	statusRun int64
	samples   errorSamples
}

type windowCount struct{ scheduled, succeeded int64 }

func newScopeAcc() scopeAcc {
	return scopeAcc{lat: report.NewHistogram(), svc: report.NewHistogram(), statuses: map[int]int64{}}
}

func (a *scopeAcc) add(s *sample, win int) {
	a.counts[s.outcome]++
	a.span = max(a.span, win+1)
	if s.status != 0 {
		if s.status != a.status {
			a.settleStatus()
			a.status = s.status
		}
		a.statusRun++
	}
	if s.outcome.failed() {
		a.samples.add(s)
	}
	if s.heldBack() {
		a.held++
	}
	if !s.wasSent() {
		return
	}
	if a.lat == nil {
		a.lat, a.svc = report.NewHistogram(), report.NewHistogram()
	}
	report.RecordUS(a.lat, (s.done - s.intended).Microseconds())
	report.RecordUS(a.svc, (s.done - s.sent).Microseconds())
	if s.station.timed() && a.sojourn == nil {
		// One value per request of lat: the untimed ones before count 0.
		a.sojourn, a.service = report.NewHistogram(), report.NewHistogram()
		untimed := a.lat.TotalCount() - 1
		_ = a.sojourn.RecordValues(report.HistMinUS, untimed)
		_ = a.service.RecordValues(report.HistMinUS, untimed)
	}
	if a.sojourn != nil {
		sojourn := int64(s.station.queueUS) + int64(s.station.serviceUS)
		report.RecordUS(a.sojourn, sojourn)
		report.RecordUS(a.service, int64(s.station.serviceUS))
		if s.station.timed() {
			a.outsideMaxUS = max(a.outsideMaxUS, (s.done-s.intended).Microseconds()-sojourn)
		}
	}
	if s.sent-s.intended > lateAfter {
		a.late++
	}
}

func (a *scopeAcc) totals() report.Totals {
	t := report.Totals{
		Succeeded: a.counts[outSuccess],
		Dropped:   a.counts[outDropped],
		CutAtEnd:  a.counts[outCut],
		Exhausted: a.counts[outExhausted],
		Late:      a.late,
		Held:      a.held,
	}
	for o := outRefused; o < numOutcomes; o++ {
		t.Failed += a.counts[o]
	}
	t.Scheduled = t.Succeeded + t.Failed + t.Dropped + t.CutAtEnd + t.Exhausted
	return t
}

func (a *scopeAcc) errors() map[string]int64 {
	m := map[string]int64{}
	for o := outRefused; o < numOutcomes; o++ {
		if a.counts[o] > 0 {
			m[o.class()] = a.counts[o]
		}
	}
	return m
}

// windowAcc accumulates one second of the run (by intended send time)
// while samples may still reach it.
type windowAcc struct {
	counts [numOutcomes]int64
	nodes  map[string]int64
	// nodeFailed counts the responses of nodes that failed the request.
	nodeFailed map[string]int64
	// workloads counts each workload's [scheduled, succeeded], from which
	// the scopes' windows are rebuilt at the end (scopeAcc.windows);
	// requests each request's, every workload's in turn (collector.reqBase).
	workloads []report.WindowCount
	requests  []report.WindowCount
	lat       *hdrhistogram.Histogram
	// lag is the send lag of the window's open-loop arrivals (nil until
	// one is sent); late counts those sent more than lateAfter late.
	lag  *hdrhistogram.Histogram
	late int64
}

// finishedWindow is what is kept of a window once no sample can reach it:
// its figures as the result shows them, the histogram summarised and
// encoded (for interval logs). Finished windows go to a spill file, so
// its fields are exported for gob.
type finishedWindow struct {
	Counts     [numOutcomes]int64
	Nodes      map[string]int64
	NodeFailed map[string]int64
	Workloads  []report.WindowCount
	Requests   []report.WindowCount
	Latency    report.WindowLatency
	Histogram  string
	// SendLag summarises the window's send lag; Late as windowAcc.late.
	SendLag report.WindowLatency
	Late    int64
}

// collector merges the recorders' samples once a second into the run's,
// the workloads' and the windows' figures. Only its own goroutine touches
// its fields while the run goes on, and Run only after it has stopped.
type collector struct {
	recorders []*recorder
	owner     []int // workload index of each recorder
	spares    [][]sample

	run       scopeAcc
	workloads []scopeAcc
	// requests holds each request's scope, every workload's in turn: the
	// requests of workload wl start at reqBase[wl].
	requests []scopeAcc
	reqBase  []int
	// warm holds the warm-up: samples of windows [0, warmupWindows).
	warm          scopeAcc
	warmupWindows int
	sentCount     int64
	// heldBy counts each workload's arrivals held back by its in-flight
	// bound, warm-up included (sample.heldBack).
	heldBy []int64
	lag    *hdrhistogram.Histogram
	nodes  map[string]int64
	// Windows [0, closedBefore) are finished: summarised, freed and
	// appended to finished, which keeps them on disk until the result is
	// assembled (takeWindows). open holds the windows from closedBefore on,
	// which samples may still reach: a handful, however long the run.
	open         []*windowAcc
	closedBefore int
	finished     spill.List[finishedWindow]
	// late holds the counts of stragglers: samples that came for a window
	// already finished (past its settling time, which should not happen).
	// takeWindows adds them to their window.
	late map[int]*windowAcc
	// settle is how long after a window's end its last sample may still come:
	// the longest max_lateness and timeout plus a harvest period.
	settle    time.Duration
	responses int64

	// recent holds the latencies of the last harvest, for progress.
	recent *hdrhistogram.Histogram
	// observer, when set, is told of every sample (Options.Observer).
	observer Observer
}

// newCollector makes the collector of a run whose workload i sends
// requests[i] requests (its mix or its session steps).
func newCollector(requests []int, settle time.Duration, warmupWindows int) *collector {
	c := &collector{
		run:           newScopeAcc(),
		warm:          newScopeAcc(),
		warmupWindows: warmupWindows,
		lag:           report.NewHistogram(),
		nodes:         map[string]int64{},
		settle:        settle,
		recent:        report.NewHistogram(),
	}
	c.heldBy = make([]int64, len(requests))
	for _, n := range requests {
		c.workloads = append(c.workloads, newScopeAcc())
		c.reqBase = append(c.reqBase, len(c.requests))
		for range max(n, 1) {
			c.requests = append(c.requests, scopeAcc{statuses: map[int]int64{}})
		}
	}
	return c
}

// newRecorder registers a recorder for a goroutine of workload wl.
func (c *collector) newRecorder(wl int) *recorder {
	r := &recorder{}
	c.recorders = append(c.recorders, r)
	c.owner = append(c.owner, wl)
	c.spares = append(c.spares, nil)
	return r
}

// harvest takes every recorder's samples and merges them.
func (c *collector) harvest() {
	c.recent.Reset()
	for i, r := range c.recorders {
		full := r.swap(c.spares[i])
		for j := range full {
			c.add(&full[j], c.owner[i])
		}
		c.spares[i] = full
	}
}

func (c *collector) add(s *sample, wl int) {
	if c.observer != nil {
		c.observer.Observe(observation(s, wl))
	}
	win := int(s.intended / time.Second)
	if win < c.warmupWindows {
		c.warm.add(s, win)
	} else {
		c.run.add(s, win)
		c.workloads[wl].add(s, win)
		c.requests[c.reqBase[wl]+int(s.req)].add(s, win)
	}
	w, open := c.window(win)
	w.counts[s.outcome]++
	rq := c.reqBase[wl] + int(s.req)
	if s.outcome != outCut && s.outcome != outExhausted { // a workload's windows count what was offered
		w.workloads[wl][0]++
		w.requests[rq][0]++
	}
	if s.outcome == outSuccess {
		w.workloads[wl][1]++
		w.requests[rq][1]++
	}
	if s.responded {
		c.responses++
	}
	if s.heldBack() {
		c.heldBy[wl]++
	}
	if s.node != "" {
		c.nodes[s.node]++
		if w.nodes == nil {
			w.nodes = map[string]int64{}
		}
		w.nodes[s.node]++
		if s.outcome != outSuccess {
			if w.nodeFailed == nil {
				w.nodeFailed = map[string]int64{}
			}
			w.nodeFailed[s.node]++
		}
	}
	if !s.wasSent() {
		return
	}
	c.sentCount++
	lag := s.sent - s.intended
	if !s.closed {
		report.RecordUS(c.lag, lag.Microseconds())
	}
	report.RecordUS(c.recent, (s.done - s.intended).Microseconds())
	if open { // a straggler past its window's settling time keeps its counts only
		if w.lat == nil {
			w.lat = report.NewHistogram()
		}
		report.RecordUS(w.lat, (s.done - s.intended).Microseconds())
		if !s.closed {
			if w.lag == nil {
				w.lag = report.NewHistogram()
			}
			report.RecordUS(w.lag, lag.Microseconds())
			if lag > lateAfter {
				w.late++
			}
		}
	}
}

// window returns window win's accumulator and whether the window is still
// open; a finished window gets a counts-only accumulator in late.
func (c *collector) window(win int) (*windowAcc, bool) {
	newAcc := func() *windowAcc {
		return &windowAcc{workloads: make([]report.WindowCount, len(c.workloads)), requests: make([]report.WindowCount, len(c.requests))}
	}
	if win < c.closedBefore {
		w := c.late[win]
		if w == nil {
			if c.late == nil {
				c.late = map[int]*windowAcc{}
			}
			w = newAcc()
			c.late[win] = w
		}
		return w, false
	}
	for c.closedBefore+len(c.open) <= win {
		c.open = append(c.open, newAcc())
	}
	return c.open[win-c.closedBefore], true
}

// closeWindows finishes every window that can receive no more samples at
// elapsed time now (now < 0 finishes all): it summarises the window, frees
// its histogram and moves its figures out of memory.
func (c *collector) closeWindows(now time.Duration) {
	for len(c.open) > 0 {
		end := time.Duration(c.closedBefore+1) * time.Second
		if now >= 0 && now < end+c.settle {
			return
		}
		w := c.open[0]
		// Encoding writes to memory only: it cannot fail short of a bug.
		encoded, _ := report.EncodeHistogram(w.lat)
		c.finished.Add(finishedWindow{
			Counts:     w.counts,
			Nodes:      w.nodes,
			NodeFailed: w.nodeFailed,
			Workloads:  w.workloads,
			Requests:   w.requests,
			Latency:    report.WindowLatencyOf(w.lat),
			Histogram:  encoded,
			SendLag:    report.WindowLatencyOf(w.lag),
			Late:       w.late,
		})
		c.open = slices.Delete(c.open, 0, 1)
		c.closedBefore++
	}
}

// takeWindows finishes every window and returns them all, one per second
// from the start of the run to the last sample's window, with the
// stragglers' counts added. It releases the spill file, also on error, so
// it is called once, when the result is assembled.
func (c *collector) takeWindows() ([]finishedWindow, error) {
	c.closeWindows(-1)
	wins, err := c.finished.All()
	c.finished.Close()
	if err != nil {
		return nil, err
	}
	for i, l := range c.late {
		w := &wins[i]
		for o, n := range l.counts {
			w.Counts[o] += n
		}
		for node, n := range l.nodes {
			if w.Nodes == nil {
				w.Nodes = map[string]int64{}
			}
			w.Nodes[node] += n
		}
		for node, n := range l.nodeFailed {
			if w.NodeFailed == nil {
				w.NodeFailed = map[string]int64{}
			}
			w.NodeFailed[node] += n
		}
		for j, n := range l.workloads {
			w.Workloads[j][0] += n[0]
			w.Workloads[j][1] += n[1]
		}
		for j, n := range l.requests {
			w.Requests[j][0] += n[0]
			w.Requests[j][1] += n[1]
		}
	}
	c.late = nil
	return wins, nil
}

// restoreScopeWindows fills each scope's windows (its arrivals and
// successes per second) from the finished windows, as if they had been
// counted during the run: the warm-up scope covers windows before
// warmupWindows, the run and the workloads those from it on.
func (c *collector) restoreScopeWindows(wins []finishedWindow) {
	fill := func(a *scopeAcc, from, j int, of func(*finishedWindow) []report.WindowCount) { // j < 0: every one
		a.windows = nil
		if a.span == 0 {
			return
		}
		a.windows = make([]windowCount, a.span)
		for i := from; i < a.span; i++ {
			for k, n := range of(&wins[i]) {
				if j < 0 || k == j {
					a.windows[i].scheduled += n[0]
					a.windows[i].succeeded += n[1]
				}
			}
		}
	}
	workloads := func(w *finishedWindow) []report.WindowCount { return w.Workloads }
	requests := func(w *finishedWindow) []report.WindowCount { return w.Requests }
	fill(&c.warm, 0, -1, workloads)
	fill(&c.run, c.warmupWindows, -1, workloads)
	for i := range c.workloads {
		fill(&c.workloads[i], c.warmupWindows, i, workloads)
	}
	for i := range c.requests {
		fill(&c.requests[i], c.warmupWindows, i, requests)
	}
}

// sent is the number of requests sent so far, warm-up included.
func (c *collector) sent() int64 { return c.sentCount }

// allTotals is the accounting of every arrival, warm-up included.
func (c *collector) allTotals() report.Totals {
	t := c.run.totals()
	t.Add(c.warm.totals())
	return t
}

// completed and failed count the requests finished so far, for progress.
func (c *collector) completed() (done, failed, dropped int64) {
	for _, a := range []*scopeAcc{&c.run, &c.warm} {
		done += a.counts[outSuccess]
		for o := outRefused; o < numOutcomes; o++ {
			failed += a.counts[o]
		}
		dropped += a.counts[outDropped]
	}
	return done + failed, failed, dropped
}
