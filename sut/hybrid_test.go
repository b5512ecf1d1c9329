package sut_test

import (
	"context"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/external"
)

// A real nginx or HAProxy in front of the simulated backends: every
// backend answers through it (naming itself in X-Ilities-Backend), a
// crashed backend is taken out (an event, from HAProxy's checks or nginx's
// max_fails), and Close leaves no process and no directory behind.
func TestHybridTopology(t *testing.T) {
	for _, kind := range []string{scenario.ProxyNginx, scenario.ProxyHAProxy} {
		t.Run(kind, func(t *testing.T) {
			if _, err := external.Binary(kind); err != nil {
				t.Skipf("skipped: %v", err)
			}
			s := threeBackends("round-robin")
			s.SUT.Proxy.Kind = kind
			s.SUT.Proxy.Health = &scenario.HealthCheck{Interval: scenario.Duration(100 * time.Millisecond), Timeout: scenario.Duration(100 * time.Millisecond), Fall: 2, Rise: 2}
			topo, err := sut.Start(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			ext := topo.External()
			if ext == nil {
				t.Fatal("no external proxy")
			}
			dir, pid := ext.Dir(), ext.Pid()
			seen := map[string]int{}
			get := func() {
				resp, err := http.Get(topo.URL() + "/x")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					seen[resp.Header.Get(headers.Node)]++
				}
			}
			for range 30 {
				get()
			}
			if len(seen) != 3 {
				t.Fatalf("answered by %v, want all three backends", seen)
			}
			if _, err := topo.Inject(scenario.Fault{Kind: "crash", Node: "app-2"}); err != nil {
				t.Fatal(err)
			}
			crashed := time.Now()
			deadline := time.Now().Add(5 * time.Second)
			var down bool
			for !down && time.Now().Before(deadline) {
				get() // nginx learns from failed attempts only
				time.Sleep(10 * time.Millisecond)
				for _, e := range topo.HealthEvents()[0] {
					if e.Upstream == "app-2" && !e.Healthy && !e.At.Before(crashed.Add(-time.Second)) {
						down = true
						t.Logf("detected after %v: %s", e.At.Sub(crashed), e.Reason)
					}
				}
			}
			if !down {
				t.Errorf("no down event for app-2; events %+v", topo.HealthEvents())
			}
			if topo.Forwarded()["app-1"] == 0 {
				t.Errorf("forwarded %v: want attempts counted per backend", topo.Forwarded())
			}
			if err := topo.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s left behind", dir)
			}
			if err := syscall.Kill(-pid, 0); err == nil {
				t.Errorf("process group %d still running", pid)
			}
		})
	}
}

func TestHybridRejectsTopologyFaults(t *testing.T) {
	if _, err := external.Binary(scenario.ProxyHAProxy); err != nil {
		t.Skipf("skipped: %v", err)
	}
	s := threeBackends("round-robin")
	s.SUT.Proxy.Kind = scenario.ProxyHAProxy
	topo, err := sut.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	if _, err := topo.Inject(scenario.Fault{Kind: "remove-backend", Node: "app-1"}); err == nil {
		t.Error("remove-backend with a real proxy: want an error")
	}
}
