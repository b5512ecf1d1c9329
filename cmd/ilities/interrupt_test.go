package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// interruptScenario is a 60 s run on the built-in SUT on a known port, with
// a backend hanging from 1 s on (so requests are stuck in flight when the
// signal comes, each with a 30 s timeout), an open and a closed workload.
func interruptScenario(port int, extraProxy string) string {
	return fmt.Sprintf(`name: interrupted
seed: 3
duration: 60s
sut:
  listen: 127.0.0.1:%d
  proxy: {strategy: round-robin%s}
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 4, service_time: {dist: constant, value: 2ms}}
        - {name: app-2, workers: 4, service_time: {dist: constant, value: 2ms}}
workload:
  - {name: open, rate: 200/s, timeout: 30s}
  - {name: closed, model: closed, users: 5, timeout: 30s, think_time: {dist: constant, value: 10ms}}
faults:
  - {at: 1s, for: 50s, kind: hang, node: app-2}
requirements:
  - availability >= 10%%
`, port, extraProxy)
}

// TestInterruptedRunStopsQuicklyAndWritesIncompleteResults sends SIGINT and
// SIGTERM to real `ilities run` processes mid-run and checks the contract:
// exit within 2 s with code 3, result.json and the reports written with
// incomplete: true and the measured span, the accounting invariant intact,
// and the SUT's listener gone.
func TestInterruptedRunStopsQuicklyAndWritesIncompleteResults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it for several seconds")
	}
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			interruptRun(t, bin, interruptScenario(freePort(t), ""), sig)
		})
	}
	// Hybrid mode: the real proxy process ilities started goes too.
	for _, kind := range []string{"nginx", "haproxy"} {
		t.Run(kind, func(t *testing.T) {
			if _, err := exec.LookPath(kind); err != nil {
				t.Skipf("%s not installed (apt-get install -y %s)", kind, kind)
			}
			interruptRun(t, bin, interruptScenario(freePort(t), ", kind: "+kind), syscall.SIGINT)
		})
	}
}

// descendants lists the processes under pid (children, grandchildren...).
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		var p int
		if _, err := fmt.Sscanf(e.Name(), "%d", &p); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after ')'.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		var state string
		var ppid int
		if _, err := fmt.Sscanf(string(rest), " %s %d", &state, &ppid); err == nil {
			parent[p] = ppid
		}
	}
	var out []int
	frontier := []int{pid}
	for len(frontier) > 0 {
		next := frontier[0]
		frontier = frontier[1:]
		for p, pp := range parent {
			if pp == next {
				out = append(out, p)
				frontier = append(frontier, p)
			}
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
}

func interruptRun(t *testing.T, bin, sc string, sig syscall.Signal) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sc.yaml")
	if err := os.WriteFile(file, []byte(sc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "run", file, "--out", out, "--quiet")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Let the run get going: the hang starts at 1 s; signal at about 3 s.
	select {
	case err := <-exited:
		t.Fatalf("exited before the signal: %v\n%s", err, stderr.String())
	case <-time.After(3 * time.Second):
	}
	children := descendants(cmd.Process.Pid)
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after %v\n%s", sig, stderr.String())
	}
	took := time.Since(sent)
	t.Logf("%v: exited %v after the signal; stderr: %s", sig, took, bytes.TrimSpace(stderr.Bytes()))
	if took > 2*time.Second {
		t.Errorf("took %v to exit, want at most 2s", took)
	}
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	if code != exitRun {
		t.Errorf("exit code %d, want %d", code, exitRun)
	}
	data, rerr := os.ReadFile(filepath.Join(out, "result.json"))
	if rerr != nil {
		t.Fatalf("result.json: %v", rerr)
	}
	var res report.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Incomplete {
		t.Error("result.json: incomplete is false")
	}
	if res.MeasuredS < 2 || res.MeasuredS > 6 || res.DurationS != 60 {
		t.Errorf("measured %.2fs of %.0fs, want the 2-6 s before the signal", res.MeasuredS, res.DurationS)
	}
	tot := res.Totals
	if tot.Scheduled == 0 || tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd {
		t.Errorf("accounting: scheduled %d, succeeded %d + failed %d + dropped %d + cut %d", tot.Scheduled, tot.Succeeded, tot.Failed, tot.Dropped, tot.CutAtEnd)
	}
	if tot.Failed == 0 {
		t.Error("no failures counted, though requests to the hung backend were cut short")
	}
	for _, f := range []string{"report.html", "summary.md", "junit.xml"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	// The SUT went with the process: no process it started remains, and
	// nothing listens on the proxy's port any more.
	for _, pid := range children {
		if alive(pid) {
			t.Errorf("process %d started by the run is still alive", pid)
		}
	}
	if len(children) > 0 {
		t.Logf("%d child process(es) stopped", len(children))
	}
	var port int
	fmt.Sscanf(sc[bytes.Index([]byte(sc), []byte("127.0.0.1:"))+len("127.0.0.1:"):], "%d", &port)
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("something still listens on the proxy's port %d", port)
	}
}

// TestSecondSignalEndsAtOnce: a second Ctrl-C does not wait for the
// graceful stop (the default handling is restored after the first).
func TestSecondSignalEndsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "sc.yaml")
	if err := os.WriteFile(file, []byte(interruptScenario(freePort(t), "")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", file, "--quiet")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	time.Sleep(3 * time.Second) // requests to the hung backend are in flight
	_ = cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after two signals")
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Fatalf("exit %v: want the process ended by the second SIGINT", cmd.ProcessState)
	}
}
