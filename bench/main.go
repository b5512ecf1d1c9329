// Command bench measures ilities against its peers in one run and writes
// one Markdown table, to standard output and to -out:
//
//   - closed loop, 64 connections: the generator's CPU per request, ilities
//     (a closed scenario of 64 users) against wrk -t2 -c64;
//   - open loop at 10,000 and 50,000 req/s: CPU per request, ilities attack
//     against wrk2, or where there is no wrk2 a wrk paced by a Lua delay()
//     (a closed loop held below the rate by think time, named as such), and
//     vegeta;
//   - the highest open-loop rate held without saturation, stepping the rate
//     up (-steps), with the reason the next step was not held;
//   - at 1,000 req/s: ilities' send lag p50, every tool's latency p50 and
//     CPU per request;
//   - the proxy: `ilities proxy`, nginx and HAProxy, each with -proxy-workers
//     workers, threads or event loops, in front of the same nginx backends
//     and driven by wrk -t1 -c64: throughput, and the proxy's CPU per
//     request (the backends' counted apart);
//   - memory per open connection: the generator's resident memory with few
//     and with many idle keep-alive connections, the growth divided by the
//     sockets held, ilities against wrk.
//
// The targets are nginx from the distribution's package, tuned: no access
// log, keepalive_requests 1000000, -target-workers / -backend-workers worker
// processes; HAProxy keeps connections alive on both sides (http-reuse
// always), no log. A peer that is not installed is named as such in its
// row, never given a figure.
//
// Method. Every comparison runs its tools in -rounds rounds (at least 5 by
// default), each round starting one tool further along, and reports the
// median of the rounds with their min–max. A tool's CPU is its whole
// process tree's (user + system, descendants included, read from its wait
// status at its end); a server's (target, proxy, backends) is its tree's
// from /proc/PID/stat (utime+stime+cutime+cstime of every descendant)
// before and after the run, and is reported apart. Before and after each
// run the harness reads /proc/loadavg, /proc/pressure/cpu (some avg10) and
// /proc/stat; the CPU the machine spent on processes outside the measured
// trees (busy time less the tool, the servers, this harness and the
// kernel's softirq threads) and the host's steal, averaged over the run,
// decide whether it was noisy: above -noise-others (0.10 of a core) or
// -noise-steal (0.10). A noisy run is repeated up to -retries times; one
// still noisy is kept and marked, and no ratio is printed from a figure
// with a noisy round. Usage:
//
//	go run ./bench -ilities bin/ilities [-rounds 5] [-duration 10s] [-out out/bench.md] [-only closed,open,...]
//	go run ./bench -ilities bin/ilities -soak 10m   (the generator's memory over a long open loop)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is the harness's settings.
type config struct {
	ilities                                       string
	rounds, retries                               int
	duration, memDuration                         time.Duration
	conns, lowRate, idleConns, h2Conns, h2Streams int
	openRates, steps                              []int
	targetWorkers, backendWorkers, proxyWorkers   int
	limit                                         noiseLimit
	only                                          map[string]bool
	out                                           string
	soak                                          time.Duration
	soakRate                                      int

	dir string // a temporary folder for configurations
	fs  procfs
	log io.Writer // progress
}

// sections, in the table's order.
var sections = []string{"closed", "open", "ceiling", "low", "proxy", "proxy-h2", "memory"}

// method is the Method paragraph printed under the table.
const method = "Every comparison runs its tools in rounds, each round starting one tool further along; " +
	"each figure is the median of the rounds with their min–max. A tool's CPU is its whole process tree's " +
	"(user + system, descendants included); the target's, a proxy's and the backends' are their trees' " +
	"(/proc/PID/stat utime+stime+cutime+cstime of every descendant), counted apart. Around every run the " +
	"harness reads /proc/loadavg, /proc/pressure/cpu and /proc/stat: a run in which processes outside the " +
	"measured ones (busy time less the tool, the servers, the harness and the kernel's softirq threads) " +
	"used more than %.2f of a core, or the host stole more than %.2f, is noisy and run again, at most %d more times; " +
	"one still noisy is kept and marked, and no ratio is printed from a figure with a noisy round. " +
	"Ratios are ilities' median over the best peer's."

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err == nil {
		err = run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{fs: "/proc", log: os.Stderr}
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.StringVar(&cfg.ilities, "ilities", "bin/ilities", "the ilities binary to measure")
	fl.IntVar(&cfg.rounds, "rounds", 5, "rounds of every comparison, tools interleaved in rotating order (medians reported)")
	fl.IntVar(&cfg.retries, "retries", 3, "times a noisy run is repeated before it is kept, marked")
	fl.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each measured run")
	fl.DurationVar(&cfg.memDuration, "mem-duration", 8*time.Second, "length of each run of the memory comparison")
	fl.IntVar(&cfg.conns, "connections", 64, "closed-loop and proxy connections (wrk -c, ilities users)")
	fl.IntVar(&cfg.h2Conns, "h2-connections", 4, "HTTP/2 connections of the proxies' h2 comparison (h2load -c)")
	fl.IntVar(&cfg.h2Streams, "h2-streams", 16, "concurrent streams per HTTP/2 connection (h2load -m)")
	openRates := fl.String("open-rates", "10000,50000", "open-loop rates compared, requests per second")
	steps := fl.String("steps", "50000,80000,100000,150000", "open-loop rates stepped up to find the highest held")
	fl.IntVar(&cfg.lowRate, "low-rate", 1000, "rate of the low-rate comparison (send lag), requests per second")
	fl.IntVar(&cfg.idleConns, "idle-conns", 2000, "idle keep-alive connections of the memory comparison (and a tenth of them)")
	fl.IntVar(&cfg.targetWorkers, "target-workers", 1, "nginx worker processes of the generators' target")
	fl.IntVar(&cfg.backendWorkers, "backend-workers", 1, "nginx worker processes of the proxies' backends")
	fl.IntVar(&cfg.proxyWorkers, "proxy-workers", 1, "workers of every proxy: nginx worker_processes, HAProxy nbthread, ilities proxy GOMAXPROCS")
	fl.Float64Var(&cfg.limit.others, "noise-others", 0.10, "a run is noisy when other processes used more than this many cores")
	fl.Float64Var(&cfg.limit.steal, "noise-steal", 0.10, "a run is noisy when the host stole more than this many cores")
	only := fl.String("only", strings.Join(sections, ","), "the comparisons to run: "+strings.Join(sections, ", "))
	fl.StringVar(&cfg.out, "out", "out/bench.md", "file the Markdown table is also written to")
	fl.DurationVar(&cfg.soak, "soak", 0, "instead: an open loop at -soak-rate for this long, the generator's memory every 10s")
	fl.IntVar(&cfg.soakRate, "soak-rate", 5000, "rate of the soak run, requests per second")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if cfg.openRates, err = parseRates("-open-rates", *openRates); err != nil {
		return nil, err
	}
	if cfg.steps, err = parseRates("-steps", *steps); err != nil {
		return nil, err
	}
	cfg.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(sections, s) {
			return nil, fmt.Errorf("-only: unknown comparison %q (want some of %s)", s, strings.Join(sections, ", "))
		}
		cfg.only[s] = true
	}
	switch {
	case cfg.rounds < 1:
		return nil, errors.New("-rounds: want at least 1")
	case cfg.retries < 0:
		return nil, errors.New("-retries: want 0 or more")
	case cfg.duration < time.Second || cfg.memDuration < time.Second:
		return nil, errors.New("-duration, -mem-duration: want at least 1s")
	case cfg.conns < 1 || cfg.idleConns < 10 || cfg.lowRate < 1 || cfg.h2Conns < 1 || cfg.h2Streams < 1:
		return nil, errors.New("-connections, -low-rate: want at least 1; -idle-conns: at least 10")
	case cfg.targetWorkers < 1 || cfg.backendWorkers < 1 || cfg.proxyWorkers < 1:
		return nil, errors.New("-target-workers, -backend-workers, -proxy-workers: want at least 1")
	}
	return cfg, nil
}

// parseRates reads "10000,50000" in ascending order.
func parseRates(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a rate in requests per second", flag, f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%s: rates go up: %d after %d", flag, n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}

func run(cfg *config) error {
	if _, err := os.Stat(cfg.ilities); err != nil {
		return fmt.Errorf("%s: %w (make build)", cfg.ilities, err)
	}
	dir, err := os.MkdirTemp("", "ilities-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// nginx's workers may run as another user: they read the target's file.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	cfg.dir = dir
	if cfg.soak > 0 {
		return runSoak(cfg)
	}
	b := &bench{cfg: cfg}
	loadBefore := cfg.fs.load()
	if b.has("nginx") {
		if b.target, err = startOrigin(filepath.Join(dir, "target"), cfg.targetWorkers, 1, cfg.fs); err != nil {
			return err
		}
		defer b.target.stop(cfg.fs)
	}
	steps := map[string]func() error{
		"closed":   b.closedLoop,
		"ceiling":  b.ceiling,
		"low":      b.lowRate,
		"proxy":    b.proxies,
		"proxy-h2": b.proxiesH2,
		"memory":   b.memory,
		"open": func() error {
			for _, r := range cfg.openRates {
				if err := b.openLoop(r); err != nil {
					return err
				}
			}
			return nil
		},
	}
	for _, s := range sections {
		if cfg.only[s] {
			if err := steps[s](); err != nil {
				return err
			}
		}
	}
	t := table{
		title:   "ilities and its peers",
		rows:    b.rows,
		method:  fmt.Sprintf(method, cfg.limit.others, cfg.limit.steal, cfg.retries),
		setup:   b.setup(loadBefore),
		details: b.details,
	}
	if err := t.markdown(os.Stdout); err != nil {
		return err
	}
	if cfg.out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(cfg.out)
	if err != nil {
		return err
	}
	if err := t.markdown(f); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintf(cfg.log, "bench: the table is also in %s\n", cfg.out)
	return f.Close()
}

// setup is the table's account of the machine and the settings.
func (b *bench) setup(before loadState) []string {
	cfg := b.cfg
	out := []string{
		fmt.Sprintf("%d CPUs; before the first run: %s", runtime.NumCPU(), before),
		fmt.Sprintf("%d rounds of %s per tool (memory: %s per level), tools in rotating order", cfg.rounds, cfg.duration, cfg.memDuration),
		fmt.Sprintf("target: nginx, %d worker, access_log off, keepalive_requests 1000000, a 2-byte body", cfg.targetWorkers),
		fmt.Sprintf("proxies: %d worker each (ilities proxy GOMAXPROCS, nginx worker_processes, HAProxy nbthread); upstream keep-alive on", cfg.proxyWorkers),
	}
	for _, p := range []struct{ bin, args string }{{"wrk", "-v"}, {"wrk2", "-v"}, {"nginx", "-v"}, {"haproxy", "-v"}} {
		if !b.has(p.bin) {
			out = append(out, p.bin+": "+notInstalled)
			continue
		}
		out = append(out, p.bin+": "+version(p.bin, p.args))
	}
	if v := findVegeta(); v != "" {
		out = append(out, "vegeta: "+version(v, "-version"))
	} else {
		out = append(out, "vegeta: "+notInstalled)
	}
	return out
}

// version is the first line a tool prints about itself.
func version(bin, arg string) string {
	out, _ := exec.Command(bin, arg).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
