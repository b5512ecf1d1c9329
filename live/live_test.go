package live

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
)

func TestListenAddr(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{":9464", "127.0.0.1:9464", true},
		{":0", "127.0.0.1:0", true},
		{"127.0.0.1:0", "127.0.0.1:0", true},
		{"0.0.0.0:9464", "0.0.0.0:9464", true},
		{"[::1]:9464", "[::1]:9464", true},
		{"localhost:9464", "localhost:9464", true},
		{"9464", "", false},
		{"", "", false},
		{"127.0.0.1:70000", "", false},
		{"127.0.0.1:http", "", false},
		{"127.0.0.1:-1", "", false},
	}
	for _, tc := range cases {
		got, err := ListenAddr(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ListenAddr(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// scrape reads the server's metrics over HTTP, as Prometheus does.
func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", s.URL(), resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", s.URL(), err)
	}
	return fams
}

// series finds the series of family name with the given label values
// (name=value pairs); nil when there is none.
func series(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is the series' counter or gauge value, -1 when it is missing.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := series(fams, name, labels...)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

// below is how many of a histogram series' observations are at most le.
func below(m *dto.Metric, le float64) uint64 {
	for _, b := range m.GetHistogram().GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	return 0
}

func listen(t *testing.T, m *Metrics) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestMetricsShowWhatWasObserved(t *testing.T) {
	ms := time.Millisecond
	m := New()
	s := listen(t, m)
	if got := value(scrape(t, s), "ilities_run_active"); got != 0 {
		t.Errorf("before a run: ilities_run_active %v, want 0", got)
	}
	m.Begin([]string{"browse", "buy"})
	for _, o := range []runner.Observation{
		{Workload: 0, Fate: runner.FateSucceeded, Latency: 3 * ms, SendLag: 20 * time.Microsecond, Paced: true, Status: 200},
		{Workload: 0, Fate: runner.FateSucceeded, Latency: 40 * ms, SendLag: 2 * ms, Paced: true, Status: 200},
		{Workload: 0, Fate: runner.FateFailed, Class: runner.Class5xx, Latency: 2 * ms, Paced: true, Status: 503},
		{Workload: 0, Fate: runner.FateFailed, Class: runner.ClassTimeout, Latency: 2 * time.Second, Paced: true},
		{Workload: 0, Fate: runner.FateDropped},
		{Workload: 0, Fate: runner.FateCut},
		{Workload: 1, Fate: runner.FateSucceeded, Latency: 7 * ms, Status: 201},
	} {
		m.Observe(o)
	}
	m.Nodes([]run.NodeFigures{
		{Name: "b1", Pool: "api", Requests: 10, Failures: 1, Served: 9, Inflight: 2, Utilisation: 0.25, Up: true, Healthy: true},
		{Name: "b2", Pool: "api", Requests: 4, Up: false, Healthy: false},
	})
	fams := scrape(t, s)

	counts := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ilities_requests_scheduled_total", []string{"workload", "browse"}, 6},
		{"ilities_requests_sent_total", []string{"workload", "browse"}, 4},
		{"ilities_requests_succeeded_total", []string{"workload", "browse"}, 2},
		{"ilities_requests_failed_total", []string{"workload", "browse"}, 2},
		{"ilities_requests_dropped_total", []string{"workload", "browse"}, 1},
		{"ilities_requests_cut_total", []string{"workload", "browse"}, 1},
		{"ilities_requests_scheduled_total", []string{"workload", "buy"}, 1},
		{"ilities_requests_failed_total", []string{"workload", "buy"}, 0},
		{"ilities_request_errors_total", []string{"workload", "browse", "class", "5xx"}, 1},
		{"ilities_request_errors_total", []string{"workload", "browse", "class", "timeout"}, 1},
		{"ilities_request_errors_total", []string{"workload", "buy", "class", "5xx"}, -1},
		{"ilities_responses_total", []string{"workload", "browse", "code", "200"}, 2},
		{"ilities_responses_total", []string{"workload", "browse", "code", "503"}, 1},
		{"ilities_responses_total", []string{"workload", "buy", "code", "201"}, 1},
		{"ilities_run_active", nil, 1},
		{"ilities_sut_node_requests_total", []string{"node", "b1", "pool", "api"}, 10},
		{"ilities_sut_node_failures_total", []string{"node", "b1"}, 1},
		{"ilities_sut_node_served_total", []string{"node", "b1"}, 9},
		{"ilities_sut_node_inflight_requests", []string{"node", "b1"}, 2},
		{"ilities_sut_node_utilisation_ratio", []string{"node", "b1"}, 0.25},
		{"ilities_sut_node_up", []string{"node", "b1"}, 1},
		{"ilities_sut_node_up", []string{"node", "b2"}, 0},
		{"ilities_sut_node_healthy", []string{"node", "b2"}, 0},
		{"ilities_sut_node_requests_total", []string{"node", "b2"}, 4},
	}
	for _, c := range counts {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	lat := series(fams, "ilities_request_latency_seconds", "workload", "browse")
	if lat == nil {
		t.Fatal("no latency histogram for browse")
	}
	lag := series(fams, "ilities_send_lag_seconds", "workload", "browse")
	closedLag := series(fams, "ilities_send_lag_seconds", "workload", "buy")
	if lag == nil || closedLag == nil {
		t.Fatal("no send-lag histogram")
	}
	hists := []struct {
		what      string
		got, want uint64
	}{
		{"latency count", lat.GetHistogram().GetSampleCount(), 4},
		{"latency ≤ 2.5ms", below(lat, .0025), 1},
		{"latency ≤ 5ms", below(lat, .005), 2},
		{"latency ≤ 50ms", below(lat, .05), 3},
		{"latency ≤ 10s", below(lat, 10), 4},
		{"send lag count", lag.GetHistogram().GetSampleCount(), 4},
		{"send lag ≤ 25µs", below(lag, .000025), 3},
		{"closed-loop send lag count", closedLag.GetHistogram().GetSampleCount(), 0},
	}
	for _, h := range hists {
		if h.got != h.want {
			t.Errorf("browse %s: %d, want %d", h.what, h.got, h.want)
		}
	}
	if fams["process_cpu_seconds_total"] == nil {
		t.Error("no process_cpu_seconds_total: the generator's own figures are missing")
	}
}

// TestFinish: the server serves after the run until the final figures are
// scraped, for the linger at most, or until the context ends; then it
// closes its listener.
func TestFinish(t *testing.T) {
	cases := []struct {
		name        string
		linger      time.Duration
		scrape      bool // scrape once Finish has begun
		cancel      bool
		wantScraped bool
		atMost      time.Duration
	}{
		{"a scrape ends it", time.Minute, true, false, true, 30 * time.Second},
		{"the linger ends it", 200 * time.Millisecond, false, false, false, 30 * time.Second},
		{"the context ends it", time.Minute, false, true, false, 30 * time.Second},
		{"no linger", 0, false, false, false, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			m.Begin([]string{"w"})
			s := listen(t, m)
			scrape(t, s) // a scrape during the run does not end the linger
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type finished struct {
				scraped bool
				err     error
			}
			done := make(chan finished, 1)
			start := time.Now()
			go func() {
				scraped, err := s.Finish(ctx, tc.linger)
				done <- finished{scraped, err}
			}()
			switch {
			case tc.scrape:
				// Scrape until Finish returns: the first scrape begun once it
				// marked the run over ends it (later ones find it closed).
				go func() {
					for ctx.Err() == nil {
						if resp, err := http.Get(s.URL()); err == nil {
							resp.Body.Close()
						}
						time.Sleep(10 * time.Millisecond)
					}
				}()
			case tc.cancel:
				cancel()
			}
			var f finished
			select {
			case f = <-done:
			case <-time.After(tc.atMost):
				t.Fatalf("Finish still serving after %v", tc.atMost)
			}
			took := time.Since(start)
			if f.err != nil || f.scraped != tc.wantScraped {
				t.Errorf("Finish = %v, %v; want %v, nil", f.scraped, f.err, tc.wantScraped)
			}
			if !tc.scrape && !tc.cancel && took < tc.linger {
				t.Errorf("Finish returned after %v, before its linger %v", took, tc.linger)
			}
			if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
				conn.Close()
				t.Errorf("%s still accepts connections after Finish", s.Addr())
			}
		})
	}
}

func TestObservingAllocatesNothing(t *testing.T) {
	m := New()
	m.Begin([]string{"w"})
	for _, o := range []runner.Observation{
		{Fate: runner.FateSucceeded, Latency: time.Millisecond, Paced: true, Status: 200},
		{Fate: runner.FateFailed, Class: runner.Class5xx, Latency: time.Millisecond, Status: 502},
		{Fate: runner.FateDropped},
	} {
		m.Observe(o) // a class's or code's first observation makes its series
		if allocs := testing.AllocsPerRun(100, func() { m.Observe(o) }); allocs != 0 {
			t.Errorf("%+v: %.1f allocations per observation, want 0", o, allocs)
		}
	}
}
