package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/proxy"
)

func newProxyCmd() *cobra.Command {
	var (
		backends         []string
		file, spec       string
		strategy, listen string
		ioPath           string
		duration         time.Duration
		seed             int64
	)
	cmd := &cobra.Command{
		Use:   "proxy (--backend URL ... | --backends FILE) [--strategy S] [--spec YAML] [--listen ADDR]",
		Short: "Run the built-in proxy alone in front of real backends",
		Long: `Run the built-in reverse proxy as its own process in front of backends
that already run (nginx, an application, ilities backend), until SIGINT
or SIGTERM, or for --duration. It is the proxy a scenario's sut.proxy
starts: the same strategies, health checks, retries, admission control,
rate limit and hardening, so it can be driven and compared with wrk, k6
or h2load like any other proxy.

Upstreams: --backend URL (repeatable), or --backends FILE with one per
line ("#" starts a comment). Each is an http:// URL, optionally followed
by weight=N and name=NAME, separated by commas or spaces:

  http://127.0.0.1:9001,weight=2,name=app-1

The name (default: the URL's host:port) is the node name in statistics and
in the X-Ilities-Backend header the proxy sets on each answer.

--spec takes the proxy's options as a scenario's sut.proxy writes them
(strategy, timeout, health, passive, retries, retry_budget, admission,
limits, rate_limit, tls, hash, cookie, ewma, slow_start, all_down, admin);
--strategy overrides its strategy.

--io chooses how the event loops move bytes on Linux: uring (the default)
batches each loop iteration's reads and writes through io_uring, and is
epoll where the kernel offers no io_uring; epoll makes a read or write
system call for each. Without --io, $ILITIES_PROXY_IO chooses.

The first line on stdout is "proxying http://ADDR to N upstreams
(strategy S)"; the statistics (GET /.ilities/stats) are on an admin
listener of their own, always loopback, printed on stderr.`,
		Example: `  ilities proxy --listen 127.0.0.1:8080 --backend http://127.0.0.1:9001 --backend http://127.0.0.1:9002
  ilities proxy --backends upstreams.txt --strategy least-connections \
      --spec '{retries: 1, health: {interval: 1s, path: /health}}'
  wrk -t2 -c64 -d30s http://127.0.0.1:8080/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sp, err := scenario.ParseProxy(spec)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if cmd.Flags().Changed("strategy") {
				sp.Strategy = strategy
			}
			ups, err := upstreamsOf(backends, file)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if duration < 0 {
				return withCode(exitInvalid, fmt.Errorf("--duration %v: expected a positive duration (or 0: until interrupted)", duration))
			}
			cfg := sut.ProxyConfigOf(seed, sp)
			cfg.Pools = []proxy.PoolConfig{{Name: "default", Upstreams: ups}}
			cfg.IO = ioPath
			p, err := proxy.New(cfg)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if err := p.Start(listen); err != nil {
				return withCode(exitRun, err)
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			fmt.Fprintf(cmd.OutOrStdout(), "proxying %s to %d upstreams (strategy %s)\n", p.URL(), len(ups), sp.Strategy)
			w := cmd.ErrOrStderr()
			for _, u := range ups {
				fmt.Fprintf(w, "  upstream %s at %s, weight %d\n", u.Name, u.URL, u.Weight)
			}
			fmt.Fprintf(w, "  statistics at %s%s (its admin listener)\n", p.AdminURL(), proxy.StatsPath)
			<-ctx.Done()
			if err := p.Close(); err != nil {
				return withCode(exitRun, fmt.Errorf("stopping the proxy: %w", err))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&backends, "backend", nil, "an upstream: http://HOST:PORT[,weight=N][,name=NAME] (repeatable)")
	fl.StringVar(&file, "backends", "", "a file of upstreams, one per line as --backend takes them")
	fl.StringVar(&spec, "spec", "", "the proxy's options in YAML, as a scenario's sut.proxy")
	fl.StringVar(&strategy, "strategy", "", "the balancing strategy (overrides --spec's)")
	fl.StringVar(&listen, "listen", "127.0.0.1:0", "listen address")
	fl.StringVar(&ioPath, "io", "", "the event loops' IO: uring (default: batched through io_uring) or epoll (a system call each)")
	fl.DurationVar(&duration, "duration", 0, "stop after this long (default: until interrupted)")
	fl.Int64Var(&seed, "seed", scenario.DefaultSeed, "seed of the seeded strategies (random, power-of-two)")
	return cmd
}

// upstreamsOf reads the upstreams of --backend flags and a --backends file.
func upstreamsOf(flags []string, file string) ([]proxy.UpstreamConfig, error) {
	var ups []proxy.UpstreamConfig
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if ups, err = proxy.ReadUpstreams(file, f, scenario.MaxBackends); err != nil {
			return nil, err
		}
	}
	for _, text := range flags {
		uc, err := proxy.ParseUpstream(text)
		if err != nil {
			return nil, fmt.Errorf("--backend %q: %w", text, err)
		}
		ups = append(ups, uc)
	}
	if len(ups) > scenario.MaxBackends {
		return nil, fmt.Errorf("%d upstreams: at most %d", len(ups), scenario.MaxBackends)
	}
	return ups, proxy.CheckUpstreams(ups)
}
