package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

type attackFlags struct {
	rate           scenario.Rate
	users          int
	think          scenario.Duration
	duration       scenario.Duration
	method         string
	headers        []string
	body           string
	bodyFile       string
	timeout        scenario.Duration
	maxInflight    int
	arrival        string
	http           string
	insecure       bool
	out            string
	format         string
	quiet          bool
	allowSaturated bool
	metrics        metricsFlags
}

func newAttackCmd() *cobra.Command {
	f := attackFlags{rate: 50, duration: scenario.Duration(10 * time.Second), method: "GET", timeout: scenario.DefaultTimeout, maxInflight: scenario.DefaultMaxInflight}
	cmd := &cobra.Command{
		Use:   "attack URL... (--rate R | --users N) --duration D",
		Short: "Ad-hoc load at any URL: open loop at a rate, or closed loop of virtual users (several URLs: spread over them, with failover)",
		Example: `  ilities attack http://127.0.0.1:8080/health --rate 500/s --duration 30s
  ilities attack http://127.0.0.1:8080/health --users 64 --duration 30s
  ilities attack http://127.0.0.1:8080/search --users 20 --think 500ms --duration 1m
  ilities attack https://api.example/cart --rate 100 --duration 1m --method POST \
      --header 'Content-Type: application/json' --body '{"sku":1}' --http 2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch users := cmd.Flags().Changed("users"); {
			case users && f.users < 1:
				return withCode(exitInvalid, fmt.Errorf("--users %d: want at least 1 virtual user", f.users))
			case !users && cmd.Flags().Changed("think"):
				return withCode(exitInvalid, fmt.Errorf("--think is a virtual user's pause between an answer and its next request: it needs --users"))
			}
			sc, err := attackScenario(args, f)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			render, err := formatRenderer(cmd, f.format)
			if err != nil {
				return err
			}
			opts := run.Options{Options: runner.Options{Version: version}}
			if !f.quiet {
				opts.Progress = cmd.ErrOrStderr()
				opts.Live = isTerminal(opts.Progress)
			}
			return f.metrics.run(cmd, sc, opts, func(res *report.Result, runErr error) error {
				return finishRun(cmd, res, runErr, f.out, render, f.allowSaturated, f.quiet)
			})
		},
	}
	fl := cmd.Flags()
	fl.Var(&f.rate, "rate", "arrival rate, such as 500/s or 30000/min (open loop, the default: 50/s)")
	fl.IntVar(&f.users, "users", 0, "virtual users instead of a rate (closed loop): each sends its next request when its previous answer arrived, on a kept-alive connection of its own")
	fl.Var(&f.think, "think", "with --users: each user's pause after an answer before its next request, such as 100ms")
	fl.Var(&f.duration, "duration", "length of the run, such as 30s")
	fl.StringVar(&f.method, "method", f.method, "HTTP method")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `request header "Name: value" (repeatable)`)
	fl.StringVar(&f.body, "body", "", "request body")
	fl.StringVar(&f.bodyFile, "body-file", "", "file whose content is the request body")
	fl.Var(&f.timeout, "timeout", "bound on one request")
	fl.IntVar(&f.maxInflight, "max-inflight", f.maxInflight, "requests in flight at most")
	fl.StringVar(&f.arrival, "arrival", "uniform", "uniform (evenly spaced) or poisson (open loop)")
	fl.StringVar(&f.http, "http", "1.1", "protocol: 1.1 or 2 (HTTP/2 over TLS, or cleartext with prior knowledge)")
	fl.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	outDirFlag(cmd, &f.out, "directory to write result.json and the reports into")
	formatFlag(cmd, &f.format)
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines")
	fl.BoolVar(&f.allowSaturated, "allow-saturated", false, "accept a run in which the generator saturated (otherwise exit 3)")
	f.metrics.register(cmd)
	cmd.MarkFlagsMutuallyExclusive("rate", "users")
	cmd.MarkFlagsMutuallyExclusive("arrival", "users")
	cmd.MarkFlagsMutuallyExclusive("max-inflight", "users")
	return cmd
}

// attackScenario is the scenario an attack runs: one workload at the given
// URLs, no requirements: open at the rate, or closed with f.users virtual
// users (one connection each, as by default) thinking f.think.
func attackScenario(urls []string, f attackFlags) (*scenario.Scenario, error) {
	req := scenario.Request{Method: strings.ToUpper(f.method), Body: f.body, BodyFile: f.bodyFile, Headers: map[string]string{}}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf(`--header %q: expected "Name: value"`, h)
		}
		req.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	// The first URL gives the path; every URL gives an address.
	var bases []string
	for i, raw := range urls {
		base, path, err := splitURL(raw)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			req.Path = path
		}
		bases = append(bases, base)
	}
	sc := &scenario.Scenario{
		Name:     "attack",
		Duration: f.duration,
		Target:   &scenario.Target{URL: bases[0], URLs: bases[1:]},
		Workload: []scenario.Workload{{
			Name:        "attack",
			Arrival:     f.arrival,
			Rate:        f.rate,
			Requests:    []scenario.Request{req},
			Timeout:     f.timeout,
			MaxInflight: f.maxInflight,
			Client:      scenario.Client{HTTP: scenario.HTTPVersion(f.http), Insecure: f.insecure},
		}},
	}
	if f.users != 0 {
		w := &sc.Workload[0]
		w.Model, w.Users, w.Rate, w.Arrival = scenario.ModelClosed, f.users, 0, ""
		if f.think > 0 {
			w.ThinkTime = scenario.Distribution{Dist: "constant", Value: f.think}
		}
	}
	if f.http == "2.0" || f.http == "h2" {
		sc.Workload[0].Client.HTTP = scenario.HTTP2
	}
	if f.bodyFile != "" {
		// Named on the command line, not in a scenario: its folder is allowed.
		dir, err := filepath.Abs(filepath.Dir(f.bodyFile))
		if err != nil {
			return nil, err
		}
		sc.AllowPaths = []string{dir}
	}
	sc.ApplyDefaults()
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

// splitURL cuts "http://host:port/path?q" into its base and its path.
func splitURL(raw string) (base, path string, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" {
		return "", "", fmt.Errorf("%q: expected an http or https URL such as http://127.0.0.1:8080/path", raw)
	}
	host, p, _ := strings.Cut(rest, "/")
	return scheme + "://" + host, "/" + p, nil
}
