package run

import (
	"context"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/sut"
)

func TestNodeFigures(t *testing.T) {
	cases := []struct {
		name    string
		node    sut.NodeStats
		atProxy map[string]report.ProxyWindow
		util    map[string]float64
		want    NodeFigures
	}{
		{
			"running, at the proxy",
			sut.NodeStats{Name: "a", Pool: "app", Requests: 10, Failures: 1, Served: 9},
			map[string]report.ProxyWindow{"a": {Requests: 10, Rejected: 2, Inflight: 3, Queued: 1, Healthy: true}},
			map[string]float64{"a": 0.5},
			NodeFigures{Name: "a", Pool: "app", Requests: 10, Failures: 1, Rejected: 2, Served: 9, Inflight: 3, Queued: 1, Utilisation: 0.5, Up: true, Healthy: true},
		},
		{
			"crashed, still healthy at the proxy until its checks notice",
			sut.NodeStats{Name: "a", Pool: "app", Down: true},
			map[string]report.ProxyWindow{"a": {Healthy: true}},
			nil,
			NodeFigures{Name: "a", Pool: "app", Up: false, Healthy: true},
		},
		{
			"ejected by the proxy",
			sut.NodeStats{Name: "a", Pool: "app"},
			map[string]report.ProxyWindow{"a": {Healthy: false, Ejected: true}},
			nil,
			NodeFigures{Name: "a", Pool: "app", Up: true, Healthy: false},
		},
		{
			"removed, unknown to the proxy",
			sut.NodeStats{Name: "a", Pool: "app", Removed: true},
			map[string]report.ProxyWindow{"b": {Healthy: true}},
			nil,
			NodeFigures{Name: "a", Pool: "app", Up: false, Healthy: false},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := nodeFigures([]sut.NodeStats{tc.node}, tc.atProxy, tc.util)
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// readings is a runner.Observer and a NodeObserver that keeps the node
// readings it is handed.
type readings struct {
	mu   sync.Mutex
	all  [][]NodeFigures
	seen chan struct{} // gets a value for each reading, when not full
}

func newReadings() *readings { return &readings{seen: make(chan struct{}, 100)} }

func (r *readings) Begin([]string)             {}
func (r *readings) Observe(runner.Observation) {}

func (r *readings) Nodes(nodes []NodeFigures) {
	r.mu.Lock()
	r.all = append(r.all, nodes)
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
}

func (r *readings) taken() [][]NodeFigures {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]NodeFigures(nil), r.all...)
}

// TestRunsSamplerFeedsTheNodeObserver: an Observer that also follows the
// nodes gets the sampler's every reading, the last with every request the
// generator counted for the node.
func TestRunsSamplerFeedsTheNodeObserver(t *testing.T) {
	r := newReadings()
	res, err := Execute(context.Background(), mustParse(t, "utilisation.yaml", utilisationScenario), Options{Options: runner.Options{Observer: r}})
	if err != nil {
		t.Fatal(err)
	}
	all := r.taken()
	if len(all) < 3 {
		t.Fatalf("%d readings of a 3 s run, want one a second", len(all))
	}
	busy := false
	for i, nodes := range all {
		if len(nodes) != 1 || nodes[0].Name != "a" || !nodes[0].Up || !nodes[0].Healthy {
			t.Fatalf("reading %d: %+v, want node a, up and healthy", i, nodes)
		}
		busy = busy || (nodes[0].Utilisation > 0 && nodes[0].Utilisation <= 1)
	}
	if !busy {
		t.Errorf("no reading with a utilisation in (0, 1]: %+v", all)
	}
	last := all[len(all)-1][0]
	if counted := nodeCounts(res)["a"]; last.Requests != counted {
		t.Errorf("last reading: %d forwarded; the generator counted %d answers from a", last.Requests, counted)
	}
}

// TestWatchNodes reads a SUT served alone until its context ends.
func TestWatchNodes(t *testing.T) {
	topo, err := sut.Start(context.Background(), mustParse(t, "utilisation.yaml", utilisationScenario))
	if err != nil {
		t.Fatal(err)
	}
	defer topo.Close()
	const sent = 5
	for range sent {
		resp, err := http.Get(topo.URLs()[0] + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	r := newReadings()
	done := WatchNodes(ctx, topo, r)
	for range 2 {
		select {
		case <-r.seen:
		case <-time.After(10 * time.Second):
			t.Fatal("fewer than two readings in 10 s")
		}
	}
	stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("still watching 10 s after the context ended")
	}
	all := r.taken()
	if first := all[0][0]; first.Requests != sent || first.Utilisation != 0 {
		t.Errorf("first reading %+v, want %d requests and no utilisation yet", first, sent)
	}
	if second := all[1][0]; second.Requests != sent || second.Utilisation < 0 || second.Utilisation > 1 {
		t.Errorf("second reading %+v, want %d requests, utilisation in [0, 1]", second, sent)
	}
}
