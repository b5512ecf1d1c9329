package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/calibrate"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

const calibrateLong = `Measure what ilities simulate needs of this machine: one network hop's
delay and the built-in proxy's own cost per request. The simulation's model
adds them to every request (four hops and the proxy's cost); its built-in
defaults are an order of magnitude, not this machine's.

Each round runs two short live probes of the built-in SUT with the
generator, end to end through real sockets, at a rate where no request waits
for another: an open loop straight to one backend whose every service takes
--service, then the same through the proxy. What a request spent outside the
backend is its latency less its send lag and less the backend's own sojourn
(its Server-Timing). The direct path is two hops of it, so a hop's delay is
half the direct probe's; the proxied path is four hops and the proxy, so the
proxy's cost is the proxied probe's less four hops. Each constant is the
median of the rounds'.

Every probe's apparatus is checked: a probe the host delayed (by more than
--tolerate in some second, or starving the tool of CPU), whose generator
saturated or whose requests failed is disturbed, and run again up to
--attempts times. The constants come from the rounds whose probes were not
disturbed; when every round had a disturbed probe, nothing is written and
the exit code is 3, unless --allow-disturbed writes the file marked so.

The file (calibration.json: the two constants, the machine's CPU model and
count, the date, the tool's version and every probe's figures) goes to
--out, by default ilities/calibration.json in the user's configuration
folder ($XDG_CONFIG_HOME, else ~/.config, on Linux), where ilities simulate
reads it. Calibrate on the machine, and in the conditions, a live run
would have: a quiet host, the same build.`

func newCalibrateCmd() *cobra.Command {
	opts := calibrate.DefaultOptions()
	var (
		rate           string
		out            string
		allowDisturbed bool
		quiet          bool
	)
	cmd := &cobra.Command{
		Use:   "calibrate [--out FILE]",
		Short: "Measure this machine's network hop and built-in proxy costs for ilities simulate, into calibration.json",
		Long:  calibrateLong,
		Example: `  ilities calibrate
  ilities calibrate --probe 30s --rounds 5 --out calibration.json
  ilities simulate checkout.yaml --calibration calibration.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := scenario.ParseRate(rate)
			if err != nil {
				return withCode(exitInvalid, fmt.Errorf("--rate: %w", err))
			}
			opts.Rate, opts.Version = r.PerSecond(), version
			if err := opts.Check(); err != nil {
				return withCode(exitInvalid, err)
			}
			if out == "" {
				if out, err = sim.DefaultCalibrationFile(); err != nil {
					return withCode(exitInvalid, fmt.Errorf("no configuration folder to write the calibration in (%w): name a file with --out", err))
				}
			}
			if !quiet {
				opts.Probed = func(round int, path string, p sim.Probe) {
					fmt.Fprintf(cmd.ErrOrStderr(), "round %d/%d, %-6s %s\n", round, opts.Rounds, path, probeLine(p))
				}
			}
			c, err := calibrate.Measure(cmd.Context(), opts)
			switch {
			case err != nil && cmd.Context().Err() != nil:
				return withCode(exitRun, errors.New("calibration interrupted: nothing was written"))
			case err != nil:
				return withCode(exitRun, err)
			}
			describeCalibration(cmd.OutOrStdout(), c)
			if c.Disturbed && !allowDisturbed {
				return withCode(exitRun, errors.New("every round had a probe the host disturbed (see above): nothing was written; calibrate on a quieter host, or --allow-disturbed to write it marked so"))
			}
			if err := sim.WriteCalibration(out, c); err != nil {
				return withCode(exitRun, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rate, "rate", "300/s", "each probe's evenly spaced arrival `RATE`")
	f.DurationVar(&opts.Probe, "probe", opts.Probe, "each probe's measured length (whole seconds), after a 1s warm-up")
	f.DurationVar(&opts.Service, "service", opts.Service, "the probes' backend's service time, the same for every request")
	f.IntVar(&opts.Rounds, "rounds", opts.Rounds, "rounds of a direct and a proxied probe; each constant is the rounds' median")
	f.IntVar(&opts.Attempts, "attempts", opts.Attempts, "times a probe the host disturbed is run before it is kept as disturbed")
	f.DurationVar(&opts.Tolerated, "tolerate", opts.Tolerated, "the apparatus's delay in a second (p99) beyond which the host disturbed a probe")
	f.StringVar(&out, "out", "", "write the calibration to `FILE` (default: ilities/calibration.json in the user's configuration folder)")
	f.BoolVar(&allowDisturbed, "allow-disturbed", false, "write the calibration even when every round had a disturbed probe (marked so)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no line per probe")
	return cmd
}

// probeLine is one probe's figures, as calibrate prints them.
func probeLine(p sim.Probe) string {
	line := fmt.Sprintf("%d requests: outside the backend %s (latency %s − send lag %s − backend %s), apparatus delay p99 %s",
		p.Requests, usText(p.OutsideUS), msText(p.LatencyMS), msText(p.SendLagMS), msText(p.StationMS), msText(p.ApparatusDelayP99MS))
	if p.Attempts > 1 {
		line += fmt.Sprintf(", %d attempts", p.Attempts)
	}
	if p.Disturbed != "" {
		line += "; DISTURBED: " + p.Disturbed
	}
	return line
}

// describeCalibration prints what c measured: the constants, each round's,
// and the machine.
func describeCalibration(w io.Writer, c *sim.Calibration) {
	var delays, costs []string
	for _, r := range c.Rounds {
		delays, costs = append(delays, usText(r.NetworkDelayUS)), append(costs, usText(r.ProxyCostUS))
	}
	fmt.Fprintf(w, "network delay  %-10s a hop      (rounds: %s)\n", usText(c.NetworkDelayUS), strings.Join(delays, ", "))
	fmt.Fprintf(w, "proxy cost     %-10s a request  (rounds: %s)\n", usText(c.ProxyCostUS), strings.Join(costs, ", "))
	fmt.Fprintf(w, "machine        %s, %s, %s\n", c.Machine, c.Machine.Platform, c.Tool)
	if c.Disturbed {
		fmt.Fprintln(w, "DISTURBED: every round had a probe the host disturbed; the constants are their medians")
	}
}

func usText(us float64) string { return time.Duration(us * float64(time.Microsecond)).String() }
func msText(ms float64) string { return time.Duration(ms * float64(time.Millisecond)).String() }
