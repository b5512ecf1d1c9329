package scenario

import (
	"strings"
	"testing"
	"time"
)

func TestAvailabilityFieldsParse(t *testing.T) {
	s, err := Parse("t.yaml", []byte(`
sut:
  proxy: {replicas: 2, mtbf: 8760h, mttr: 5m}
  pools:
    - name: app
      needs: 2
      backends: [{name: a1, mtbf: 720h, mttr: 30m}, {name: a2}, {name: a3}]
workload: [{rate: 1/s}]
requirements:
  - single_points_of_failure == 0
  - projected_availability >= 99.95%
`))
	if err != nil {
		t.Fatal(err)
	}
	proxy, app := s.SUT.Proxy, s.SUT.Pools[0]
	if proxy.MTBF.D() != 8760*time.Hour || proxy.MTTR.D() != 5*time.Minute || app.NeedsUp() != 2 || app.Backends[0].MTTR.D() != 30*time.Minute {
		t.Fatalf("proxy %+v, app %+v", proxy, app)
	}
	if r := s.Requirements[1]; r.Metric != "projected_availability" || r.Unit != UnitPercent || r.Threshold != 0.9995 {
		t.Fatalf("requirement %+v", r)
	}
	if (&Pool{}).NeedsUp() != 1 {
		t.Error("a pool needs one backend by default")
	}
}

func TestAvailabilityValidation(t *testing.T) {
	const faulted = "faults: [{at: 1s, for: 1s, kind: crash, node: a1}]\n"
	sut := func(pools string) string {
		return "duration: 5s\nworkload: [{rate: 1/s}]\nsut:\n  pools:\n" + pools
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the error, each with its position; none: valid
	}{
		{"mttr without mtbf", sut(`    - {name: app, backends: [{name: a1, mttr: 1h}]}
  proxy: {mttr: 1m}
`), []string{"t.yaml:5:47: mttr: 1h needs mtbf: beside it", "t.yaml:6:17: mttr: 1m needs mtbf: beside it"}},
		{"needs more than there are", sut(`    - {name: app, needs: 3, backends: [{name: a1}, {name: a2}]}
`), []string{`t.yaml:5:26: pool "app" needs 3 backends up but has 2`}},
		{"needs negative", sut(`    - {name: app, needs: -1, backends: [{name: a1}]}
`), []string{"needs must be 0 (one backend) or more, got -1"}},
		{"an external target has no topology", `
duration: 5s
target: {url: "http://127.0.0.1:8080"}
workload: [{rate: 1/s}]
requirements: [single_points_of_failure == 0, projected_availability >= 99%]
`, []string{"t.yaml:5:16: single_points_of_failure reads the built-in sut's topology", "t.yaml:5:47: projected_availability reads the built-in sut's topology"}},
		{"no mtbf", sut(`    - {name: app, backends: [{name: a1}]}
requirements: [projected_availability >= 99%]
` + faulted), []string{"this scenario can have none: no node declares mtbf:"}},
		{"an mtbf but no time to repair", sut(`    - {name: app, backends: [{name: a1, mtbf: 720h}]}
requirements: [projected_availability >= 99%]
`), []string{"no node with mtbf: declares mttr:, and no fault on the timeline takes a node down"}},
		{"a scope", sut(`    - {name: app, backends: [{name: a1}]}
requirements: ["single_points_of_failure == 0 for default"]
`), []string{`a figure of the whole system, not of a workload or request: remove "for default"`}},
		{"an mtbf and a fault", sut(`    - {name: app, backends: [{name: a1, mtbf: 720h}]}
requirements: [projected_availability >= 99%]
` + faulted), nil},
		{"an mtbf and an mttr", sut(`    - {name: app, backends: [{name: a1, mtbf: 720h, mttr: 1h}]}
requirements: [projected_availability >= 99%, single_points_of_failure <= 2]
`), nil},
		{"the proxy's mtbf and a fault on a backend", sut(`    - {name: app, backends: [{name: a1}]}
  proxy: {mtbf: 720h}
requirements: [projected_availability >= 99%]
` + faulted), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
