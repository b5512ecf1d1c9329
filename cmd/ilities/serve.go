package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/proxy"
)

func newServeCmd() *cobra.Command {
	var (
		listen     string
		duration   time.Duration
		faults     bool
		control    string
		fromParent bool
		metrics    metricsFlags
	)
	cmd := &cobra.Command{
		Use:   "serve SCENARIO [--listen ADDR] [--duration D] [--faults] [--control ADDR] [--metrics-addr ADDR]",
		Short: "Serve a scenario's built-in SUT (proxy and simulated backends) alone, for another load generator",
		Long: `Start the scenario's built-in system under test (the proxy replicas and
the simulated backends of sut:) and serve it until SIGINT or SIGTERM, or
for --duration, then stop it and exit 0. Nothing is measured or judged:
drive it with wrk, k6, h2load, or with ilities run of a scenario whose
target: is the printed address.

The first line on stdout names the proxy's address(es), space-separated:

  serving http://127.0.0.1:PORT [http://127.0.0.1:PORT2 ...]

The proxy listens on --listen (default: the scenario's sut.listen, which
is 127.0.0.1 on a free port unless the scenario says otherwise); the
backends on their own listen addresses (default 127.0.0.1 on free ports).
Everything is loopback-only unless you pass another address. Each proxy
replica's statistics (GET /.ilities/stats) are on an admin listener of its
own, always loopback (the scenario's sut.proxy.admin, default a free port),
never on the proxy's port; their addresses are printed on stderr.

The scenario's fault timeline is not played unless --faults is given; its
offsets then count from the moment the SUT is serving, not from the start
of a client's run.

--control ADDR (a loopback address, e.g. 127.0.0.1:0) also serves the
control API that ilities run --sut-process child drives the SUT with
(faults, statistics, the SUT's own hiccups; see sut/control.go); the first
line then ends with "control http://127.0.0.1:PORT".

--metrics-addr ADDR serves the backends' figures for Prometheus at
http://ADDR/metrics (requests, in flight, utilisation, up and healthy;
see docs/live-metrics.md), its address printed on stderr.`,
		Example: `  ilities serve examples/quickstart.yaml
  ilities serve examples/quickstart.yaml --listen 127.0.0.1:8080 --duration 5m
  wrk -t2 -c32 -d30s http://127.0.0.1:8080/products`,
		Args: func(cmd *cobra.Command, args []string) error {
			if fromParent {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if fromParent {
				// The SUT of ilities run --sut-process child: its parent
				// sends the SUT and stops it.
				if control == "" {
					control = "127.0.0.1:0"
				}
				if err := run.ServeChild(cmd.Context(), control, cmd.InOrStdin(), cmd.OutOrStdout()); err != nil {
					return withCode(exitRun, err)
				}
				return nil
			}
			sc, err := loadScenario(cmd, args[0])
			if err != nil {
				return err
			}
			if sc.HasSites() {
				return withCode(exitInvalid, sc.ErrorAt("sites", "serve serves one built-in sut:, and this scenario has several sites; ilities simulate runs them"))
			}
			if sc.SUT == nil {
				return withCode(exitInvalid, errors.New("serve needs a scenario with a built-in sut:, and this one has a target"))
			}
			if control != "" {
				if err := sut.CheckControlAddr(control); err != nil {
					return withCode(exitInvalid, fmt.Errorf("--control: %w", err))
				}
			}
			if duration < 0 {
				return withCode(exitInvalid, fmt.Errorf("--duration %v: expected a positive duration (or 0: until interrupted)", duration))
			}
			if listen != "" {
				sc.SUT.Listen = listen
				if err := sc.Validate(); err != nil {
					return withCode(exitInvalid, fmt.Errorf("--listen: %w", err))
				}
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			lm, err := metrics.start(cmd)
			if err != nil {
				return err
			}
			served, err := run.Serve(ctx, sc, control)
			if err != nil {
				lm.close()
				return withCode(exitRun, err)
			}
			topo := served.Topology
			var watched <-chan struct{}
			if lm != nil {
				watched = run.WatchNodes(ctx, topo, lm)
			}
			var stopFaults func()
			if faults && len(sc.Faults) > 0 {
				stopFaults = run.PlayFaults(topo, sc.Faults)
			}
			fmt.Fprintln(cmd.OutOrStdout(), served.Banner())
			describeTopology(cmd, topo, faults, len(sc.Faults), duration)
			<-ctx.Done()
			if stopFaults != nil {
				stopFaults()
			}
			if lm != nil {
				<-watched
			}
			err = served.Close()
			lm.finish(cmd)
			if err != nil {
				return withCode(exitRun, fmt.Errorf("stopping the SUT: %w", err))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "", "the proxy's listen address (default: the scenario's sut.listen, 127.0.0.1:0)")
	fl.DurationVar(&duration, "duration", 0, "stop after this long (default: until interrupted)")
	fl.BoolVar(&faults, "faults", false, "play the scenario's fault timeline, its offsets counted from when serving starts")
	fl.StringVar(&control, "control", "", "also serve the control API on this loopback address (e.g. 127.0.0.1:0)")
	fl.BoolVar(&fromParent, "from-parent", false, "read the SUT from stdin as ilities run --sut-process child sends it (no SCENARIO), stop when stdin closes")
	metrics.register(cmd)
	_ = fl.MarkHidden("from-parent")
	setFlag(cmd)
	return cmd
}

// describeTopology tells, on stderr, what is being served.
func describeTopology(cmd *cobra.Command, topo *sut.Topology, faults bool, nFaults int, duration time.Duration) {
	w := cmd.ErrOrStderr()
	for _, n := range topo.Nodes() {
		fmt.Fprintf(w, "  backend %s (pool %s, %d workers) at %s\n", n.Name, n.Pool, n.Workers, n.URL)
	}
	for i, u := range topo.AdminURLs() {
		fmt.Fprintf(w, "  proxy replica %d's statistics at %s%s (its admin listener)\n", i, u, proxy.StatsPath)
	}
	switch {
	case nFaults > 0 && faults:
		fmt.Fprintf(w, "  playing %d fault(s) of the scenario's timeline from now\n", nFaults)
	case nFaults > 0:
		fmt.Fprintf(w, "  the scenario's %d fault(s) are not played (--faults plays them)\n", nFaults)
	}
	if duration > 0 {
		fmt.Fprintf(w, "  for %v, or until interrupted (Ctrl-C)\n", duration)
	} else {
		fmt.Fprintln(w, "  until interrupted (Ctrl-C)")
	}
}
