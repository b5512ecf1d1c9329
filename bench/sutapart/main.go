//go:build linux

// Command sutapart measures whether running the built-in SUT apart from the
// generator makes verdicts steadier when the machine is busy. It runs one
// scenario (the quickstart by default) in up to four arms (-arms; inproc
// and child by default), interleaved round by round:
//
//   - inproc: `ilities run SCENARIO`, the SUT in the generator's process;
//   - child:  `ilities run SCENARIO --sut-process child`, the whole scenario
//     (faults included) with the SUT in a child process the run starts;
//   - apart:  `ilities serve SCENARIO` in a child process, and `ilities run`
//     of a copy whose sut: is replaced by target: {url: ...} (same workload
//     and requirements);
//   - pinned: the same, with the generator on one CPU (taskset -c 0) and
//     the SUT on another (-c 1).
//
// Noisy rounds run beside a neighbour process spinning -noise goroutines,
// each locked to its own thread (GOMAXPROCS raised to match, so all of them
// are runnable); quiet rounds without it. Per run it records the exit code,
// verdict, latency p99, send lag p99, the generator's CPU per request, every
// ilities process's CPU per request, the apparatus delay, and the machine's
// load (1-minute load average and runnable tasks) just before, since other
// work on the machine is noise it does not control. Per arm and condition it
// prints the pass, fail (exit 1) and inconclusive (exit 3: the tool's own
// delay could have decided a requirement, or the generator saturated) counts and the median and spread of p99. Each run's
// result.json is kept under -out, with runs.json and summary.txt.
//
// All traffic stays on 127.0.0.1. Usage, from the repository root:
//
//	go run ./bench/sutapart [-rounds 5] [-quiet-rounds 2] [-noise 160] [-duration 10s] [-out DIR]
//	go run ./bench/sutapart -summarise DIR1/runs.json DIR2/runs.json   # runs of several sessions, pooled
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"
)

type config struct {
	ilities, scenario string
	arms              []string
	rounds, quiet     int
	noise             int
	duration          time.Duration
	settle            time.Duration
	out               string
	genCPUs, sutCPUs  string
	maxTime           time.Duration
}

func main() {
	// The neighbour: this same program in another mode, so it shares no
	// scheduler with what it disturbs.
	noiseChild := flag.Int("noise-child", 0, "internal: be the noisy neighbour with this many spinning threads")
	noiseFor := flag.Duration("noise-for", time.Hour, "internal: the neighbour's longest life")
	var c config
	var arms string
	flag.StringVar(&c.ilities, "ilities", "", "the ilities binary (default: go build ./cmd/ilities into a temporary directory)")
	flag.StringVar(&c.scenario, "scenario", "examples/quickstart.yaml", "the scenario, with a built-in sut:")
	flag.StringVar(&arms, "arms", "inproc,child", "arms to run, in order within a round")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds (one run per arm) beside the noisy neighbour")
	flag.IntVar(&c.quiet, "quiet-rounds", 2, "rounds without the neighbour")
	flag.IntVar(&c.noise, "noise", 160, "the neighbour's spinning threads")
	flag.DurationVar(&c.duration, "duration", 0, "override the scenario's duration (0: keep it)")
	flag.DurationVar(&c.settle, "settle", time.Second, "wait after starting the neighbour")
	flag.StringVar(&c.out, "out", "", "directory for each run's result.json and the summary (default: a new temporary directory)")
	flag.StringVar(&c.genCPUs, "gen-cpus", "0", "taskset CPU list of the generator in the pinned arm")
	flag.StringVar(&c.sutCPUs, "sut-cpus", "1", "taskset CPU list of the SUT in the pinned arm")
	flag.DurationVar(&c.maxTime, "max-time", 30*time.Minute, "start no run after this long")
	pool := flag.Bool("summarise", false, "only print the summary of the runs.json files named as arguments, pooled")
	flag.Parse()
	if *pool {
		if err := summariseFiles(os.Stdout, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "sutapart:", err)
			os.Exit(1)
		}
		return
	}
	if *noiseChild > 0 {
		spin(*noiseChild, *noiseFor)
		return
	}
	c.arms = strings.Split(arms, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "sutapart:", err)
		os.Exit(1)
	}
}

// spin keeps n threads runnable for at most d.
func spin(n int, d time.Duration) {
	runtime.GOMAXPROCS(n)
	for range n {
		go func() {
			runtime.LockOSThread()
			x := uint64(1)
			for {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}()
	}
	time.Sleep(d)
}

// record is one run.
type record struct {
	Round     int     `json:"round"`
	Arm       string  `json:"arm"`
	Noise     int     `json:"noise_threads"`
	Load1     float64 `json:"load1"`
	Runnable  int     `json:"procs_running"`
	Exit      int     `json:"exit"`
	Verdict   string  `json:"verdict"`
	Failed    string  `json:"failed,omitempty"`
	P99       float64 `json:"p99_ms"`
	SendLag   float64 `json:"send_lag_p99_ms"`
	GenCPU    float64 `json:"generator_cpu_per_request_us"`
	TotalCPU  float64 `json:"all_cpu_per_request_us"`
	Delay     float64 `json:"apparatus_delay_p99_ms"`
	Disturbed int     `json:"disturbed_windows"`
	RPS       float64 `json:"throughput_rps"`
	Err       string  `json:"error,omitempty"`
	Took      float64 `json:"took_s"`
}

func run(ctx context.Context, c config) error {
	for _, a := range c.arms {
		if a != "inproc" && a != "child" && a != "apart" && a != "pinned" {
			return fmt.Errorf("-arms: unknown arm %q (inproc, child, apart, pinned)", a)
		}
		if a == "pinned" {
			if _, err := exec.LookPath("taskset"); err != nil {
				return errors.New("the pinned arm needs taskset (util-linux)")
			}
			if runtime.NumCPU() < 2 {
				return fmt.Errorf("the pinned arm needs 2 CPUs, this machine has %d", runtime.NumCPU())
			}
		}
	}
	work, err := os.MkdirTemp("", "sutapart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if c.out == "" {
		if c.out, err = os.MkdirTemp("", "sutapart-out-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	if c.ilities == "" {
		c.ilities = filepath.Join(work, "ilities")
		fmt.Fprintln(os.Stderr, "building ./cmd/ilities ...")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", c.ilities, "./cmd/ilities").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	base, dur, err := deriveScenario(c.scenario, c.duration)
	if err != nil {
		return err
	}
	inproc := filepath.Join(work, "inproc.yaml")
	if err := writeYAML(inproc, base); err != nil {
		return err
	}
	per := dur + 5*time.Second
	total := time.Duration(c.rounds+c.quiet)*time.Duration(len(c.arms))*per + time.Duration(c.rounds)*c.settle
	fmt.Fprintf(os.Stderr, "%d noisy + %d quiet rounds × %d arms of %v runs: about %v; results in %s\n",
		c.rounds, c.quiet, len(c.arms), dur, total.Round(time.Second), c.out)

	start := time.Now()
	var recs []record
	var neighbourAlive func() bool
	defer func() { _ = writeJSON(filepath.Join(c.out, "runs.json"), recs) }()
	doRound := func(round, noise int) error {
		l1, rn := machineLoad()
		fmt.Fprintf(os.Stderr, "round %d (neighbour %d threads): load %.2f, %d runnable\n", round, noise, l1, rn)
		for i := range c.arms {
			// Rotate the order so that no arm always follows the same one.
			arm := c.arms[(i+round)%len(c.arms)]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Since(start) > c.maxTime {
				return fmt.Errorf("-max-time %v reached", c.maxTime)
			}
			r := record{Round: round, Arm: arm, Noise: noise}
			r.Load1, r.Runnable = machineLoad()
			dir := filepath.Join(c.out, fmt.Sprintf("r%02d-%s", round, arm))
			t0 := time.Now()
			cpu, err := runArm(ctx, c, arm, base, inproc, dir, work, dur, &r)
			r.Took = time.Since(t0).Seconds()
			if neighbourAlive != nil && !neighbourAlive() {
				r.Err = strings.TrimSpace(r.Err + " the neighbour was gone by the end of this run")
			}
			if err != nil {
				r.Err = err.Error()
			}
			readResult(filepath.Join(dir, "result.json"), cpu, &r)
			fmt.Fprintf(os.Stderr, "  %-6s exit %d %-12s p99 %6.1f ms  lag p99 %6.1f ms  gen %5.0f µs/req  all %5.0f µs/req  load %.1f/%d %s\n",
				r.Arm, r.Exit, r.Verdict, r.P99, r.SendLag, r.GenCPU, r.TotalCPU, r.Load1, r.Runnable, r.Err)
			recs = append(recs, r)
		}
		return nil
	}
	if c.rounds > 0 && c.noise > 0 {
		// Bounded by -max-time, not by the estimate: on a crowded machine
		// runs take longer than their duration.
		stopNoise, alive, err := startNoise(ctx, c.noise, c.maxTime+2*time.Minute)
		if err != nil {
			return err
		}
		neighbourAlive = alive
		sleepCtx(ctx, c.settle)
		for round := range c.rounds {
			if err = doRound(round, c.noise); err != nil {
				break
			}
		}
		stopNoise()
		neighbourAlive = nil
		if err != nil {
			summarise(os.Stdout, recs)
			return err
		}
	}
	for q := range c.quiet {
		if err := doRound(c.rounds+q, 0); err != nil {
			summarise(os.Stdout, recs)
			return err
		}
	}
	summarise(os.Stdout, recs)
	f, err := os.Create(filepath.Join(c.out, "summary.txt"))
	if err == nil {
		summarise(f, recs)
		f.Close()
	}
	return nil
}

// deriveScenario reads the scenario (order kept) and sets its duration.
func deriveScenario(path string, d time.Duration) (yaml.MapSlice, time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var ms yaml.MapSlice
	if err := yaml.UnmarshalWithOptions(data, &ms, yaml.UseOrderedMap()); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	hasSUT := false
	dur := 10 * time.Second
	for i, it := range ms {
		switch it.Key {
		case "sut":
			hasSUT = true
		case "duration":
			if d > 0 {
				ms[i].Value = d.String()
			} else if s, ok := it.Value.(string); ok {
				if dur, err = time.ParseDuration(s); err != nil {
					return nil, 0, fmt.Errorf("%s: duration %q: %w", path, s, err)
				}
			}
		}
	}
	if !hasSUT {
		return nil, 0, fmt.Errorf("%s has no built-in sut:", path)
	}
	if d > 0 {
		dur = d
	}
	return ms, dur, nil
}

// withTarget is the scenario with its sut: replaced by target: urls.
func withTarget(ms yaml.MapSlice, urls []string) yaml.MapSlice {
	out := make(yaml.MapSlice, 0, len(ms))
	for _, it := range ms {
		if it.Key == "sut" {
			t := yaml.MapSlice{{Key: "url", Value: urls[0]}}
			if len(urls) > 1 {
				t = append(t, yaml.MapItem{Key: "urls", Value: urls[1:]})
			}
			it = yaml.MapItem{Key: "target", Value: t}
		}
		out = append(out, it)
	}
	return out
}

func writeYAML(path string, ms yaml.MapSlice) error {
	data, err := yaml.Marshal(ms)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// command is one child process, killed with the harness (SIGTERM, then
// SIGKILL after 10 s; SIGKILL too if the harness dies).
func command(ctx context.Context, cpus string, name string, args ...string) *exec.Cmd {
	if cpus != "" {
		args = append([]string{"-c", cpus, name}, args...)
		name = "taskset"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// runArm carries out one run of the arm and returns the CPU seconds every
// ilities process of it used.
func runArm(ctx context.Context, c config, arm string, base yaml.MapSlice, inproc, dir, work string, dur time.Duration, r *record) (cpu float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, dur+90*time.Second)
	defer cancel()
	genCPUs, sutCPUs := "", ""
	if arm == "pinned" {
		genCPUs, sutCPUs = c.genCPUs, c.sutCPUs
	}
	scen := inproc
	var extra []string
	if arm == "child" {
		extra = []string{"--sut-process", "child"}
	}
	if arm == "apart" || arm == "pinned" {
		serve := command(ctx, sutCPUs, c.ilities, "serve", inproc, "--listen", "127.0.0.1:0")
		serve.Stderr = io.Discard
		stdout, err := serve.StdoutPipe()
		if err != nil {
			return 0, err
		}
		if err := serve.Start(); err != nil {
			return 0, fmt.Errorf("serve: %w", err)
		}
		defer func() {
			if serve.ProcessState == nil {
				_ = serve.Process.Kill()
				_ = serve.Wait()
			}
		}()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		fields := strings.Fields(line)
		if err != nil || len(fields) < 2 || fields[0] != "serving" {
			return 0, fmt.Errorf("serve printed %q: %v", line, err)
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		scen = filepath.Join(work, "target.yaml")
		if err := writeYAML(scen, withTarget(base, fields[1:])); err != nil {
			return 0, err
		}
		defer func() {
			_ = serve.Process.Signal(syscall.SIGTERM)
			if werr := serve.Wait(); werr != nil && err == nil {
				err = fmt.Errorf("serve: %w", werr)
			}
			cpu += cpuSeconds(serve.ProcessState)
		}()
	}
	// The child arm's SUT process is the run's child: its CPU time is in
	// the run's once the run has reaped it.
	gen := command(ctx, genCPUs, c.ilities, append([]string{"run", scen, "--quiet", "--out", dir}, extra...)...)
	var stderr strings.Builder
	gen.Stdout, gen.Stderr = io.Discard, &stderr
	err = gen.Run()
	r.Exit = 0
	if gen.ProcessState != nil {
		r.Exit = gen.ProcessState.ExitCode()
		cpu += cpuSeconds(gen.ProcessState)
	}
	if err != nil && r.Exit <= 0 {
		return cpu, err
	}
	if r.Exit == 2 || r.Exit > 3 { // 3 is a verdict: inconclusive (or saturated)
		return cpu, fmt.Errorf("run: %s", strings.TrimSpace(stderr.String()))
	}
	return cpu, nil
}

func cpuSeconds(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// readResult fills r from a run's result.json; cpu is every ilities
// process's CPU time for the run, read after the SUT stopped.
func readResult(path string, cpu float64, r *record) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var res struct {
		Verdict      string `json:"verdict"`
		Requirements []struct {
			Text string `json:"text"`
			Pass bool   `json:"pass"`
		} `json:"requirements"`
		Latency struct {
			P99 float64 `json:"p99"`
		} `json:"latency_ms"`
		Throughput float64 `json:"throughput_rps"`
		Totals     struct {
			Succeeded, Failed int64
		} `json:"totals"`
		Generator struct {
			SendLag struct {
				P99 float64 `json:"p99"`
			} `json:"send_lag_ms"`
			CPUPerRequestUS float64 `json:"cpu_per_request_us"`
		} `json:"generator"`
		Apparatus *struct {
			Delay struct {
				P99 float64 `json:"p99"`
			} `json:"delay_ms"`
			Disturbed int `json:"disturbed_windows"`
		} `json:"apparatus"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return
	}
	r.Verdict = res.Verdict
	for _, q := range res.Requirements {
		if !q.Pass {
			r.Failed += q.Text + "; "
		}
	}
	r.Failed = strings.TrimSuffix(r.Failed, "; ")
	r.P99 = res.Latency.P99
	r.RPS = res.Throughput
	r.SendLag = res.Generator.SendLag.P99
	r.GenCPU = res.Generator.CPUPerRequestUS
	if n := res.Totals.Succeeded + res.Totals.Failed; n > 0 {
		r.TotalCPU = cpu / float64(n) * 1e6
	}
	if a := res.Apparatus; a != nil {
		r.Delay, r.Disturbed = a.Delay.P99, a.Disturbed
	}
}

// startNoise starts the neighbour and returns how to stop it (by its PID)
// and whether it is still running.
func startNoise(ctx context.Context, threads int, bound time.Duration) (stop func(), alive func() bool, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, "-noise-child", strconv.Itoa(threads), "-noise-for", bound.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the neighbour: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	fmt.Fprintf(os.Stderr, "neighbour: pid %d, %d spinning threads\n", cmd.Process.Pid, threads)
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Kill()
		case <-done:
		}
	}()
	stop = func() {
		close(done)
		select {
		case <-exited:
		default:
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		fmt.Fprintf(os.Stderr, "neighbour: pid %d stopped\n", cmd.Process.Pid)
	}
	alive = func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
	return stop, alive, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// machineLoad is the 1-minute load average and the tasks runnable now.
func machineLoad() (float64, int) {
	var l1 float64
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			l1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	running := -1
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "procs_running "); ok {
				running, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
	}
	return l1, running
}

// summarise prints, per condition and arm, the pass count and the median and
// spread of p99 and the other figures.
func summarise(w io.Writer, recs []record) {
	type key struct {
		noise int
		arm   string
	}
	groups := map[key][]record{}
	var keys []key
	for _, r := range recs {
		k := key{r.Noise, r.Arm}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].noise > keys[j].noise })
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "neighbour\tarm\tpass\tfail\tinconclusive\tp99 median\tp99 min–max\tp99 MAD\tlag p99 median\tgen µs/req\tall µs/req\tload1 median\t")
	for _, k := range keys {
		g := groups[k]
		pass, fail, invalid := 0, 0, 0
		var p99, lag, gen, all, load []float64
		for _, r := range g {
			switch r.Exit {
			case 0:
				pass++
			case 1:
				fail++
			default:
				invalid++
			}
			if r.Verdict != "" {
				p99 = append(p99, r.P99)
				lag = append(lag, r.SendLag)
				gen = append(gen, r.GenCPU)
				all = append(all, r.TotalCPU)
			}
			load = append(load, r.Load1)
		}
		lo, hi := minMax(p99)
		fmt.Fprintf(tw, "%d\t%s\t%d/%d\t%d\t%d\t%.1f ms\t%.1f–%.1f ms\t%.1f ms\t%.1f ms\t%.0f\t%.0f\t%.1f\t\n",
			k.noise, k.arm, pass, len(g), fail, invalid, median(p99), lo, hi, mad(p99), median(lag), median(gen), median(all), median(load))
	}
	tw.Flush()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// mad is the median absolute deviation from the median.
func mad(xs []float64) float64 {
	m := median(xs)
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return median(d)
}

func minMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// summariseFiles pools the runs of several runs.json files.
func summariseFiles(w io.Writer, files []string) error {
	var all []record
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var recs []record
		if err := json.Unmarshal(data, &recs); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, recs...)
	}
	summarise(w, all)
	return nil
}
