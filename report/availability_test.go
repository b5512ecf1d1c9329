package report

import (
	"math"
	"testing"
	"time"
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

func TestProject(t *testing.T) {
	nodes := []NodeMTBF{
		{Name: "a", Pool: "app", MTBF: 1000 * time.Second},
		{Name: "b", Pool: "app", MTBF: 1000 * time.Second},
		{Name: "c", Pool: "app"}, // no mtbf: left out
		{Name: "db", Pool: "data", MTBF: 100 * time.Second},
	}
	faults := []Fault{
		{Kind: "crash", Node: "a", RecoveryTimeS: 10},
		{Kind: "crash", Node: "a", RecoveryTimeS: 30},
		{Kind: "crash", Node: "x", RecoveryTimeS: -1}, // did not recover: not an MTTR
	}
	p := Project(nodes, faults)
	if p == nil || len(p.Nodes) != 3 || len(p.Pools) != 2 {
		t.Fatalf("projection %+v", p)
	}
	a, b := p.Nodes[0], p.Nodes[1]
	if a.MTTRS != 20 || a.MTTRFrom != "node" || math.Abs(a.Availability-1000.0/1020) > 1e-12 {
		t.Fatalf("a: %+v", a)
	}
	if b.MTTRS != 20 || b.MTTRFrom != "run" {
		t.Fatalf("b: %+v", b)
	}
	ua := 1 - 1000.0/1020
	app := p.Pools[0]
	if app.Name != "app" || app.Nodes != 2 || math.Abs(app.Availability-(1-ua*ua)) > 1e-12 {
		t.Fatalf("app pool: %+v", app)
	}
	data := p.Pools[1]
	want := app.Availability * data.Availability
	if math.Abs(p.Service.Availability-want) > 1e-12 || math.Abs(p.Service.DowntimePerYearS-(1-want)*Year.Seconds()) > 1e-6 {
		t.Fatalf("service %+v, want availability %v", p.Service, want)
	}
	if Project(nodes, []Fault{{RecoveryTimeS: -1}}) != nil || Project(nil, faults) != nil {
		t.Fatal("a projection without MTTR or MTBF")
	}
}
