// Command erlang measures the built-in SUT against queueing theory end to
// end: one M/M/c backend (exponential service, c workers) behind the
// built-in proxy, Poisson arrivals at λ = ρ·c/mean, and the mean latency the
// tool reports (from intended send times, through the proxy) compared with
// the Erlang C mean response time W = Wq + 1/μ.
//
//	make build && go run ./bench/erlang [-bin bin/ilities] [-duration 60s]
//
// Each configuration runs as its own scenario with the built binary. The
// standard error of the measured mean is estimated by batch means over the
// run's one-second window histograms (-batches contiguous batches). An
// overhead probe row (constant service, many idle workers, so no request
// ever waits) isolates the tool's and the SUT's own delay: measured mean
// minus the service time.
//
// The columns: W is Erlang C's mean response time, mean the measured one,
// err their relative difference, se the batch-means standard error of the
// measured mean (relative), stn the station's own mean sojourn (queue and
// service on its clock, from the backends' Server-Timing) and stn err its
// difference from W, which is the sampling error of the run's arrivals and
// service draws alone; added is mean − stn, what the path outside the
// station adds (send lag, the proxy, the sockets, the timer's wake-up):
// with the station right, err ≈ stn err + added/W, and added/W is the
// tool's bias, free of the sampling error. floor/W is what this host's
// wake-ups alone cost that path, measured before the runs (hostFloor): the
// send's timer oversleep and four wake-ups of an idle thread (the proxy
// reading the request, the backend reading it, the backend's service end,
// the proxy reading the response), as a share of W; added/W cannot be
// expected below it. util is the station's own measured utilisation,
// lag the mean send lag, cpu the process's CPU time per request. With
// several builds (-bin a,b), each configuration runs with each in turn, the
// same seed for all, and the build column is its index.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
)

type config struct {
	workers int
	rho     float64
	mean    time.Duration
	probe   bool // constant service, no queueing: the overhead alone
}

func (c config) name() string {
	if c.probe {
		return fmt.Sprintf("probe c=%d const=%v", c.workers, c.mean)
	}
	return fmt.Sprintf("c=%d rho=%.1f mean=%v", c.workers, c.rho, c.mean)
}

// lambda is the arrival rate per second.
func (c config) lambda() float64 { return c.rho * float64(c.workers) / c.mean.Seconds() }

// erlangC returns the mean response time W in milliseconds of an M/M/c
// queue with c.workers servers at load c.rho and mean service c.mean.
func (c config) erlangC() float64 {
	s := c.mean.Seconds() * 1000
	if c.probe {
		return s
	}
	n := c.workers
	a := c.rho * float64(n) // offered load in Erlangs
	term, sum := 1.0, 0.0   // a^k/k!
	for k := 0; k < n; k++ {
		sum += term
		term *= a / float64(k+1)
	}
	top := term * float64(n) / (float64(n) - a)
	pWait := top / (sum + top)
	wq := pWait * s / (float64(n) - a)
	return wq + s
}

func (c config) scenario(seed int64, d time.Duration) string {
	svc := fmt.Sprintf("{dist: exponential, mean: %s}", dur(c.mean))
	if c.probe {
		svc = fmt.Sprintf("{dist: constant, value: %s}", dur(c.mean))
	}
	return fmt.Sprintf(`name: erlang
seed: %d
duration: %s
warmup: 2s
sut:
  proxy:
    strategy: round-robin
  pools:
    - name: app
      backends:
        - {name: mmc, workers: %d, queue: 100000, service_time: %s}
workload:
  - name: load
    arrival: poisson
    rate: %.3f/s
    requests:
      - {method: GET, path: /}
`, seed, dur(d), c.workers, svc, c.lambda())
}

func dur(d time.Duration) string {
	return fmt.Sprintf("%gms", float64(d)/float64(time.Millisecond))
}

// pathWakeups is how many times a request's path through the built-in SUT
// waits for an idle thread besides the send's timer: the proxy reading the
// request, the backend reading it, the backend's service end, the proxy
// reading the response. (The generator reads the response at its next
// wake-up, timestamped by the kernel: no wait of its own.)
const pathWakeups = 4

type row struct {
	cfg                           config
	w, mean, se, lag, cpu, u, stn float64
	n                             int64
}

func main() {
	bins := flag.String("bin", "bin/ilities", "the built binary; several, comma-separated, run each configuration in turn (to compare builds under the same load)")
	d := flag.Duration("duration", 60*time.Second, "measured length of each run")
	batches := flag.Int("batches", 10, "batches for the standard error")
	only := flag.String("only", "", "run only configurations whose name contains this")
	seed := flag.Int64("seed", 1, "base seed")
	keep := flag.String("keep", "", "keep the runs' output under this directory")
	flag.Parse()

	var cfgs []config
	for _, mean := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		for _, c := range []int{1, 2, 4} {
			for _, rho := range []float64{0.5, 0.8} {
				cfgs = append(cfgs, config{workers: c, rho: rho, mean: mean})
			}
		}
	}
	cfgs = append(cfgs, config{workers: 16, rho: 300 * 0.010 / 16, mean: 10 * time.Millisecond, probe: true})

	dir, err := os.MkdirTemp("", "erlang")
	if err != nil {
		fail(err)
	}
	if *keep != "" {
		dir = *keep
		_ = os.MkdirAll(dir, 0o755)
	} else {
		defer os.RemoveAll(dir)
	}
	up, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# %s, %v runs, loadavg %s", time.Now().Format(time.RFC3339), *d, up)
	floor := math.NaN() // ms
	if cross, timer, ok := hostFloor(1000); ok {
		floor = float64(timer+pathWakeups*cross) / 1e6
		fmt.Printf("# this host: an idle thread wakes %.1f µs after another's write, a precise timer %.1f µs late (means): the path's wake-ups cost at least %.3f ms\n",
			float64(cross)/1e3, float64(timer)/1e3, floor)
	}
	fmt.Printf("%-28s %-6s %8s %8s %8s %7s %6s %8s %8s %8s %8s %8s %6s %7s %8s %7s\n",
		"config", "build", "rate/s", "W ms", "mean ms", "err", "se", "stn ms", "stn err", "added", "added/W", "floor/W", "util", "lag ms", "cpu µs", "n")
	var worst, worstFloor float64 // the largest added/W of a queueing configuration, and its floor/W
	for i, c := range cfgs {
		if *only != "" && !strings.Contains(c.name(), *only) {
			continue
		}
		for k, bin := range strings.Split(*bins, ",") {
			r, err := run(bin, dir, i, c, *seed+int64(i), *d, *batches)
			if err != nil {
				fmt.Printf("%-28s %-6d error: %v\n", c.name(), k, err)
				continue
			}
			added := r.mean - r.stn
			fmt.Printf("%-28s %-6d %8.1f %8.3f %8.3f %+6.2f%% %5.2f%% %8.3f %+7.2f%% %8.3f %7.2f%% %7.2f%% %6.3f %7.3f %8.1f %7d\n",
				c.name(), k, c.lambda(), r.w, r.mean, 100*(r.mean/r.w-1), 100*r.se/r.mean,
				r.stn, 100*(r.stn/r.w-1), added, 100*added/r.w, 100*floor/r.w, r.u, r.lag, r.cpu, r.n)
			if !c.probe && added/r.w > worst {
				worst, worstFloor = added/r.w, floor/r.w
			}
		}
	}
	fmt.Printf("# the path outside the station adds at most %.2f%% of W (target: 3%%); this host's wake-ups alone cost %.2f%% of that W\n", 100*worst, 100*worstFloor)
	up, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("# done %s, loadavg %s", time.Now().Format(time.RFC3339), up)
}

func run(bin, dir string, i int, c config, seed int64, d time.Duration, batches int) (row, error) {
	file := filepath.Join(dir, fmt.Sprintf("s%02d.yaml", i))
	if err := os.WriteFile(file, []byte(c.scenario(seed, d)), 0o644); err != nil {
		return row{}, err
	}
	out := filepath.Join(dir, fmt.Sprintf("out%02d", i))
	cmd := exec.Command(bin, "run", file, "--out", out, "-q")
	cmd.Stderr = os.Stderr
	_ = cmd.Run() // a failed verdict is an exit status; the result is what counts
	b, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err != nil {
		return row{}, err
	}
	var res report.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return row{}, err
	}
	r := row{cfg: c, w: c.erlangC(), mean: res.LatencyMS.Mean, n: res.LatencyMS.Count,
		lag: res.Generator.SendLagMS.Mean, cpu: res.Generator.CPUPerRequestUS}
	for _, n := range res.Nodes {
		r.u = n.Utilisation
	}
	if res.Station != nil {
		r.stn = res.Station.SojournMS.Mean
	}
	r.se = batchSE(res.Windows, batches)
	return r, nil
}

// batchSE is the batch-means standard error of the mean latency (ms): the
// measured windows split into contiguous batches, each batch's mean from
// its windows' histograms.
func batchSE(ws []report.Window, batches int) float64 {
	type acc struct{ n, sum float64 }
	var per []acc
	for _, w := range ws {
		if w.Warmup {
			continue
		}
		h, err := report.DecodeHistogram(w.Histogram)
		if err != nil {
			continue
		}
		n := float64(h.TotalCount())
		per = append(per, acc{n, h.Mean() * n / 1000})
	}
	if len(per) < batches || batches < 2 {
		return math.NaN()
	}
	means := make([]float64, 0, batches)
	for b := 0; b < batches; b++ {
		var a acc
		for _, p := range per[b*len(per)/batches : (b+1)*len(per)/batches] {
			a.n += p.n
			a.sum += p.sum
		}
		if a.n > 0 {
			means = append(means, a.sum/a.n)
		}
	}
	var m, v float64
	for _, x := range means {
		m += x
	}
	m /= float64(len(means))
	for _, x := range means {
		v += (x - m) * (x - m)
	}
	v /= float64(len(means) - 1)
	return math.Sqrt(v / float64(len(means)))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "erlang:", err)
	os.Exit(1)
}
