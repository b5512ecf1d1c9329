package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
)

func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// runOutFiles are what run --out writes for the built-in SUT, sorted.
var runOutFiles = []string{"errors.png", "junit.xml", "latency-spectrum.png", "latency.hlog", "latency.png", "node-requests.png",
	"node-utilisation.png", "report.html", "result.json", "summary.md", "throughput.png", "topology.png"}

// run --out writes every report; report re-renders each of them from the
// saved result.json, byte for byte.
func TestRunOutAndReportRerender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "testdata/fail.yaml", "--quiet", "--out", dir)
	if f, err := os.Open(filepath.Join(dir, "result.json")); err == nil {
		if res, err := report.ReadJSON(f); err == nil {
			skipWhenToolDelayedPastFailMargin(t, code, res)
		}
		f.Close()
	}
	if code != exitFail {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	want := runOutFiles
	got := dirFiles(t, dir)
	// Per-second utilisation is drawn when the nodes report it.
	if !reflect.DeepEqual(got, want) && !reflect.DeepEqual(got, append(append([]string{}, want[:5]...), want[6:]...)) {
		t.Fatalf("--out wrote %v, want %v", got, want)
	}
	result := filepath.Join(dir, "result.json")
	checkRunRecords(t, result)

	again := t.TempDir()
	code, stdout, stderr = runCLI(t, "report", result, "--out", again)
	if code != exitFail || stdout != "" {
		t.Fatalf("report --out: exit %d, want 1 (the verdict), and nothing printed\n%s\n%s", code, stdout, stderr)
	}
	for _, name := range got {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s rendered again differs from the run's", name)
		}
	}

	single := t.TempDir()
	pngDir := filepath.Join(single, "png")
	code, _, stderr = runCLI(t, "report", result,
		"--html", filepath.Join(single, "r.html"), "--junit", filepath.Join(single, "j.xml"),
		"--markdown", filepath.Join(single, "s.md"), "--hlog", filepath.Join(single, "l.hlog"), "--png", pngDir)
	if code != exitFail {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for single, run := range map[string]string{"r.html": "report.html", "j.xml": "junit.xml", "s.md": "summary.md", "l.hlog": "latency.hlog",
		"png/latency.png": "latency.png", "png/topology.png": "topology.png"} {
		a, _ := os.ReadFile(filepath.Join(dir, run))
		b, err := os.ReadFile(filepath.Join(filepath.Dir(pngDir), single))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("--%s output differs from the run's %s (%v)", filepath.Ext(single)[1:], run, err)
		}
	}
	junit, _ := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if n := strings.Count(string(junit), "<failure "); n != 1 {
		t.Errorf("junit.xml has %d failures, want 1 (p99 < 1ms)", n)
	}

	// No output flag: the terminal report on stdout; --format picks another.
	code, stdout, _ = runCLI(t, "report", result)
	if code != exitFail || !strings.Contains(stdout, "VERDICT: FAIL") {
		t.Errorf("report: exit %d, stdout:\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "report", result, "--format", "markdown")
	if code != exitFail || !strings.Contains(stdout, "**VERDICT: FAIL") {
		t.Errorf("report --format markdown: exit %d, stdout:\n%s", code, stdout)
	}
}

func TestReportRefusesWhatIsNotAResult(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{\n  \"schema_version\": 1,\n  \"seed\": \"x\"\n}"), 0o644)
	for _, args := range [][]string{
		{"report", filepath.Join(dir, "missing.json")},
		{"report", bad},
		{"report", "testdata/pass.yaml"},
		{"report", bad, "--format", "yaml"},
		{"report"},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitInvalid {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitInvalid, stderr)
		}
	}
	code, _, stderr := runCLI(t, "report", bad)
	if !strings.Contains(stderr, "line 3") || code != exitInvalid {
		t.Errorf("malformed result: %q", stderr)
	}
}

// checkRunRecords checks what a run records for the reports: each
// second's latency histogram (for latency.hlog) and the manifest.
func checkRunRecords(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	var inWindows int64
	for _, w := range res.Windows {
		h, err := report.DecodeHistogram(w.Histogram)
		if err != nil {
			t.Fatalf("window %d: %v", w.T, err)
		}
		inWindows += h.TotalCount()
	}
	// Every completion lands in its window's histogram, bar a straggler
	// arriving after its window was closed.
	if n := res.LatencyMS.Count; n == 0 || float64(inWindows) < 0.99*float64(n) || inWindows > n {
		t.Errorf("window histograms hold %d completions, the run %d", inWindows, n)
	}
	m := res.Manifest
	if m.ScenarioFile != "testdata/fail.yaml" || !strings.Contains(m.ScenarioYAML, "name: fail\n") || m.GoVersion == "" || m.CPUs <= 0 {
		t.Errorf("manifest %+v", m)
	}
}

// A result written before explanations were kept is explained when it is
// rendered again, as the run that wrote it would have been.
func TestReportExplainsAnOlderResult(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "simulate", "testdata/fail.yaml", "--quiet", "--out", dir); code != exitFail {
		t.Fatalf("simulate: exit %d, want 1\n%s", code, stderr)
	}
	result := filepath.Join(dir, "result.json")
	_, explained, _ := runCLI(t, "report", result)
	data, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["explanations"]; !ok {
		t.Fatalf("result.json keeps no explanations")
	}
	delete(doc, "explanations")
	older := filepath.Join(dir, "older.json")
	data, _ = json.Marshal(doc)
	if err := os.WriteFile(older, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "report", older)
	if code != exitFail || !strings.Contains(stdout, "\n  why p99(latency) < 5ms for browse failed") || stdout != explained {
		t.Errorf("report of the older result: exit %d\n%s\n%s\nwant as the result's own:\n%s", code, stdout, stderr, explained)
	}
}
