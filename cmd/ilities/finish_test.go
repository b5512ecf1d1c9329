package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
)

// A run that could not be carried out is invalid, never a pass: its
// verdict, its result.json and its exit code say so, whether it had
// requirements or none (attack). The line saying where the files went
// ends the output on standard error, unless --quiet.
func TestRunNotCarriedOutIsNoPass(t *testing.T) {
	// Nothing listens on a port that was just free.
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	scen := writeScenario(t, "name: refused\nduration: 300ms\ntarget: {url: http://"+addr+"/}\n"+
		"workload:\n  - {name: w, rate: 20/s, timeout: 1s}\nrequirements:\n  - p99(latency) < 10s\n")
	for _, tc := range []struct {
		name      string
		args      []string
		filesLine bool
	}{
		{"attack", []string{"attack", "http://" + addr + "/", "--rate", "20", "--duration", "300ms"}, true},
		{"attack quiet", []string{"attack", "http://" + addr + "/", "--rate", "20", "--duration", "300ms", "--quiet"}, false},
		{"run", []string{"run", scen}, true},
		{"run json", []string{"run", scen, "--format", "json"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "results")
			code, stdout, stderr := runCLI(t, append(tc.args, "--out", dir)...)
			if code != exitRun {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, exitRun, stdout, stderr)
			}
			if strings.Contains(stdout, "VERDICT: PASS") || strings.Contains(stdout, `"verdict": "pass"`) {
				t.Errorf("a run with no response passes:\n%s", stdout)
			}
			if tc.args[len(tc.args)-1] != "json" && !strings.Contains(stdout, "VERDICT: INCONCLUSIVE") {
				t.Errorf("want VERDICT: INCONCLUSIVE, got:\n%s", stdout)
			}
			res := readResultFile(t, filepath.Join(dir, "result.json"))
			if res.Verdict != report.VerdictInconclusive || !strings.Contains(res.RunError, "not a single HTTP response") ||
				!strings.HasPrefix(res.VerdictReason, "the run is invalid: it could not be carried out: ") {
				t.Errorf("result.json: verdict %q (%q), run_error %q", res.Verdict, res.VerdictReason, res.RunError)
			}
			line := "wrote result.json, summary.md, junit.xml, latency.hlog, report.html and "
			if got := strings.Contains(stderr, line) && strings.Contains(stderr, " to "+dir+"/\n"); got != tc.filesLine {
				t.Errorf("line naming the files and %s on stderr: %v, want %v\n%s", dir, got, tc.filesLine, stderr)
			}
			if strings.Contains(stdout, "wrote ") {
				t.Errorf("the files' line went to standard output:\n%s", stdout)
			}
		})
	}
}
