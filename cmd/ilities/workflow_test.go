package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/workflow"
)

// compare and capacity reject bad input before running anything.
func TestWorkflowCommandsUsage(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"compare", "../../examples/slow-node.yaml"}, "--strategies"},
		{[]string{"compare", "../../examples/slow-node.yaml", "--strategies", "round-robin,least-conections"}, `did you mean "least-connections"`},
		{[]string{"compare", "../../examples/slow-node.yaml", "--proxies", "nginx", "--strategies", "random"}, "not both"},
		{[]string{"compare", "../../examples/slow-node.yaml", "--proxies", "builtin,traefik"}, `unknown proxy kind "traefik"`},
		{[]string{"compare", "../../examples/sticky-sessions.yaml", "--proxies", "nginx"}, "nginx has no strategy"},
		{[]string{"capacity", "../../examples/capacity.yaml", "--backends", "0"}, "at least 1"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitInvalid || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

// capacity and compare with --simulate write what they write live, marked
// simulated, and exit by the same rules; --confirm and --repeat are
// checked before anything runs.
func TestWorkflowsSimulated(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		code  int
		say   []string          // on stdout, or stderr for exit 2
		files map[string]string // a file under --out and what it must hold
	}{
		{name: "capacity", args: []string{"capacity", "../../examples/capacity.yaml", "--simulate"}, code: exitPass,
			say:   []string{"## Capacity: capacity (simulated)", "Maximum sustainable rate", "none is invalid"},
			files: map[string]string{"capacity.json": `"mode": "simulated"`, "capacity.md": "(simulated)", "latency-vs-load.png": ""}},
		{name: "capacity --backends", args: []string{"capacity", "../../examples/capacity.yaml", "--simulate", "--backends", "1,2,4,8"}, code: exitPass,
			say:   []string{"## Scalability: capacity (simulated)", "σ (contention) = ", "± "},
			files: map[string]string{"scalability.json": `"mode": "simulated"`, "capacity-8/capacity.json": `"mode": "simulated"`, "scalability.png": ""}},
		{name: "compare --repeat 3", args: []string{"compare", "../../examples/capacity.yaml", "--strategies", "random,round-robin", "--simulate", "--repeat", "3"}, code: exitPass,
			say: []string{"(seeds 3–5, 3 runs of each, interleaved) (simulated)", "| random | 3/3 |", "Student's t"},
			files: map[string]string{"compare.json": `"repeat": 3`, "random/seed-5/result.json": `"mode": "simulated"`,
				"round-robin/seed-3/result.json": `"seed": 3`, "compare.html": "3 runs of each"}},
		{name: "--confirm needs --simulate", args: []string{"capacity", "../../examples/capacity.yaml", "--confirm"}, code: exitInvalid,
			say: []string{"add --simulate"}},
		{name: "--confirm is for one search", args: []string{"capacity", "../../examples/capacity.yaml", "--simulate", "--confirm", "--backends", "1,2"}, code: exitInvalid,
			say: []string{"leave out --backends"}},
		{name: "capacity: what the model lacks is refused at its place", args: []string{"capacity", "../../examples/capacity.yaml", "--simulate", "--set", "sut.proxy.kind=nginx"}, code: exitInvalid,
			say: []string{"--set sut.proxy.kind: a real proxy (kind: nginx) is not simulated yet"}},
		{name: "compare: what the model lacks is refused at its place", args: []string{"compare", "../../examples/capacity.yaml", "--simulate", "--proxies", "builtin,nginx"}, code: exitInvalid,
			say: []string{"nginx: ", "a real proxy (kind: nginx) is not simulated yet"}},
		{name: "--repeat 0", args: []string{"compare", "../../examples/capacity.yaml", "--strategies", "random", "--repeat", "0"}, code: exitInvalid,
			say: []string{"--repeat 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := runCLI(t, append(tc.args, "--quiet", "--out", dir)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			out := stdout
			if code == exitInvalid {
				out = stderr
			}
			for _, w := range tc.say {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for name, w := range tc.files {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil || !strings.Contains(string(b), w) {
					t.Errorf("%s: %v; want it holding %q", name, err, w)
				}
			}
		})
	}
}

// capacity --simulate --confirm runs one live step at the capacity found,
// reports it beside the simulated figures, and exits by it: 0 when it
// passed, 1 when it missed a requirement, 3 when the apparatus decided it.
func TestCapacityConfirmLive(t *testing.T) {
	if testing.Short() {
		t.Skip("a live run")
	}
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, "capacity", "../../examples/capacity.yaml", "--simulate", "--confirm",
		"--step-duration", "3s", "--warmup", "1s", "--quiet", "--out", dir)
	b, err := os.ReadFile(filepath.Join(dir, "capacity.json"))
	if err != nil {
		t.Fatalf("exit %d, no capacity.json: %v\n%s", code, err, stderr)
	}
	var c workflow.Capacity
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	f := c.Confirmation
	if f == nil || f.RateRPS != c.MaxRateRPS || c.Mode != report.ModeSimulated || f.Live.Phase != "confirm" {
		t.Fatalf("confirmation %+v at max rate %.1f/s, mode %q; want a live run at the simulated capacity\n%s", f, c.MaxRateRPS, c.Mode, stdout)
	}
	if f.Simulated.RateRPS != f.RateRPS || f.Simulated.P99MS <= 0 || f.Live.ThroughputRPS <= 0 && f.Live.Valid {
		t.Errorf("figures side by side: simulated %+v, live %+v", f.Simulated, f.Live)
	}
	want := exitPass
	switch {
	case !f.Live.Valid:
		want = exitRun
	case !f.Live.Pass:
		want = exitFail
	}
	if code != want {
		t.Errorf("exit %d, want %d for a live run that was %s\n%s", code, want, f.Outcome(), stderr)
	}
	for _, w := range []string{fmt.Sprintf("Live run at %.1f/s to confirm the simulated capacity", f.RateRPS), "| p99 |", "The live run is invalid, never a failure"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
}

// compare --repeat runs live too: each variant twice, interleaved, and
// the report's summary of the runs.
func TestCompareRepeatLive(t *testing.T) {
	if testing.Short() {
		t.Skip("four live runs")
	}
	code, stdout, stderr := runCLI(t, "compare", "../../examples/capacity.yaml", "--strategies", "random,round-robin",
		"--repeat", "2", "--set", "duration=2s", "--cooldown", "100ms")
	if code != exitPass && code != exitFail && code != exitRun {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, w := range []string{"(seeds 3–4, 2 runs of each, interleaved)\n", "| random | ", "Student's t"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("report lacks %q:\n%s", w, stdout)
		}
	}
	runs := regexp.MustCompile(`compare: (\S+), run (\d)/2 \(seed (\d)\) \(\d/4\) \.\.\.`).FindAllStringSubmatch(stderr, -1)
	var order []string
	for _, m := range runs {
		order = append(order, m[1]+m[2]+m[3])
	}
	if want := []string{"random13", "round-robin13", "random24", "round-robin24"}; !reflect.DeepEqual(order, want) {
		t.Errorf("runs in order %v, want %v (interleaved, seed+k)\n%s", order, want, stderr)
	}
}
