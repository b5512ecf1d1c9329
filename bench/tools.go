package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The tools and how each one's output is read. A tool's CPU is its whole
// process tree's, read when it ends: the user and system time of it and of
// every descendant it waited for (wait4's rusage: what /proc/PID/stat's
// utime+stime+cutime+cstime hold at its end).

// exited is the CPU seconds of an ended command's tree.
func exited(cmd *exec.Cmd) float64 {
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// runTool runs a command to its end, its output collected.
func runTool(cmd *exec.Cmd) ([]byte, float64, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, 0, fmt.Errorf("%s: %v\n%s%s", filepath.Base(cmd.Path), err, out.String(), errb.String())
	}
	return append(out.Bytes(), errb.Bytes()...), exited(cmd), nil
}

// ilitiesResult is the part of result.json the harness reads.
type ilitiesResult struct {
	MeasuredS float64 `json:"measured_s"`
	Totals    struct {
		Scheduled, Succeeded, Failed, Dropped int64
	} `json:"totals"`
	Errors    map[string]int64 `json:"errors"` // failed requests by class
	LatencyMS struct {
		P50 float64 `json:"p50"`
	} `json:"latency_ms"`
	Generator struct {
		Saturated bool   `json:"saturated"`
		Reason    string `json:"reason"`
		SendLagMS struct {
			P50 float64 `json:"p50"`
		} `json:"send_lag_ms"`
	} `json:"generator"`
}

// readIlities turns `--format json` output into a result.
func readIlities(out []byte, cpu float64) (result, ilitiesResult, error) {
	var res ilitiesResult
	// The JSON is the output's first object; anything after it is not read.
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&res); err != nil {
		return result{}, res, fmt.Errorf("reading its JSON: %w", err)
	}
	n := res.Totals.Succeeded + res.Totals.Failed
	r := result{requests: n, seconds: res.MeasuredS, cpu: cpu, fig: map[string]float64{
		figLatencyP50: res.LatencyMS.P50,
		figSendLagP50: res.Generator.SendLagMS.P50,
		figRate:       float64(n) / math.Max(res.MeasuredS, 1e-9),
	}}
	return r, res, nil
}

// ilitiesAttack is an open loop at rate.
func ilitiesAttack(bin, url string, rate int, d time.Duration) (result, ilitiesResult, error) {
	out, cpu, err := runTool(exec.Command(bin, "attack", url+"/", "--rate", fmt.Sprintf("%d/s", rate),
		"--duration", d.String(), "--quiet", "--format", "json", "--allow-saturated"))
	if err != nil {
		return result{}, ilitiesResult{}, err
	}
	return readIlities(out, cpu)
}

// closedScenario is a closed loop of users asking for path, thinking
// think between requests.
func closedScenario(dir, url, path string, users int, think, d time.Duration) (string, error) {
	thinkLine := ""
	if think > 0 {
		thinkLine = fmt.Sprintf(", think_time: {dist: constant, value: %s}", think)
	}
	body := fmt.Sprintf("name: bench-closed\nduration: %s\ntarget: {url: %s}\nworkload:\n  - {name: closed, model: closed, users: %d, timeout: 10s, requests: [{path: %s}]%s}\n",
		d, url, users, path, thinkLine)
	file := filepath.Join(dir, fmt.Sprintf("closed-%d.yaml", users))
	return file, os.WriteFile(file, []byte(body), 0o644)
}

func ilitiesClosedCmd(bin, scenario string) *exec.Cmd {
	return exec.Command(bin, "run", scenario, "--quiet", "--format", "json", "--allow-saturated")
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)\b`)
	// wrk's and wrk2's latency distributions: "50%  32.00us" and
	// "50.000%    0.85ms".
	wrkP50    = regexp.MustCompile(`(?m)^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\b`)
	wrkSocket = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// unitMS is a wrk duration unit in milliseconds.
var unitMS = map[string]float64{"us": 1e-3, "ms": 1, "s": 1e3, "m": 60e3}

// wrkErrors is how many requests wrk counted as failed.
func wrkErrors(out []byte) int64 {
	var n int64
	if m := wrkSocket.FindSubmatch(out); m != nil {
		for _, v := range m[1:] {
			k, _ := strconv.ParseInt(string(v), 10, 64)
			n += k
		}
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		k, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n += k
	}
	return n
}

// readWrk reads wrk's or wrk2's report.
func readWrk(out []byte, cpu float64) (result, error) {
	m := wrkRequests.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("cannot read wrk's output:\n%s", out)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	secs, _ := strconv.ParseFloat(string(m[2]), 64)
	secs *= unitMS[string(m[3])] / 1e3
	r := result{requests: n, seconds: secs, cpu: cpu, fig: map[string]float64{
		figRate: float64(n) / math.Max(secs, 1e-9), figLatencyP50: math.NaN(),
	}}
	if p := wrkP50.FindSubmatch(out); p != nil {
		v, _ := strconv.ParseFloat(string(p[1]), 64)
		r.fig[figLatencyP50] = v * unitMS[string(p[2])]
	}
	if e := wrkErrors(out); e > 0 {
		r.note = fmt.Sprintf("%d errors", e)
	}
	return r, nil
}

// wrkArgs are wrk's arguments for threads, connections and a length.
func wrkArgs(threads, conns int, d time.Duration) []string {
	return []string{fmt.Sprintf("-t%d", max(1, min(threads, conns))), fmt.Sprintf("-c%d", conns),
		fmt.Sprintf("-d%ds", max(1, int(d.Round(time.Second).Seconds()))), "--latency"}
}

// pacing is how a wrk without -R approaches a rate: conns connections,
// each waiting ms milliseconds (a Lua delay()) after every response. That
// is a closed loop paced by think time, below the rate by each response's
// time.
type pacing struct{ conns, ms int }

func pacingFor(rate int) pacing {
	conns := max(1, (rate+999)/1000)
	return pacing{conns: conns, ms: max(1, (conns*1000+rate/2)/rate)}
}

func (p pacing) name() string {
	return fmt.Sprintf("wrk paced (%d conn × %d ms delay())", p.conns, p.ms)
}

// delayScript writes wrk's Lua script that waits ms after every response.
func delayScript(dir string, ms int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("delay-%d.lua", ms))
	return path, os.WriteFile(path, fmt.Appendf(nil, "function delay() return %d end\n", ms), 0o644)
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
	if p := filepath.Join(gopath, "bin", "vegeta"); fileExists(p) {
		return p
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// vegetaAttack runs vegeta's attack alone in the measured window: its
// results go to a file that `vegeta report` reads after the window closed.
func vegetaAttack(bin, url, dir string, rate int, d time.Duration) (result, error) {
	results := filepath.Join(dir, "vegeta.bin")
	cmd := exec.Command(bin, "attack", "-rate", fmt.Sprintf("%d/s", rate), "-duration", d.String(), "-output", results)
	cmd.Stdin = strings.NewReader("GET " + url + "/\n")
	_, cpu, err := runTool(cmd)
	if err != nil {
		return result{}, err
	}
	return result{cpu: cpu, finish: func(r *result) error { return vegetaReport(bin, results, r) }}, nil
}

// vegetaReport fills r from `vegeta report -type json`.
func vegetaReport(bin, results string, r *result) error {
	out, cpu, err := runTool(exec.Command(bin, "report", "-type", "json", results))
	if err != nil {
		return err
	}
	r.aside += cpu
	var rep struct {
		Latencies struct {
			P50 float64 `json:"50th"` // ns
		} `json:"latencies"`
		Requests int64   `json:"requests"`
		Rate     float64 `json:"rate"`
		Duration float64 `json:"duration"` // ns
		Success  float64 `json:"success"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("reading vegeta's report: %w", err)
	}
	r.requests, r.seconds = rep.Requests, rep.Duration/1e9
	r.fig = map[string]float64{figRate: rep.Rate, figLatencyP50: rep.Latencies.P50 / 1e6}
	if rep.Success < 1 {
		r.note = fmt.Sprintf("%.2f%% failed", 100*(1-rep.Success))
	}
	return nil
}

// h2loadArgs are h2load's arguments: one thread, conns connections of
// streams concurrent streams each, for d, HTTP/2 with prior knowledge.
func h2loadArgs(conns, streams int, d time.Duration, url string) []string {
	return []string{"-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-m%d", streams),
		fmt.Sprintf("-D%d", max(1, int(d.Round(time.Second).Seconds()))), url}
}

var (
	h2loadFinished = regexp.MustCompile(`finished in ([0-9.]+)(ms|s),`)
	h2loadRequests = regexp.MustCompile(`requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadStatus   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// readH2load reads h2load's summary: the requests that succeeded over the
// measured time; a failure or an answer other than 2xx is a note.
func readH2load(out []byte, cpu float64) (result, error) {
	f, m, st := h2loadFinished.FindSubmatch(out), h2loadRequests.FindSubmatch(out), h2loadStatus.FindSubmatch(out)
	if f == nil || m == nil || st == nil {
		return result{}, fmt.Errorf("cannot read h2load's output:\n%s", out)
	}
	secs, _ := strconv.ParseFloat(string(f[1]), 64)
	if string(f[2]) == "ms" {
		secs /= 1e3
	}
	n := func(b []byte) int64 { v, _ := strconv.ParseInt(string(b), 10, 64); return v }
	ok := n(m[3])
	r := result{requests: ok, seconds: secs, cpu: cpu, fig: map[string]float64{
		figRate: float64(ok) / math.Max(secs, 1e-9), figLatencyP50: math.NaN(),
	}}
	if bad := n(m[4]) + n(m[5]) + n(m[6]) + n(st[2]) + n(st[3]) + n(st[4]); bad > 0 {
		r.note = fmt.Sprintf("%d failed, errored, timed out or not 2xx", bad)
	}
	return r, nil
}
