package sut_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// The SUT reaches a child exactly as the parent holds it: every example's
// seed, sut: and faults read back from JSON to equal values.
func TestChildSpecRoundTripsEveryExample(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, file := range files {
		sc, err := scenario.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if sc.SUT == nil {
			continue
		}
		b, err := json.Marshal(sut.ChildSpec{Seed: sc.Seed, SUT: sc.SUT})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		spec, err := sut.ReadChildSpec(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if got := spec.Scenario(); got.Seed != sc.Seed || !reflect.DeepEqual(got.SUT, sc.SUT) {
			t.Errorf("%s: the SUT changed on its way:\n%+v\n%+v", file, got.SUT, sc.SUT)
		}
		for _, f := range sc.Faults {
			fb, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			var back scenario.Fault
			if err := json.Unmarshal(fb, &back); err != nil || !reflect.DeepEqual(back, f) {
				t.Errorf("%s: fault %+v read back as %+v (%v)", file, f, back, err)
			}
		}
	}
}

// startQuick starts backends a (2 workers) and b behind one proxy.
func startQuick(t *testing.T) *sut.Topology {
	t.Helper()
	svc := scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Millisecond)}
	topo, err := sut.Start(context.Background(), &scenario.Scenario{Seed: 1, SUT: &scenario.SUT{
		Proxy: scenario.Proxy{Strategy: "round-robin"},
		Pools: []scenario.Pool{{Name: "app", Match: scenario.Match{PathPrefix: "/"}, Backends: []scenario.Backend{
			{Name: "a", Workers: 2, ServiceTime: svc},
			{Name: "b", Workers: 2, ServiceTime: svc},
		}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { topo.Close() })
	return topo
}

type fakeMeter struct{ begun time.Time }

func (m *fakeMeter) Begin(start time.Time) { m.begun = start }
func (m *fakeMeter) End(windows int) (sut.Hiccups, error) {
	return sut.Hiccups{Histogram: "h", Windows: make([]sut.HiccupWindow, windows)}, nil
}

// A Remote drives a topology through its control API as the topology
// itself would be driven, and fails fast once the process is gone.
func TestRemoteDrivesATopologyThroughItsControlAPI(t *testing.T) {
	topo := startQuick(t)
	meter := &fakeMeter{}
	if _, err := sut.ServeControl(topo, "0.0.0.0:0", meter); err == nil {
		t.Fatal("a control API served beyond loopback")
	}
	cs, err := sut.ServeControl(topo, "127.0.0.1:0", meter)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sut.Dial(context.Background(), cs.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.URLs(), topo.URLs()) {
		t.Errorf("URLs %v, want %v", r.URLs(), topo.URLs())
	}
	resp, err := http.Get(topo.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := r.Forwarded(), topo.Forwarded(); !reflect.DeepEqual(got, want) || len(got) == 0 {
		t.Errorf("forwarded %v, want %v", got, want)
	}
	if n := r.Nodes(); len(n) != 2 || n[0].Name != "a" || n[0].Workers != 2 {
		t.Errorf("nodes %+v", n)
	}
	if s := r.ReplicaStats(); len(s) != 1 || s[0].Requests != 1 {
		t.Errorf("replica stats %+v", s)
	}
	r.ResetStats()
	if s := topo.ReplicaStats(); s[0].Requests != 0 {
		t.Errorf("after ResetStats: %+v", s[0])
	}

	lift, err := r.Inject(scenario.Fault{Kind: "crash", Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if !topo.Backend("a").Stats().Down {
		t.Error("crash injected remotely left the backend up")
	}
	if err := lift(); err != nil {
		t.Fatal(err)
	}
	if topo.Backend("a").Stats().Down {
		t.Error("lifted remotely, the backend stays down")
	}
	if _, err := r.Inject(scenario.Fault{Kind: "crash", Node: "nobody"}); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("injecting on an unknown node: %v", err)
	}
	if r.Err() != nil {
		t.Errorf("a refused fault lost the remote: %v", r.Err())
	}
	_ = r.HealthEvents()

	start := time.Now().Add(-time.Second)
	if err := r.Begin(start); err != nil {
		t.Fatal(err)
	}
	if d := meter.begun.Sub(start); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("the meter began %v away from the run's start", d)
	}
	if h, err := r.Hiccups(3); err != nil || h.Histogram != "h" || len(h.Windows) != 3 {
		t.Errorf("hiccups %+v, %v", h, err)
	}

	cs.Close()
	begun := time.Now()
	if n := r.Nodes(); n != nil {
		t.Errorf("nodes %+v from a closed API", n)
	}
	if r.Err() == nil {
		t.Error("no error once the API is gone")
	}
	if _, err := r.Inject(scenario.Fault{Kind: "crash", Node: "a"}); err == nil {
		t.Error("inject succeeded once the API is gone")
	}
	if took := time.Since(begun); took > time.Second {
		t.Errorf("calls to a gone API took %v", took)
	}
}

// A child that exits before serving is an error naming it, not a wait.
func TestStartChildThatExitsEarly(t *testing.T) {
	sc := &scenario.Scenario{SUT: &scenario.SUT{}}
	_, err := sut.StartChild(context.Background(), sc, "/bin/sh", []string{"-c", "echo broken >&2; exit 3"}, nil)
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("error %v, want the child's stderr", err)
	}
}
