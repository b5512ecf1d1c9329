package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
)

// simulate exits by its verdict as run does, writes the files run writes,
// and marks its result simulated; what it does not model yet is invalid
// input, named at its place.
func TestSimulateExitsByItsVerdictAndWritesWhatRunWrites(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		code     int
		verdict  string
	}{
		{"../../examples/quickstart.yaml", exitPass, report.VerdictPass},
		{"testdata/fail.yaml", exitFail, report.VerdictFail},
	} {
		t.Run(filepath.Base(tc.scenario), func(t *testing.T) {
			dir := t.TempDir()
			code, stdout, stderr := runCLI(t, "simulate", tc.scenario, "--out", dir)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stderr, "simulated ") || !strings.Contains(stdout, "simulated") {
				t.Errorf("no account of the simulation:\n%s\n%s", stdout, stderr)
			}
			if got := dirFiles(t, dir); !reflect.DeepEqual(got, runOutFiles) {
				t.Errorf("--out wrote %v, want what run writes: %v", got, runOutFiles)
			}
			b, err := os.ReadFile(filepath.Join(dir, "result.json"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"mode": "simulated"`) {
				t.Error(`result.json lacks "mode": "simulated"`)
			}
			res, err := report.ReadJSON(strings.NewReader(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", res.Verdict, tc.verdict)
			}
		})
	}
}

// Every example simulates and exits by its verdict, or is refused (exit 2)
// naming what the simulation does not model yet.
func TestSimulateEveryExample(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "simulate", file, "--quiet")
			switch code {
			case exitPass, exitFail:
			case exitInvalid:
				if !strings.Contains(stderr, "is not simulated yet") {
					t.Errorf("exit %d without naming what is not simulated:\n%s", code, stderr)
				}
			default:
				t.Errorf("exit %d, want the verdict's or a refusal\n%s\n%s", code, stdout, stderr)
			}
		})
	}
	for _, tc := range []struct{ file, what string }{
		{"failover.yaml", "health checks, a crash"},
		{"sticky-sessions.yaml", "closed-loop sessions, stickiness, a crash that loses sessions"},
		{"lamp.yaml", "one node, a single point of failure, its projected availability"},
		{"cache.yaml", "a cache in front of a database"},
	} {
		code, _, stderr := runCLI(t, "simulate", "../../examples/"+tc.file, "--quiet")
		if code != exitPass {
			t.Errorf("%s (%s): exit %d, want it to pass\n%s", tc.file, tc.what, code, stderr)
		}
	}
}

// Several sites behind DNS are simulated, and refused at their place
// (exit 2) by serve, which serves one built-in sut:.
func TestSitesAreSimulatedAndRefusedByServe(t *testing.T) {
	const example = "../../examples/two-sites.yaml"
	if code, stdout, stderr := runCLI(t, "simulate", example, "--quiet"); code != exitPass || !strings.Contains(stdout, "failed over after") {
		t.Errorf("simulate: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, args := range [][]string{{"serve", example, "--duration", "1s"}} {
		code, _, stderr := runCLI(t, args...)
		if code != exitInvalid || !strings.Contains(stderr, "two-sites.yaml:") || !strings.Contains(stderr, "ilities simulate runs them") {
			t.Errorf("%s: exit %d, want %d naming the sites' place and simulate\n%s", args[0], code, exitInvalid, stderr)
		}
	}
}
