package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

const (
	simulateLong = `Simulate a scenario's run of the built-in SUT on a virtual clock, and check its
requirements as run does: the same arrivals (the same seeds), the proxy's own
balancing policy, each backend as the M/G/c/K station it is, recorded and judged
by the same code. No network, no host, no real time: the result is free of the
machine's noise, the same for the same seed, and far faster than the run. It is
marked "mode": "simulated", its apparatus empty.

Simulated: open-loop workloads (uniform or Poisson arrivals, rates and stages,
request mixes, max_inflight and max_lateness, timeouts); closed-loop users
(constant or staged, think times, sessions of steps, a failed step ending the
iteration); max_connections (per proxy replica) and keepalive: false; test data
(a stopping source runs out as live) and templates that change nothing the
model sees; the proxy's routing, balancing (every strategy), its timeout (504),
a body over max_body_bytes (413), active and passive health checks, retries,
admission control, rate limits, replicas and stickiness, by the live proxy's
rules, and its cost per request; backends' workers, queue (503 when full),
service times, start-up delay and sessions; every fault kind at its planned
time, with detection and recovery times; a fixed delay per network hop.

Not simulated yet, refused at its file:line:column: nginx or HAProxy, extract,
checks of an answer's body or headers, templates that route or size a request
or set its cookies, HTTP/2,
TLS, an external target (target:).

SCENARIO may be - for standard input. Its ${VAR} and ${VAR:-default} are read
from the environment; --set PATH=VALUE sets any field as if the file said so,
and --rate and --duration set every open workload's rate and the run's length.

The proxy's cost and the network hop's delay are this machine's as ilities
calibrate measured them, read from --calibration FILE, or by default from
ilities/calibration.json in the user's configuration folder ($XDG_CONFIG_HOME,
else ~/.config, on Linux) when it exists; without one, built-in defaults of
the right order for a VM's loopback. The result's manifest.simulation says
which were used and where they came from. A calibration file that cannot be
read is invalid input (exit 2).`
	simulateExample = `  ilities simulate examples/quickstart.yaml --out sim
  ilities simulate checkout.yaml --strategy least-connections --duration 10m --format json
  ilities simulate checkout.yaml --set workload.0.rate=2000/s --seed 7`
)

func newSimulateCmd() *cobra.Command {
	f := runFlags{diff: report.DefaultDiffOptions()}
	var calibration string
	cmd := &cobra.Command{
		Use:   "simulate SCENARIO",
		Short: "Simulate a scenario's run of the built-in SUT on a virtual clock and check its requirements (exit codes as run's)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.prepare(cmd, args[0])
			if err != nil {
				return err
			}
			opts, model, err := sim.Constants(calibration)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			opts.Segment, opts.Version = p.segment, version
			began := time.Now()
			res, err := sim.Run(cmd.Context(), p.sc, opts)
			switch {
			case errors.As(err, &scenario.Errors{}):
				return withCode(exitInvalid, err)
			case err != nil && cmd.Context().Err() != nil:
				return withCode(exitRun, errors.New("simulation interrupted: nothing was written"))
			case err != nil:
				return withCode(exitRun, err)
			}
			res.Manifest.Simulation = model
			if !f.quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "simulated %d requests, %s of the run, in %s\n",
					res.Totals.Scheduled+warmupArrivals(res), time.Duration(res.DurationS*float64(time.Second)), time.Since(began).Round(time.Millisecond))
				fmt.Fprintf(cmd.ErrOrStderr(), "model: %s\n", model)
			}
			return f.finish(cmd, p, res, nil)
		},
		Long:    simulateLong,
		Example: simulateExample,
	}
	f.register(cmd)
	loadFlags(cmd)
	cmd.Flags().StringVar(&calibration, "calibration", "", "take the model's network delay and proxy cost from the calibration `FILE` ilities calibrate wrote (default: ilities/calibration.json in the user's configuration folder when it exists, else the built-in defaults)")
	return cmd
}

// warmupArrivals are the arrivals of a result's warm-up, left out of its
// totals.
func warmupArrivals(res *report.Result) int64 {
	if res.Warmup == nil {
		return 0
	}
	return res.Warmup.Totals.Scheduled
}
