package runner

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/spill"
	"github.com/ilities/ilities/report"
)

// hiccupInterval is the hiccup sampler's sleep. jHiccup sleeps 1 ms, but
// on a virtual machine each wake-up costs 35–60 µs of CPU (measured: a
// timerfd read through the poller ~60 µs, a raw nanosleep on a locked
// thread ~34 µs): a thousand a second would be most of the generator's
// CPU at 1,000 requests a second. At 5 ms, a stall long enough to disturb
// a window (report.DisturbedAboveMS, 10 ms) always spans a wake-up, and
// shorter ones are caught in proportion to their length.
const hiccupInterval = 5 * time.Millisecond

// apparatusMeter measures the tool's own delays while a run goes (the idea
// of jHiccup): a goroutine sleeps its interval again and again and
// records how much later than asked it woke, on the run's clock, into a
// histogram for the whole run and one per one-second window. While an
// event loop sends, its own timed wake-ups are the samples instead
// (hiccupFeed), and the goroutine only collects them. Whatever
// delayed it (a neighbour holding the CPUs, the runtime, the hypervisor)
// delayed the sending and the reading of requests as much, so the verdicts
// can tell the tool's delay from the system's. With each window it reads
// the process's CPU time and context switches and the machine's CPU
// pressure and steal.
//
// Each finished window is summarised, its histogram cleared for the next,
// and its figures go to a spill file: memory stays flat however long the run.
type apparatusMeter struct {
	interval time.Duration // the sampler's sleep: hiccupInterval
	t0       time.Time
	started  bool
	stopping atomic.Bool
	done     chan struct{}
	once     sync.Once

	// The sampler goroutine owns what follows until done is closed; finish
	// and result use it after.
	probe machineProbe
	// read takes a machine reading at a time of the run's clock (a field so
	// that tests can feed synthetic counters).
	read func(at time.Duration) machineReading

	run *hdrhistogram.Histogram // hiccups of the whole run (µs)
	win *hdrhistogram.Histogram // hiccups of window cur (µs)
	cur int
	// open is window cur's share of the load read so far; pending is the
	// load of the latest reading, not yet shared out among windows.
	open    machineLoad
	pending spanLoad
	first   machineReading // at begin
	prev    machineReading // latest
	loadAvg float64
	windows spill.List[meterWindow]
	// runOfWindows makes the run's hiccups those of the windows asked of
	// result, from each window's histogram kept with it: for a SUT apart,
	// whose sampler goes on after the run until the parent asks.
	runOfWindows bool
	// feed, when set before begin, brings the samples an event loop takes
	// of its own wake-ups (hiccupFeed); the sampler sleeps meanwhile.
	feed *hiccupFeed
	// latest is the intended time of the latest sample recorded: samples
	// from the feed and the sampler's own are recorded in time order.
	latest time.Duration
	// fedSamples counts the feed's samples recorded.
	fedSamples int64
}

const (
	// feedDrain is how often the meter reads the feed's samples.
	feedDrain = 50 * time.Millisecond
	// feedStale: a feed whose newest sample is older than this has stopped
	// sampling (its loop busy without waiting, or ended), and the sampler
	// samples again.
	feedStale = 5 * hiccupInterval
)

// meterWindow is what the meter keeps of a finished window (exported
// fields for the spill's gob). Samples counts its hiccup values, the
// corrected series included.
type meterWindow struct {
	Window  report.ApparatusWindow
	Samples int64
	// Histogram is the window's hiccups, encoded, with runOfWindows only.
	Histogram string
}

// newApparatusMeter returns a meter; nothing is started or allocated until begin.
func newApparatusMeter() *apparatusMeter {
	return &apparatusMeter{interval: hiccupInterval, done: make(chan struct{})}
}

// begin starts sampling on the run's clock (t0 is the run's start).
func (m *apparatusMeter) begin(t0 time.Time) {
	m.t0 = t0
	m.probe = openMachineProbe()
	if m.read == nil {
		m.read = m.probe.reading
	}
	m.prepare(time.Since(t0))
	m.started = true
	go m.sample()
}

// prepare makes the histograms and takes the first reading.
func (m *apparatusMeter) prepare(at time.Duration) {
	m.run = report.NewHistogram()
	m.win = report.NewHistogram()
	m.first = m.read(at)
	m.prev = m.first
}

// sample is the hiccup sampler's loop. It allocates nothing, and all its
// bookkeeping (a /proc read and a spill write once a second) falls between
// two timed sleeps, never inside one.
func (m *apparatusMeter) sample() {
	defer crash.Guard() // run on a goroutine of its own
	defer close(m.done)
	s := newSleeper() // timerfd on Linux: wakes in tens of µs, not the runtime timer's ms
	defer s.close()
	for !m.stopping.Load() {
		if m.feed != nil && m.feed.live(time.Since(m.t0), feedStale) {
			s.sleep(feedDrain)
			m.drainFeed()
			continue
		}
		intended := time.Since(m.t0) + m.interval
		s.sleep(m.interval)
		m.drainFeed()
		m.record(intended, time.Since(m.t0))
	}
}

// drainFeed records the feed's samples.
func (m *apparatusMeter) drainFeed() {
	if m.feed != nil {
		m.feed.drain(func(intended, woke time.Duration) {
			if m.record(intended, woke) {
				m.fedSamples++
			}
		})
	}
}

// record takes one wake-up: the sampler should have woken at intended and
// woke at woke (run clock). Like jHiccup, a wake-up D late stands for the
// whole series a steady stream of requests, one every interval, would have
// seen: D, D−interval, D−2·interval … (RecordCorrectedValue), so a long
// stall weighs by the time it lasted. Each value of the series goes to the
// window in which its request would have arrived, as the collector keys
// samples by their intended send time.
func (m *apparatusMeter) record(intended, woke time.Duration) bool {
	if intended < 0 || intended < m.latest { // before the run's start, or out of order
		return false
	}
	m.latest = intended
	v := clampUS((woke - intended).Microseconds())
	intervalUS := m.interval.Microseconds()
	_ = m.run.RecordCorrectedValue(v, intervalUS)
	last := windowOf(woke)
	if last > m.cur {
		m.take(woke)
	}
	// The same series as RecordCorrectedValue, value by value. Its last
	// request arrives before woke, so no value lands after window last.
	at := intended
	for x := v; ; x -= intervalUS {
		for windowOf(at) > m.cur {
			m.closeWindow()
		}
		_ = m.win.RecordValue(x)
		if x-intervalUS < intervalUS {
			break
		}
		at += m.interval
	}
	for m.cur < last {
		m.closeWindow()
	}
	m.settle()
	return true
}

// take reads the counters at the run time at; the load since the previous
// reading is pending until shared out among the windows it spans.
func (m *apparatusMeter) take(at time.Duration) {
	r := m.read(at)
	m.pending = spanLoad{load: r.since(m.prev), from: m.prev.at, to: at}
	m.prev = r
}

// settle gives the open window its share of the pending load.
func (m *apparatusMeter) settle() {
	m.open.add(m.pending.share(m.cur))
	m.pending = spanLoad{}
}

// closeWindow summarises window cur, spills it and opens the next.
func (m *apparatusMeter) closeWindow() {
	load := m.open
	load.add(m.pending.share(m.cur))
	hic := report.WindowLatencyOf(m.win)
	var encoded string
	if m.runOfWindows {
		encoded, _ = report.EncodeHistogram(m.win) // cannot fail on a valid histogram
	}
	m.windows.Add(meterWindow{
		Histogram: encoded,
		Window: report.ApparatusWindow{
			T:                   m.cur,
			HiccupP99:           hic.P99,
			HiccupMax:           hic.Max,
			CPUSeconds:          load.cpuS,
			InvoluntarySwitches: int64(math.Round(load.involuntary)),
			CPUPressure:         load.pressureShare(),
			Steal:               load.stealShare(),
		},
		Samples: m.win.TotalCount(),
	})
	m.win.Reset() // reused: one window's histogram in memory, however long the run
	m.open = machineLoad{}
	m.cur++
}

// end takes the last reading at the run time at and closes every window
// that began before it, the last one partial.
func (m *apparatusMeter) end(at time.Duration) {
	m.take(at)
	for time.Duration(m.cur)*time.Second < at {
		m.closeWindow()
	}
	m.settle()
}

// finish stops the sampler and closes the last window; it may be called
// more than once, and without begin.
func (m *apparatusMeter) finish() {
	m.once.Do(func() {
		if !m.started {
			return
		}
		m.stopping.Store(true)
		<-m.done
		m.drainFeed()
		m.end(time.Since(m.t0))
		m.loadAvg = loadAverage()
		m.probe.close()
	})
}

// result returns the run's apparatus with one window per second for
// windows [0, windows). The windows' send-lag fields are left for the
// collector to fill, and Assess is not called. It finishes the meter first.
func (m *apparatusMeter) result(windows int) (*report.Apparatus, error) {
	m.finish()
	procs := runtime.NumCPU() // not GOMAXPROCS, which event loops raise
	a := &report.Apparatus{
		IntervalMS:  float64(m.interval) / float64(time.Millisecond),
		LoopSamples: m.fedSamples,
		Processors:  procs,
		CPUPressure: -1,
		Steal:       -1,
		LoadAverage: m.loadAvg,
	}
	if m.run != nil { // prepared
		a.HiccupMS = report.PercentilesOf(m.run)
		var err error
		if a.HiccupHistogram, err = report.EncodeHistogram(m.run); err != nil {
			return nil, fmt.Errorf("runner: encoding the hiccup histogram: %w", err)
		}
		run := m.prev.since(m.first)
		a.CPUSeconds = run.cpuS
		if run.wallS > 0 {
			a.CPUShare = run.cpuS / (run.wallS * float64(procs))
		}
		a.VoluntarySwitches = int64(math.Round(run.voluntary))
		a.InvoluntarySwitches = int64(math.Round(run.involuntary))
		a.CPUPressure = run.pressureShare()
		a.Steal = run.stealShare()
	}
	got, err := m.windows.All()
	if err != nil {
		return nil, err
	}
	if m.runOfWindows && m.run != nil {
		run := report.NewHistogram()
		for _, w := range got[:min(windows, len(got))] {
			if err := mergeEncodedHiccups(run, w.Histogram); err != nil {
				return nil, err
			}
		}
		a.HiccupMS = report.PercentilesOf(run)
		if a.HiccupHistogram, err = report.EncodeHistogram(run); err != nil {
			return nil, fmt.Errorf("runner: encoding the hiccup histogram: %w", err)
		}
	}
	a.Windows = make([]report.ApparatusWindow, windows)
	for t := range a.Windows {
		if t < len(got) {
			a.Windows[t] = got[t].Window
		} else { // not measured: the run ended, or the meter never began
			a.Windows[t] = report.ApparatusWindow{T: t, CPUPressure: -1, Steal: -1}
		}
	}
	return a, nil
}

// mergeEncodedHiccups adds an encoded window histogram to run.
func mergeEncodedHiccups(run *hdrhistogram.Histogram, encoded string) error {
	h, err := report.DecodeHistogram(encoded)
	if err != nil {
		return fmt.Errorf("runner: reading back a window's hiccups: %w", err)
	}
	run.Merge(h)
	return nil
}

// close releases the spill file; result cannot be called after.
func (m *apparatusMeter) close() {
	m.finish()
	m.windows.Close()
}

// windowOf is the one-second window of a run time.
func windowOf(at time.Duration) int { return int(at / time.Second) }

// clampUS keeps a hiccup within the histograms' range, so none is lost.
func clampUS(us int64) int64 { return min(max(us, report.HistMinUS), report.HistMaxUS) }

// machineReading is the process's and the machine's cumulative counters
// at one time of the run's clock.
type machineReading struct {
	at    time.Duration
	usage processUsage
	// pressureUS is /proc/pressure/cpu's "some" total (µs); -1 unknown.
	pressureUS int64
	cpu        cpuTimes
}

// cpuTimes is the machine's CPU time from /proc/stat (jiffies).
type cpuTimes struct {
	steal, all int64
	known      bool
}

// machineLoad is what happened between two readings, or a share of it.
// Fields are floats because a load spanning windows is shared out by time.
// Pressure and steal carry the wall time over which they were known, so
// that adding a known share to an unknown one stays right.
type machineLoad struct {
	wallS, cpuS            float64
	voluntary, involuntary float64
	pressureS, pressureOfS float64 // stalled time, over pressureOfS of wall
	steal, all             float64 // jiffies
	statOfS                float64 // wall time over which steal and all are known
}

// since is the load from reading p to r.
func (r machineReading) since(p machineReading) machineLoad {
	l := machineLoad{
		wallS:       (r.at - p.at).Seconds(),
		cpuS:        max(r.usage.cpuS-p.usage.cpuS, 0),
		voluntary:   float64(max(r.usage.voluntary-p.usage.voluntary, 0)),
		involuntary: float64(max(r.usage.involuntary-p.usage.involuntary, 0)),
	}
	if r.pressureUS >= 0 && p.pressureUS >= 0 {
		l.pressureS = float64(max(r.pressureUS-p.pressureUS, 0)) / 1e6
		l.pressureOfS = l.wallS
	}
	if r.cpu.known && p.cpu.known {
		l.steal = float64(max(r.cpu.steal-p.cpu.steal, 0))
		l.all = float64(max(r.cpu.all-p.cpu.all, 0))
		l.statOfS = l.wallS
	}
	return l
}

func (l *machineLoad) add(o machineLoad) {
	l.wallS += o.wallS
	l.cpuS += o.cpuS
	l.voluntary += o.voluntary
	l.involuntary += o.involuntary
	l.pressureS += o.pressureS
	l.pressureOfS += o.pressureOfS
	l.steal += o.steal
	l.all += o.all
	l.statOfS += o.statOfS
}

func (l machineLoad) scaled(f float64) machineLoad {
	return machineLoad{
		wallS: l.wallS * f, cpuS: l.cpuS * f,
		voluntary: l.voluntary * f, involuntary: l.involuntary * f,
		pressureS: l.pressureS * f, pressureOfS: l.pressureOfS * f,
		steal: l.steal * f, all: l.all * f, statOfS: l.statOfS * f,
	}
}

// pressureShare is the share of wall time some task waited for a CPU; -1 unknown.
func (l machineLoad) pressureShare() float64 {
	if l.pressureOfS <= 0 {
		return -1
	}
	return min(l.pressureS/l.pressureOfS, 1)
}

// stealShare is the share of the machine's CPU time stolen; -1 unknown.
func (l machineLoad) stealShare() float64 {
	switch {
	case l.statOfS <= 0:
		return -1
	case l.all <= 0: // no tick elapsed
		return 0
	}
	return l.steal / l.all
}

// spanLoad is a load read over [from, to) of the run's clock.
type spanLoad struct {
	load     machineLoad
	from, to time.Duration
}

// share is the part of the load that fell in window w, in proportion to
// time: a reading taken late (after a stall) spreads over the windows it
// spans instead of landing whole on one.
func (s spanLoad) share(w int) machineLoad {
	if s.to <= s.from {
		return machineLoad{}
	}
	lo := max(s.from, time.Duration(w)*time.Second)
	hi := min(s.to, time.Duration(w+1)*time.Second)
	if hi <= lo {
		return machineLoad{}
	}
	return s.load.scaled(float64(hi-lo) / float64(s.to-s.from))
}

// processUsage is this process's resource usage (getrusage).
type processUsage struct {
	cpuS                   float64 // user + system
	voluntary, involuntary int64   // context switches
}

var (
	somePrefix = []byte("some ")
	totalField = []byte("total=")
	cpuPrefix  = []byte("cpu ")
)

// parsePressureTotal reads the "some" line's total= (µs) of
// /proc/pressure/cpu; -1 when there is none.
func parsePressureTotal(b []byte) int64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, somePrefix) {
			continue
		}
		i := bytes.Index(line, totalField)
		if i < 0 {
			return -1
		}
		v, _, ok := parseUint(line, i+len(totalField))
		if !ok {
			return -1
		}
		return v
	}
	return -1
}

// parseCPUStat reads /proc/stat's first line, "cpu  user nice system idle
// iowait irq softirq steal [guest guest_nice]": all is the sum of the
// first eight (guest time is already in user and nice).
func parseCPUStat(b []byte) cpuTimes {
	i := bytes.IndexByte(b, '\n')
	if i < 0 || !bytes.HasPrefix(b, cpuPrefix) {
		return cpuTimes{}
	}
	line := b[:i]
	var t cpuTimes
	pos := len("cpu ")
	for f := range 8 {
		v, next, ok := parseUint(line, pos)
		if !ok {
			return cpuTimes{}
		}
		t.all += v
		if f == 7 {
			t.steal = v
		}
		pos = next
	}
	t.known = true
	return t
}

// parseLoadAverage reads /proc/loadavg's first field; 0 when unreadable.
func parseLoadAverage(b []byte) float64 {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(string(f[0]), 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// parseUint skips spaces from i and reads a decimal number, returning it
// and the index after it.
func parseUint(b []byte, i int) (v int64, next int, ok bool) {
	for i < len(b) && b[i] == ' ' {
		i++
	}
	start := i
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if v > (math.MaxInt64-9)/10 {
			return 0, i, false
		}
		v = v*10 + int64(b[i]-'0')
	}
	return v, i, i > start
}
