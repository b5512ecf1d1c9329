package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/stats"

	"github.com/ilities/ilities/sut/proxy"
)

// The proxy benchmark runs each proxy in its own process in front of the same
// two tiny backends (one helper process), drives it with wrk (64
// connections, one thread), and reads the proxy's CPU time from /proc. The
// built-in proxy runs with GOMAXPROCS=1 (one event loop), nginx with one
// worker, HAProxy with one thread. ILITIES_BENCH_SECONDS sets each run's
// length (default 5), ILITIES_BENCH_ROUNDS the number of rounds (default 5).

const benchRoleEnv = "ILITIES_BENCH_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(benchRoleEnv) {
	case "backends":
		runTinyBackends()
	case "proxy":
		runBenchProxy()
	default:
		os.Exit(m.Run())
	}
}

// runTinyBackends serves two minimal HTTP/1.1 backends and prints their
// addresses, until stdin closes.
func runTinyBackends() {
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		addrs = append(addrs, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go proxy.ServeTiny(c, tinyResponse)
			}
		}()
	}
	fmt.Println(strings.Join(addrs, " "))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}

var tinyResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")

// runBenchProxy runs the built-in proxy in front of the upstreams given in
// ILITIES_BENCH_UPSTREAMS and prints its address, until stdin closes.
func runBenchProxy() {
	var ups []proxy.UpstreamConfig
	for i, a := range strings.Fields(os.Getenv("ILITIES_BENCH_UPSTREAMS")) {
		ups = append(ups, proxy.UpstreamConfig{Name: fmt.Sprint("b", i+1), URL: "http://" + a})
	}
	p, err := proxy.New(proxy.Config{Pools: []proxy.PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: ups}}})
	if err == nil {
		err = p.Start("127.0.0.1:0")
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(p.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = p.Close()
	os.Exit(0)
}

// helper starts this test binary in a role and returns the first line it
// prints.
func helper(b *testing.B, role string, env ...string) (*exec.Cmd, string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, benchRoleEnv+"="+role, "GOMAXPROCS=1")...)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		b.Fatalf("%s helper: %q %v", role, line, err)
	}
	return cmd, strings.TrimSpace(line)
}

type peerResult struct {
	name           string
	rps, p99ms     float64
	cpuMicrosPerRq float64
}

func BenchmarkProxyVsPeers(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk is not installed (apt-get install wrk): proxy benchmark skipped")
	}
	dur := 5 * time.Second
	if s := os.Getenv("ILITIES_BENCH_SECONDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			dur = time.Duration(n) * time.Second
		}
	}
	rounds := 5
	if s := os.Getenv("ILITIES_BENCH_ROUNDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			rounds = n
		}
	}
	_, backends := helper(b, "backends")
	ups := strings.Fields(backends)
	type running struct {
		name string
		addr string
		pids func() []int
		runs []peerResult
	}
	var peers []*running
	for _, name := range []string{"builtin", "nginx", "haproxy"} {
		addr, pids, stop, err := startPeer(b, name, ups)
		if err != nil {
			b.Logf("%s: skipped: %v", name, err)
			continue
		}
		b.Cleanup(stop)
		peers = append(peers, &running{name: name, addr: addr, pids: pids})
	}
	// The peers take turns, round after round, each round starting with
	// the next one, so that no peer always runs first or after the same
	// one; each figure is the median of its rounds. Consecutive runs on a
	// shared machine differ by several per cent, p99 most.
	for round := range rounds {
		for i := range peers {
			pr := peers[(round+i)%len(peers)]
			r, err := measure(pr.addr, pr.pids, dur)
			if err != nil {
				b.Logf("%s, round %d: %v", pr.name, round+1, err)
				continue
			}
			r.name = pr.name
			pr.runs = append(pr.runs, r)
			line := fmt.Sprintf("round %d: %-8s %8.0f req/s  p99 %6.2f ms  CPU %6.1f µs/req", round+1, r.name, r.rps, r.p99ms, r.cpuMicrosPerRq)
			b.Log(line)
			fmt.Println(line)
		}
	}
	var results []peerResult
	for _, pr := range peers {
		if len(pr.runs) > 0 {
			results = append(results, medianResult(pr.name, pr.runs))
		}
	}
	var ref *peerResult
	for i := range results {
		if results[i].name == "nginx" {
			ref = &results[i]
		}
	}
	b.Logf("wrk -t1 -c64 -d%v, two tiny backends, one worker/thread each; medians of %d rounds", dur, rounds)
	for _, r := range results {
		line := fmt.Sprintf("%-8s %8.0f req/s  p99 %6.2f ms  CPU %6.1f µs/req", r.name, r.rps, r.p99ms, r.cpuMicrosPerRq)
		if ref != nil && r.name != "nginx" {
			line += fmt.Sprintf("   vs nginx: throughput %.2f×, CPU/req %.2f×, p99 %.2f×", r.rps/ref.rps, r.cpuMicrosPerRq/ref.cpuMicrosPerRq, r.p99ms/ref.p99ms)
		}
		b.Log(line)
		fmt.Println(line)
		if r.name == "builtin" {
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(r.cpuMicrosPerRq, "µs-cpu/req")
			b.ReportMetric(r.p99ms, "p99-ms")
		}
	}
	for range b.N {
	}
}

// medianResult is the median of each figure over runs.
func medianResult(name string, runs []peerResult) peerResult {
	med := func(f func(peerResult) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return stats.Median(v)
	}
	return peerResult{
		name:           name,
		rps:            med(func(r peerResult) float64 { return r.rps }),
		p99ms:          med(func(r peerResult) float64 { return r.p99ms }),
		cpuMicrosPerRq: med(func(r peerResult) float64 { return r.cpuMicrosPerRq }),
	}
}

func startPeer(b *testing.B, peer string, ups []string) (addr string, pids func() []int, stop func(), err error) {
	dir := b.TempDir()
	port, err := freePort()
	if err != nil {
		return "", nil, nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	var cmd *exec.Cmd
	switch peer {
	case "builtin":
		c, a := helper(b, "proxy", "ILITIES_BENCH_UPSTREAMS="+strings.Join(ups, " "))
		return a, func() []int { return []int{c.Process.Pid} }, func() {}, nil
	case "nginx":
		bin, lerr := exec.LookPath("nginx")
		if lerr != nil {
			return "", nil, nil, fmt.Errorf("nginx not installed (apt-get install nginx)")
		}
		var servers strings.Builder
		for _, u := range ups {
			fmt.Fprintf(&servers, "    server %s;\n", u)
		}
		conf := fmt.Sprintf(`worker_processes 1;
daemon off;
master_process on;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream app {
%[2]s    keepalive 128;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, dir, servers.String(), addr)
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return "", nil, nil, err
		}
		cmd = exec.Command(bin, "-c", path, "-p", dir)
	case "haproxy":
		bin, lerr := exec.LookPath("haproxy")
		if lerr != nil {
			return "", nil, nil, fmt.Errorf("haproxy not installed (apt-get install haproxy)")
		}
		var servers strings.Builder
		for i, u := range ups {
			fmt.Fprintf(&servers, "  server s%d %s\n", i+1, u)
		}
		conf := fmt.Sprintf(`global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind %s
  default_backend app
backend app
  balance roundrobin
%s`, addr, servers.String())
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return "", nil, nil, err
		}
		cmd = exec.Command(bin, "-db", "-f", path)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop = func() {
		// Killing nginx's master alone would leave its worker running,
		// busy or not, through every later measurement.
		// The master goes first, so that it cannot start a new worker.
		children := childrenOf(cmd.Process.Pid)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		for _, child := range children {
			if pr, err := os.FindProcess(child); err == nil {
				_ = pr.Kill()
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, derr := net.Dial("tcp", addr)
		if derr == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, nil, fmt.Errorf("did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	root := cmd.Process.Pid
	return addr, func() []int { return append([]int{root}, childrenOf(root)...) }, stop, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if f := procStat(n); len(f) > 3 && f[3] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// procStat returns /proc/pid/stat's fields, the command name removed.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = "x x" + s[i+1:]
	}
	return strings.Fields(s)
}

// cpuTicks sums user+system time of pids, in clock ticks (1/100 s).
func cpuTicks(pids []int) int64 {
	var t int64
	for _, p := range pids {
		f := procStat(p)
		if len(f) < 15 {
			continue
		}
		u, _ := strconv.ParseInt(f[13], 10, 64)
		s, _ := strconv.ParseInt(f[14], 10, 64)
		t += u + s
	}
	return t
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	reqRe = regexp.MustCompile(`(\d+) requests in`)
	errRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

func measure(addr string, pids func() []int, dur time.Duration) (peerResult, error) {
	url := "http://" + addr + "/"
	// Warm up connections and pools.
	_ = exec.Command("wrk", "-t1", "-c64", "-d1s", url).Run()
	ps := pids()
	before := cpuTicks(ps)
	out, err := exec.Command("wrk", "-t1", "-c64", "-d"+strconv.Itoa(int(dur.Seconds()))+"s", "--latency", url).CombinedOutput()
	after := cpuTicks(ps)
	if err != nil {
		return peerResult{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var r peerResult
	m := rpsRe.FindSubmatch(out)
	n := reqRe.FindSubmatch(out)
	l := p99Re.FindSubmatch(out)
	if m == nil || n == nil || l == nil {
		return r, fmt.Errorf("cannot parse wrk output: %s", out)
	}
	if e := errRe.Find(out); e != nil {
		return r, fmt.Errorf("errors under load: %s", e)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	total, _ := strconv.ParseFloat(string(n[1]), 64)
	v, _ := strconv.ParseFloat(string(l[1]), 64)
	switch string(l[2]) {
	case "us":
		v /= 1000
	case "s":
		v *= 1000
	}
	r.p99ms = v
	r.cpuMicrosPerRq = float64(after-before) * 10_000 / total // ticks are 10 ms
	return r, nil
}
