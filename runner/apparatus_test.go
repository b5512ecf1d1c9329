package runner

import (
	"math"
	"runtime"
	"testing"
	"time"
)

func TestParsePressureTotal(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int64
	}{
		{"kernel", "some avg10=3.45 avg60=6.49 avg300=5.64 total=26566168\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 26566168},
		{"some only", "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n", 7},
		{"no newline", "some avg10=0.00 avg60=0.00 avg300=0.00 total=12", 12},
		{"full first", "full avg10=0.00 avg60=0.00 avg300=0.00 total=9\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", 5},
		{"full only", "full avg10=0.00 avg60=0.00 avg300=0.00 total=9\n", -1},
		{"no total", "some avg10=0.00 avg60=0.00 avg300=0.00\n", -1},
		{"total without digits", "some avg10=0.00 total=x\n", -1},
		{"empty", "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parsePressureTotal([]byte(tc.in)); got != tc.want {
				t.Errorf("parsePressureTotal(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseStealFromCPUStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want cpuTimes
	}{
		{"ten fields", "cpu  8924 0 3313 56784 326 0 33 18 0 0\ncpu0 4462 0 1656 28392 163 0 16 9 0 0\n",
			cpuTimes{steal: 18, all: 8924 + 3313 + 56784 + 326 + 33 + 18, known: true}},
		// guest and guest_nice are already counted in user and nice.
		{"guest not added", "cpu  100 10 50 1000 5 1 2 7 40 3\n", cpuTimes{steal: 7, all: 1175, known: true}},
		{"eight fields", "cpu 1 2 3 4 5 6 7 8\n", cpuTimes{steal: 8, all: 36, known: true}},
		{"no steal field", "cpu  1 2 3 4 5 6 7\n", cpuTimes{}},
		{"truncated line", "cpu  8924 0 3313 56784", cpuTimes{}},
		{"per-cpu first", "cpu0 1 2 3 4 5 6 7 8\n", cpuTimes{}},
		{"empty", "", cpuTimes{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseCPUStat([]byte(tc.in)); got != tc.want {
				t.Errorf("parseCPUStat(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseLoadAverage(t *testing.T) {
	for in, want := range map[string]float64{
		"0.32 0.33 0.15 2/117 7983\n": 0.32,
		"12.50 3.00 1.00 1/1 1":       12.5,
		"":                            0,
		"x 1 2":                       0,
	} {
		if got := parseLoadAverage([]byte(in)); got != want {
			t.Errorf("parseLoadAverage(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPressureAndStealShares(t *testing.T) {
	known := machineReading{at: 0, pressureUS: 1_000_000, cpu: cpuTimes{steal: 10, all: 1000, known: true}}
	later := machineReading{at: 2 * time.Second, pressureUS: 1_500_000, cpu: cpuTimes{steal: 30, all: 1400, known: true}}
	unknown := machineReading{at: 3 * time.Second, pressureUS: -1}
	for _, tc := range []struct {
		name            string
		load            machineLoad
		pressure, steal float64
	}{
		{"known", later.since(known), 0.25, 0.05},
		{"unknown", unknown.since(later), -1, -1},
		// A known second and an unknown one: the share is over the known second.
		{"half known", func() machineLoad {
			l := later.since(known).scaled(0.5)
			l.add(unknown.since(later))
			return l
		}(), 0.25, 0.05},
		{"no tick", machineReading{at: time.Second, pressureUS: 0, cpu: cpuTimes{known: true}}.since(machineReading{cpu: cpuTimes{known: true}}), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.load.pressureShare(); !near(got, tc.pressure, 1e-9) {
				t.Errorf("pressure share %v, want %v", got, tc.pressure)
			}
			if got := tc.load.stealShare(); !near(got, tc.steal, 1e-9) {
				t.Errorf("steal share %v, want %v", got, tc.steal)
			}
		})
	}
}

func TestPressureLoadSharedByTime(t *testing.T) {
	load := machineLoad{wallS: 2.5, cpuS: 5}
	for _, tc := range []struct {
		name     string
		from, to time.Duration
		w        int
		want     float64 // share of cpuS
	}{
		{"inside", 200 * time.Millisecond, 700 * time.Millisecond, 0, 5},
		{"head", 500 * time.Millisecond, 3 * time.Second, 0, 1},
		{"whole middle", 500 * time.Millisecond, 3 * time.Second, 1, 2},
		{"tail", 500 * time.Millisecond, 3 * time.Second, 2, 2},
		{"after", 500 * time.Millisecond, 3 * time.Second, 3, 0},
		{"before run", -time.Second, time.Second, 0, 2.5},
		{"empty span", time.Second, time.Second, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := spanLoad{load: load, from: tc.from, to: tc.to}.share(tc.w).cpuS
			if !near(got, tc.want, 1e-9) {
				t.Errorf("share of window %d = %v, want %v", tc.w, got, tc.want)
			}
		})
	}
}

// steadyMachine is a synthetic machine whose counters grow steadily: per
// second 0.5 s of CPU, 200 voluntary and 100 involuntary switches, 0.25 s
// of CPU pressure, and 1% of CPU time stolen.
func steadyMachine(at time.Duration) machineReading {
	s := at.Seconds()
	return machineReading{
		at:         at,
		usage:      processUsage{cpuS: 0.5 * s, voluntary: int64(200 * s), involuntary: int64(100 * s)},
		pressureUS: int64(250_000 * s),
		cpu:        cpuTimes{steal: int64(1e4 * s), all: int64(1e6 * s), known: true},
	}
}

// syntheticMeter is a meter prepared at time 0 on steadyMachine, fed by
// hand through record, without its goroutine.
// syntheticMeter samples every millisecond, the figures below are
// worked out for that.
func syntheticMeter(t *testing.T) *apparatusMeter {
	m := newApparatusMeter()
	m.interval = time.Millisecond
	m.read = steadyMachine
	m.prepare(0)
	t.Cleanup(m.close)
	return m
}

// hiccupValues returns the hiccup values (µs) recorded in the meter's
// open window and in the run, bucket by bucket.
func hiccupValues(t *testing.T, m *apparatusMeter) (win, run map[int64]int64) {
	t.Helper()
	win, run = map[int64]int64{}, map[int64]int64{}
	for _, b := range m.win.Distribution() {
		if b.Count > 0 {
			win[b.From] += b.Count
		}
	}
	for _, b := range m.run.Distribution() {
		if b.Count > 0 {
			run[b.From] += b.Count
		}
	}
	return win, run
}

// A wake-up D late stands for the series D, D−1ms, … (RecordCorrectedValue),
// and the window's histogram gets the same series as the run's.
func TestHiccupSeriesCorrected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		over  time.Duration
		count int64
		max   int64 // µs
	}{
		{"on time", 0, 1, 1},
		{"just under an interval", 999 * time.Microsecond, 1, 999},
		{"one interval", time.Millisecond, 1, 1000},
		{"two intervals", 2 * time.Millisecond, 2, 2000},
		{"stall", 5300 * time.Microsecond, 5, 5300},
		{"long stall", 250 * time.Millisecond, 250, 250_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := syntheticMeter(t)
			intended := 100 * time.Millisecond
			m.record(intended, intended+tc.over)
			if got := m.run.TotalCount(); got != tc.count {
				t.Errorf("run count %d, want %d", got, tc.count)
			}
			if got := m.run.Max(); !near(float64(got), float64(tc.max), float64(tc.max)/1000+1) { // 3 significant digits
				t.Errorf("run max %d µs, want %d", got, tc.max)
			}
			win, run := hiccupValues(t, m)
			if len(win) != len(run) {
				t.Fatalf("window values %v, run values %v", win, run)
			}
			for v, n := range run {
				if win[v] != n {
					t.Errorf("value %d µs: %d in the window, %d in the run", v, win[v], n)
				}
			}
		})
	}
}

// Each value of a stall's series goes to the window of its request's
// arrival: a stall that crosses a second boundary shows in both windows.
func TestHiccupWindowPlacement(t *testing.T) {
	m := syntheticMeter(t)
	intended := time.Second - 500*time.Microsecond
	m.record(intended, intended+2500*time.Microsecond) // 2500 µs at 0.9995 s, 1500 µs at 1.0005 s
	m.end(1500 * time.Millisecond)
	a, err := m.result(2)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.windows.All()
	want := []struct {
		max     float64
		samples int64
	}{{2.5, 1}, {1.5, 1}}
	for i, w := range want {
		if got[i].Samples != w.samples || !near(a.Windows[i].HiccupMax, w.max, 0.002) {
			t.Errorf("window %d: %d samples, max %v ms; want %d, %v ms", i, got[i].Samples, a.Windows[i].HiccupMax, w.samples, w.max)
		}
	}
	if a.HiccupMS.Count != 2 {
		t.Errorf("run count %d, want 2", a.HiccupMS.Count)
	}
}

// A run of wake-ups with a 1.3 s stall: hiccups and the machine's load
// land in the right windows, a stall's load shared out by time.
func TestApparatusWindowsOnSyntheticRun(t *testing.T) {
	m := syntheticMeter(t)
	const stallAt, stall, end = 1500 * time.Millisecond, 1300 * time.Millisecond, 3200 * time.Millisecond
	now, stalled := time.Duration(0), false
	for now < end {
		intended := now + m.interval
		woke := intended + 50*time.Microsecond
		if !stalled && now >= stallAt {
			woke, stalled = intended+stall, true
		}
		m.record(intended, woke)
		now = woke
	}
	m.end(end)
	a, err := m.result(5)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Windows) != 5 {
		t.Fatalf("%d windows, want 5", len(a.Windows))
	}
	spilled, _ := m.windows.All()
	var samples int64
	for _, w := range spilled {
		samples += w.Samples
		// Requests one per interval: at most 1,001 arrive in a second.
		if w.Samples > 1001 {
			t.Errorf("window %d: %d samples, more than a second holds", w.Window.T, w.Samples)
		}
	}
	if samples != a.HiccupMS.Count {
		t.Errorf("windows hold %d samples, the run %d", samples, a.HiccupMS.Count)
	}
	for _, tc := range []struct {
		t           int
		cpu, invol  float64
		maxLo, maxH float64 // hiccup max, ms
	}{
		{0, 0.5, 100, 0.05, 0.051},
		{1, 0.5, 100, 1299, 1301},
		{2, 0.5, 100, 799, 802}, // the stall's request arriving at 2 s waited ~800 ms
		{3, 0.1, 20, 0.05, 0.051},
	} {
		w := a.Windows[tc.t]
		if w.T != tc.t || !near(w.CPUSeconds, tc.cpu, 1e-3) || math.Abs(float64(w.InvoluntarySwitches)-tc.invol) > 2 ||
			!near(w.CPUPressure, 0.25, 1e-3) || !near(w.Steal, 0.01, 1e-4) || w.HiccupMax < tc.maxLo || w.HiccupMax > tc.maxH {
			t.Errorf("window %d = %+v; want cpu %v s, %v involuntary, pressure 0.25, steal 0.01, hiccup max in [%v, %v] ms",
				tc.t, w, tc.cpu, tc.invol, tc.maxLo, tc.maxH)
		}
	}
	if w := a.Windows[4]; w.CPUPressure != -1 || w.Steal != -1 || w.T != 4 {
		t.Errorf("unmeasured window = %+v, want unknown pressure and steal", w)
	}
	if !near(a.CPUSeconds, 1.6, 1e-6) || !near(a.CPUShare, 1.6/(3.2*float64(runtime.NumCPU())), 1e-6) ||
		a.VoluntarySwitches != 640 || a.InvoluntarySwitches != 320 || !near(a.CPUPressure, 0.25, 1e-4) || !near(a.Steal, 0.01, 1e-5) {
		t.Errorf("run figures = cpu %v s (share %v), switches %d/%d, pressure %v, steal %v",
			a.CPUSeconds, a.CPUShare, a.VoluntarySwitches, a.InvoluntarySwitches, a.CPUPressure, a.Steal)
	}
	if !near(a.HiccupMS.Max, 1300, 1.5) || a.IntervalMS != 1 || a.Processors != runtime.NumCPU() {
		t.Errorf("run hiccup max %v ms, interval %v ms, processors %d", a.HiccupMS.Max, a.IntervalMS, a.Processors)
	}
}

func TestApparatusResultWithoutBegin(t *testing.T) {
	m := newApparatusMeter()
	defer m.close()
	m.finish()
	a, err := m.result(2)
	if err != nil {
		t.Fatal(err)
	}
	if a.HiccupMS.Count != 0 || a.CPUPressure != -1 || a.Steal != -1 || len(a.Windows) != 2 || a.Windows[1].T != 1 || a.Windows[1].Steal != -1 {
		t.Errorf("result = %+v", a)
	}
}

// The meter on the real clock for 2.5 s: three windows, each with about
// as many samples as intervals (bounds loose for a loaded machine), the
// windows adding up to the run. It logs what the machine showed and what
// the sampler cost.
func TestApparatusMeterRealClock(t *testing.T) {
	m := newApparatusMeter()
	defer m.close()
	cpu0 := processCPU()
	t0 := time.Now()
	m.begin(t0)
	time.Sleep(2500 * time.Millisecond)
	m.finish()
	m.finish() // idempotent
	wall := time.Since(t0).Seconds()
	cost := (processCPU() - cpu0) / wall
	a, err := m.result(3)
	if err != nil {
		t.Fatal(err)
	}
	spilled, err := m.windows.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(spilled) < 3 {
		t.Fatalf("%d windows measured, want 3", len(spilled))
	}
	var samples int64
	for _, w := range spilled {
		samples += w.Samples
	}
	if samples != a.HiccupMS.Count {
		t.Errorf("windows hold %d samples, the run %d", samples, a.HiccupMS.Count)
	}
	perSecond := int64(time.Second / m.interval)
	for i, ideal := range []int64{perSecond, perSecond, perSecond / 2} {
		if n := spilled[i].Samples; n < ideal/3 || n > perSecond+1 {
			t.Errorf("window %d: %d samples, want about %d", i, n, ideal)
		}
	}
	if a.CPUSeconds <= 0 || a.Processors != runtime.NumCPU() {
		t.Errorf("cpu %v s over %d processors", a.CPUSeconds, a.Processors)
	}
	if runtime.GOOS == "linux" && a.Steal < 0 {
		t.Errorf("steal unknown on Linux")
	}
	h := a.HiccupMS
	t.Logf("hiccups: %d samples, p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms", h.Count, h.P50, h.P99, h.P999, h.Max)
	for _, w := range a.Windows {
		t.Logf("window %d: hiccup p99 %.3f max %.3f ms, cpu %.4f s, %d involuntary, pressure %.3f, steal %.4f",
			w.T, w.HiccupP99, w.HiccupMax, w.CPUSeconds, w.InvoluntarySwitches, w.CPUPressure, w.Steal)
	}
	t.Logf("run: cpu %.3f s (share %.4f of %d processors), switches %d/%d, pressure %.3f, steal %.4f, load %.2f",
		a.CPUSeconds, a.CPUShare, a.Processors, a.VoluntarySwitches, a.InvoluntarySwitches, a.CPUPressure, a.Steal, a.LoadAverage)
	t.Logf("sampler cost: %.1f ms of CPU per second (%.2f%% of a core)", cost*1000, cost*100)
}

// A goroutine holding the only processor delays the sampler until the
// runtime preempts it (~10 ms): the meter sees a hiccup of milliseconds.
// A busier machine only makes it longer.
func TestHiccupStallSeen(t *testing.T) {
	m := newApparatusMeter()
	defer m.close()
	m.begin(time.Now())
	time.Sleep(50 * time.Millisecond)
	prev := runtime.GOMAXPROCS(1)
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	}
	runtime.GOMAXPROCS(prev)
	time.Sleep(20 * time.Millisecond)
	a, err := m.result(1)
	if err != nil {
		t.Fatal(err)
	}
	if a.HiccupMS.Max < 2 || a.Windows[0].HiccupMax < 2 {
		t.Errorf("hiccup max %v ms (window %v ms), want the stall's milliseconds", a.HiccupMS.Max, a.Windows[0].HiccupMax)
	}
	t.Logf("stall seen: max %.3f ms, p99 %.3f ms, %d samples", a.HiccupMS.Max, a.HiccupMS.P99, a.HiccupMS.Count)
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }
