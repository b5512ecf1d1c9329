package report

import (
	"fmt"
	"math"
	"time"
)

// Apparatus is the measuring instrument's account of itself during a run:
// the delays the tool suffered (its hiccups and its send lag) and the load
// of the machine it ran on, for the whole run and for each one-second
// window. Verdicts read it: a requirement missed by no more than the
// apparatus's own delay is inconclusive, not failed (docs/verdicts.md).
//
// A hiccup is the idea of jHiccup: a sampler asks to sleep a short fixed
// interval and records how much later than asked it woke. Whatever delayed
// it (the scheduler giving the CPU to a neighbour, a stop of the runtime,
// the hypervisor) would have delayed a request's handling as much.
type Apparatus struct {
	// IntervalMS is the hiccup sampler's sleep.
	IntervalMS float64 `json:"interval_ms"`
	// LoopSamples is how many of the hiccup samples were an event loop's
	// own timed wake-ups rather than the sampler's (runner's hiccupFeed).
	LoopSamples int64 `json:"loop_samples,omitempty"`
	// HiccupMS is the generator process's hiccups (oversleep, ms);
	// HiccupHistogram the encoded histogram behind it (µs).
	HiccupMS        Percentiles `json:"hiccup_ms"`
	HiccupHistogram string      `json:"hiccup_histogram,omitempty"`
	// SUTHiccupMS is the same measured inside the built-in SUT's own
	// process, when the SUT runs apart from the generator (nil when it runs
	// in the generator's process, where HiccupMS covers both, or when the
	// target is external).
	SUTHiccupMS        *Percentiles `json:"sut_hiccup_ms,omitempty"`
	SUTHiccupHistogram string       `json:"sut_hiccup_histogram,omitempty"`
	// SUTWakeups is how many times a request waits for a CPU inside the
	// built-in SUT (the proxy reading the request, the backend's handler,
	// the end of its service, the proxy reading the answer): in the
	// generator's process each such wait is drawn from the hiccups or, in
	// an event loop, the send lag; in a process of its own, from that
	// process's hiccups (SUTHiccupMS). The SUT's share adds them up
	// (sutShare). 0 for an external target.
	SUTWakeups int `json:"sut_wakeups,omitempty"`
	// SUTLoopWakeups is how many of those waits are an event loop's (the
	// built-in proxy's loops, threads of their own like the generator's):
	// each counts as the larger of the send lag (the generator loop's
	// wait) and the hiccup.
	SUTLoopWakeups int `json:"sut_loop_wakeups,omitempty"`
	// CPUSeconds is the tool's process CPU time (user + system) over the run;
	// CPUShare that over wall time × the machine's processors (Processors).
	CPUSeconds float64 `json:"cpu_s"`
	CPUShare   float64 `json:"cpu_share"`
	Processors int     `json:"processors"`
	// VoluntarySwitches and InvoluntarySwitches are the process's context
	// switches over the run (getrusage); involuntary ones are the kernel
	// taking the CPU away from a thread that could have run.
	VoluntarySwitches   int64 `json:"voluntary_switches"`
	InvoluntarySwitches int64 `json:"involuntary_switches"`
	// CPUPressure is the share of the run's wall time during which some
	// runnable task of the machine waited for a CPU (Linux pressure stall
	// information, /proc/pressure/cpu "some"); -1 when the system does not
	// say.
	CPUPressure float64 `json:"cpu_pressure"`
	// Steal is the share of the machine's CPU time that the hypervisor gave
	// to others (/proc/stat); -1 when the system does not say.
	Steal float64 `json:"steal"`
	// LoadAverage is the machine's one-minute load average at the end.
	LoadAverage float64 `json:"load_average"`
	// DelayMS is the apparatus's delay at each percentile of a request
	// (Assess); DisturbedWindows counts the windows whose delay
	// exceeded DisturbedAboveMS.
	DelayMS          Percentiles       `json:"delay_ms"`
	DisturbedWindows int               `json:"disturbed_windows"`
	Windows          []ApparatusWindow `json:"windows,omitempty"`
}

// ApparatusWindow is the apparatus in one second of the run, aligned with
// Result.Windows by T.
type ApparatusWindow struct {
	T int `json:"t"`
	// Hiccups of the generator's process and, when apart, the SUT's (ms).
	HiccupP99    float64 `json:"hiccup_p99_ms"`
	HiccupMax    float64 `json:"hiccup_max_ms"`
	SUTHiccupP99 float64 `json:"sut_hiccup_p99_ms,omitempty"`
	SUTHiccupMax float64 `json:"sut_hiccup_max_ms,omitempty"`
	// Send lag of the arrivals intended in this window (ms), and how many
	// of them were sent more than 1 ms late.
	SendLagP50 float64 `json:"send_lag_p50_ms"`
	SendLagP99 float64 `json:"send_lag_p99_ms"`
	SendLagMax float64 `json:"send_lag_max_ms"`
	Late       int64   `json:"late"`
	// CPUSeconds and InvoluntarySwitches of the tool's process in this
	// second; CPUPressure and Steal as the run's, over this second (-1 unknown).
	CPUSeconds          float64 `json:"cpu_s"`
	InvoluntarySwitches int64   `json:"involuntary_switches"`
	CPUPressure         float64 `json:"cpu_pressure"`
	Steal               float64 `json:"steal"`
	// DelayMS is the window's apparatus delay (see WindowDelay) and
	// Disturbed whether it exceeded DisturbedAboveMS.
	DelayMS   float64 `json:"delay_ms"`
	Disturbed bool    `json:"disturbed,omitempty"`
}

// DisturbedAboveMS is the apparatus delay above which a window is
// disturbed: its counts (errors, timeouts, throughput) may be the
// apparatus's doing rather than the system's. 10 ms is far above the
// delays of a quiet machine (tens of microseconds) and below any
// timeout, health-check or queue timeout a scenario would sensibly set.
const DisturbedAboveMS = 10.0

// WindowDelay is how late the apparatus could have made a request of window
// w at its 99th percentile: the larger of the generator's send lag and its
// process's hiccups (a hiccup delays a send, so both measure one delay),
// plus the SUT's share (sutShare).
func (a *Apparatus) WindowDelay(w ApparatusWindow) float64 {
	return math.Max(w.SendLagP99, w.HiccupP99) + a.sutShare(w.HiccupP99, w.SendLagP99, w.SUTHiccupP99)
}

// sutShare is the SUT's part of the apparatus's delay: a wait for a CPU
// for each of SUTWakeups, added up. Apart, each wait is drawn from its own
// process's hiccups (one, in results that do not count its wake-ups); in
// the same process, a hiccup for each of its goroutines' waits and
// max(send lag, hiccup) for each of its event loops' waits.
func (a *Apparatus) sutShare(hiccup, sendLag, sutHiccup float64) float64 {
	if a.SUTHiccupMS != nil {
		return float64(max(a.SUTWakeups, 1)) * sutHiccup
	}
	loops := min(a.SUTLoopWakeups, a.SUTWakeups)
	return float64(a.SUTWakeups-loops)*hiccup + float64(loops)*math.Max(sendLag, hiccup)
}

// Assess fills the windows' delays and disturbed flags and the run's
// DisturbedWindows from the per-window figures, and DelayMS from the run's
// percentiles: at each percentile, max(send lag, hiccup) + the SUT's share
// (a request delayed on both sides is delayed by their sum). sendLag is the
// generator's send-lag distribution of the run. Calling it again (after a
// merge) gives the same result.
func (a *Apparatus) Assess(sendLag Percentiles) {
	a.DisturbedWindows = 0
	for i := range a.Windows {
		w := &a.Windows[i]
		w.DelayMS = roundMicros(a.WindowDelay(*w))
		w.Disturbed = w.DelayMS > DisturbedAboveMS
		if w.Disturbed {
			a.DisturbedWindows++
		}
	}
	sut := Percentiles{}
	if a.SUTHiccupMS != nil {
		sut = *a.SUTHiccupMS
	}
	at := func(of func(Percentiles) float64) float64 {
		return roundMicros(math.Max(of(sendLag), of(a.HiccupMS)) + a.sutShare(of(a.HiccupMS), of(sendLag), of(sut)))
	}
	d := Percentiles{Count: a.HiccupMS.Count}
	d.Min = at(func(p Percentiles) float64 { return p.Min })
	d.Mean = at(func(p Percentiles) float64 { return p.Mean })
	d.P50 = at(func(p Percentiles) float64 { return p.P50 })
	d.P75 = at(func(p Percentiles) float64 { return p.P75 })
	d.P90 = at(func(p Percentiles) float64 { return p.P90 })
	d.P95 = at(func(p Percentiles) float64 { return p.P95 })
	d.P99 = at(func(p Percentiles) float64 { return p.P99 })
	d.P999 = at(func(p Percentiles) float64 { return p.P999 })
	d.P9999 = at(func(p Percentiles) float64 { return p.P9999 })
	d.Max = at(func(p Percentiles) float64 { return p.Max })
	a.DelayMS = d
}

// Window returns the apparatus window at second t, or nil.
func (a *Apparatus) Window(t int) *ApparatusWindow {
	if a == nil {
		return nil
	}
	if t >= 0 && t < len(a.Windows) && a.Windows[t].T == t {
		return &a.Windows[t]
	}
	for i := range a.Windows {
		if a.Windows[i].T == t {
			return &a.Windows[i]
		}
	}
	return nil
}

func roundMicros(ms float64) float64 { return math.Round(ms*1000) / 1000 }

// StarvedAbovePressure is the share of a run during which some task waited
// for a CPU (Linux CPU pressure) above which the host starved the tool
// whatever its hiccups say: a thread that runs full time is held back by
// its fair share, not at its wake-ups, and short sleeps wake nearly on
// time beside it (beside 160 spinning threads: pressure 99%, hiccup p50
// 2 ms, the process on 1.7% of a processor).
const StarvedAbovePressure = 0.8

// DelayedBeyond says, when some window of res had an apparatus delay above
// tolerated, by how much and in which second, with the run's figures, or
// when the host starved the tool (StarvedAbovePressure); "" otherwise. A
// check whose bounds hold only while the tool itself is delayed less than
// that cannot judge such a run.
func DelayedBeyond(res *Result, tolerated time.Duration) string {
	if res == nil || res.Apparatus == nil {
		return ""
	}
	a := res.Apparatus
	if a.CPUPressure > StarvedAbovePressure {
		return fmt.Sprintf("the host kept some task waiting for a CPU %.0f%% of the run (CPU pressure, over %.0f%%), the tool's process on %.1f%% of one processor (apparatus delay p99 %.1fms, hiccup p99 %.1fms, %d of %d windows disturbed)",
			100*a.CPUPressure, 100*StarvedAbovePressure, 100*a.CPUShare*float64(max(a.Processors, 1)), a.DelayMS.P99, a.HiccupMS.P99, a.DisturbedWindows, len(a.Windows))
	}
	worst, at := 0.0, -1
	for _, w := range a.Windows {
		if w.DelayMS > worst {
			worst, at = w.DelayMS, w.T
		}
	}
	if time.Duration(worst*float64(time.Millisecond)) <= tolerated {
		return ""
	}
	return fmt.Sprintf("the host delayed the tool by %.1fms (p99) in second %d, past the %v tolerated (run: apparatus delay p99 %.1fms, hiccup p99 %.1fms, send lag p99 %.1fms, %d of %d windows disturbed)",
		worst, at, tolerated, a.DelayMS.P99, a.HiccupMS.P99, res.Generator.SendLagMS.P99, a.DisturbedWindows, len(a.Windows))
}
