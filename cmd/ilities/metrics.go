package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/live"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/scenario"
)

// metricsFlags are --metrics-addr and --metrics-linger, shared by run,
// attack and serve.
type metricsFlags struct {
	addr   string
	linger time.Duration
}

func (f *metricsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "metrics-addr", "", "serve live metrics for Prometheus at http://ADDR/metrics while running (:9464 is 127.0.0.1:9464; another host only when written, port 0 a free port)")
	fl.DurationVar(&f.linger, "metrics-linger", live.DefaultLinger, "after the end, keep serving the final metrics until they are scraped, for this long at most")
}

// liveMetrics is a /metrics endpoint being served.
type liveMetrics struct {
	*live.Metrics
	server *live.Server
	linger time.Duration
}

// start serves the metrics when --metrics-addr is set (nil otherwise) and
// names the address on stderr.
func (f *metricsFlags) start(cmd *cobra.Command) (*liveMetrics, error) {
	if f.addr == "" {
		return nil, nil
	}
	if f.linger < 0 {
		return nil, withCode(exitInvalid, fmt.Errorf("--metrics-linger %v: expected a duration of 0 or more", f.linger))
	}
	if _, err := live.ListenAddr(f.addr); err != nil {
		return nil, withCode(exitInvalid, fmt.Errorf("--metrics-addr %w", err))
	}
	m := live.New()
	srv, err := live.Listen(f.addr, m)
	if err != nil {
		return nil, withCode(exitRun, fmt.Errorf("--metrics-addr: %w", err))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "live metrics at %s\n", srv.URL())
	return &liveMetrics{Metrics: m, server: srv, linger: f.linger}, nil
}

// close stops serving at once.
func (l *liveMetrics) close() {
	if l != nil {
		_ = l.server.Close()
	}
}

// finish serves the final figures until they are scraped or the linger
// ends (at once when the command was interrupted), then stops serving.
func (l *liveMetrics) finish(cmd *cobra.Command) {
	if l == nil {
		return
	}
	if l.linger > 0 && cmd.Context().Err() == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "live metrics: serving the final figures until scraped, %v at most\n", l.linger)
	}
	if _, err := l.server.Finish(cmd.Context(), l.linger); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "live metrics: stopping: %v\n", err)
	}
}

// run executes sc, with live metrics when --metrics-addr is set, hands
// the outcome to finish (which writes and prints it), then serves the
// final figures for the linger.
func (f *metricsFlags) run(cmd *cobra.Command, sc *scenario.Scenario, opts run.Options,
	finish func(*report.Result, error) error) error {
	lm, err := f.start(cmd)
	if err != nil {
		return err
	}
	if lm != nil {
		opts.Observer = lm
	}
	res, runErr := run.Execute(cmd.Context(), sc, opts)
	err = finish(res, runErr)
	lm.finish(cmd)
	return err
}
