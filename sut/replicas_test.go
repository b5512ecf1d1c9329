package sut_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/proxy"
)

func TestReplicasServeIndependentlyAndOneCanCrash(t *testing.T) {
	s := threeBackends("round-robin")
	s.SUT.Proxy.Admission = &scenario.Admission{MaxInflight: 8, Queue: 4}
	topo := startReplicas(t, s, 3)
	urls := topo.URLs()
	if len(urls) != 3 || urls[0] != topo.URL() || urls[1] == urls[0] {
		t.Fatalf("URLs %v", urls)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	status := func(url string) int { st, _ := getNode(c, url); return st }
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

// getNode GETs url and returns the status (0 when the request failed) and
// the node that answered.
func getNode(c *http.Client, url string) (status int, node string) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(headers.Node)
}

// adminStats reads a replica's statistics from its admin listener.
func adminStats(t *testing.T, c *http.Client, adminURL string) proxy.Stats {
	t.Helper()
	resp, err := c.Get(adminURL + proxy.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s proxy.Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s%s: %d (%v)", adminURL, proxy.StatsPath, resp.StatusCode, err)
	}
	return s
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

func TestEachReplicaHasItsOwnAdminListener(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas int
		admin    string
	}{
		{"one replica, default address", 1, ""},
		{"three replicas, loopback any port", 3, "127.0.0.1:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := threeBackends("round-robin")
			s.SUT.Proxy.Replicas = tc.replicas
			s.SUT.Proxy.Admin = tc.admin
			topo, err := sut.Start(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			defer topo.Close()
			c := &http.Client{Timeout: 5 * time.Second}
			urls, admins := topo.URLs(), topo.AdminURLs()
			if len(admins) != tc.replicas {
				t.Fatalf("admin URLs %v for %d replicas", admins, tc.replicas)
			}
			// Replica i gets i+1 requests, one of them for the stats path,
			// which the public port routes to a backend like any path.
			for i, u := range urls {
				for k := range i + 1 {
					path := "/x"
					if k == 0 {
						path = proxy.StatsPath
					}
					if st, node := getNode(c, u+path); st != 200 || node == "" {
						t.Fatalf("replica %d GET %s: %d from %q", i, path, st, node)
					}
				}
			}
			for i, a := range admins {
				if a == urls[i] {
					t.Fatalf("replica %d's admin listener is its public one", i)
				}
				if got := adminStats(t, c, a).Requests; got != int64(i+1) {
					t.Fatalf("replica %d's admin listener counts %d requests, want %d", i, got, i+1)
				}
			}
			// A restarted replica keeps its admin address, with fresh counters.
			last := tc.replicas - 1
			if err := topo.CrashProxy(last); err != nil {
				t.Fatal(err)
			}
			if err := topo.RestartProxy(last); err != nil {
				t.Fatal(err)
			}
			if got := topo.AdminURLs()[last]; got != admins[last] {
				t.Fatalf("admin URL %s after a restart, was %s", got, admins[last])
			}
			if got := adminStats(t, c, admins[last]).Requests; got != 0 {
				t.Fatalf("restarted replica's admin listener counts %d requests, want 0", got)
			}
		})
	}
}
