package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
)

// Four segments, started as processes 2 s apart on purpose, all with one
// --start-at a few seconds ahead, and a merge waiting for them in a
// directory: every part's clock starts at the planned instant, the merged
// totals are exactly the planned arrivals, and each merged window is the
// sum of the parts' windows of the same absolute second, the first one
// full (no 2 s shift).
func TestSegmentsStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes for about ten seconds")
	}
	bin := buildBinary(t)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	const rate, seconds, segments, apart = 200, 2, 4, 2 * time.Second
	scen := writeScenario(t, fmt.Sprintf(`name: together
seed: 3
duration: %ds
target: {url: %s}
workload:
  - {name: w, rate: %d/s}
`, seconds, srv.URL, rate))
	planned := time.Now().Add(segments*apart + 1500*time.Millisecond).UTC().Truncate(time.Millisecond)
	parts := t.TempDir()
	merged := filepath.Join(t.TempDir(), "merged.json")

	// The merge first: it waits for the parts to be written.
	merge := exec.Command(bin, "merge", parts, "--wait", fmt.Sprint(segments), "--timeout", "2m",
		"--out", merged, "--allow-saturated")
	var mergeOut, mergeErr bytes.Buffer
	merge.Stdout, merge.Stderr = &mergeOut, &mergeErr
	if err := merge.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = merge.Process.Kill() })
	var cmds []*exec.Cmd
	for k := 1; k <= segments; k++ {
		if k > 1 {
			time.Sleep(apart)
		}
		cmd := exec.Command(bin, "run", scen, "--quiet", "--allow-saturated", "--segment", fmt.Sprintf("%d/%d", k, segments),
			"--start-at", planned.Format(time.RFC3339Nano), "--out", filepath.Join(parts, fmt.Sprint("part-", k)))
		cmd.Stdout, cmd.Stderr = new(bytes.Buffer), new(bytes.Buffer)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		cmds = append(cmds, cmd)
	}
	var results []*report.Result
	for k, cmd := range cmds {
		runErr := cmd.Wait()
		res, err := readResult(filepath.Join(parts, fmt.Sprint("part-", k+1), "result.json"))
		if err != nil {
			t.Fatalf("segment %d: %v (%v)\n%s", k+1, err, runErr, cmd.Stderr)
		}
		results = append(results, res)
		m := res.Manifest
		if !m.PlannedStart.Equal(planned) || !m.T0.Equal(res.Started) || m.StartAt != planned.Format(time.RFC3339Nano) {
			t.Errorf("segment %d: manifest start %q planned %v t0 %v, started %v; want planned %v", k+1, m.StartAt, m.PlannedStart, m.T0, res.Started, planned)
		}
		if late := res.Started.Sub(planned); late < 0 || late > runner.StartTolerance {
			t.Errorf("segment %d started its clock %v after the planned instant", k+1, late)
		}
	}
	if err := merge.Wait(); err != nil {
		t.Fatalf("merge: %v\n%s\n%s", err, mergeOut.String(), mergeErr.String())
	}
	m, err := readResult(merged)
	if err != nil {
		t.Fatal(err)
	}
	s := m.Starts
	if s == nil || !s.Within || !s.PlannedStart.Equal(planned) || len(s.Parts) != segments || s.SkewMS > report.DefaultMaxSkew.Seconds()*1000 {
		t.Fatalf("merged starts %+v", s)
	}
	if !strings.Contains(mergeOut.String(), fmt.Sprintf("%d segments started within", segments)) {
		t.Errorf("merge did not say how the segments started:\n%s", mergeOut.String())
	}

	// Exact: every planned arrival, once.
	var sum int64
	for _, r := range results {
		sum += r.Totals.Scheduled
	}
	if want := int64(rate * seconds); m.Totals.Scheduled != want || sum != want {
		t.Errorf("merged %d scheduled, the parts %d; want %d", m.Totals.Scheduled, sum, want)
	}
	// Lined up by absolute time: each merged second is the parts' same
	// second, and every second is whole (the first too).
	if len(m.Windows) != seconds {
		t.Fatalf("%d merged windows, want %d", len(m.Windows), seconds)
	}
	for i, w := range m.Windows {
		var parts int64
		for _, r := range results {
			second := int(r.Started.Sub(m.Started).Round(time.Second).Seconds())
			if j := i - second; j >= 0 && j < len(r.Windows) {
				parts += r.Windows[j].Scheduled
			}
		}
		if w.Scheduled != parts || w.Scheduled != rate {
			t.Errorf("merged window %d: %d scheduled, the parts' same second %d; want %d", i, w.Scheduled, parts, rate)
		}
	}
}

// A run waiting for its start time stops at the first SIGINT, at once,
// having sent nothing and written nothing; a start time already past, or
// one that cannot be read, is invalid input.
func TestStartAtWaitsAndIsInterruptible(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	scen := writeScenario(t, "name: later\nduration: 1s\ntarget: {url: "+srv.URL+"}\nworkload:\n  - {name: w, rate: 10/s}\n")
	for _, at := range []string{"2020-01-01T00:00:00Z", "soon", "next:0s"} {
		if code, _, stderr := runCLI(t, "run", scen, "--quiet", "--start-at", at); code != exitInvalid || !strings.Contains(stderr, "--start-at") {
			t.Errorf("--start-at %s: exit %d, want %d\n%s", at, code, exitInvalid, stderr)
		}
	}
	if testing.Short() {
		return
	}
	bin := buildBinary(t)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, "run", scen, "--start-at", "+5m", "--out", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stderr)
	var said strings.Builder
	for lines.Scan() {
		said.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "waiting for the start time") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for lines.Scan() {
		said.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitRun || !strings.Contains(said.String(), "interrupted while waiting for the start time") {
		t.Fatalf("after SIGINT: %v, want exit %d\n%s", err, exitRun, said.String())
	}
	if took := time.Since(sent); took > 30*time.Second {
		t.Errorf("took %v to stop", took)
	}
	if _, err := os.Stat(filepath.Join(out, "result.json")); err == nil {
		t.Errorf("a run interrupted before its start wrote a result")
	}
}

// A segment run with --no-fail-exit exits 0 on a failed requirement (its
// verdict is not the run's); merge finds parts in directories, and waits
// for them only as long as it is told.
func TestSegmentExitAndMergeGathering(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	scen := writeScenario(t, "name: failing\nduration: 500ms\ntarget: {url: "+srv.URL+"}\nworkload:\n  - {name: w, rate: 20/s}\nrequirements:\n  - error_rate < 1%\n")
	parts := t.TempDir()
	for k := 1; k <= 2; k++ {
		args := []string{"run", scen, "--quiet", "--segment", fmt.Sprintf("%d+1/2", k-1), "--out", filepath.Join(parts, fmt.Sprint(k))}
		if k == 1 {
			args = append(args, "--no-fail-exit")
		}
		code, stdout, stderr := runCLI(t, args...)
		if want := map[int]int{1: exitPass, 2: exitFail}[k]; code != want {
			t.Fatalf("segment %d: exit %d, want %d\n%s\n%s", k, code, want, stdout, stderr)
		}
	}
	merged := filepath.Join(parts, "result.json") // under the directory: never a part
	code, stdout, stderr := runCLI(t, "merge", parts, "--out", merged, "--max-skew", "1h")
	if code != exitFail || !strings.Contains(stdout, "merged from 2 segments") {
		t.Fatalf("merge of a directory: exit %d, want %d\n%s\n%s", code, exitFail, stdout, stderr)
	}
	// Again, the merged result beside the parts passed over.
	if code, stdout, stderr := runCLI(t, "merge", parts, "--out", filepath.Join(t.TempDir(), "again.json"), "--max-skew", "1h"); code != exitFail {
		t.Errorf("merge again: exit %d\n%s\n%s", code, stdout, stderr)
	}
	empty := t.TempDir()
	if code, _, stderr := runCLI(t, "merge", empty, "--out", merged); code != exitInvalid || !strings.Contains(stderr, "no result.json") {
		t.Errorf("merge of an empty directory: exit %d\n%s", code, stderr)
	}
	begun := time.Now()
	code, _, stderr = runCLI(t, "merge", empty, "--wait", "2", "--timeout", "1500ms", "--out", merged)
	if code != exitRun || !strings.Contains(stderr, "waited 1.5s for 2 parts") || time.Since(begun) < 1500*time.Millisecond {
		t.Errorf("merge --wait of an empty directory: exit %d after %v\n%s", code, time.Since(begun), stderr)
	}
}
