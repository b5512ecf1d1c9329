package report

import (
	"bytes"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

func windowsOf(ratios ...float64) []Window {
	ws := make([]Window, len(ratios))
	for i, r := range ratios {
		ws[i] = Window{T: i, Scheduled: 100, Succeeded: int64(math.Round(r * 100))}
	}
	return ws
}

func TestRecoveryTime(t *testing.T) {
	cases := []struct {
		name    string
		ratios  []float64
		at, end float64
		want    float64
	}{
		{"no effect", []float64{1, 1, 1, 1, 1, 1}, 1.5, 3, 0},
		{"bad then 3 good", []float64{1, 0.5, 0.6, 1, 1, 1, 1}, 1.2, 3, 1.8},
		{"a good window between bad ones does not end it", []float64{1, 0.5, 1, 0.5, 1, 1, 1}, 1, 2, 3},
		{"never 3 good windows", []float64{1, 0.5, 0.5, 1, 1}, 1, 2, -1},
		{"bad window long after the fault is not its doing", []float64{1, 1, 1, 1, 1, 1, 1, 1, 0.5, 1, 1, 1}, 1, 2, 0},
		{"threshold is inclusive", []float64{1, 0.99, 1, 1, 1}, 1, 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RecoveryTime(windowsOf(tc.ratios...), 0.99, tc.at, tc.end); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// sutOf is a scenario of the built-in SUT whose pools are routed, each of
// its nodes: the test declares only what the projection reads.
func sutOf(pools map[string][]scenario.Backend) *scenario.Scenario {
	s := &scenario.SUT{}
	for _, name := range slices.Sorted(maps.Keys(pools)) {
		s.Pools = append(s.Pools, scenario.Pool{Name: name, Backends: pools[name]})
	}
	return &scenario.Scenario{SUT: s}
}

func failing(name string, mtbf time.Duration) scenario.Backend {
	return scenario.Backend{Name: name, MTBF: scenario.Duration(mtbf)}
}

func TestProject(t *testing.T) {
	month := 720 * time.Hour
	hours := month.Seconds()
	cases := []struct {
		name     string
		sc       *scenario.Scenario
		faults   []Fault
		runEndS  float64
		mttr     map[string]float64 // node → MTTR (s)
		from     map[string]string
		pools    map[string]float64 // pool → availability
		service  float64
		recovery map[string]float64 // node → RecoveryS; absent: nil
		without  []string
	}{{
		// The service recovered in 0.83 s (the proxy routed around the
		// node), but the node itself was down 5 s: that is its MTTR.
		name:     "a crashed node's MTTR is its time down, not the service's recovery",
		sc:       sutOf(map[string][]scenario.Backend{"app": {failing("a", month), failing("b", month)}}),
		faults:   []Fault{{Kind: "crash", Node: "a", AtS: 10, EndS: 15, RecoveryTimeS: 0.83}},
		mttr:     map[string]float64{"a": 5, "b": 5},
		from:     map[string]string{"a": MTTRFromNode, "b": MTTRFromRun},
		pools:    map[string]float64{"app": 1 - (5/(hours+5))*(5/(hours+5))},
		service:  1 - (5/(hours+5))*(5/(hours+5)),
		recovery: map[string]float64{"a": 0.83},
	}, {
		name:     "a single-node pool: the service inherits the node's downtime",
		sc:       sutOf(map[string][]scenario.Backend{"app": {failing("solo", month)}}),
		faults:   []Fault{{Kind: "crash", Node: "solo", AtS: 10, EndS: 15, RecoveryTimeS: 0}},
		mttr:     map[string]float64{"solo": 5},
		from:     map[string]string{"solo": MTTRFromNode},
		pools:    map[string]float64{"app": hours / (hours + 5)},
		service:  hours / (hours + 5),
		recovery: map[string]float64{"solo": 0},
	}, {
		name:    "a fault lasting to the end of the run counts to the end",
		sc:      sutOf(map[string][]scenario.Backend{"app": {failing("solo", month)}}),
		faults:  []Fault{{Kind: "hang", Node: "solo", AtS: 22, RecoveryTimeS: -1}},
		runEndS: 30,
		mttr:    map[string]float64{"solo": 8},
		from:    map[string]string{"solo": MTTRFromNodeToEnd},
		pools:   map[string]float64{"app": hours / (hours + 8)},
		service: hours / (hours + 8),
	}, {
		name:    "without the run's end, a fault never lifted counts for its planned length",
		sc:      sutOf(map[string][]scenario.Backend{"app": {failing("solo", month)}}),
		faults:  []Fault{{Kind: "crash", Node: "solo", AtS: 22, ForS: 15, RecoveryTimeS: -1}},
		mttr:    map[string]float64{"solo": 15},
		from:    map[string]string{"solo": MTTRFromNodeToEnd},
		pools:   map[string]float64{"app": hours / (hours + 15)},
		service: hours / (hours + 15),
	}, {
		name: "two pools, a node without mtbf left out, topology events and failed faults not failures",
		sc: sutOf(map[string][]scenario.Backend{
			"app":  {failing("a", 1000*time.Second), failing("b", 1000*time.Second), {Name: "c"}},
			"data": {failing("db", 100*time.Second)},
		}),
		faults: []Fault{
			{Kind: "crash", Node: "a", AtS: 1, EndS: 11, RecoveryTimeS: 2},
			{Kind: "slow", Node: "a", AtS: 20, EndS: 50, RecoveryTimeS: -1},
			{Kind: "crash", Node: "b", AtS: 5, EndS: 6, Error: "already down"},
			{Kind: "remove-backend", Node: "c", AtS: 40, RecoveryTimeS: 0},
		},
		runEndS:  60,
		mttr:     map[string]float64{"a": 20, "b": 20, "db": 20},
		from:     map[string]string{"a": MTTRFromNode, "b": MTTRFromRun, "db": MTTRFromRun},
		pools:    map[string]float64{"app": 1 - (20.0/1020)*(20.0/1020), "data": 100.0 / 120},
		service:  (1 - (20.0/1020)*(20.0/1020)) * 100.0 / 120,
		recovery: map[string]float64{"a": 2},
	}, {
		name: "a declared mttr wins over the node's time down, and needs no fault",
		sc: sutOf(map[string][]scenario.Backend{"app": {
			{Name: "a", MTBF: scenario.Duration(month), MTTR: scenario.Duration(time.Hour)},
			{Name: "b", MTBF: scenario.Duration(month), MTTR: scenario.Duration(2 * time.Hour)},
		}}),
		faults:   []Fault{{Kind: "crash", Node: "a", AtS: 10, EndS: 15, RecoveryTimeS: 1.5}},
		mttr:     map[string]float64{"a": 3600, "b": 7200},
		from:     map[string]string{"a": MTTRDeclared, "b": MTTRDeclared},
		pools:    map[string]float64{"app": 1 - (3600/(hours+3600))*(7200/(hours+7200))},
		service:  1 - (3600/(hours+3600))*(7200/(hours+7200)),
		recovery: map[string]float64{"a": 1.5},
	}, {
		name: "without a fault, a node without mttr is left out and named",
		sc: sutOf(map[string][]scenario.Backend{"app": {
			{Name: "a", MTBF: scenario.Duration(month), MTTR: scenario.Duration(time.Hour)},
			failing("b", month),
		}}),
		mttr:    map[string]float64{"a": 3600},
		from:    map[string]string{"a": MTTRDeclared},
		pools:   map[string]float64{"app": hours / (hours + 3600)},
		service: hours / (hours + 3600),
		without: []string{"b"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Project(tc.sc, tc.faults, tc.runEndS)
			if p == nil {
				t.Fatal("no projection")
			}
			if len(p.Nodes) != len(tc.mttr) || len(p.Pools) != len(tc.pools) || !slices.Equal(p.WithoutMTTR, tc.without) {
				t.Fatalf("projection %+v", p)
			}
			for _, n := range p.Nodes {
				if math.Abs(n.MTTRS-tc.mttr[n.Name]) > 1e-9 || n.MTTRFrom != tc.from[n.Name] {
					t.Errorf("%s: MTTR %g (%s), want %g (%s)", n.Name, n.MTTRS, n.MTTRFrom, tc.mttr[n.Name], tc.from[n.Name])
				}
				mtbf := n.MTBFH * 3600
				if want := mtbf / (mtbf + tc.mttr[n.Name]); math.Abs(n.Availability-want) > 1e-12 {
					t.Errorf("%s: availability %v, want %v", n.Name, n.Availability, want)
				}
				want, ok := tc.recovery[n.Name]
				if ok != (n.RecoveryS != nil) || ok && *n.RecoveryS != want {
					t.Errorf("%s: recovery %v, want %v (present %v)", n.Name, n.RecoveryS, want, ok)
				}
			}
			for _, pl := range p.Pools {
				if math.Abs(pl.Availability-tc.pools[pl.Name]) > 1e-12 || pl.Kind != PoolRouted {
					t.Errorf("pool %s (%s): availability %v, want %v", pl.Name, pl.Kind, pl.Availability, tc.pools[pl.Name])
				}
			}
			if math.Abs(p.Service.Availability-tc.service) > 1e-12 ||
				math.Abs(p.Service.DowntimePerYearS-(1-tc.service)*Year.Seconds()) > 1e-6 {
				t.Errorf("service %+v, want availability %v", p.Service, tc.service)
			}
			if p.Service.Availability >= 1 || p.Service.DowntimePerYearS <= 0 {
				t.Errorf("a node was down: the service cannot project as never down: %+v", p.Service)
			}
		})
	}
	solo := sutOf(map[string][]scenario.Backend{"p": {failing("a", month)}})
	if Project(sutOf(map[string][]scenario.Backend{"p": {{Name: "a"}}}), []Fault{{Kind: "crash", Node: "a", AtS: 1, EndS: 2}}, 10) != nil {
		t.Error("a projection without any mtbf")
	}
	if Project(solo, []Fault{{Kind: "add-backend", Node: "x", AtS: 1}}, 10) != nil {
		t.Error("a projection without any node time down")
	}
	if Project(&scenario.Scenario{Target: &scenario.Target{URL: "http://127.0.0.1:1"}}, nil, 10) != nil {
		t.Error("a projection of an external target")
	}
}

// A fault that never made a window fall below window_ok did not "recover
// after 0ms": the reports say so, with the p99 it caused.
func TestRecoveryTextOfAFaultWithNoFailedWindow(t *testing.T) {
	windows := make([]Window, 12)
	for i := range windows {
		windows[i] = Window{T: i, Scheduled: 300, Succeeded: 300, LatencyMS: WindowLatency{P99: 24}}
	}
	for i := 5; i < 12; i++ {
		windows[i].LatencyMS.P99 = 24 + float64(i-4)*100 // a slow node from 5s on
	}
	windows[11].LatencyMS.P99 = 9000
	for _, tc := range []struct {
		name string
		f    Fault
		want string
	}{
		{"slow, to the end", Fault{Kind: "slow", AtS: 5, RecoveryTimeS: 0}, "no window below window_ok, p99 up to 9.00s"},
		{"slow, lifted", Fault{Kind: "slow", AtS: 5, EndS: 8, RecoveryTimeS: 0}, "no window below window_ok, p99 up to 324ms"},
		{"crash, recovered", Fault{Kind: "crash", AtS: 5, RecoveryTimeS: 2.4}, "2.40s"},
		{"crash, never recovered", Fault{Kind: "crash", AtS: 5, RecoveryTimeS: -1}, "did not"},
	} {
		res := &Result{Windows: windows, Faults: []Fault{tc.f}}
		if got := faultRow(res, tc.f)[5]; got != tc.want {
			t.Errorf("%s: recovered after %q, want %q", tc.name, got, tc.want)
		}
		var text bytes.Buffer
		if err := WriteText(&text, res); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), tc.want) {
			t.Errorf("%s: the text report does not say %q:\n%s", tc.name, tc.want, text.String())
		}
	}
}
