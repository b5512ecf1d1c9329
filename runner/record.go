package runner

import (
	"fmt"
	"io"
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
	// then holds its figures.
	lat     *hdrhistogram.Histogram
	summary report.WindowLatency
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
	lag       *hdrhistogram.Histogram
	nodes     map[string]int64
	windows   []*windowAcc
	// closedBefore: windows [0, closedBefore) are summarised and freed.
	closedBefore int
	// settle is how long after a window's end its last sample may still come:
	// the longest max_lateness and timeout plus a harvest period.
	settle    time.Duration
	responses int64

	// progress
	recent        *hdrhistogram.Histogram
	lastCompleted int64
	lastAt        time.Duration
}

func newCollector(workloads int, settle time.Duration) *collector {
	c := &collector{
		run:    newScopeAcc(),
		lag:    report.NewHistogram(),
		nodes:  map[string]int64{},
		settle: settle,
		recent: report.NewHistogram(),
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
	c.run.add(s, win)
	c.workloads[wl].add(s, win)
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
	report.RecordUS(c.lag, (s.sent - s.intended).Microseconds())
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
		w.lat = nil
		w.closed = true
		c.closedBefore++
	}
}

// writeProgress prints one plain line: elapsed/total, the rate of
// completions since the last line, p99 latency of the last harvest, and
// the failures and drops so far.
func (c *collector) writeProgress(w io.Writer, now, total time.Duration) {
	completed := c.run.counts[outSuccess]
	var failed int64
	for o := outRefused; o < numOutcomes; o++ {
		failed += c.run.counts[o]
	}
	completed += failed
	rate := 0.0
	if dt := (now - c.lastAt).Seconds(); dt > 0 {
		rate = float64(completed-c.lastCompleted) / dt
	}
	c.lastCompleted, c.lastAt = completed, now
	p99 := float64(c.recent.ValueAtQuantile(99)) / 1000
	fmt.Fprintf(w, "%s/%s  %.1f req/s  p99(1s) %.2fms  errors %d  dropped %d\n",
		now.Round(time.Second), total.Round(time.Second), rate, p99, failed, c.run.counts[outDropped])
}
