//go:build linux

// Command simscale measures the simulation at the scale a live run cannot
// reach on one machine: by default 10 minutes of Poisson arrivals at
// 100,000 requests a second over 1,000 backends behind round-robin, each
// backend an M/M/4 station at half its capacity, every request recorded as
// a live run records it. It prints the wall time, the simulated requests
// per second of wall time, the process's peak resident memory, and a table
// of requests per second of wall time against the backend count (10, 100,
// 1,000) and the rate, each cell a short run of its own (-cell).
//
//	go run ./bench/simscale [-duration 10m] [-rate 100000] [-backends 1000] [-cell 10s]
//	make simbench
//
// The default run holds 60 million requests: minutes of one core. Check
// that it works with a small -duration and -cell first.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

func main() {
	duration := flag.Duration("duration", 10*time.Minute, "simulated length of the main run")
	rate := flag.Int("rate", 100_000, "arrivals per second of the main run, over the pool")
	backends := flag.Int("backends", 1000, "backends of the main run")
	cell := flag.Duration("cell", 10*time.Second, "simulated length of each run of the table (0: no table)")
	flag.Parse()
	if *duration <= 0 || *rate <= 0 || *backends <= 0 || *cell < 0 {
		fmt.Fprintln(os.Stderr, "simscale: -duration, -rate and -backends must be positive, -cell not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m, err := measure(ctx, *backends, *rate, *duration)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simscale:", err)
		os.Exit(1)
	}
	fmt.Printf("simulated %s at %d/s over %d backends: %d requests in %s of wall time, %.0f requests/s\n",
		*duration, *rate, *backends, m.requests, m.wall.Round(time.Millisecond), m.perSecond())
	if rss, err := peakRSS(); err == nil {
		fmt.Printf("peak resident memory %.1f MiB\n", float64(rss)/(1<<20))
	} else {
		fmt.Fprintln(os.Stderr, "simscale: peak resident memory:", err)
	}
	if *cell == 0 {
		return
	}
	if err := table(ctx, *cell); err != nil {
		fmt.Fprintln(os.Stderr, "simscale:", err)
		os.Exit(1)
	}
}

// measurement is one simulated run's cost.
type measurement struct {
	requests int64
	wall     time.Duration
}

func (m measurement) perSecond() float64 { return float64(m.requests) / m.wall.Seconds() }

// measure simulates d of rate arrivals a second over n backends.
func measure(ctx context.Context, n, rate int, d time.Duration) (measurement, error) {
	sc, err := scenario.Parse("simscale.yaml", []byte(scenarioText(n, rate, d)))
	if err != nil {
		return measurement{}, err
	}
	start := time.Now()
	res, err := sim.Run(ctx, sc, sim.DefaultOptions())
	if err != nil {
		return measurement{}, err
	}
	return measurement{requests: arrivals(res), wall: time.Since(start)}, nil
}

// scenarioText is n M/M/4 backends behind round-robin at half their
// capacity under rate Poisson arrivals a second, for d. Round-robin's pick,
// as every strategy's, reads each member's availability: its cost grows
// with the pool, which the table shows.
func scenarioText(n, rate int, d time.Duration) string {
	mean := time.Duration(float64(2*time.Second) * float64(n) / float64(rate))
	var b strings.Builder
	fmt.Fprintf(&b, "name: simscale\nseed: 1\nduration: %s\nsut:\n  proxy: {strategy: round-robin}\n  pools:\n    - name: app\n      backends:\n", d)
	for i := range n {
		fmt.Fprintf(&b, "        - {name: b%d, workers: 4, service_time: {dist: exponential, mean: %s}}\n", i, mean)
	}
	fmt.Fprintf(&b, "workload:\n  - {arrival: poisson, rate: %d/s}\n", rate)
	return b.String()
}

// arrivals are every arrival the run simulated, its warm-up's included.
func arrivals(res *report.Result) int64 {
	n := res.Totals.Scheduled
	if res.Warmup != nil {
		n += res.Warmup.Totals.Scheduled
	}
	return n
}

// table prints requests per second of wall time per backend count and
// rate, each a run of d.
func table(ctx context.Context, d time.Duration) error {
	counts := []int{10, 100, 1000}
	rates := []int{1_000, 10_000, 100_000}
	fmt.Printf("\nrequests/s of wall time by backends and rate, runs of %s:\n", d)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "backends\t")
	for _, r := range rates {
		fmt.Fprintf(w, "%d/s\t", r)
	}
	fmt.Fprintln(w)
	for _, n := range counts {
		fmt.Fprintf(w, "%d\t", n)
		for _, r := range rates {
			m, err := measure(ctx, n, r, d)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%.0f\t", m.perSecond())
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

// peakRSS is the process's peak resident memory in bytes: VmHWM of
// /proc/self/status, or else getrusage's ru_maxrss (both in KiB).
func peakRSS() (int64, error) {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kib * 1024, err
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return ru.Maxrss * 1024, nil
}
