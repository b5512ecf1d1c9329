package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stderrWatch is a command's stderr, read while the command runs: it
// finds the live metrics' URL the command prints.
type stderrWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	url  chan string
	once sync.Once
}

var metricsLine = regexp.MustCompile(`live metrics at (http://\S+)\n`)

func newStderrWatch() *stderrWatch { return &stderrWatch{url: make(chan string, 1)} }

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := metricsLine.FindSubmatch(w.buf.Bytes()); m != nil {
		w.once.Do(func() { w.url <- string(m[1]) })
	}
	return len(p), nil
}

func (w *stderrWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// metricsURL waits for the command to name its metrics' URL.
func (w *stderrWatch) metricsURL(t *testing.T, code <-chan int) string {
	t.Helper()
	select {
	case u := <-w.url:
		return u
	case c := <-code:
		t.Fatalf("exit %d before naming its metrics' address; stderr %q", c, w.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no metrics address named within 30 s; stderr %q", w.String())
	}
	return ""
}

func TestMetricsFlagsRejectBadValues(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := []struct {
		args     []string
		wantCode int
		wantMsg  string
	}{
		{[]string{"--metrics-addr", "9464"}, exitInvalid, "--metrics-addr"},
		{[]string{"--metrics-addr", "127.0.0.1:99999"}, exitInvalid, "65535"},
		{[]string{"--metrics-addr", ":0", "--metrics-linger", "-1s"}, exitInvalid, "--metrics-linger"},
		{[]string{"--metrics-addr", taken.Addr().String()}, exitRun, "--metrics-addr"},
	}
	for _, tc := range cases {
		for _, cmd := range [][]string{{"run", "testdata/pass.yaml"}, {"serve", "testdata/pass.yaml"},
			{"attack", "http://127.0.0.1:9/", "--rate", "1/s", "--duration", "1s"}} {
			args := append(cmd, tc.args...)
			code, _, stderr := runCLI(t, args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", args, code, stderr, tc.wantCode, tc.wantMsg)
			}
		}
	}
}

// TestServeMetrics: ilities serve --metrics-addr shows each backend of the
// SUT it serves.
func TestServeMetrics(t *testing.T) {
	stderr := newStderrWatch()
	code := make(chan int, 1)
	go func() {
		code <- execute(context.Background(), []string{"serve", "testdata/pass.yaml", "--duration", "4s",
			"--metrics-addr", "127.0.0.1:0", "--metrics-linger", "0"}, io.Discard, stderr)
	}()
	u := stderr.metricsURL(t, code)
	// The endpoint is up before the sampler's first reading of the nodes:
	// scrape until the nodes show, as a scraper would, while serve runs.
	wants := []string{`ilities_sut_node_up{node="a",pool="app"} 1`, `ilities_sut_node_up{node="b",pool="app"} 1`,
		`ilities_sut_node_requests_total{node="a",pool="app"} 0`}
	var body []byte
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if missing(string(body), wants) == "" || time.Now().After(deadline) {
			break
		}
	}
	if m := missing(string(body), wants); m != "" {
		t.Errorf("%s lacks %q:\n%s", u, m, body)
	}
	select {
	case c := <-code:
		if c != exitPass {
			t.Errorf("exit %d; stderr %q", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still serving 20 s after a 4 s --duration")
	}
	if _, err := http.Get(u); err == nil {
		t.Errorf("%s still served after serve ended", u)
	}
}

// TestLiveMetricsReachPrometheus scrapes a run with a real Prometheus
// (Debian's prometheus) and checks that what Prometheus stored adds up to
// the run's result.json: every arrival, every latency observation, each
// backend of the built-in SUT. The documented queries must be accepted.
func TestLiveMetricsReachPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run with Prometheus")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed (Debian package prometheus): the live metrics are not checked against it")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	stderr := newStderrWatch()
	code := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// The linger is long: the run ends once Prometheus scraped its
		// final figures, however long Prometheus took to start.
		code <- execute(ctx, []string{"run", "testdata/pass.yaml", "--quiet", "--allow-saturated", "--out", out,
			"--metrics-addr", "127.0.0.1:0", "--metrics-linger", "60s"}, io.Discard, stderr)
	}()
	target, err := url.Parse(stderr.metricsURL(t, code))
	if err != nil {
		t.Fatal(err)
	}
	api := startPrometheus(t, promBin, dir, target.Host)

	select {
	case c := <-code:
		// The verdict depends on the host; the figures do not.
		if c != exitPass && c != exitFail && c != exitRun {
			t.Fatalf("exit %d; stderr %q", c, stderr.String())
		}
	case <-time.After(90 * time.Second):
		cancel()
		t.Fatalf("the run did not end within 90 s; stderr %q", stderr.String())
	}
	var res struct {
		Totals struct{ Scheduled, Succeeded, Failed int64 }
	}
	data, err := os.ReadFile(filepath.Join(out, "result.json"))
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if err != nil || res.Totals.Scheduled == 0 {
		t.Fatalf("result.json: %v, totals %+v; stderr %q", err, res.Totals, stderr.String())
	}

	// The run's series went stale when its endpoint closed: the final
	// values are the last over a range.
	checks := []struct {
		query string
		want  int64
	}{
		{"sum(max_over_time(ilities_requests_scheduled_total[5m]))", res.Totals.Scheduled},
		{"sum(max_over_time(ilities_requests_sent_total[5m]))", res.Totals.Succeeded + res.Totals.Failed},
		{"sum(max_over_time(ilities_request_latency_seconds_count[5m]))", res.Totals.Succeeded + res.Totals.Failed},
		{"count(max_over_time(ilities_sut_node_up[5m]))", 2},
	}
	for _, c := range checks {
		var got float64
		deadline := time.Now().Add(30 * time.Second)
		for {
			got = promValue(t, api, c.query)
			if int64(got) == c.want || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if int64(got) != c.want {
			t.Errorf("%s = %v, want %d", c.query, got, c.want)
		} else {
			t.Logf("%s = %v, as wanted", c.query, got)
		}
	}
	for _, q := range documentedQueries(t) {
		promValue(t, api, q) // fails the test when Prometheus refuses it
	}
}

// startPrometheus runs Prometheus scraping target every 500 ms, its data in
// dir, until the test ends, and returns its API's base URL once it is ready.
func startPrometheus(t *testing.T, bin, dir, target string) string {
	t.Helper()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf("global: {scrape_interval: 500ms, scrape_timeout: 400ms}\n"+
		"scrape_configs:\n  - job_name: ilities\n    static_configs: [{targets: [%q]}]\n", target)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+listen, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus's log:\n%s", logs.String())
		}
	})
	api := "http://" + listen
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(api + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready at %s within 60 s", api)
		}
	}
}

// promValue runs an instant query and returns its first sample's value (0
// when the result is empty); a refused query fails the test.
func promValue(t *testing.T, api, query string) float64 {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if body.Status != "success" {
		t.Fatalf("%s: %s %s", query, body.Status, body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s: value %v", query, body.Data.Result[0].Value)
	}
	return v
}

// documentedQueries are the PromQL examples of docs/live-metrics.md (its
// ```promql blocks, one query a line).
func documentedQueries(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/live-metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, block := range regexp.MustCompile("(?s)```promql\n(.*?)```").FindAllSubmatch(doc, -1) {
		for _, line := range strings.Split(strings.TrimSpace(string(block[1])), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				qs = append(qs, line)
			}
		}
	}
	if len(qs) == 0 {
		t.Fatal("docs/live-metrics.md has no ```promql example")
	}
	return qs
}

// missing returns the first of wants that text lacks, "" when it has them all.
func missing(text string, wants []string) string {
	for _, w := range wants {
		if !strings.Contains(text, w) {
			return w
		}
	}
	return ""
}
