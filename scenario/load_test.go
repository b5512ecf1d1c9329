package scenario

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

// knownStrategies is how an unknown-strategy error lists the registered ones.
var knownStrategies = strings.Join(balancer.Names(), ", ")

// lines joins YAML lines so that line numbers in expectations are easy to count.
func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

func TestParseErrorsNamePosition(t *testing.T) {
	target := "target: {url: http://127.0.0.1:8080}"
	tests := []struct {
		name string
		yaml []byte
		want []string // every error, in order, exactly
	}{
		{
			name: "bad indentation",
			yaml: lines(target, "workload:", "  - name: a", "   rate: 5/s"),
			want: []string{`s.yaml:4:4: unexpected ":" here: check the indentation (keys of one mapping must start in the same column) or quote a value that contains ": "`},
		},
		{
			name: "tab",
			yaml: lines(target, "workload:", "  - name: a", "\trate: 5/s"),
			want: []string{`s.yaml:4:1: tab character: indent YAML with spaces, not tabs`},
		},
		{
			name: "unknown nested field",
			yaml: lines(target, "workload:", "  - name: a", "    ratee: 5/s"),
			want: []string{`s.yaml:4:5: unknown field "ratee" in workload[0]; did you mean "rate"?`},
		},
		{
			name: "unknown top-level field without a near match",
			yaml: lines(target, "colour: blue", "workload: [{rate: 5/s}]"),
			want: []string{`s.yaml:2:1: unknown field "colour" at the top level; expected one of: name, seed, duration, window_ok, warmup, sut, target, sites, regions, dns, workload, data, faults, requirements`},
		},
		{
			name: "rate fast",
			yaml: lines(target, "workload:", "  - rate: fast"),
			want: []string{`s.yaml:3:11: expected a rate such as "800/s" or "48000/min", got "fast"`},
		},
		{
			name: "type error names the field",
			yaml: lines(target, "workload:", "  - rate: 5/s", "    max_inflight: many"),
			want: []string{`s.yaml:4:19: expected an integer for max_inflight, got "many"`},
		},
		{
			name: "every mistyped scalar is reported, fractions are not truncated",
			yaml: lines(target, "seed: abc", "name: [1]", "workload: [{rate: 5/s, requests: [{weight: 1.5}]}]"),
			want: []string{
				`s.yaml:2:7: expected an integer for seed, got "abc"`,
				`s.yaml:3:7: expected a string for name, got a list`,
				`s.yaml:4:44: expected an integer for weight, got "1.5"`,
			},
		},
		{
			name: "mapping where a list belongs",
			yaml: lines(target, "workload:", "  rate: 5/s"),
			want: []string{`s.yaml:3:3: expected a list for workload (items start with "- "), got a mapping`},
		},
		{
			name: "unknown metric",
			yaml: lines(target, "workload: [{rate: 5/s}]", "requirements:", "  - p99(latancy) < 100ms"),
			want: []string{`s.yaml:4:5: unknown metric "latancy" (did you mean "latency"?); known metrics: ` + metricNames()},
		},
		{
			name: "unknown workload in for",
			yaml: lines(target, "workload:", "  - {name: browse, rate: 5/s}", "requirements:", "  - p99(latency) < 100ms for brwose"),
			want: []string{`s.yaml:5:5: unknown workload "brwose" after "for" (did you mean "browse"?); workloads: browse`},
		},
		{
			name: "decode problems are collected together",
			yaml: lines(target, "workload:", "  - rate: fast", "    timeout: 5", "  - rate: 5/s", "    colour: red", "requirements:", "  - throughput > 5ms"),
			want: []string{
				`s.yaml:3:11: expected a rate such as "800/s" or "48000/min", got "fast"`,
				`s.yaml:4:14: expected a duration such as "5s" or "5ms" (a number needs a unit: ms, s, m or h), got "5"`,
				`s.yaml:6:5: unknown field "colour" in workload[1]; expected one of: name, model, users, think_time, session, client, arrival, rate, stages, requests, timeout, max_inflight, max_lateness, expect, uses`,
				`s.yaml:8:5: throughput needs a rate such as "700/s", got "5ms"`,
			},
		},
		{
			name: "several validation problems together",
			yaml: lines(
				"sut:",
				"  proxy: {strategy: fastest}",
				"  pools:",
				"    - backends:",
				"        - {name: a, workers: -1, service_time: {dist: lognormal, median: 5ms, p99: 1ms, mean: 2ms}}",
				"        - {name: a, weight: -3}",
				"workload:",
				"  - name: w",
				"    stages: [{ramp_to: 10/s}, {hold: 5/s, for: 1s, over: 2s}]",
				"    requests: [{method: 'GE T', path: nope}]",
				"    expect: {status: [200, 700]}",
				"  - name: w",
				"    model: closed",
			),
			want: []string{
				`s.yaml:2:21: unknown strategy "fastest"; expected one of ` + knownStrategies,
				`s.yaml:5:30: workers must be at least 1, got -1`,
				`s.yaml:5:84: lognormal needs p99 >= median, got p99 1ms < median 5ms`,
				`s.yaml:5:95: mean does not belong to dist: lognormal, which takes median and p99`,
				`s.yaml:6:18: backend name "a" is already used at sut.pools[0].backends[0]; backend names must be unique across the sut`,
				`s.yaml:6:29: weight must be at least 1, got -3`,
				`s.yaml:9:14: a ramp needs over: a duration greater than 0, such as "over: 10s"`,
				`s.yaml:9:31: a stage is either a ramp or a hold, not both: {ramp_to: 800/s, over: 10s} or {hold: 800/s, for: 50s}`,
				`s.yaml:10:25: expected an HTTP method such as GET or POST, got "GE T"`,
				`s.yaml:10:39: path must start with "/", got "nope"`,
				`s.yaml:11:28: expected an HTTP status between 100 and 599, got 700`,
				`s.yaml:12:5: a closed workload needs users (such as "users: 50") or stages of user counts`,
				`s.yaml:12:11: workload name "w" is used twice; names must be unique`,
			},
		},
		{
			name: "missing sut and target points at the top",
			yaml: lines("name: x", "workload: [{rate: 5/s}]"),
			want: []string{`s.yaml:1:1: expected either sut: (the built-in system under test), sites: (several of them behind DNS) or target: (an external URL)`},
		},
		{
			name: "bad target url and empty pools",
			yaml: lines("target: {url: 'ftp://x'}", "sut: {pools: []}", "workload: [{rate: 5/s}]"),
			want: []string{
				`s.yaml:1:9: sut: and target: exclude each other; keep one`,
				`s.yaml:1:15: expected an http or https URL such as "http://127.0.0.1:8080", got "ftp://x"`,
				`s.yaml:2:14: sut needs at least one pool with at least one backend`,
			},
		},
		{
			name: "empty file",
			yaml: []byte("# nothing\n"),
			want: []string{`s.yaml:1:1: the file is empty; expected a scenario with sut: or target:, workload: and requirements:`},
		},
		{
			name: "duplicate key",
			yaml: lines(target, "seed: 1", "seed: 2"),
			want: []string{`s.yaml:3:1: duplicate key "seed" (first defined at line 2, column 1)`},
		},
		{
			name: "second document",
			yaml: lines(target, "workload: [{rate: 5/s}]", "---", "name: other"),
			want: []string{`s.yaml:4:1: expected one scenario per file, found a second YAML document here`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("s.yaml", tt.yaml)
			if err == nil {
				t.Fatalf("no error; scenario %+v", s)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not scenario.Errors: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func metricNames() string {
	names := make([]string, len(Metrics))
	for i, m := range Metrics {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

func TestLoadSeveralErrorsFixture(t *testing.T) {
	_, err := Load("testdata/several_errors.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error = %v", err)
	}
	want := []string{
		`testdata/several_errors.yaml:4:15: unknown strategy "fastest"; expected one of ` + knownStrategies,
		`testdata/several_errors.yaml:8:34: workers must be at least 1, got -2`,
		`testdata/several_errors.yaml:9:18: backend name "app-1" is already used at sut.pools[0].backends[0]; backend names must be unique across the sut`,
		`testdata/several_errors.yaml:9:39: exponential needs mean: a duration greater than 0 such as "5ms"`,
		`testdata/several_errors.yaml:13:11: a closed workload has users, not a rate: use users: N (or stages of user counts)`,
		`testdata/several_errors.yaml:15:5: unknown workload "checkout" after "for"; workloads: browse`,
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(want), err)
	}
	for i := range want {
		if errs[i].Error() != want[i] {
			t.Errorf("error %d = %s\nwant      %s", i, errs[i], want[i])
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("error = %#v, want one scenario.Errors entry", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if want := "testdata/no-such-file.yaml: cannot read the scenario file: no such file or directory"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestLoadFullScenario(t *testing.T) {
	s, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "checkout under load" || s.Seed != 42 || s.Duration.D() != time.Minute || !near(s.WindowOK.Fraction(), 0.995, 1e-12) {
		t.Errorf("top level: name %q seed %d duration %s window_ok %s", s.Name, s.Seed, s.Duration, s.WindowOK)
	}
	if s.File != "testdata/full.yaml" || s.Target != nil || s.SUT == nil {
		t.Fatalf("file %q target %v sut %v", s.File, s.Target, s.SUT)
	}
	if s.SUT.Proxy.Strategy != "least-connections" || s.SUT.Proxy.Timeout.D() != 5*time.Second {
		t.Errorf("proxy = %+v", s.SUT.Proxy)
	}
	app, static := s.SUT.Pools[0], s.SUT.Pools[1]
	if *app.Backends[1].Queue != 0 {
		t.Errorf("explicit queue: 0 became %d", *app.Backends[1].Queue)
	}
	third := app.Backends[2]
	if third.Name != "app-3" || third.Weight != 2 || *third.Queue != 1024 || third.Listen != "127.0.0.1:0" {
		t.Errorf("defaults of an unnamed backend: %+v (queue %d)", third, *third.Queue)
	}
	if static.Match != (Match{Host: "static.local", PathPrefix: "/assets"}) || static.Backends[0].Name != "static-1" || static.Backends[0].Workers != 1 {
		t.Errorf("static pool = %+v", static)
	}
	if d := static.Backends[0].ServiceTime; d.Dist != "uniform" || d.Min.D() != time.Millisecond || d.Max.D() != 3*time.Millisecond {
		t.Errorf("uniform service time = %+v", d)
	}

	browse, second := s.Workload[0], s.Workload[1]
	if browse.Arrival != "poisson" || browse.Timeout.D() != 2*time.Second || browse.MaxLateness != browse.Timeout || browse.MaxInflight != 256 {
		t.Errorf("browse = %+v", browse)
	}
	if r := browse.Requests[1]; r.Method != "POST" || r.Path != "/cart" || r.Weight != 1 || r.Headers["Content-Type"] != "application/json" || r.Body != `{"sku": 1}` {
		t.Errorf("POST request = %+v", r)
	}
	if !browse.Expect.OK(201) || browse.Expect.OK(204) {
		t.Errorf("expect %v", browse.Expect.Status)
	}
	if second.Name != "workload-2" || second.Model != "open" || second.Arrival != "uniform" || second.Rate != 800 ||
		second.Timeout.D() != 10*time.Second || second.MaxInflight != 1000 || second.MaxLateness.D() != 10*time.Second {
		t.Errorf("defaults of the second workload = %+v", second)
	}
	if len(second.Requests) != 1 || !reflect.DeepEqual(second.Requests[0], Request{Method: "GET", Path: "/", Weight: 1}) {
		t.Errorf("default requests = %+v", second.Requests)
	}

	if len(s.Requirements) != 6 {
		t.Fatalf("requirements = %+v", s.Requirements)
	}
	p99 := s.Requirements[1]
	if p99.Metric != "latency" || p99.Agg != "p99" || p99.Threshold != 150 || p99.Scope != "browse" || p99.Line != 43 || p99.Column != 5 {
		t.Errorf("p99 requirement = %#v", p99)
	}
	if at := s.Requirements[4]; at.Metric != "availability(time)" || !near(at.Threshold, 0.99, 1e-12) {
		t.Errorf("availability(time) requirement = %+v", at)
	}
}

func TestLoadMinimalScenarioDefaults(t *testing.T) {
	s, err := Load("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	w := s.Workload[0]
	checks := []struct {
		what     string
		got, exp any
	}{
		{"name", s.Name, "minimal"},
		{"seed", s.Seed, int64(1)},
		{"duration", s.Duration, Duration(10 * time.Second)},
		{"window_ok", s.WindowOK, Percent(0.99)},
		{"workload name", w.Name, "default"},
		{"model", w.Model, "open"},
		{"arrival", w.Arrival, "uniform"},
		{"timeout", w.Timeout, Duration(10 * time.Second)},
		{"max_lateness", w.MaxLateness, Duration(10 * time.Second)},
		{"max_inflight", w.MaxInflight, 1000},
		{"requests", len(w.Requests), 1},
	}
	for _, c := range checks {
		if c.got != c.exp {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.exp)
		}
	}
}

func TestDurationDefaultsToStagesTotal(t *testing.T) {
	s, err := Parse("", lines(
		"target: {url: 'https://example.test'}",
		"workload:",
		"  - stages: [{ramp_to: 10/s, over: 5s}, {hold: 10/s, for: 20s}]",
		"  - rate: 5/s",
	))
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration.D() != 25*time.Second || s.Name != "scenario" {
		t.Errorf("duration %s name %q, want 25s and the default name", s.Duration, s.Name)
	}
}

func TestSUTDefaults(t *testing.T) {
	s, err := Parse("x.yaml", lines(
		"sut:",
		"  pools:",
		"    - backends: [{}, {}]",
		"workload: [{rate: 1/s}]",
	))
	if err != nil {
		t.Fatal(err)
	}
	if s.SUT.Listen != "127.0.0.1:0" || s.SUT.Proxy.Strategy != "round-robin" || s.SUT.Proxy.Timeout.D() != 30*time.Second {
		t.Errorf("sut = %+v", s.SUT)
	}
	pool := s.SUT.Pools[0]
	if pool.Name != "default" || pool.Match.PathPrefix != "/" {
		t.Errorf("pool = %+v", pool)
	}
	for i, want := range []string{"default-1", "default-2"} {
		b := pool.Backends[i]
		if b.Name != want || b.Workers != 1 || *b.Queue != 1024 || b.Weight != 1 || b.ServiceTime != (Distribution{Dist: "constant"}) {
			t.Errorf("backend %d = %+v", i, b)
		}
	}
}

func TestValidateWithoutFileUsesPaths(t *testing.T) {
	s := &Scenario{Target: &Target{URL: "http://127.0.0.1:1"}, Workload: []Workload{{Name: "w"}}}
	s.ApplyDefaults()
	err := s.Validate()
	want := `workload[0]: workload needs a rate greater than 0 (such as "rate: 100/s") or stages`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
	s.Workload[0].Rate = 10
	if err := s.Validate(); err != nil {
		t.Errorf("Validate() after fixing = %v", err)
	}
}

func TestExamplesLoad(t *testing.T) {
	s, err := Load("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Workload) == 0 || len(s.Requirements) == 0 {
		t.Errorf("quickstart loaded empty: %+v", s)
	}
}

func TestExpectOK(t *testing.T) {
	tests := []struct {
		expect Expect
		status int
		want   bool
	}{
		{Expect{}, 200, true},
		{Expect{}, 204, true},
		{Expect{}, 302, true},
		{Expect{}, 399, true},
		{Expect{}, 199, false},
		{Expect{}, 404, false},
		{Expect{}, 503, false},
		{Expect{Status: []int{404}}, 404, true},
		{Expect{Status: []int{404}}, 200, false},
		{Expect{Status: []int{200, 201}}, 201, true},
	}
	for _, tt := range tests {
		if got := tt.expect.OK(tt.status); got != tt.want {
			t.Errorf("Expect%v.OK(%d) = %v, want %v", tt.expect.Status, tt.status, got, tt.want)
		}
	}
}

func TestAnchorsMergeKeysAndExtensions(t *testing.T) {
	s, err := Parse("a.yaml", lines(
		"x-backend: &backend {workers: 4, service_time: {dist: constant, value: 2ms}}",
		"sut:",
		"  pools:",
		"    - backends:",
		"        - {<<: *backend, name: one}",
		"        - {<<: *backend, name: two, workers: 8, x-note: bigger}",
		"workload: [{rate: 10/s}]",
	))
	if err != nil {
		t.Fatal(err)
	}
	one, two := s.SUT.Pools[0].Backends[0], s.SUT.Pools[0].Backends[1]
	if one.Name != "one" || one.Workers != 4 || one.ServiceTime.Value.D() != 2*time.Millisecond {
		t.Errorf("merged backend one = %+v", one)
	}
	if two.Name != "two" || two.Workers != 8 || two.ServiceTime.Dist != "constant" {
		t.Errorf("merged backend two = %+v", two)
	}
}

// TestDocsExamplesLoad keeps docs/scenario.md true: its first YAML block is a
// valid scenario, and every requirement it shows parses.
func TestDocsExamplesLoad(t *testing.T) {
	doc, err := os.ReadFile("../docs/scenario.md")
	if err != nil {
		t.Skipf("docs not present: %v", err)
	}
	var blocks []string
	for _, part := range strings.Split(string(doc), "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml blocks in docs/scenario.md", len(blocks))
	}
	if _, err := Parse("docs/scenario.md", []byte(blocks[0])); err != nil {
		t.Errorf("first example: %v", err)
	}
	requirements, pools := 0, 0
	for _, block := range blocks[1:] {
		switch {
		case strings.HasPrefix(block, "requirements:"):
			requirements++
			for _, line := range strings.Split(block, "\n") {
				if text, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
					if _, err := ParseRequirement(text); err != nil {
						t.Errorf("requirement %q: %v", text, err)
					}
				}
			}
		case strings.HasPrefix(block, "pools:"):
			// The pools of a sut, shown alone.
			pools++
			indented := "  " + strings.ReplaceAll(strings.TrimRight(block, "\n"), "\n", "\n  ")
			if _, err := Parse("docs/scenario.md", []byte("sut:\n"+indented+"\nworkload: [{rate: 1/s}]\n")); err != nil {
				t.Errorf("pools example: %v", err)
			}
		}
	}
	if requirements == 0 || pools == 0 {
		t.Errorf("docs/scenario.md shows %d requirements blocks and %d pools blocks; want one of each at least", requirements, pools)
	}
}
