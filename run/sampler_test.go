package run

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/proxy"
)

// A window's figures are the difference between two readings of the
// counters, with the gauges as last read; a node or backend missing from
// a reading keeps its previous figures for the next.
func TestSampledWindowOfTwoReadings(t *testing.T) {
	up := func(name string, requests, failures, inflight int64, healthy bool, weight float64) proxy.UpstreamStats {
		return proxy.UpstreamStats{Name: name, Requests: requests, Failures: failures, Inflight: inflight, Healthy: healthy, EffectiveWeight: weight}
	}
	for _, tc := range []struct {
		name            string
		busy            map[string]float64
		nodes           []sut.NodeStats
		dt              float64
		counts          map[string]report.ProxyWindow
		replicas        []proxy.Stats
		wantUtilisation map[string]float64
		wantProxy       map[string]report.ProxyWindow
	}{
		{
			name:            "first reading",
			busy:            map[string]float64{},
			nodes:           []sut.NodeStats{{Name: "a", Workers: 2, BusySeconds: 1}, {Name: "b", Workers: 4, BusySeconds: 0}},
			dt:              1,
			counts:          map[string]report.ProxyWindow{},
			replicas:        []proxy.Stats{{Upstreams: []proxy.UpstreamStats{up("a", 10, 1, 2, true, 1)}}},
			wantUtilisation: map[string]float64{"a": 0.5, "b": 0},
			wantProxy:       map[string]report.ProxyWindow{"a": {Requests: 10, Failures: 1, Inflight: 2, Healthy: true, Weight: 1}},
		},
		{
			name:            "counters since the last reading, over its span",
			busy:            map[string]float64{"a": 1},
			nodes:           []sut.NodeStats{{Name: "a", Workers: 2, BusySeconds: 1.5}},
			dt:              0.5,
			counts:          map[string]report.ProxyWindow{"a": {Requests: 10, Failures: 1, Inflight: 2, Healthy: true}},
			replicas:        []proxy.Stats{{Upstreams: []proxy.UpstreamStats{up("a", 25, 1, 0, false, 0.5)}}},
			wantUtilisation: map[string]float64{"a": 0.5},
			wantProxy:       map[string]report.ProxyWindow{"a": {Requests: 15, Weight: 0.5}},
		},
		{
			name:   "replicas summed, weights averaged, healthy only when every replica says so; the absent kept",
			busy:   map[string]float64{"gone": 2},
			dt:     1,
			counts: map[string]report.ProxyWindow{"gone": {Requests: 7}},
			replicas: []proxy.Stats{
				{Upstreams: []proxy.UpstreamStats{up("a", 4, 0, 1, true, 1)}},
				{Upstreams: []proxy.UpstreamStats{up("a", 6, 2, 1, false, 0.5)}},
			},
			wantUtilisation: map[string]float64{},
			wantProxy:       map[string]report.ProxyWindow{"a": {Requests: 10, Failures: 2, Inflight: 2, Weight: 0.75}},
		},
		{
			name:            "counters reset under the reading: no negative count",
			busy:            map[string]float64{"a": 3},
			nodes:           []sut.NodeStats{{Name: "a", Workers: 1, BusySeconds: 0.25}},
			dt:              1,
			counts:          map[string]report.ProxyWindow{"a": {Requests: 100}},
			replicas:        []proxy.Stats{{Upstreams: []proxy.UpstreamStats{up("a", 5, 0, 0, true, 1)}}},
			wantUtilisation: map[string]float64{"a": 0},
			wantProxy:       map[string]report.ProxyWindow{"a": {Healthy: true, Weight: 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantBusy := map[string]float64{}
			for name, b := range tc.busy {
				wantBusy[name] = b
			}
			for _, n := range tc.nodes {
				wantBusy[n.Name] = n.BusySeconds
			}
			if got := utilisation(tc.busy, tc.nodes, tc.dt); !reflect.DeepEqual(got, tc.wantUtilisation) {
				t.Errorf("utilisation %v, want %v", got, tc.wantUtilisation)
			}
			if !reflect.DeepEqual(tc.busy, wantBusy) {
				t.Errorf("busy seconds kept %v, want %v", tc.busy, wantBusy)
			}
			totals := ProxyTotals(tc.replicas)
			wantCounts := map[string]report.ProxyWindow{}
			for name, c := range tc.counts {
				wantCounts[name] = c
			}
			for name, c := range totals {
				wantCounts[name] = c
			}
			if got := ProxyWindow(tc.counts, totals); !reflect.DeepEqual(got, tc.wantProxy) {
				t.Errorf("proxy %+v, want %+v", got, tc.wantProxy)
			}
			if !reflect.DeepEqual(tc.counts, wantCounts) {
				t.Errorf("counters kept %+v, want %+v", tc.counts, wantCounts)
			}
		})
	}
}

// utilisationScenario is one backend of two 10 ms workers under 100/s:
// each worker is busy half the time.
const utilisationScenario = `
duration: 3s
sut:
  pools:
    - backends:
        - {name: a, workers: 2, service_time: {dist: constant, value: 10ms}}
workload:
  - rate: 100/s
requirements:
  - max(utilisation) <= 60%
  - min(utilisation) >= 40%
`

// The sampler reads a running SUT once a second from the run's start and
// stops when the run's context ends, with the last partial window: every
// request the proxy forwarded is in one window.
func TestSamplerStopsOnTheRunsContext(t *testing.T) {
	topo, err := sut.Start(context.Background(), mustParse(t, "utilisation.yaml", utilisationScenario))
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s := newSampler(topo)
	defer s.close()
	topo.ResetStats()
	start := time.Now()
	s.begin(ctx, start)
	sent := 0
	for time.Since(start) < 1700*time.Millisecond {
		resp, err := http.Get(topo.URLs()[0] + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		sent++
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	finished := make(chan struct{})
	go func() {
		s.finish()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("sampling goes on 10 s after the run's context ended")
	}
	res := &report.Result{Windows: []report.Window{{T: 0}, {T: 1}}}
	if err := s.attach(res); err != nil {
		t.Fatal(err)
	}
	var forwarded int64
	for _, w := range res.Windows {
		if w.Proxy == nil || w.Utilisation == nil {
			t.Fatalf("window %d not sampled: %+v", w.T, w)
		}
		if u := w.Utilisation["a"]; u <= 0 || u > 1 {
			t.Errorf("window %d: utilisation %v, want in (0, 1]", w.T, w.Utilisation)
		}
		forwarded += w.Proxy["a"].Requests
	}
	if forwarded != int64(sent) {
		t.Errorf("the windows count %d requests forwarded, %d were sent", forwarded, sent)
	}
}

// A run's windows show each node's utilisation: 100/s of 10ms on two
// workers keeps each busy half the time.
func TestUtilisationTimeline(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a 3 s run")
	}
	res, err := Execute(context.Background(), mustParse(t, "utilisation.yaml", utilisationScenario), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Windows) != 3 {
		t.Fatalf("%d windows", len(res.Windows))
	}
	// A worker is busy from the request's arrival to the end of its
	// service: a host that delays this process stretches both.
	skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	for _, w := range res.Windows {
		if u := w.Utilisation["a"]; u < 0.4 || u > 0.6 {
			t.Errorf("window %d: utilisation %v, want about 0.5", w.T, w.Utilisation)
		}
		if w.Nodes["a"] < 95 {
			t.Errorf("window %d: share %v", w.T, w.Nodes)
		}
	}
	if res.Verdict != report.VerdictPass {
		t.Errorf("verdicts: %+v", res.Requirements)
	}
}
