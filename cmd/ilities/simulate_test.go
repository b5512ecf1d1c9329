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
	code, _, stderr := runCLI(t, "simulate", "../../examples/failover.yaml", "--quiet")
	if code != exitInvalid || !strings.Contains(stderr, "failover.yaml:16:") || !strings.Contains(stderr, "active health checking") {
		t.Errorf("a scenario with health checks: exit %d, want %d naming failover.yaml:16 and its health checks\n%s", code, exitInvalid, stderr)
	}
}
