package sut_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

func threeBackends(strategy string) *scenario.Scenario {
	svc := scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Millisecond)}
	return &scenario.Scenario{
		Name: "three",
		Seed: 42,
		SUT: &scenario.SUT{
			Listen: "127.0.0.1:0",
			Proxy:  scenario.Proxy{Strategy: strategy},
			Pools: []scenario.Pool{{
				Name:  "app",
				Match: scenario.Match{PathPrefix: "/"},
				Backends: []scenario.Backend{
					{Name: "app-1", Workers: 2, ServiceTime: svc},
					{Name: "app-2", Workers: 2, ServiceTime: svc, Weight: 2},
					{Name: "app-3", Workers: 4, ServiceTime: scenario.Distribution{Dist: "exponential", Mean: scenario.Duration(time.Millisecond)}},
				},
			}},
		},
	}
}

// waitGoroutines waits until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRoundRobinTopology(t *testing.T) {
	before := runtime.NumGoroutine()
	topo, err := sut.Start(context.Background(), threeBackends("round-robin"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(topo.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q", topo.URL())
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	count := map[string]int{}
	for range 300 {
		resp, err := c.Get(topo.URL() + "/products")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		count[resp.Header.Get(headers.Node)]++
	}
	tr.CloseIdleConnections()
	if count["app-1"] != 100 || count["app-2"] != 100 || count["app-3"] != 100 {
		t.Fatalf("responses per node %v, want 100 each", count)
	}
	nodes := topo.Nodes()
	if len(nodes) != 3 {
		t.Fatalf("%d nodes", len(nodes))
	}
	wantWorkers := []int{2, 2, 4}
	wantWeight := []float64{1, 2, 1}
	var addrs []string
	for i, n := range nodes {
		if n.Served != 100 || n.Requests != 100 || n.Rejected != 0 || n.Failures != 0 || n.Pool != "app" ||
			n.Workers != wantWorkers[i] || n.Weight != wantWeight[i] || n.BusySeconds <= 0 || n.Utilisation <= 0 || n.Utilisation > 1 {
			t.Errorf("node %d: %+v", i, n)
		}
		addrs = append(addrs, strings.TrimPrefix(n.URL, "http://"))
	}
	// Constant 1 ms service: exactly 0.1 busy seconds for 100 requests.
	if b := nodes[0].BusySeconds; b < 0.0999 || b > 0.1001 {
		t.Errorf("app-1 busy %.4fs, want 0.1s", b)
	}
	topo.ResetStats()
	if n := topo.Nodes()[0]; n.Served != 0 || n.Requests != 0 || n.BusySeconds != 0 {
		t.Errorf("after ResetStats: %+v", n)
	}

	addrs = append(addrs, strings.TrimPrefix(topo.URL(), "http://"), strings.TrimPrefix(topo.AdminURLs()[0], "http://"))
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
	if err := topo.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitGoroutines(t, before)
}

func TestWeightedTopologyUsesScenarioWeights(t *testing.T) {
	topo, err := sut.Start(context.Background(), threeBackends("weighted-round-robin"))
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	for range 400 {
		resp, err := c.Get(topo.URL())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c.CloseIdleConnections()
	got := []int64{}
	for _, n := range topo.Nodes() {
		got = append(got, n.Served)
	}
	if got[0] != 100 || got[1] != 200 || got[2] != 100 {
		t.Fatalf("served %v, want [100 200 100] for weights 1:2:1", got)
	}
}

func TestStartFailuresCleanUp(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		name   string
		mutate func(*scenario.Scenario)
		want   string
	}{
		{"no sut", func(s *scenario.Scenario) { s.SUT = nil }, "no built-in sut"},
		{"unknown strategy", func(s *scenario.Scenario) { s.SUT.Proxy.Strategy = "fastest" }, "fastest"},
		{"port taken by a backend", func(s *scenario.Scenario) { s.SUT.Pools[0].Backends[2].Listen = busy.Addr().String() }, "app-3"},
		{"port taken by the proxy", func(s *scenario.Scenario) { s.SUT.Listen = busy.Addr().String() }, "proxy"},
		{"duplicate names", func(s *scenario.Scenario) { s.SUT.Pools[0].Backends[1].Name = "app-1" }, "twice"},
	} {
		s := threeBackends("round-robin")
		tc.mutate(s)
		topo, err := sut.Start(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			if topo != nil {
				topo.Close()
			}
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sut.Start(ctx, threeBackends("round-robin")); err == nil {
		t.Error("Start with a cancelled context succeeded")
	}
	waitGoroutines(t, before)
}

func TestBackendSeedIsStableAndDistinct(t *testing.T) {
	if sut.BackendSeed(42, "app-1") != sut.BackendSeed(42, "app-1") {
		t.Fatal("same inputs, different seeds")
	}
	seeds := map[int64]bool{}
	for _, seed := range []int64{1, 42} {
		for _, name := range []string{"app-1", "app-2", "app-3"} {
			seeds[sut.BackendSeed(seed, name)] = true
		}
	}
	if len(seeds) != 6 {
		t.Fatalf("%d distinct seeds from 6 inputs", len(seeds))
	}
}
