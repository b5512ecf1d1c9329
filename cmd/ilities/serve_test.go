package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// serveChildEnv makes the test binary, re-executed, be `ilities` itself
// (signal handling and all) with the arguments after "--".
const serveChildEnv = "ILITIES_TEST_SERVE_CHILD"

// TestServeChildProcess is the child's body when serveChildEnv is set; a
// no-op otherwise.
func TestServeChildProcess(t *testing.T) {
	if os.Getenv(serveChildEnv) != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(cli(args, os.Stdout, os.Stderr))
}

const serveScenario = `name: served
seed: 5
duration: 10s
sut:
  proxy: {strategy: round-robin, replicas: 2}
  pools:
    - name: app
      backends:
        - {name: app-1, workers: 2, service_time: {dist: constant, value: 1ms}}
        - {name: app-2, workers: 2, service_time: {dist: constant, value: 1ms}}
workload:
  - {name: w, rate: 10/s}
faults:
  - {at: 0s, kind: hang, node: app-2}
requirements:
  - error_rate < 1%
`

// TestServeAsAProcess starts `ilities serve` as a real process, reads the
// addresses it prints, sends real HTTP requests through every proxy
// replica, then SIGTERMs it: it must exit 0 within 2 s, its listeners gone.
// The scenario's fault (a hang of app-2 from 0 s) must not be played.
func TestServeAsAProcess(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sc.yaml")
	if err := os.WriteFile(file, []byte(serveScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChildProcess$", "--", "serve", file)
	cmd.Env = append(os.Environ(), serveChildEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	exited := make(chan error, 1)

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(20 * time.Second):
		t.Fatalf("no address printed in 20 s; stderr %q", stderr.String())
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "serving" {
		t.Fatalf("first line %q, want \"serving URL URL\" (stderr %q)", line, stderr.String())
	}
	urls := fields[1:]
	client := &http.Client{Timeout: 5 * time.Second}
	seen := map[string]int{}
	for _, u := range urls {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("address %q is not loopback", u)
		}
		for range 6 {
			resp, err := client.Get(u + "/products")
			if err != nil {
				t.Fatalf("GET %s: %v", u, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d", u, resp.StatusCode)
			}
			seen[resp.Header.Get(headers.Node)]++
		}
	}
	if seen["app-1"] == 0 || seen["app-2"] == 0 || len(seen) != 2 {
		t.Errorf("answers by backend %v: want app-1 and app-2 only (round robin, no fault played)", seen)
	}

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM; stderr %q", stderr.String())
	}
	if took := time.Since(sent); took > 2*time.Second {
		t.Errorf("took %v to exit after SIGTERM, want at most 2s", took)
	}
	if err != nil {
		t.Fatalf("exit: %v, want 0; stderr %q", err, stderr.String())
	}
	for _, u := range urls {
		if c, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), time.Second); err == nil {
			c.Close()
			t.Errorf("something still listens at %s", u)
		}
	}
	if !strings.Contains(stderr.String(), "not played") {
		t.Errorf("stderr does not say the faults are not played: %q", stderr.String())
	}
}

// TestServeDurationAndFaults: --duration ends it with exit 0, --listen is
// honoured, and --faults plays the timeline (app-2 hangs from 0 s, so every
// answer comes from app-1 once the hang is on).
func TestServeDurationAndFaults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sc.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(serveScenario, "replicas: 2", "replicas: 1, timeout: 200ms", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var stdout, stderr strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- execute(context.Background(), []string{"serve", file, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--duration", "1500ms", "--faults"}, &stdout, &stderr)
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		if resp, err = client.Get(base + "/"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("not serving at %s: %v", base, err)
	}
	resp.Body.Close()
	if node := resp.Header.Get(headers.Node); node != "app-1" && resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("answer %d from %q while app-2 hangs", resp.StatusCode, node)
	}
	select {
	case c := <-code:
		if c != exitPass {
			t.Fatalf("exit %d, stderr %q", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still serving 10 s after a 1.5 s --duration")
	}
	if want := "serving " + base + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "playing 1 fault") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestServeRejectsATargetScenario(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sc.yaml")
	if err := os.WriteFile(file, []byte("target: {url: 'http://127.0.0.1:1'}\nworkload: [{rate: 1/s}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "serve", file)
	if code != exitInvalid || !strings.Contains(stderr, "built-in sut") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestServeFromParent starts `ilities serve --from-parent --control
// 127.0.0.1:0` as ilities run --sut-process child does, drives it through
// its control API, and stops it: the process exits cleanly.
func TestServeFromParent(t *testing.T) {
	sc, err := scenario.Load(writeScenario(t, serveScenario))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-test.run=^TestServeChildProcess$", "--", "serve", "--from-parent", "--control", "127.0.0.1:0"}
	r, err := sut.StartChild(context.Background(), sc, os.Args[0], args, append(os.Environ(), serveChildEnv+"=1"))
	if err != nil {
		t.Fatal(err)
	}
	pid := r.ChildPid()
	if urls := r.URLs(); len(urls) != 2 {
		t.Errorf("URLs %v, want the two replicas", urls)
	}
	if nodes := r.Nodes(); len(nodes) != 2 || nodes[0].Name != "app-1" {
		t.Errorf("nodes %+v", nodes)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("stopping the child: %v", err)
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("child %d still there after Close (kill 0: %v)", pid, err)
	}
}
