// Package calibrate measures, on this machine, the constants of the
// simulation's model (sim.Options): one network hop's delay and the
// built-in proxy's own cost per request. It runs short live probes of the
// built-in SUT with the generator, end to end through real sockets, at a
// rate where no request waits for another: an open loop straight to one
// backend whose every service takes the same time, and the same through
// the proxy. What a request spends outside the backend is its service
// latency (latency less send lag) less the backend's own sojourn, read from
// its Server-Timing; the direct path is two hops of it, the proxied path
// four hops and the proxy.
package calibrate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ilities/ilities/internal/stats"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
	"github.com/ilities/ilities/sut"
)

// Options are how the probes run.
type Options struct {
	// Rate is each probe's arrivals a second, evenly spaced.
	Rate float64
	// Probe is each probe's measured length, after a warm-up of Warmup.
	Probe, Warmup time.Duration
	// Service is the backend's service time, the same for every request.
	Service time.Duration
	// Rounds is how many pairs of probes are run; the constants are the
	// medians of the rounds'.
	Rounds int
	// Attempts is how many times a probe runs while the host disturbs it
	// (Disturbed) before it is kept as disturbed.
	Attempts int
	// Tolerated is the apparatus's delay (a window's, at its 99th
	// percentile) beyond which the host disturbed a probe.
	Tolerated time.Duration
	// Version is the tool's version, in the calibration.
	Version string
	// Probed, when set, is told of each probe as it ends.
	Probed func(round int, path string, p sim.Probe)
}

// DefaultOptions are three rounds of 10 s probes at 300/s to a backend
// serving in 1 ms: 3,000 requests a probe put the mean within a
// microsecond or two of a steady host's, and at 300/s with 1 ms services
// no request meets another.
func DefaultOptions() Options {
	return Options{
		Rate: 300, Probe: 10 * time.Second, Warmup: time.Second, Service: time.Millisecond,
		Rounds: 3, Attempts: 3, Tolerated: time.Millisecond,
	}
}

// The probes' paths (Options.Probed).
const (
	PathDirect = "direct"
	PathProxy  = "proxy"
)

// probePath is one path a probe's requests take: where they are sent, and
// how many times each waits for a CPU inside the SUT there (the backend's
// handler and its service's end; through the proxy also the proxy's two
// reads, on its event loops), for the apparatus's account of the host.
type probePath struct {
	name                 string
	url                  string
	wakeups, loopWakeups int
}

// hopsDirect and hopsProxied are the network hops of each path: generator
// to backend and back; generator to proxy to backend and back.
const (
	hopsDirect  = 2
	hopsProxied = 4
)

// Measure runs opts.Rounds rounds of a direct and a proxied probe against
// one built-in SUT and derives the model's constants from them. It fails
// only when the probes cannot run; a probe the host disturbed is figures
// too, marked so, and a calibration all of whose rounds were disturbed is
// marked Disturbed.
func Measure(ctx context.Context, opts Options) (*sim.Calibration, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	sc, err := scenario.Parse("calibration", []byte(opts.scenario()))
	if err != nil {
		return nil, fmt.Errorf("calibrate: the probe's scenario: %w", err)
	}
	topo, err := sut.Start(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("calibrate: starting the built-in SUT: %w", err)
	}
	defer topo.Close()
	direct := probePath{name: PathDirect, url: topo.Nodes()[0].URL, wakeups: 2}
	proxied := probePath{name: PathProxy, url: topo.URL(), wakeups: 4, loopWakeups: 2}

	c := &sim.Calibration{
		SchemaVersion: sim.CalibrationSchema,
		Tool:          "ilities " + version(opts.Version),
		Calibrated:    time.Now().UTC().Truncate(time.Second),
		Machine:       thisMachine(),
		Plan: sim.ProbePlan{
			RateRPS: opts.Rate, DurationS: opts.Probe.Seconds(), WarmupS: opts.Warmup.Seconds(),
			ServiceUS: sim.Micros(opts.Service), Rounds: opts.Rounds, Attempts: opts.Attempts,
			ToleratedMS: float64(opts.Tolerated) / float64(time.Millisecond),
		},
	}
	for round := 1; round <= opts.Rounds; round++ {
		var r sim.CalibrationRound
		if r.Direct, err = probe(ctx, sc, direct, round, opts); err != nil {
			return nil, err
		}
		if r.Proxy, err = probe(ctx, sc, proxied, round, opts); err != nil {
			return nil, err
		}
		r.NetworkDelayUS = roundNanos(r.Direct.OutsideUS / hopsDirect)
		r.ProxyCostUS = roundNanos(r.Proxy.OutsideUS - hopsProxied*r.NetworkDelayUS)
		c.Rounds = append(c.Rounds, r)
	}
	c.NetworkDelayUS, c.ProxyCostUS, c.Disturbed = estimate(c.Rounds)
	return c, nil
}

// estimate is the medians of the rounds' constants, over the rounds whose
// probes were both undisturbed, or over all of them, disturbed, when there
// is none such. A median below zero (the proxy cheaper than the noise of
// the hops) is zero: the model takes no negative time.
func estimate(rounds []sim.CalibrationRound) (delayUS, costUS float64, disturbed bool) {
	var delays, costs []float64
	for _, r := range rounds {
		if r.Direct.Disturbed == "" && r.Proxy.Disturbed == "" {
			delays, costs = append(delays, r.NetworkDelayUS), append(costs, r.ProxyCostUS)
		}
	}
	if len(delays) == 0 {
		disturbed = true
		for _, r := range rounds {
			delays, costs = append(delays, r.NetworkDelayUS), append(costs, r.ProxyCostUS)
		}
	}
	return max(stats.Median(delays), 0), max(stats.Median(costs), 0), disturbed
}

// probe runs one probe on path, again while the host disturbs it, up to
// opts.Attempts times.
func probe(ctx context.Context, sc *scenario.Scenario, path probePath, round int, opts Options) (sim.Probe, error) {
	var p sim.Probe
	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		res, err := runner.Run(ctx, sc, runner.Options{
			URL: path.url, SUTWakeups: path.wakeups, SUTLoopWakeups: path.loopWakeups, Version: opts.Version,
		})
		if err == nil {
			err = ctx.Err() // interrupted: its figures are a part of a probe
		}
		if err != nil {
			return sim.Probe{}, fmt.Errorf("calibrate: the %s probe: %w", path.name, err)
		}
		p = figures(res)
		p.Attempts = attempt
		p.Disturbed = disturbed(res, opts.Tolerated)
		if p.Disturbed == "" {
			break
		}
	}
	if opts.Probed != nil {
		opts.Probed(round, path.name, p)
	}
	return p, nil
}

// figures are what the calibration keeps of a probe's result. The
// service latency is each request's latency less its send lag, so its mean
// is the mean latency less the mean send lag over the same requests (the
// generator's send lag covers the warm-up's too).
func figures(res *report.Result) sim.Probe {
	p := sim.Probe{
		Requests:            res.ServiceLatencyMS.Count,
		LatencyMS:           res.LatencyMS.Mean,
		SendLagMS:           res.Generator.SendLagMS.Mean,
		ServiceLatencyMS:    res.ServiceLatencyMS.Mean,
		ApparatusDelayP99MS: -1, HiccupP99MS: -1, CPUPressure: -1,
	}
	if res.Station != nil {
		p.StationMS = res.Station.SojournMS.Mean
	}
	p.OutsideUS = roundNanos(1000 * (p.ServiceLatencyMS - p.StationMS))
	if a := res.Apparatus; a != nil {
		p.ApparatusDelayP99MS, p.HiccupP99MS, p.CPUPressure = a.DelayMS.P99, a.HiccupMS.P99, a.CPUPressure
	}
	return p
}

// disturbed says why a probe's figures cannot be trusted, "" when they
// can: requests failed or none was timed by the backend, the generator
// saturated, or the host delayed the tool beyond tolerated in some second.
func disturbed(res *report.Result, tolerated time.Duration) string {
	switch {
	case res.Totals.Failed > 0 || res.Totals.Dropped > 0:
		return fmt.Sprintf("%d of %d requests failed and %d were dropped", res.Totals.Failed, res.Totals.Scheduled, res.Totals.Dropped)
	case res.Station == nil || res.Station.SojournMS.Min == 0:
		// A request the backend did not time counts 0 in the station's
		// figures.
		return "some answers lack the backend's Server-Timing"
	case res.Generator.Saturated:
		return "the generator saturated: " + res.Generator.Reason
	}
	return report.DelayedBeyond(res, tolerated)
}

// Check says what is wrong with the options, nil when nothing is.
func (o Options) Check() error {
	var errs []error
	if !(o.Rate > 0 && o.Rate <= 100_000) {
		errs = append(errs, fmt.Errorf("a rate of %g/s: expected more than 0 and at most 100000/s", o.Rate))
	}
	if o.Probe < time.Second || o.Probe%time.Second != 0 {
		errs = append(errs, fmt.Errorf("a probe of %v: expected whole seconds, at least 1s", o.Probe))
	}
	if o.Warmup < time.Second || o.Warmup%time.Second != 0 {
		errs = append(errs, fmt.Errorf("a warm-up of %v: expected whole seconds, at least 1s", o.Warmup))
	}
	if o.Service < time.Microsecond || o.Service > time.Second {
		// Server-Timing counts whole microseconds: a shorter service would
		// read as an answer the backend did not time.
		errs = append(errs, fmt.Errorf("a service time of %v: expected from 1µs to 1s", o.Service))
	}
	if busy := o.Rate * o.Service.Seconds(); busy > mostBusy {
		errs = append(errs, fmt.Errorf("%g/s of %v services keep %g workers busy: expected at most %d, for a probe of an idle backend", o.Rate, o.Service, busy, mostBusy))
	}
	if o.Rounds < 1 || o.Attempts < 1 {
		errs = append(errs, fmt.Errorf("%d rounds of %d attempts: expected at least 1 of each", o.Rounds, o.Attempts))
	}
	if o.Tolerated <= 0 {
		errs = append(errs, fmt.Errorf("a tolerated delay of %v: expected more than 0", o.Tolerated))
	}
	return errors.Join(errs...)
}

// mostBusy bounds the workers a probe keeps busy on average: a probe
// measures a backend where no request meets another.
const mostBusy = 100

// scenario is the probes' scenario: the built-in SUT with one backend,
// workers enough that none is ever awaited (eight times those busy on
// average, and four at least), and an evenly spaced open loop.
func (o Options) scenario() string {
	workers := max(4, int(math.Ceil(8*o.Rate*o.Service.Seconds())))
	return fmt.Sprintf(`name: calibration
seed: 1
duration: %s
warmup: %s
sut:
  pools:
    - name: probe
      backends:
        - {name: probe, workers: %d, service_time: {dist: constant, value: %s}}
workload:
  - name: probe
    arrival: uniform
    rate: %g/s
    requests: [{method: GET, path: /}]
`, o.Probe+o.Warmup, o.Warmup, workers, o.Service, o.Rate)
}

// thisMachine describes this machine: its processor's model (Linux's
// /proc/cpuinfo; "unknown" elsewhere) and count.
func thisMachine() sim.Machine {
	return sim.Machine{CPUModel: cpuModel(), CPUs: runtime.NumCPU(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// x86's "model name"; arm64 kernels name only "CPU part" numbers.
		if key, value, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

func version(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

// roundNanos rounds microseconds to the nanosecond, what a duration holds.
func roundNanos(us float64) float64 { return math.Round(us*1000) / 1000 }
