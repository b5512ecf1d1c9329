package runner

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

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
	outcome  outcome
	// responded is true when the target answered with a status line.
	responded bool
	// closed marks a closed-loop request: sent when the user was ready, so
	// it has no send lag to speak of.
	closed bool
}

func (s *sample) wasSent() bool { return s.outcome != outDropped }

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

// swap hands the recorder an empty buffer and returns the filled one
// (double buffering: both keep their capacity from second to second).
func (r *recorder) swap(spare []sample) []sample {
	r.mu.Lock()
	full := r.buf
	r.buf = spare[:0]
	r.mu.Unlock()
	return full
}

// scopeAcc accumulates one scope: the whole run or one workload.
type scopeAcc struct {
	counts [numOutcomes]int64
	late   int64
	lat    *hdrhistogram.Histogram
	svc    *hdrhistogram.Histogram
	// windows counts arrivals and successes per second, for availability by time.
	windows []windowCount
}

type windowCount struct{ scheduled, succeeded int64 }

func newScopeAcc() scopeAcc {
	return scopeAcc{lat: report.NewHistogram(), svc: report.NewHistogram()}
}

func (a *scopeAcc) add(s *sample, win int) {
	a.counts[s.outcome]++
	for len(a.windows) <= win {
		a.windows = append(a.windows, windowCount{})
	}
	a.windows[win].scheduled++
	if s.outcome == outSuccess {
		a.windows[win].succeeded++
	}
	if !s.wasSent() {
		return
	}
	report.RecordUS(a.lat, (s.done - s.intended).Microseconds())
	report.RecordUS(a.svc, (s.done - s.sent).Microseconds())
	if s.sent-s.intended > lateAfter {
		a.late++
	}
}

func (a *scopeAcc) totals() report.Totals {
	t := report.Totals{
		Succeeded: a.counts[outSuccess],
		Dropped:   a.counts[outDropped],
		Late:      a.late,
	}
	for o := outRefused; o < numOutcomes; o++ {
		t.Failed += a.counts[o]
	}
	t.Scheduled = t.Succeeded + t.Failed + t.Dropped
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

// windowAcc accumulates one second of the run (by intended send time).
type windowAcc struct {
	counts [numOutcomes]int64
	nodes  map[string]int64
	// lat is freed once the window can receive no more samples; summary
	// and encoded (for interval logs) then hold its figures.
	lat     *hdrhistogram.Histogram
	summary report.WindowLatency
	encoded string
	closed  bool
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
	// warm holds the warm-up: samples of windows [0, warmupWindows).
	warm          scopeAcc
	warmupWindows int
	sentCount     int64
	lag           *hdrhistogram.Histogram
	nodes         map[string]int64
	windows       []*windowAcc
	// closedBefore: windows [0, closedBefore) are summarised and freed.
	closedBefore int
	// settle is how long after a window's end its last sample may still come:
	// the longest max_lateness and timeout plus a harvest period.
	settle    time.Duration
	responses int64

	// recent holds the latencies of the last harvest, for progress.
	recent *hdrhistogram.Histogram
}

func newCollector(workloads int, settle time.Duration, warmupWindows int) *collector {
	c := &collector{
		run:           newScopeAcc(),
		warm:          newScopeAcc(),
		warmupWindows: warmupWindows,
		lag:           report.NewHistogram(),
		nodes:         map[string]int64{},
		settle:        settle,
		recent:        report.NewHistogram(),
	}
	for range workloads {
		c.workloads = append(c.workloads, newScopeAcc())
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
	win := int(s.intended / time.Second)
	if win < c.warmupWindows {
		c.warm.add(s, win)
	} else {
		c.run.add(s, win)
		c.workloads[wl].add(s, win)
	}
	for len(c.windows) <= win {
		c.windows = append(c.windows, &windowAcc{})
	}
	w := c.windows[win]
	w.counts[s.outcome]++
	if s.responded {
		c.responses++
	}
	if s.node != "" {
		c.nodes[s.node]++
		if w.nodes == nil {
			w.nodes = map[string]int64{}
		}
		w.nodes[s.node]++
	}
	if !s.wasSent() {
		return
	}
	c.sentCount++
	if !s.closed {
		report.RecordUS(c.lag, (s.sent - s.intended).Microseconds())
	}
	report.RecordUS(c.recent, (s.done - s.intended).Microseconds())
	if !w.closed { // a straggler past its window's settling time keeps its counts only
		if w.lat == nil {
			w.lat = report.NewHistogram()
		}
		report.RecordUS(w.lat, (s.done - s.intended).Microseconds())
	}
}

// closeWindows summarises and frees every window that can receive no more
// samples at elapsed time now; now < 0 closes all.
func (c *collector) closeWindows(now time.Duration) {
	for c.closedBefore < len(c.windows) {
		end := time.Duration(c.closedBefore+1) * time.Second
		if now >= 0 && now < end+c.settle {
			return
		}
		w := c.windows[c.closedBefore]
		w.summary = report.WindowLatencyOf(w.lat)
		// Encoding writes to memory only: it cannot fail short of a bug.
		w.encoded, _ = report.EncodeHistogram(w.lat)
		w.lat = nil
		w.closed = true
		c.closedBefore++
	}
}

// sent is the number of requests sent so far, warm-up included.
func (c *collector) sent() int64 { return c.sentCount }

// allTotals is the accounting of every arrival, warm-up included.
func (c *collector) allTotals() report.Totals {
	t, w := c.run.totals(), c.warm.totals()
	t.Scheduled += w.Scheduled
	t.Succeeded += w.Succeeded
	t.Failed += w.Failed
	t.Dropped += w.Dropped
	t.Late += w.Late
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
