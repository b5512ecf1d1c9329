// Command soak runs the whole tool for a long time in one process — the
// generator, the built-in proxy and its simulated backends — at a steady
// open-loop rate with a fault every minute, and reports the process's
// resident memory, goroutines and open files at minute 1 and at the end.
// Flat figures (the last within 10% of minute 1) show that nothing leaks
// under faults: connections, goroutines, timers, per-window state.
//
//	go run ./bench/soak [-duration 10m] [-rate 5000/s]
//
// It exits 1 when a figure grew by more than -tolerance.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "length of the run (at least 2m)")
	rate := flag.String("rate", "5000/s", "open-loop arrival rate")
	tolerance := flag.Float64("tolerance", 0.10, "largest allowed growth from minute 1 to the end")
	heapProfile := flag.String("heapprofile", "", "write heap profiles PREFIX-1m.pprof and PREFIX-end.pprof (go tool pprof -base ... shows what grew)")
	flag.Parse()
	if *duration < 2*time.Minute {
		fmt.Fprintln(os.Stderr, "soak: -duration must be at least 2m")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := soak(ctx, *duration, *rate, *tolerance, *heapProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// faultKinds cycle, one a minute, each lifted 15 s later, so that the
// samples at whole minutes fall between faults.
var faultKinds = []string{
	"kind: crash",
	"kind: hang",
	"kind: slow, latency: {dist: constant, value: 50ms}",
	"kind: errors, percent: 50%",
	"kind: reset, percent: 50%",
	"kind: truncate, percent: 50%",
	"kind: degrade, workers: 1",
	"kind: flap, period: 2s",
}

// Scenario is the soak's scenario for a run of d at rate.
func Scenario(d time.Duration, rate string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `name: soak
seed: 1
duration: %s
sut:
  proxy:
    strategy: least-connections
    health: {interval: 250ms, timeout: 200ms, fall: 2, rise: 2}
    passive: {consecutive_failures: 5, eject_for: 2s}
    retries: 1
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 32, service_time: {dist: exponential, mean: 1ms}}
        - {name: app-2, workers: 32, service_time: {dist: exponential, mean: 1ms}}
        - {name: app-3, workers: 32, service_time: {dist: exponential, mean: 1ms}}
        - {name: app-4, workers: 32, service_time: {dist: exponential, mean: 1ms}}
workload:
  - name: soak
    arrival: poisson
    rate: %s
    timeout: 2s
    max_inflight: 2000
    client: {max_connections: 64}
    requests:
      - {method: GET, path: /items, weight: 9}
      - {method: POST, path: /cart, weight: 1, body: '{"sku": 1}'}
faults:
`, d, rate)
	nodes := []string{"app-1", "app-2", "app-3", "app-4"}
	for i, at := 0, 30*time.Second; at+15*time.Second < d; i, at = i+1, at+time.Minute {
		fmt.Fprintf(&b, "  - {at: %s, for: 15s, node: %s, %s}\n", at, nodes[i%len(nodes)], faultKinds[i%len(faultKinds)])
	}
	return b.String()
}

// Figures are one sample of the process's footprint.
type Figures struct {
	At         time.Duration
	RSSMiB     float64
	HeapMiB    float64
	StackMiB   float64
	Goroutines int
	OpenFiles  int
}

func (f Figures) String() string {
	return fmt.Sprintf("%6s  rss %6.1f MiB (heap %5.1f, stacks %4.1f)  goroutines %6d  open files %5d",
		f.At.Round(time.Second), f.RSSMiB, f.HeapMiB, f.StackMiB, f.Goroutines, f.OpenFiles)
}

// Sample reads the footprint now.
func Sample(at time.Duration) Figures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Figures{
		At:         at,
		RSSMiB:     rssMiB(),
		HeapMiB:    float64(ms.HeapInuse) / (1 << 20),
		StackMiB:   float64(ms.StackInuse) / (1 << 20),
		Goroutines: runtime.NumGoroutine(),
		OpenFiles:  openFiles(),
	}
}

func soak(ctx context.Context, d time.Duration, rate string, tolerance float64, heapProfile string) (bool, error) {
	sc, err := scenario.Parse("soak.yaml", []byte(Scenario(d, rate)))
	if err != nil {
		return false, err
	}
	fmt.Printf("soak: %s at %s through the built-in proxy, %d faults (one a minute); %d CPUs\n",
		d, rate, len(sc.Faults), runtime.NumCPU())

	var (
		mu      sync.Mutex
		samples []Figures
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	opts := run.Options{Options: runner.Options{Started: func(t0 time.Time) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case now := <-tick.C:
					f := Sample(now.Sub(t0).Round(time.Second))
					if heapProfile != "" && (f.At == time.Minute || f.At == d-10*time.Second) {
						name := heapProfile + "-1m.pprof"
						if f.At != time.Minute {
							name = heapProfile + "-end.pprof"
						}
						writeHeapProfile(name)
					}
					fmt.Println(f)
					mu.Lock()
					samples = append(samples, f)
					mu.Unlock()
				}
			}
		}()
	}}}
	res, runErr := run.Execute(ctx, sc, opts)
	close(done)
	wg.Wait()
	if res == nil {
		return false, runErr
	}
	t := res.Totals
	fmt.Printf("\nscheduled %d  succeeded %d  failed %d  dropped %d  throughput %.0f/s  incomplete %v\n",
		t.Scheduled, t.Succeeded, t.Failed, t.Dropped, res.ThroughputRPS, res.Incomplete)
	if t.Scheduled != t.Succeeded+t.Failed+t.Dropped+t.CutAtEnd+t.Exhausted {
		return false, fmt.Errorf("accounting broken: scheduled %d != succeeded + failed + dropped", t.Scheduled)
	}
	// Each figure is the mean of the minute's samples (every 10 s), taken
	// while the load ran: a single sample lands anywhere in a GC cycle.
	first, ok1 := minute(samples, time.Minute, d)
	last, ok2 := minute(samples, d, d)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("too few samples (%d) to compare minute 1 with the last (run error: %v)", len(samples), runErr)
	}
	windows, _ := json.Marshal(res.Windows)
	fmt.Printf("\nmean of the first minute: %s\nmean of the last minute:  %s\n", first, last)
	fmt.Printf("(the result's per-second windows, kept in a temporary file during the run and read back at its end: %d, %.1f MiB as JSON)\n",
		len(res.Windows), float64(len(windows))/(1<<20))
	pass := true
	check := func(name string, a, b float64) {
		growth := (b - a) / a
		verdict := "flat"
		if growth > tolerance {
			verdict, pass = "GREW", false
		}
		fmt.Printf("%-11s %9.1f -> %9.1f  %+6.1f%%  %s\n", name, a, b, 100*growth, verdict)
	}
	check("rss MiB", first.RSSMiB, last.RSSMiB)
	check("goroutines", float64(first.Goroutines), float64(last.Goroutines))
	check("open files", float64(first.OpenFiles), float64(last.OpenFiles))
	return pass, runErr
}

// minute averages the samples taken in the minute ending at end (the
// sample at end itself included, one at the run's very end excluded).
func minute(samples []Figures, end, runEnd time.Duration) (Figures, bool) {
	var avg Figures
	n := 0
	for _, s := range samples {
		if s.At > end-time.Minute && s.At <= end && s.At < runEnd {
			avg.RSSMiB += s.RSSMiB
			avg.HeapMiB += s.HeapMiB
			avg.StackMiB += s.StackMiB
			avg.Goroutines += s.Goroutines
			avg.OpenFiles += s.OpenFiles
			n++
		}
	}
	if n == 0 {
		return avg, false
	}
	avg.At = end
	avg.RSSMiB /= float64(n)
	avg.HeapMiB /= float64(n)
	avg.StackMiB /= float64(n)
	avg.Goroutines /= n
	avg.OpenFiles /= n
	return avg, true
}

func writeHeapProfile(name string) {
	f, err := os.Create(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
	}
}

func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func openFiles() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}
