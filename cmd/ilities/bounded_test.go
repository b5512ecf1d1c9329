package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

// Bounds of the hostile-input acceptance: validate answers any file
// within 2 s and 200 MB. Memory is checked (the process's peak RSS); time
// is checked as processor time, which a busy host does not stretch as it
// does the wall clock, and the wall clock is only logged.
const (
	validateMaxRSS = 200 << 20
	validateMaxCPU = 2 * time.Second
	// A run at a bound: its duration, and what it may take past it (the
	// SUT's start and stop, requests in flight awaited up to 1 s), with
	// room for a busy host.
	boundedRun      = 200 * time.Millisecond
	boundedRunGrace = 60 * time.Second
	boundedRunRSS   = 1 << 30
)

// hostileCase is one scenario at or past a bound: want is "" when validate
// must accept it (and it is then run), else what its message must say.
type hostileCase struct {
	name  string
	yaml  string
	want  string
	files map[string][]byte // written beside the scenario
	args  []string          // more arguments
}

// target and builtin wrap workload lines into a scenario.
func target(workload string) string {
	return "duration: 200ms\ntarget: {url: \"http://127.0.0.1:1\"}\nworkload:\n" + workload + "\n"
}

func builtin(sut, workload string) string {
	return "duration: 200ms\nsut:\n" + sut + "\nworkload:\n" + workload + "\n"
}

const oneBackend = "  pools: [{backends: [{service_time: {dist: constant, value: 1ms}}]}]"

func hostileCases() []hostileCase {
	m := scenario.ThisMachine()
	conc := m.MaxConcurrency(4) // built-in SUT
	concTarget := m.MaxConcurrency(1)
	deep := func(n int) string { // n levels of block mappings, under an x- key
		var b strings.Builder
		for i := range n {
			b.WriteString(strings.Repeat(" ", i) + "x-a:\n")
		}
		b.WriteString(strings.Repeat(" ", n) + "x-b: 1\n")
		return b.String()
	}
	keys := func(n int) string {
		var b strings.Builder
		b.WriteString("x-keys:\n")
		for i := range n {
			fmt.Fprintf(&b, "  k%d: v\n", i)
		}
		return b.String()
	}
	valid := builtin(oneBackend, "  - {rate: 10/s}")
	pad := func(s string, size int) string { // a comment to make the file size bytes
		return s + "#" + strings.Repeat("x", size-len(s)-2) + "\n"
	}
	backends := func(n int) string {
		var b strings.Builder
		b.WriteString("  pools:\n    - backends:\n")
		for range n {
			b.WriteString("      - {}\n")
		}
		return b.String()
	}
	bomb := "x-a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 9; i++ {
		bomb += fmt.Sprintf("x-a%d: &a%d [%s]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 8)+fmt.Sprintf("*a%d", i-1))
	}
	body := bytes.Repeat([]byte("b"), scenario.MaxBodyFileBytes)
	return []hostileCase{
		// The crashers.
		{"users 99999999999999", target("  - {model: closed, users: 99999999999999}"), "expected users at most", nil, nil},
		{"users 100000000", target("  - {model: closed, users: 100000000}"), "expected users at most", nil, nil},
		{"workers 1000000000", builtin("  pools: [{backends: [{workers: 1000000000}]}]", "  - {rate: 1/s}"), "expected workers at most 100000", nil, nil},
		{"rate 1e18/s, max_inflight 100000000", target("  - {rate: 1e18/s, max_inflight: 100000000}"), "expected rate at most 1000000/s", nil, nil},
		{"replicas 100000000", builtin("  proxy: {replicas: 100000000}\n"+oneBackend, "  - {rate: 1/s}"), "expected replicas at most 32", nil, nil},
		{"body_file /dev/zero", target("  - {rate: 1/s, requests: [{body_file: /dev/zero}]}"), "an absolute path is allowed only under a folder given with --allow-paths", nil, nil},
		{"body_file /dev/zero allowed", target("  - {rate: 1/s, requests: [{body_file: /dev/zero}]}"), "is a character device, not a regular file", nil, []string{"--allow-paths", "/dev"}},
		{"body_file ../", target("  - {rate: 1/s, requests: [{body_file: ../secret}]}"), "is outside the scenario's folder", nil, nil},
		{"body_file /etc/shadow", target("  - {rate: 1/s, requests: [{body_file: /etc/shadow}]}"), "an absolute path is allowed only", nil, nil},
		{"body_file a directory", target("  - {rate: 1/s, requests: [{body_file: .}]}"), "is a directory, not a regular file", nil, nil},
		{"nested 100,000 deep", "x-a: " + strings.Repeat("{a: ", 100000) + "1" + strings.Repeat("}", 100000) + "\n", "expected a scenario file of at most 256KiB", nil, nil},
		{"10 MB of plain keys", keys(1 << 20), "expected a scenario file of at most 256KiB", nil, nil},
		{"nested 8,000 deep in 64 KB", deep(8000)[:64<<10], "expected at most 32 levels of nesting", nil, nil},
		{"alias bomb", bomb + valid, "is it an alias bomb?", nil, nil},
		// The costliest file to parse: the most values, each 2 bytes.
		{"values at the bound", "x-a: [" + strings.Repeat("1,", scenario.MaxValues-200) + "1]\n" + valid, "", nil, nil},
		{"values past the bound", "x-a: [" + strings.Repeat("1,", scenario.MaxValues) + "1]\n" + valid, "expected at most 65536 values in the file", nil, nil},
		// Each limit at and just past its bound.
		{"file size at the bound", pad(valid, scenario.MaxFileBytes), "", nil, nil},
		{"file size past the bound", pad(valid, scenario.MaxFileBytes+1), "expected a scenario file of at most 256KiB", nil, nil},
		{"depth at the bound", deep(scenario.MaxDepth-1) + valid, "", nil, nil},
		{"depth past the bound", deep(scenario.MaxDepth) + valid, "expected at most 32 levels of nesting", nil, nil},
		{"keys at the bound", keys(scenario.MaxMappingKeys) + valid, "", nil, nil},
		{"keys past the bound", keys(scenario.MaxMappingKeys+1) + valid, "expected at most 256 keys in one mapping", nil, nil},
		{"users at the bound", builtin(oneBackend, fmt.Sprintf("  - {model: closed, users: %d, think_time: {dist: constant, value: 50ms}}", conc)), "", nil, nil},
		{"users past the bound", builtin(oneBackend, fmt.Sprintf("  - {model: closed, users: %d}", conc+1)), fmt.Sprintf("expected users at most %d", conc), nil, nil},
		{"max_inflight at the bound", target(fmt.Sprintf("  - {rate: 10/s, max_inflight: %d}", concTarget)), "", nil, nil},
		{"max_inflight past the bound", target(fmt.Sprintf("  - {rate: 10/s, max_inflight: %d}", concTarget+1)), fmt.Sprintf("expected max_inflight at most %d", concTarget), nil, nil},
		{"in flight added up past the bound", target(fmt.Sprintf("  - {rate: 10/s, max_inflight: %d}\n  - {rate: 10/s, max_inflight: 1}", concTarget)), "requests in flight across the workloads", nil, nil},
		{"rate at the bound", builtin(oneBackend, fmt.Sprintf("  - {rate: %d/s, max_inflight: 64}", scenario.MaxRate)), "", nil, nil},
		{"rate past the bound", builtin(oneBackend, fmt.Sprintf("  - {rate: %d/s}", scenario.MaxRate+1)), "expected rate at most 1000000/s", nil, nil},
		{"replicas at the bound", builtin(fmt.Sprintf("  proxy: {replicas: %d}\n", scenario.MaxReplicas)+oneBackend, "  - {rate: 10/s}"), "", nil, nil},
		{"replicas past the bound", builtin(fmt.Sprintf("  proxy: {replicas: %d}\n", scenario.MaxReplicas+1)+oneBackend, "  - {rate: 10/s}"), "expected replicas at most 32", nil, nil},
		{"workers and queue at the bound", builtin(fmt.Sprintf("  pools: [{backends: [{workers: %d, queue: %d}]}]", scenario.MaxWorkers, scenario.MaxQueue), "  - {rate: 10/s}"), "", nil, nil},
		{"workers past the bound", builtin(fmt.Sprintf("  pools: [{backends: [{workers: %d}]}]", scenario.MaxWorkers+1), "  - {rate: 10/s}"), "expected workers at most 100000", nil, nil},
		{"queue past the bound", builtin(fmt.Sprintf("  pools: [{backends: [{queue: %d}]}]", scenario.MaxQueue+1), "  - {rate: 10/s}"), "expected queue at most 100000", nil, nil},
		{"admission past the bound", builtin(fmt.Sprintf("  proxy: {admission: {max_inflight: %d, queue: 1}}\n", scenario.MaxQueue+1)+oneBackend, "  - {rate: 10/s}"), "expected max_inflight at most 100000", nil, nil},
		{"backends at the bound", builtin(backends(scenario.MaxBackends), "  - {rate: 10/s}"), "", nil, nil},
		{"backends past the bound", builtin(backends(scenario.MaxBackends+1), "  - {rate: 10/s}"), "expected at most 1024 backends", nil, nil},
		{"weights past the bound", target("  - {rate: 1/s, requests: [{weight: 9223372036854775807}, {weight: 9223372036854775807}]}"), "expected weight at most 1000000", nil, nil},
		{"body_file at the bound", builtin(oneBackend, "  - {rate: 5/s, requests: [{method: POST, body_file: body.bin}]}"), "", map[string][]byte{"body.bin": body}, nil},
		{"body_file past the bound", target("  - {rate: 1/s, requests: [{method: POST, body_file: body.bin}]}"), "over the limit of 16MiB", map[string][]byte{"body.bin": append(body, 'b')}, nil},
		{"response_size past the bound", builtin("  pools: [{backends: [{response_size: {dist: constant, value: 2GiB}}]}]", "  - {rate: 1/s}"), "expected value at most 1GiB", nil, nil},
	}
}

// TestHostileScenariosBounded: every hostile scenario is rejected by
// validate at its file:line:column with what was expected, within 2 s of
// processor time and 200 MB; every one at a bound is valid, and a 200 ms
// run of it ends within its duration and a grace, with bounded memory and
// no internal error.
func TestHostileScenariosBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	bin := buildBinary(t)
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "hostile.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			for name, data := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out, use := runBinary(t, bin, dir, append([]string{"validate", "hostile.yaml"}, tc.args...)...)
			t.Logf("validate: exit %d in %v (processor %v), peak RSS %d MiB", code, use.wall, use.cpu, use.rss>>20)
			if use.rss > validateMaxRSS || use.cpu > validateMaxCPU {
				t.Errorf("validate took %v of processor time and %d MiB, want under %v and %d MiB", use.cpu, use.rss>>20, validateMaxCPU, validateMaxRSS>>20)
			}
			if tc.want != "" {
				located := regexp.MustCompile(`(?m)^ilities: hostile\.yaml:\d+:\d+: .*` + regexp.QuoteMeta(tc.want))
				if code != exitInvalid || !located.MatchString(out) {
					t.Fatalf("exit %d, want 2 with a message at file:line:column saying %q:\n%.2000s", code, tc.want, out)
				}
				return
			}
			if code != exitPass {
				t.Fatalf("exit %d, want the scenario at the bound valid:\n%.2000s", code, out)
			}
			code, out, use = runBinary(t, bin, dir, "run", "hostile.yaml", "--quiet", "--allow-saturated")
			t.Logf("run: exit %d in %v (processor %v), peak RSS %d MiB", code, use.wall, use.cpu, use.rss>>20)
			if code != exitPass && code != exitFail && code != exitRun {
				t.Fatalf("run: exit %d:\n%.3000s", code, out)
			}
			if use.wall > boundedRun+boundedRunGrace || use.rss > boundedRunRSS {
				t.Errorf("a %v run took %v and %d MiB, want under %v and %d MiB", boundedRun, use.wall, use.rss>>20, boundedRun+boundedRunGrace, boundedRunRSS>>20)
			}
		})
	}
}

type usage struct {
	wall, cpu time.Duration
	rss       int64
}

// rusageHelperEnv makes the test binary, re-executed, a small parent that
// runs the command after "--" and reports what it used. The peak RSS the
// kernel reports for a process counts the memory of the process that
// started it (its maximum is kept across exec), so the test process itself
// (hundreds of MB of hostile input) cannot be that parent.
const rusageHelperEnv = "ILITIES_TEST_RUSAGE_HELPER"

const rusageLine = "ilities-test-rusage:"

// TestRusageHelper is the helper's body when rusageHelperEnv is set.
func TestRusageHelper(t *testing.T) {
	if os.Getenv(rusageHelperEnv) != "1" {
		t.Skip("the body of a helper process")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	_ = cmd.Run()
	if cmd.ProcessState == nil {
		os.Exit(100)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru == nil {
		ru = &syscall.Rusage{}
	}
	fmt.Fprintf(os.Stderr, "\n%s %d %d %d\n", rusageLine, cmd.ProcessState.ExitCode(), ru.Maxrss, ru.Utime.Nano()+ru.Stime.Nano())
	os.Exit(0)
}

// runBinary runs bin in dir, through the helper, and returns its exit
// code, its output (stderr, then stdout) and what it used.
func runBinary(t *testing.T, bin, dir string, args ...string) (int, string, usage) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestRusageHelper$", "--", bin}, args...)...)
	cmd.Env = append(os.Environ(), rusageHelperEnv+"=1")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	u := usage{wall: time.Since(start)}
	errText := stderr.String()
	i := strings.LastIndex(errText, rusageLine)
	if i < 0 {
		t.Fatalf("the helper reported no usage:\n%s", errText)
	}
	var code int
	var rssKiB, cpuNs int64
	if _, err := fmt.Sscanf(errText[i+len(rusageLine):], "%d %d %d", &code, &rssKiB, &cpuNs); err != nil {
		t.Fatalf("helper's report %q: %v", errText[i:], err)
	}
	u.rss, u.cpu = rssKiB<<10, time.Duration(cpuNs)
	return code, errText[:i] + stdout.String(), u
}
