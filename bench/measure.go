package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/ilities/ilities/internal/stats"
)

// result is what one run of a tool reports, before the machine's figures
// are added.
type result struct {
	requests int64
	seconds  float64 // the run's measured length
	cpu      float64 // CPU seconds of the tool's whole process tree
	fig      map[string]float64
	note     string // what the figures alone do not say (a ceiling's reason)
	// aside: CPU seconds of the harness's helper processes inside the
	// window (vegeta's report between a ceiling's steps): measured, not
	// the tool's.
	aside float64
	// finish, when set, runs after the measured window closed: work the
	// harness does on the run's output (vegeta's report) is nobody's noise.
	finish func(*result) error
}

// Figures a result may carry besides requests and CPU.
const (
	figLatencyP50 = "latency_p50_ms"
	figSendLagP50 = "send_lag_p50_ms"
	figRate       = "rate"     // achieved requests per second
	figHeld       = "held"     // highest open-loop rate held
	figKiBPerConn = "kib_conn" // resident memory per open connection
)

// window is what the whole machine did during one measured run, in CPU
// seconds unless named otherwise.
type window struct {
	wall float64
	// busy: every process's CPU (/proc/stat user + nice + system);
	// measured: the tool's tree, the servers' trees and this harness's own;
	// softirqd: the kernel's softirq threads, which carry the measured
	// loopback traffic; irq: interrupt time; steal: the host's.
	busy, measured, softirqd, irq, steal float64
	before, during                       loadState
}

// others is the CPU, in cores, that processes outside the measured ones
// used during the run.
func (w window) others() float64 {
	if w.wall <= 0 {
		return 0
	}
	return max(0, w.busy-w.measured-w.softirqd) / w.wall
}

// noiseLimit says when a run is too disturbed to compare: more than
// others cores used by other processes, or more than steal cores taken by
// the host, on average over the run.
type noiseLimit struct{ others, steal float64 }

// noisy is why w is too disturbed to compare, "" when it is quiet.
func (l noiseLimit) noisy(w window) string {
	if w.wall <= 0 {
		return ""
	}
	if o := w.others(); o > l.others {
		return fmt.Sprintf("other processes used %.2f of a core (limit %.2f)", o, l.others)
	}
	if s := w.steal / w.wall; s > l.steal {
		return fmt.Sprintf("the host took %.2f of a core (steal; limit %.2f)", s, l.steal)
	}
	return ""
}

// sample is one measured run: the tool's figures, the CPU of each named
// server tree (the target, a proxy, its backends), the machine's window
// and whether it was noisy.
type sample struct {
	result
	trees map[string]float64
	win   window
	noise string
}

// measure runs run between two readings of the machine and of the named
// server trees (by root process id).
func measure(fs procfs, trees map[string]int, run func() (result, error)) (sample, error) {
	self := os.Getpid()
	ownTicks := func(all []stat) int64 {
		for _, s := range all {
			if s.pid == self {
				return s.own // not its children: the tools it waited for are counted as tools
			}
		}
		return 0
	}
	before, during := fs.load(), loadState{}
	all0 := fs.processes()
	cpu0, err := fs.cpuTimes()
	if err != nil {
		return sample{}, err
	}
	t0 := time.Now()
	r, err := run()
	wall := time.Since(t0).Seconds()
	cpu1, _ := fs.cpuTimes()
	all1 := fs.processes()
	during = fs.load()
	if err != nil {
		return sample{}, err
	}
	s := sample{result: r, trees: map[string]float64{}}
	measured := r.cpu + r.aside + float64(ownTicks(all1)-ownTicks(all0))/ticksPerSecond
	for name, root := range trees {
		c := float64(treeTicks(all1, root)-treeTicks(all0, root)) / ticksPerSecond
		s.trees[name] = c
		measured += c
	}
	s.win = window{
		wall:     wall,
		busy:     float64(cpu1.busy-cpu0.busy) / ticksPerSecond,
		measured: measured,
		softirqd: float64(kernelNetTicks(all1)-kernelNetTicks(all0)) / ticksPerSecond,
		irq:      float64(cpu1.irq-cpu0.irq) / ticksPerSecond,
		steal:    float64(cpu1.steal-cpu0.steal) / ticksPerSecond,
		before:   before,
		during:   during,
	}
	if r.finish != nil {
		if err := r.finish(&s.result); err != nil {
			return sample{}, err
		}
	}
	return s, nil
}

// perRequest is CPU seconds per request in µs; NaN without requests.
func perRequest(cpu float64, requests int64) float64 {
	if requests <= 0 {
		return math.NaN()
	}
	return cpu / float64(requests) * 1e6
}

// spread is a figure over rounds: its median, min and max, how many rounds
// gave it, and how many of those stayed noisy after their repeats.
type spread struct {
	med, lo, hi float64
	n, noisy    int
}

// summarize takes f of every sample that has it (f returns NaN when not).
func summarize(ss []sample, f func(sample) float64) spread {
	var vs []float64
	sp := spread{}
	for _, s := range ss {
		v := f(s)
		if math.IsNaN(v) {
			continue
		}
		vs = append(vs, v)
		if s.noise != "" {
			sp.noisy++
		}
	}
	sp.n = len(vs)
	if sp.n == 0 {
		return spread{med: math.NaN(), lo: math.NaN(), hi: math.NaN()}
	}
	sp.med, sp.lo, sp.hi = stats.Median(vs), slices.Min(vs), slices.Max(vs)
	return sp
}
