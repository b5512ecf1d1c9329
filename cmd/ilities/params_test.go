package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ilities/ilities/report"
)

// runCLIStdin is runCLI with stdin as the process's standard input.
func runCLIStdin(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(stdin); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = saved }()
	return runCLI(t, args...)
}

// passedResult reads the result a run printed with --format json, once it
// exited 0.
func passedResult(t *testing.T) func(code int, stdout, stderr string) *report.Result {
	return func(code int, stdout, stderr string) *report.Result {
		t.Helper()
		if code != exitPass {
			t.Fatalf("exit %d, want 0\n%s\n%s", code, stdout, stderr)
		}
		res, err := report.ReadJSON(strings.NewReader(stdout))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}

// recorder is a target that counts the requests it is sent and keeps the
// last body.
type recorder struct {
	mu       sync.Mutex
	requests int
	body     string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	r.body = string(body)
	r.mu.Unlock()
}

// startRecorder serves a recorder on 127.0.0.1 for an end-to-end run,
// skipped in -short.
func startRecorder(t *testing.T) (*recorder, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end run")
	}
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

func (r *recorder) seen() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.body
}

func TestRunScenarioFromStdin(t *testing.T) {
	rec, url := startRecorder(t)
	// The body file is found from the working directory, the URL in the
	// environment.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"sku": 7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("ILITIES_TEST_TARGET", url)
	scen := "name: piped\nduration: 1s\ntarget: {url: '${ILITIES_TEST_TARGET}'}\n" +
		"workload:\n  - rate: ${RATE:-20/s}\n    requests: [{method: POST, path: /cart, body_file: body.json}]\n" +
		"requirements: ['succeeded >= 1']\n"
	res := passedResult(t)(runCLIStdin(t, scen, "run", "-", "--quiet", "--allow-saturated", "--format", "json"))
	n, body := rec.seen()
	if res.Scenario != "piped" || n < 15 || body != `{"sku": 7}` {
		t.Errorf("scenario %q; target saw %d requests, last body %q", res.Scenario, n, body)
	}
}

func TestRunStdinErrorsNameStdin(t *testing.T) {
	code, _, stderr := runCLIStdin(t, "name: x\nworkload:\n  - rate: fast\n", "run", "-", "--target", "http://127.0.0.1:9/")
	if code != exitInvalid || !strings.Contains(stderr, `<stdin>:3:11: expected a rate`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestRunTargetRateDuration(t *testing.T) {
	rec, url := startRecorder(t)
	// The file's target, rate and length are all replaced.
	scen := writeScenario(t, "name: gate\nduration: 30s\ntarget: {url: 'http://127.0.0.1:1/', urls: ['http://127.0.0.1:2/']}\n"+
		"workload:\n  - {name: api, rate: 1/s}\nrequirements: ['error_rate < 1%']\n")
	res := passedResult(t)(runCLI(t, "run", scen, "--target", url, "--rate", "40/s", "--duration", "1s",
		"--quiet", "--allow-saturated", "--format", "json"))
	n, _ := rec.seen()
	if res.Totals.Scheduled < 38 || res.Totals.Scheduled > 42 || n < 38 {
		t.Errorf("scheduled %d, the target saw %d: want 40 in 1s at 40/s", res.Totals.Scheduled, n)
	}
}

func TestScenarioFlagErrors(t *testing.T) {
	staged := writeScenario(t, "target: {url: 'http://127.0.0.1:9/'}\nworkload:\n  - {name: ramp, stages: [{ramp_to: 10/s, over: 2s}]}\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "testdata/pass.yaml", "--target", "http://127.0.0.1:9/"},
			"--target: the scenario has a built-in SUT (sut: at line 4)"},
		{[]string{"run", staged, "--rate", "5/s"},
			`--rate: "ramp" has stages (a rate that changes over time), and --rate sets a constant rate`},
		{[]string{"validate", "testdata/pass.yaml", "--duration", "soon"},
			`--duration: expected a duration such as "250ms", "1.5s" or "2m", got "soon"`},
		{[]string{"validate", "testdata/pass.yaml", "--set", "sut.proxy.stratgy=random"},
			`--set sut.proxy.stratgy: unknown field "stratgy" in sut.proxy; did you mean "strategy"?`},
		{[]string{"compare", "testdata/pass.yaml", "--strategies", "random", "--set", "workload.0.rate=fast"},
			`--set workload.0.rate: expected a rate such as "800/s" or "48000/min", got "fast"`},
		{[]string{"capacity", "testdata/pass.yaml", "--set", "workload"},
			`--set workload: expected path=value`},
		{[]string{"serve", "testdata/pass.yaml", "--set", "sut.pools.0.backends.0.workers=0.5"},
			`--set sut.pools.0.backends.0.workers: expected an integer for workers, got "0.5"`},
		{[]string{"validate", "testdata/pass.yaml", "--set", "requirements.0=error_rate < 1"},
			`--set requirements.0: error_rate needs a percentage such as "99.9%", got "1": a bare 1 is ambiguous: write "1%"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitInvalid || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitInvalid, tt.want)
			}
		})
	}
}

func TestValidateWithSets(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "testdata/pass.yaml",
		"--set", "workload.0.rate=200/s", "--set", "requirements.3=p99(latency) < 80ms")
	if code != exitPass || !strings.Contains(stdout, "1 workload(s), 4 requirement(s)") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestOutNamingAnOutputIsAnError(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, args := range [][]string{
		{"run", "x.yaml"},
		{"attack", "http://127.0.0.1:9/"},
		{"report", "result.json"},
		{"compare", "x.yaml", "--strategies", "random"},
		{"capacity", "x.yaml"},
	} {
		code, _, stderr := runCLI(t, append(args, "--out", "influxdb=http://127.0.0.1:8086/k6")...)
		if code != exitInvalid || !strings.Contains(stderr, `ilities has no "influxdb" output (outputs written NAME=URL: none; run, attack and serve give live metrics to Prometheus with --metrics-addr)`) {
			t.Errorf("%s: exit %d, stderr %q", args[0], code, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("an output's name made files: %v", entries)
	}
}
