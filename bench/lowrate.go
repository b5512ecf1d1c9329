package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ilities/ilities/internal/stats"
)

// The low-rate comparison: at 1,000 req/s a generator is idle most of the
// time, so what shows is its own delay before each send and what its idle
// machinery costs per request. Each tool runs once per round, in an order
// that rotates, and the medians are reported: a shared machine's noise
// moves single runs more than the differences looked for.

type lowConfig struct {
	rate     int
	duration time.Duration
	rounds   int
	only     bool
}

func lowFlags() *lowConfig {
	c := &lowConfig{}
	flag.IntVar(&c.rate, "low-rate", 1000, "rate of the low-rate comparison, requests per second")
	flag.DurationVar(&c.duration, "low-duration", 10*time.Second, "length of each low-rate run")
	flag.IntVar(&c.rounds, "low-rounds", 3, "rounds of the low-rate comparison (medians reported)")
	flag.BoolVar(&c.only, "low-only", false, "run only the low-rate comparison")
	return c
}

// lowTool is one generator of the comparison.
type lowTool struct {
	name string
	note string // what its figures are
	run  func() (lowRun, error)
}

// lowRun is one run's figures; a figure a tool does not report is negative.
type lowRun struct {
	requests   int64
	rate       float64
	sendLagP50 float64 // ms
	latencyP50 float64 // ms
	cpuPerReq  float64 // µs, the whole process
}

func runLowRate(ilities, url string, c *lowConfig) error {
	dir, err := os.MkdirTemp("", "ilities-lowrate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tools := []lowTool{{
		name: "ilities attack",
		note: "open loop; send lag and latency from the intended time",
		run:  func() (lowRun, error) { return lowIlities(ilities, url, c) },
	}}
	if wrk2, err := exec.LookPath("wrk2"); err == nil {
		tools = append(tools, lowTool{
			name: "wrk2 -t1 -c1 -R",
			note: "open loop; latency from the intended time, no send lag reported",
			run:  func() (lowRun, error) { return lowWrk(wrk2, url, c, true, "") },
		})
	} else {
		script := filepath.Join(dir, "delay.lua")
		ms := max(1000/c.rate, 1)
		if err := os.WriteFile(script, fmt.Appendf(nil, "function delay() return %d end\n", ms), 0o644); err != nil {
			return err
		}
		fmt.Println("low rate: no wrk2 on PATH (Debian has no package): wrk paced by a delay() between requests instead")
		tools = append(tools, lowTool{
			name: fmt.Sprintf("wrk -t1 -c1, %d ms delay()", ms),
			note: "closed loop paced by think time, below the rate; latency from the actual send, no send lag",
			run:  func() (lowRun, error) { return lowWrk("wrk", url, c, false, script) },
		})
	}
	if vegeta := findVegeta(); vegeta != "" {
		tools = append(tools, lowTool{
			name: "vegeta attack",
			note: "open loop; latency from the actual send, no send lag reported",
			run:  func() (lowRun, error) { return lowVegeta(vegeta, url, dir, c) },
		})
	} else {
		fmt.Println("low rate: vegeta not found, skipped (go install github.com/tsenart/vegeta/v12@v12.13.0)")
	}

	fmt.Printf("low rate: %d req/s for %s, %d rounds interleaved, medians\n", c.rate, c.duration, c.rounds)
	runs := make([][]lowRun, len(tools))
	for round := range c.rounds {
		for k := range tools {
			i := (k + round) % len(tools) // each tool takes each place in turn
			r, err := tools[i].run()
			if err != nil {
				return fmt.Errorf("low rate, %s: %w", tools[i].name, err)
			}
			runs[i] = append(runs[i], r)
		}
	}
	med := make([]lowRun, len(tools))
	fmt.Printf("%-30s %9s %14s %13s %12s\n", "tool", "req/s", "send lag p50", "latency p50", "CPU µs/req")
	for i, t := range tools {
		med[i] = medianRun(runs[i])
		m := med[i]
		fmt.Printf("%-30s %9.0f %14s %13s %12.1f\n", t.name, m.rate, ms(m.sendLagP50), ms(m.latencyP50), m.cpuPerReq)
	}
	for i, t := range tools {
		fmt.Printf("  %s: %s; CPU per request by round %s\n", t.name, t.note, cpuSeries(runs[i]))
	}
	own := med[0]
	for i, t := range tools[1:] {
		o := med[i+1]
		fmt.Printf("ilities / %s: CPU per request %.2fx, latency p50 %.2fx", t.name, own.cpuPerReq/o.cpuPerReq, own.latencyP50/o.latencyP50)
		if o.sendLagP50 >= 0 {
			fmt.Printf(", send lag p50 %.2fx", own.sendLagP50/o.sendLagP50)
		}
		fmt.Println()
	}
	fmt.Printf("low rate: ilities send lag p50 %s (target: tens of µs, not the 0.25 ms quantum) %s\n", ms(own.sendLagP50), verdict(own.sendLagP50 >= 0 && own.sendLagP50 < 0.1))
	if len(tools) > 1 {
		fmt.Printf("low rate: ilities CPU per request %.1fµs vs %s %.1fµs (target: no more) %s\n", own.cpuPerReq, tools[1].name, med[1].cpuPerReq, verdict(own.cpuPerReq <= med[1].cpuPerReq))
	}
	return nil
}

func ms(v float64) string {
	if v < 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f ms", v)
}

func cpuSeries(rs []lowRun) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%.1f", r.cpuPerReq))
	}
	return strings.Join(s, ", ")
}

// medianRun takes each figure's median separately.
func medianRun(rs []lowRun) lowRun {
	m := func(f func(lowRun) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return stats.Median(v)
	}
	return lowRun{
		rate:       m(func(r lowRun) float64 { return r.rate }),
		sendLagP50: m(func(r lowRun) float64 { return r.sendLagP50 }),
		latencyP50: m(func(r lowRun) float64 { return r.latencyP50 }),
		cpuPerReq:  m(func(r lowRun) float64 { return r.cpuPerReq }),
	}
}

func perReq(cpu float64, n int64) float64 {
	if n == 0 {
		return 0
	}
	return cpu / float64(n) * 1e6
}

func lowIlities(bin, url string, c *lowConfig) (lowRun, error) {
	cmd := exec.Command(bin, "attack", url+"/", "--rate", fmt.Sprintf("%d/s", c.rate), "--duration", c.duration.String(),
		"--quiet", "--format", "json", "--allow-saturated")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return lowRun{}, fmt.Errorf("%v\n%s", err, errb.String())
	}
	var res struct {
		MeasuredS float64 `json:"measured_s"`
		Totals    struct{ Succeeded, Failed int64 }
		LatencyMS struct {
			P50 float64 `json:"p50"`
		} `json:"latency_ms"`
		Generator struct {
			SendLagMS struct {
				P50 float64 `json:"p50"`
			} `json:"send_lag_ms"`
		} `json:"generator"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return lowRun{}, fmt.Errorf("reading its JSON: %w", err)
	}
	n := res.Totals.Succeeded + res.Totals.Failed
	return lowRun{requests: n, rate: float64(n) / res.MeasuredS, sendLagP50: res.Generator.SendLagMS.P50,
		latencyP50: res.LatencyMS.P50, cpuPerReq: perReq(childCPU(cmd), n)}, nil
}

// wrk's and wrk2's latency distributions: "50%  32.00us" and
// "50.000%    0.85ms".
var wrkP50 = regexp.MustCompile(`(?m)^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s)\b`)

func lowWrk(bin, url string, c *lowConfig, wrk2 bool, script string) (lowRun, error) {
	args := []string{"-t1", "-c1", fmt.Sprintf("-d%ds", int(c.duration.Seconds())), "--latency"}
	if wrk2 {
		args = append(args, fmt.Sprintf("-R%d", c.rate))
	} else {
		args = append(args, "-s", script)
	}
	cmd := exec.Command(bin, append(args, url+"/")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return lowRun{}, fmt.Errorf("%v\n%s", err, out.String())
	}
	m := wrkRequests.FindStringSubmatch(out.String())
	p := wrkP50.FindStringSubmatch(out.String())
	if m == nil || p == nil {
		return lowRun{}, fmt.Errorf("cannot read its output:\n%s", out.String())
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	lat, _ := strconv.ParseFloat(p[1], 64)
	lat *= map[string]float64{"us": 1e-3, "ms": 1, "s": 1e3}[p[2]]
	return lowRun{requests: n, rate: float64(n) / c.duration.Seconds(), sendLagP50: -1, latencyP50: lat,
		cpuPerReq: perReq(childCPU(cmd), n)}, nil
}

// findVegeta looks on PATH, then where go install puts it.
func findVegeta() string {
	if p, err := exec.LookPath("vegeta"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", "vegeta")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// lowVegeta measures the attack process alone: its results go to a file,
// and the report is made by another process afterwards.
func lowVegeta(bin, url, dir string, c *lowConfig) (lowRun, error) {
	results := filepath.Join(dir, "vegeta.bin")
	cmd := exec.Command(bin, "attack", "-rate", fmt.Sprintf("%d/s", c.rate), "-duration", c.duration.String(), "-output", results)
	cmd.Stdin = strings.NewReader("GET " + url + "/\n")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return lowRun{}, fmt.Errorf("%v\n%s", err, errb.String())
	}
	out, err := exec.Command(bin, "report", "-type", "json", results).Output()
	if err != nil {
		return lowRun{}, fmt.Errorf("report: %v", err)
	}
	var rep struct {
		Latencies struct {
			P50 float64 `json:"50th"` // ns
		} `json:"latencies"`
		Requests int64   `json:"requests"`
		Rate     float64 `json:"rate"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return lowRun{}, fmt.Errorf("reading its report: %w", err)
	}
	return lowRun{requests: rep.Requests, rate: rep.Rate, sendLagP50: -1, latencyP50: rep.Latencies.P50 / 1e6,
		cpuPerReq: perReq(childCPU(cmd), rep.Requests)}, nil
}
