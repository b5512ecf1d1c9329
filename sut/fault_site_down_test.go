package sut_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// startReplicas starts s with n proxy replicas, closed at the test's end.
func startReplicas(t *testing.T, s *scenario.Scenario, n int) *sut.Topology {
	t.Helper()
	s.SUT.Proxy.Replicas = n
	topo, err := sut.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = topo.Close() })
	return topo
}

// site-down refuses every connection to every replica and backend of the
// topology, and lifted, each answers again on its old address.
func TestSiteDownTakesEveryNodeDownAndBack(t *testing.T) {
	topo := startReplicas(t, threeBackends("round-robin"), 2)
	var addrs []string
	addrs = append(addrs, topo.URLs()...)
	for _, n := range topo.Nodes() {
		addrs = append(addrs, n.URL)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	get := func(url string) error {
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url + "/")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
	lift, err := topo.Inject(scenario.Fault{Kind: "site-down"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := get(a); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s while the site is down: %v, want connection refused", a, err)
		}
	}
	if err := lift(); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := get(a); err != nil {
			t.Errorf("%s after the site is back: %v", a, err)
		}
	}
}
