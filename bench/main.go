// Command bench measures the ilities load generator against its peers in
// one run, with nginx (from the distribution's package) as the target:
//
//   - closed loop, 64 connections: generator CPU per request, ilities vs wrk;
//   - open loop at 10,000 req/s for 10 s: achieved rate, send lag p99 and
//     CPU per request;
//   - with -soak D: an open-loop run at 5,000 req/s for D, sampling the
//     generator's resident memory every 10 s (minute 1 vs the last minute);
//   - low rate (-low-rate, 1,000 req/s): what the generator's own delay and
//     CPU are when it is mostly idle, beside wrk2 (or a paced wrk where
//     there is no wrk2) and vegeta, over interleaved rounds (lowrate.go).
//
// CPU is each generator process's own user + system time (getrusage of the
// child), divided by the requests it completed. Usage:
//
//	go run ./bench -ilities bin/ilities [-duration 10s] [-soak 10m] [-low-only]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ilities := flag.String("ilities", "bin/ilities", "the ilities binary to measure")
	duration := flag.Duration("duration", 10*time.Second, "length of each measured run")
	connections := flag.Int("connections", 64, "closed-loop connections (wrk -c, ilities users)")
	openRate := flag.Int("open-rate", 10000, "open-loop rate, requests per second")
	soak := flag.Duration("soak", 0, "also run an open loop at -soak-rate for this long and report its memory")
	soakRate := flag.Int("soak-rate", 5000, "rate of the soak run, requests per second")
	low := lowFlags()
	flag.Parse()
	if err := run(*ilities, *duration, *connections, *openRate, *soak, *soakRate, low); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ilities string, duration time.Duration, conns, openRate int, soak time.Duration, soakRate int, low *lowConfig) error {
	for _, bin := range []string{ilities, "wrk", "nginx"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found (apt-get install -y wrk nginx; make build): %w", bin, err)
		}
	}
	work, err := os.MkdirTemp("", "ilities-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	url, stop, err := startNginx(work)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("target: nginx (1 worker) at %s, tiny body; %d CPUs\n\n", url, numCPU())
	if low.only {
		return runLowRate(ilities, url, low)
	}

	// Warm the target and the page cache once.
	if _, err := runWrk(url, conns, 2*time.Second); err != nil {
		return err
	}

	wrk, err := runWrk(url, conns, duration)
	if err != nil {
		return err
	}
	closed, err := runIlities(ilities, work, "closed", fmt.Sprintf(`name: bench-closed
duration: %s
target: {url: %s}
workload:
  - {name: closed, model: closed, users: %d, timeout: 5s}
`, duration, url, conns))
	if err != nil {
		return err
	}
	open, err := runIlities(ilities, work, "open", fmt.Sprintf(`name: bench-open
duration: %s
target: {url: %s}
workload:
  - {name: open, rate: %d/s, max_inflight: %d, timeout: 5s}
`, duration, url, openRate, conns))
	if err != nil {
		return err
	}

	fmt.Printf("%-34s %12s %12s %14s\n", "run", "requests", "req/s", "CPU µs/req")
	fmt.Printf("%-34s %12d %12.0f %14.2f\n", fmt.Sprintf("wrk -t2 -c%d (closed)", conns), wrk.requests, wrk.rate, wrk.cpuPerReq())
	fmt.Printf("%-34s %12d %12.0f %14.2f\n", fmt.Sprintf("ilities closed, %d users", conns), closed.requests, closed.rate, closed.cpuPerReq())
	fmt.Printf("%-34s %12d %12.0f %14.2f\n", fmt.Sprintf("ilities open, %d/s", openRate), open.requests, open.rate, open.cpuPerReq())
	fmt.Println()
	ratio := closed.cpuPerReq() / wrk.cpuPerReq()
	fmt.Printf("closed loop: ilities/wrk CPU per request = %.2fx (target <= 1.5x) %s\n", ratio, verdict(ratio <= 1.5))
	achievedErr := (float64(open.sent) - float64(open.scheduled)) / float64(open.scheduled)
	fmt.Printf("open loop: scheduled %d, sent %d (%+.3f%%, target within 0.1%%) %s\n", open.scheduled, open.sent, 100*achievedErr, verdict(abs(achievedErr) <= 0.001))
	fmt.Printf("open loop: send lag p99 %.3fms (target < 1ms) %s\n", open.lagP99, verdict(open.lagP99 < 1))
	fmt.Printf("open loop: CPU per request %.2fµs (target <= 20µs) %s\n", open.cpuPerReq(), verdict(open.cpuPerReq() <= 20))
	if open.saturated {
		fmt.Println("open loop: the generator reported itself SATURATED")
	}

	fmt.Println()
	if err := runLowRate(ilities, url, low); err != nil {
		return err
	}

	if soak > 0 {
		fmt.Printf("\nsoak: open loop at %d/s for %s, resident memory every 10s\n", soakRate, soak)
		if err := runSoak(ilities, work, url, soak, soakRate, conns); err != nil {
			return err
		}
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func numCPU() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// startNginx serves "ok" on a free port with one worker.
func startNginx(dir string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(dir, "nginx.conf")
	body := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  client_body_temp_path %[1]s;
  proxy_temp_path %[1]s;
  fastcgi_temp_path %[1]s;
  uwsgi_temp_path %[1]s;
  scgi_temp_path %[1]s;
  server {
    listen %[2]s;
    location / { default_type text/plain; return 200 "ok"; }
  }
}
`, dir, addr)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("nginx", "-c", conf, "-p", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("nginx did not listen on %s", addr)
}

// measured is one generator run.
type measured struct {
	requests   int64
	rate       float64
	cpuSeconds float64
	// open loop only
	scheduled, sent int64
	lagP99          float64
	saturated       bool
}

func (m measured) cpuPerReq() float64 {
	if m.requests == 0 {
		return 0
	}
	return m.cpuSeconds / float64(m.requests) * 1e6
}

func childCPU(cmd *exec.Cmd) float64 {
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in ([\d.]+)(\w+)`)

func runWrk(url string, conns int, d time.Duration) (measured, error) {
	cmd := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), url+"/")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return measured{}, fmt.Errorf("wrk: %v\n%s", err, out.String())
	}
	m := wrkRequests.FindStringSubmatch(out.String())
	if m == nil {
		return measured{}, fmt.Errorf("wrk: cannot read its output:\n%s", out.String())
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return measured{requests: n, rate: float64(n) / d.Seconds(), cpuSeconds: childCPU(cmd)}, nil
}

// result is the part of result.json the benchmark reads.
type result struct {
	MeasuredS float64 `json:"measured_s"`
	Totals    struct {
		Scheduled, Succeeded, Failed, Dropped int64
	} `json:"totals"`
	Generator struct {
		Saturated bool `json:"saturated"`
		SendLagMS struct {
			P99 float64 `json:"p99"`
		} `json:"send_lag_ms"`
	} `json:"generator"`
}

func runIlities(bin, work, name, scenario string) (measured, error) {
	path := filepath.Join(work, name+".yaml")
	if err := os.WriteFile(path, []byte(scenario), 0o644); err != nil {
		return measured{}, err
	}
	cmd := exec.Command(bin, "run", path, "--quiet", "--format", "json", "--allow-saturated")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return measured{}, fmt.Errorf("ilities %s: %v\n%s", name, err, errb.String())
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return measured{}, fmt.Errorf("ilities %s: reading its JSON: %w", name, err)
	}
	t := res.Totals
	done := t.Succeeded + t.Failed
	return measured{
		requests:   done,
		rate:       float64(done) / res.MeasuredS,
		cpuSeconds: childCPU(cmd),
		scheduled:  t.Scheduled,
		sent:       done,
		lagP99:     res.Generator.SendLagMS.P99,
		saturated:  res.Generator.Saturated,
	}, nil
}

func runSoak(bin, work, url string, d time.Duration, rate, conns int) error {
	path := filepath.Join(work, "soak.yaml")
	scenario := fmt.Sprintf("name: bench-soak\nduration: %s\ntarget: {url: %s}\nworkload:\n  - {name: soak, rate: %d/s, max_inflight: %d, timeout: 5s}\n", d, url, rate, conns)
	if err := os.WriteFile(path, []byte(scenario), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", path, "--quiet", "--format", "json", "--allow-saturated")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var samples []float64
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("soak run: %w", err)
			}
			return reportSoak(samples, out.Bytes(), childCPU(cmd))
		case <-tick.C:
			mb := rssMB(cmd.Process.Pid)
			samples = append(samples, mb)
			fmt.Printf("  %6s  RSS %6.1f MB\n", time.Since(start).Round(time.Second), mb)
		}
	}
}

func reportSoak(samples []float64, out []byte, cpu float64) error {
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("soak: reading its JSON: %w", err)
	}
	if len(samples) < 7 {
		return fmt.Errorf("soak: too short to compare minute 1 with the end (%d samples)", len(samples))
	}
	peak := 0.0
	for _, v := range samples {
		peak = max(peak, v)
	}
	// Minute 1 is the sample at 60s: by then the buffers and the windows'
	// histograms have reached their steady size. What grows after it is the
	// per-second record the result keeps (one window a second).
	atMinute1, last := samples[5], samples[len(samples)-1]
	growthKBs := (last - atMinute1) * 1024 / (float64(len(samples)-6) * 10)
	done := res.Totals.Succeeded + res.Totals.Failed
	fmt.Printf("soak: %d requests, dropped %d, saturated %v, CPU %.2fµs/req\n", done, res.Totals.Dropped, res.Generator.Saturated, cpu/float64(max(done, 1))*1e6)
	fmt.Printf("soak: RSS at minute 1 %.1f MB, at the end %.1f MB (%+.1f KB/s), peak %.1f MB (target < 64 MB and flat) %s\n",
		atMinute1, last, growthKBs, peak, verdict(peak < 64 && growthKBs < 10))
	return nil
}

// rssMB is the resident set size of a process, from /proc.
func rssMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
