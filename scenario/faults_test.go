package scenario

import (
	"strings"
	"testing"
)

const faultBase = `
duration: 30s
sut:
  proxy: {replicas: 2}
  pools:
    - name: app
      backends:
        - {name: app-1, response_size: {dist: lognormal, median: 2KB, p99: 64KB}, mtbf: 720h, cpu_burn: true, sessions: true, startup_delay: 2s}
        - {name: app-2}
workload: [{rate: 10/s}]
faults:
`

func TestFaultValidation(t *testing.T) {
	cases := []struct {
		name, faults string
		want         string // "" when valid
	}{
		{"crash", "  - {at: 5s, for: 5s, kind: crash, node: app-1}", ""},
		{"every kind", `  - {at: 1s, kind: hang, node: app-1, for: 1s}
  - {at: 1s, kind: slow, node: app-1, latency: {dist: exponential, mean: 50ms}}
  - {at: 1s, kind: errors, node: app-2, percent: 10%, status: 503}
  - {at: 1s, kind: reset, node: app-2}
  - {at: 1s, kind: truncate, node: app-2, percent: 1%}
  - {at: 1s, kind: degrade, node: app-2, workers: 1}
  - {at: 1s, kind: flap, node: app-2, period: 2s}
  - {at: 1s, kind: crash-proxy, node: proxy-2, for: 1s}
  - {at: 2s, kind: add-backend, backend: {name: app-3, workers: 2}}
  - {at: 3s, kind: crash, node: app-3}
  - {at: 4s, kind: remove-backend, node: app-1}`, ""},
		{"unknown kind", "  - {at: 1s, kind: crahs, node: app-1}", `did you mean "crash"`},
		{"unknown node", "  - {at: 1s, kind: crash, node: app-9}", `unknown node "app-9"`},
		{"no node", "  - {at: 1s, kind: hang}", "hang needs node"},
		{"past the run", "  - {at: 40s, kind: crash, node: app-1}", "not within the run"},
		{"field of another kind", "  - {at: 1s, kind: crash, node: app-1, workers: 2}", "workers does not apply to kind: crash"},
		{"slow without latency", "  - {at: 1s, kind: slow, node: app-1}", "latency needs dist"},
		{"bad status", "  - {at: 1s, kind: errors, node: app-1, status: 404}", "500 or 503"},
		{"degrade to 0", "  - {at: 1s, kind: degrade, node: app-1}", "degrade needs workers"},
		{"flap without period", "  - {at: 1s, kind: flap, node: app-1}", "flap needs period"},
		{"topology event with for", "  - {at: 1s, for: 2s, kind: remove-backend, node: app-1}", "takes no for"},
		{"node used before it is added", "  - {at: 1s, kind: crash, node: app-3}\n  - {at: 2s, kind: add-backend, backend: {name: app-3}}", `unknown node "app-3"`},
		{"added twice", "  - {at: 1s, kind: add-backend, backend: {name: app-1}}", "already used"},
		{"fault after removal", "  - {at: 1s, kind: remove-backend, node: app-1}\n  - {at: 2s, kind: crash, node: app-1}", "is removed at 1s"},
		{"no such replica", "  - {at: 1s, kind: crash-proxy, node: proxy-3}", "proxy-1 to proxy-2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(faultBase+tc.faults+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFaultDefaults(t *testing.T) {
	s, err := Parse("f.yaml", []byte(faultBase+`  - {at: 1s, kind: errors, node: app-1}
  - {at: 1s, kind: remove-backend, node: app-2}
  - {at: 1s, kind: add-backend, backend: {name: app-3}}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Faults
	if f[0].Percent != 1 || f[0].Status != 500 || f[1].Drain != DefaultDrain || f[2].Pool != "app" || f[2].Node != "app-3" || f[2].Backend.Workers != 1 {
		t.Fatalf("defaults: %+v", f)
	}
	b := s.SUT.Pools[0].Backends[0]
	if b.ResponseSize.Median != 2000 || b.ResponseSize.P99 != 64000 || b.MTBF.D().Hours() != 720 || !b.CPUBurn || !b.Sessions || b.StartupDelay.D().Seconds() != 2 {
		t.Fatalf("backend fields: %+v", b)
	}
}

func TestParseSize(t *testing.T) {
	for text, want := range map[string]Size{"512": 512, "512B": 512, "4KB": 4000, "4KiB": 4096, "1.5MiB": 1572864, "2 kb": 2000} {
		if got, err := ParseSize(text); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", text, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1KB", "4XB", "KB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
