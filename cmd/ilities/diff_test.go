package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

func TestDiffUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "result.json")
	res := &report.Result{SchemaVersion: report.SchemaVersion, Scenario: "s", Verdict: report.VerdictPass}
	if err := report.WriteFile(good, res, report.WriteJSON); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", good}, "accepts 2 arg(s)"},
		{[]string{"diff", good, filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"diff", good, good, "--confidence", "40%"}, "confidence"},
		{[]string{"diff", good, good, "--latency-tolerance", "ten"}, "latency-tolerance"},
		{[]string{"diff", good, good, "--format", "yaml"}, "--format"},
		{[]string{"diff", "-", "-"}, "only one of the two"},
		{[]string{"report", good, "--baseline", filepath.Join(dir, "missing.json")}, "--baseline"},
		// A requirement relative to a baseline needs one: an error at its place, before any run.
		{[]string{"run", "testdata/relative.yaml"}, "relative.yaml:15:5"},
	} {
		code, _, stderr := runCLI(t, c.args...)
		if code != exitInvalid || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %q", c.args, code, stderr, exitInvalid, c.want)
		}
	}
}

// TestBaselineGate is the gate's acceptance: ten runs of one seeded
// scenario against the built-in SUT, every pair compared, must give no
// regression; the same scenario with one backend 30% slower must fail
// against the first, with a readable table in the terminal and in
// summary.md. Runs the host delayed past a disturbed window's bound are
// compared too: the gate must call the host's doing inconclusive.
func TestBaselineGate(t *testing.T) {
	if testing.Short() {
		t.Skip("eleven end-to-end runs")
	}
	dir := t.TempDir()
	quick, err := os.ReadFile("../../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	same := strings.Replace(string(quick), "duration: 10s", "duration: 4s", 1)
	slow := strings.Replace(same, "{dist: constant, value: 5ms}", "{dist: constant, value: 6.5ms}", 1)
	if same == string(quick) || slow == same {
		t.Fatal("examples/quickstart.yaml changed: this test no longer shortens it or slows app-3")
	}
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	sameFile, slowFile := write("same.yaml", same), write("slow.yaml", slow)

	// Every pair is compared, disturbed runs too: the gate must call what
	// the host did inconclusive, never worse. A false alarm between two
	// undisturbed runs fails the test; one involving a run the host
	// delayed past a disturbed window's bound is reported with its figures.
	const runs = 10
	results := make([]string, runs)
	delayed := map[int]string{}
	for i := range runs {
		out := filepath.Join(dir, fmt.Sprintf("run-%d", i))
		runCLI(t, "run", sameFile, "--quiet", "--out", out)
		results[i] = filepath.Join(out, "result.json")
		if why := report.DelayedBeyond(readResultFile(t, results[i]), hostDelayForExactCounts); why != "" {
			delayed[i] = why
		}
	}
	var alarms, hostAlarms, unsure, pairs int
	var hostWhy []string
	for i := range runs {
		for j := i + 1; j < runs; j++ {
			pairs++
			code, stdout, stderr := runCLI(t, "diff", results[i], results[j])
			switch code {
			case exitPass:
			case exitFail:
				if why := delayed[i] + delayed[j]; why != "" {
					hostAlarms++
					hostWhy = append(hostWhy, fmt.Sprintf("runs %d and %d: %s", i, j, why))
					continue
				}
				alarms++
				t.Errorf("identical undisturbed runs %d and %d called worse:\n%s", i, j, stdout)
			case exitRun:
				unsure++
				t.Logf("runs %d and %d inconclusive: %s", i, j, strings.TrimSpace(stderr))
			default:
				t.Fatalf("diff: exit %d\n%s%s", code, stdout, stderr)
			}
		}
	}
	t.Logf("%d runs (%d delayed by the host), %d pairs: %d false alarms, %d more with a delayed run, %d inconclusive",
		runs, len(delayed), pairs, alarms, hostAlarms, unsure)
	if hostAlarms > 0 {
		t.Skipf("%d pairs called worse with a run the host delayed: %s", hostAlarms, strings.Join(hostWhy, "; "))
	}
	if unsure == pairs {
		t.Skipf("every comparison inconclusive: the host delayed %d of %d runs", len(delayed), runs)
	}

	// The baseline is a run the host did not delay: a delayed one's
	// latencies carry the host's delay, which would hide the slowdown.
	base := -1
	for i := range runs {
		if delayed[i] == "" {
			base = i
			break
		}
	}
	if base < 0 {
		t.Skipf("the host delayed every run, none can be the baseline: %s", delayed[0])
	}
	out := filepath.Join(dir, "slow")
	code, stdout, stderr := runCLI(t, "run", slowFile, "--quiet", "--baseline", results[base], "--out", out)
	res := readResultFile(t, filepath.Join(out, "result.json"))
	slowDelay := report.DelayedBeyond(res, hostDelayForExactCounts)
	if slowDelay != "" && code != exitFail {
		t.Skipf("the slower run: exit %d on a delayed host: %s", code, slowDelay)
	}
	// The slower backend moves the run's p50 about 1.3ms past a baseline
	// whose tolerance is 1ms, a margin about as large as the tool's own
	// delay at p50 when the host is a little busy (0.28ms quiet, more on a
	// shared runner). Then the gate must have seen the change, named it and
	// left it inconclusive with its figures: never pass, never worse.
	if code == exitRun && res.Diff != nil && res.Diff.Verdict == report.VerdictInconclusive {
		flat := strings.Join(strings.Fields(stdout), " ")
		if !strings.Contains(firstLineWith(stdout, "BASELINE: INCONCLUSIVE - "), "p50(latency) +") || !strings.Contains(flat, "within the tool's own delay at p50") {
			t.Fatalf("one backend 30%% slower, inconclusive without naming p50 within the tool's delay:\n%s", stdout)
		}
		t.Skipf("one backend 30%% slower: p50 worse by no more than the tool's own delay: %s", ownDelayWhy(flat))
	}
	if code != exitFail {
		t.Fatalf("one backend 30%% slower: exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The slower backend moves p50, of the run and of its main request; a
	// host that delayed the run leaves the comparisons within its delay
	// inconclusive, and its requirements may be too, so the figure found
	// worse may be another.
	worse, verdict, table := "p50(latency) +", "VERDICT: FAIL - all 4 requirements met (worse than the baseline", "p50(latency) |"
	if slowDelay != "" {
		worse, verdict, table = "BASELINE: FAIL - worse than the baseline: ", "(worse than the baseline", "p50(latency)"
		t.Logf("the slower run was delayed by the host (%s): its figures found worse may be any", slowDelay)
	}
	if first := firstLineWith(stdout, "BASELINE: FAIL - worse than the baseline: "); !strings.Contains(first, worse) {
		t.Errorf("the first figure found worse is not %q: %q", worse, first)
	}
	for _, c := range []struct{ text, want string }{
		{stdout, worse},
		{stdout, verdict},
		{stdout, "VERDICT: FAIL - "},
		{stdout, "WORSE"},
		{string(summary), "### ❌ Against the baseline"},
		{string(summary), table},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("lacks %q:\n%s", c.want, c.text)
		}
	}
	if res.Diff == nil || res.Diff.Verdict != report.VerdictFail || res.Verdict != report.VerdictFail {
		t.Errorf("result.json: verdict %s, diff %+v", res.Verdict, res.Diff)
	}
	// The same comparison from the files, as a CI job that keeps the
	// last good result.json would make it.
	code, stdout, _ = runCLI(t, "diff", results[base], filepath.Join(out, "result.json"), "--format", "markdown")
	if code != exitFail || !strings.Contains(stdout, "❌ WORSE") {
		t.Errorf("diff --format markdown: exit %d\n%s", code, stdout)
	}
}

// ownDelayWhy is the sentence of a report, its spaces collapsed, that
// says by how much a figure missed and what the tool's own delay was.
func ownDelayWhy(flat string) string {
	at := strings.Index(flat, "within the tool's own delay at")
	if at < 0 {
		return "(no figures)"
	}
	from := strings.LastIndex(flat[:at], "p50(latency): ")
	if from < 0 {
		from = max(0, at-80)
	}
	end := strings.Index(flat[at:], ")")
	if end < 0 {
		return flat[from:]
	}
	return flat[from : at+end+1]
}

// firstLineWith is the first line of text that holds prefix, or "".
func firstLineWith(text, prefix string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, prefix) {
			return line
		}
	}
	return ""
}

// hostDelayForExactCounts is the tool's delay up to which a run is taken
// as undisturbed: report's bound for a disturbed window.
const hostDelayForExactCounts = time.Duration(report.DisturbedAboveMS * float64(time.Millisecond))

func readResultFile(t *testing.T, path string) *report.Result {
	t.Helper()
	res, err := readResult(path)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
