package sut_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

func TestReplicasServeIndependentlyAndOneCanCrash(t *testing.T) {
	s := threeBackends("round-robin")
	s.SUT.Proxy.Replicas = 3
	s.SUT.Proxy.Admission = &scenario.Admission{MaxInflight: 8, Queue: 4}
	topo, err := sut.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	urls := topo.URLs()
	if len(urls) != 3 || urls[0] != topo.URL() || urls[1] == urls[0] {
		t.Fatalf("URLs %v", urls)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	status := func(url string) int {
		resp, err := c.Get(url)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Each replica has its own round-robin: three requests to each cover
	// every backend three times.
	for _, u := range urls {
		for range 3 {
			if st := status(u); st != 200 {
				t.Fatalf("%s: %d", u, st)
			}
		}
	}
	for _, n := range topo.Nodes() {
		if n.Requests != 3 {
			t.Fatalf("%s got %d requests over the replicas, want 3", n.Name, n.Requests)
		}
	}
	if err := topo.CrashProxy(1); err != nil {
		t.Fatal(err)
	}
	if st := status(urls[1]); st != 0 {
		t.Fatalf("crashed replica answered %d", st)
	}
	if st := status(urls[0]); st != 200 {
		t.Fatalf("surviving replica: %d", st)
	}
	if len(topo.Proxies()) != 2 {
		t.Fatalf("%d running proxies", len(topo.Proxies()))
	}
	if err := topo.CrashProxy(1); err == nil {
		t.Fatal("crashing a crashed replica succeeded")
	}
	if err := topo.RestartProxy(1); err != nil {
		t.Fatal(err)
	}
	if st := status(urls[1]); st != 200 {
		t.Fatalf("restarted replica: %d", st)
	}
	if got := topo.ReplicaStats()[2].Upstreams[0].Requests; got != 1 {
		t.Fatalf("replica 2 counted %d requests to app-1", got)
	}
}

func TestProxyConfigCarriesTheScenarioOptions(t *testing.T) {
	s := threeBackends("consistent-hash")
	s.SUT.Proxy.Hash = scenario.HashOptions{Key: "cookie:sid", Method: "rendezvous", BoundedLoad: 1.5}
	s.SUT.Proxy.Health = &scenario.HealthCheck{Interval: scenario.Duration(time.Second), Fall: 3}
	s.SUT.Proxy.Passive = &scenario.PassiveHealth{ConsecutiveFailures: 4, MaxEjectedPercent: 0.3}
	s.SUT.Proxy.RateLimit = &scenario.RateLimit{Rate: 50, Burst: 10}
	s.SUT.Proxy.Retries = 2
	pc := sut.ProxyConfig(s)
	if pc.StrategyOptions.HashKey != "cookie:sid" || pc.StrategyOptions.BoundedLoad != 1.5 || pc.Health.Fall != 3 ||
		pc.Passive.ConsecutiveFailures != 4 || pc.Passive.MaxEjectedPercent != 30 || pc.RateLimit.Rate != 50 || pc.Retries != 2 {
		t.Fatalf("config %+v", pc)
	}
}
