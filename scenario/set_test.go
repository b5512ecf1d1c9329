package scenario

import (
	"fmt"
	"strings"
	"testing"
)

// setBase is a scenario with a built-in SUT, two workloads and two
// requirements, for --set.
var setBase = lines(
	"x-common: &common {timeout: 2s}",
	"x-client: &client {keepalive: true}",
	"sut:",
	"  pools:",
	"    - name: app",
	"      backends: [{name: app-1, workers: 2}]",
	"workload:",
	"  - name: browse",
	"    rate: 50/s",
	"    requests: [{path: /a}]",
	"  - {<<: *common, name: buy, rate: 5/s}",
	"  - name: shared",
	"    rate: 5/s",
	"    client: *client",
	"requirements:",
	"  - error_rate < 1%",
	"  - p99(latency) < 200ms",
)

func TestSetPuts(t *testing.T) {
	tests := []struct {
		sets  []string
		check func(*Scenario) string // "" when right
	}{
		{[]string{"workload.0.rate=200/s"}, func(s *Scenario) string {
			return want(s.Workload[0].Rate == 200, "rate %v", s.Workload[0].Rate)
		}},
		{[]string{"workload[1].rate=7"}, func(s *Scenario) string {
			return want(s.Workload[1].Rate == 7 && s.Workload[1].Timeout.D().Seconds() == 2, "workload 1 %+v", s.Workload[1])
		}},
		{[]string{"workload.1.timeout=3s"}, func(s *Scenario) string { // over a merged value
			return want(s.Workload[1].Timeout.D().Seconds() == 3, "timeout %v", s.Workload[1].Timeout)
		}},
		{[]string{"sut.proxy.strategy=least-connections"}, func(s *Scenario) string { // proxy: is not in the file
			return want(s.SUT.Proxy.Strategy == "least-connections", "strategy %q", s.SUT.Proxy.Strategy)
		}},
		{[]string{"sut.pools.0.backends.0.workers=8"}, func(s *Scenario) string { // typed: an integer
			return want(s.SUT.Pools[0].Backends[0].Workers == 8, "workers %d", s.SUT.Pools[0].Backends[0].Workers)
		}},
		{[]string{"duration=30s"}, func(s *Scenario) string {
			return want(s.Duration.D().Seconds() == 30, "duration %v", s.Duration)
		}},
		{[]string{"requirements.1=p99(latency) < 80ms", "requirements.2=dropped == 0"}, func(s *Scenario) string {
			r := s.Requirements
			return want(len(r) == 3 && r[1].Threshold == 80 && r[1].Line == 0 && r[2].Metric == "dropped" && r[0].Line == 16,
				"requirements %+v", r)
		}},
		{[]string{"workload.0.requests.0.headers.X-Token=abc", "workload.0.requests.1.path=/b"}, func(s *Scenario) string {
			rs := s.Workload[0].Requests
			return want(len(rs) == 2 && rs[0].Headers["X-Token"] == "abc" && rs[1].Path == "/b", "requests %+v", rs)
		}},
		{[]string{"workload.0.rate=1/s", "workload.0.rate=2/s"}, func(s *Scenario) string { // the last wins
			return want(s.Workload[0].Rate == 2, "rate %v", s.Workload[0].Rate)
		}},
		{[]string{"name="}, func(s *Scenario) string { // empty: null, the default
			return want(s.Name == "s", "name %q", s.Name)
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sets, " "), func(t *testing.T) {
			s, err := parseWith(setBase, LoadOptions{Sets: mustSets(t, tt.sets...)})
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(s); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		sets []string
		want []string // every error, in order, exactly
	}{
		{[]string{"workload.0.ratee=5/s"}, []string{
			`--set workload.0.ratee: unknown field "ratee" in workload.0; did you mean "rate"? (fields there: name, model, users, think_time, session, client, arrival, rate, stages, requests, timeout, max_inflight, max_lateness, expect, uses)`}},
		{[]string{"colour=blue"}, []string{
			`--set colour: unknown field "colour" at the top level; expected one of: name, seed, duration, window_ok, warmup, sut, target, sites, regions, dns, workload, data, faults, requirements`}},
		{[]string{"workload.5.rate=5/s", "workload.x.rate=1"}, []string{
			`--set workload.5.rate: workload is a list of 3 item(s): expected an index from 0 to 3 (3 adds one), got "5"`,
			`--set workload.x.rate: workload is a list of 3 item(s): expected an index from 0 to 3 (3 adds one), got "x"`}},
		{[]string{"sut=x"}, []string{
			`--set sut: sut is a mapping (key: value): set one of its fields: listen, proxy, pools`}},
		{[]string{"duration.max=1s"}, []string{`--set duration.max: duration is a single value: it has no "max"`}},
		{[]string{"workload.2.client.http=2"}, []string{
			`--set workload.2.client.http: workload.2.client is an alias (*client, at line 14, column 13): set the anchored value's path instead`}},
		{[]string{"workload..rate=1"}, []string{
			`--set workload..rate: expected a path such as workload.0.rate (keys and list indexes joined by dots), got "workload..rate"`}},
		{[]string{"workload.0.rate=fast"}, []string{
			`--set workload.0.rate: expected a rate such as "800/s" or "48000/min", got "fast"`}},
		{[]string{"workload.0.max_inflight=many"}, []string{
			`--set workload.0.max_inflight: expected an integer for max_inflight, got "many"`}},
		{[]string{"workload.0.max_inflight=-3"}, []string{
			`--set workload.0.max_inflight: max_inflight must be at least 1, got -3`}},
		{[]string{"requirements.0=error_rate < 1"}, []string{
			`--set requirements.0: error_rate needs a percentage such as "99.9%", got "1": a bare 1 is ambiguous: write "1%" for a percentage, or a fraction with a decimal point such as "1.0"`}},
		{[]string{"seed=x", "name=[1]"}, []string{
			`--set seed: expected an integer for seed, got "x"`}},
		{[]string{"sut.proxy.strategy=nope"}, []string{
			`--set sut.proxy.strategy: unknown strategy "nope"`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sets, " "), func(t *testing.T) {
			_, err := parseWith(setBase, LoadOptions{Sets: mustSets(t, tt.sets...)})
			wantErrors(t, err, tt.want)
		})
	}
}

func TestSetKeepsFilePositions(t *testing.T) {
	// The file's own errors still point into it when sets made nodes.
	data := lines("target: {url: http://127.0.0.1:9/}", "workload:", "  - rate: 5/s", "    timeout: soon")
	_, err := parseWith(data, LoadOptions{Sets: mustSets(t, "workload.0.requests.0.path=/x", "duration=2s")})
	if err == nil || err.Error() != `s.yaml:4:14: expected a duration such as "250ms", "1.5s" or "2m", got "soon"` {
		t.Errorf("error %v", err)
	}
}

func TestParseSet(t *testing.T) {
	for _, tt := range []struct {
		in, path, value, err string
	}{
		{in: "workload.0.rate=200/s", path: "workload.0.rate", value: "200/s"},
		{in: "requirements.1=p99(latency) < 80ms", path: "requirements.1", value: "p99(latency) < 80ms"},
		{in: "target.url=http://h/?a=b", path: "target.url", value: "http://h/?a=b"},
		{in: "name=", path: "name", value: ""},
		{in: "rate", err: "--set rate: expected path=value"},
		{in: "=5", err: "--set =5: expected path=value"},
	} {
		s, err := ParseSet(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSet(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || s.Path != tt.path || s.Value != tt.value {
			t.Errorf("ParseSet(%q) = %+v, %v", tt.in, s, err)
		}
	}
}

func TestLoadFlags(t *testing.T) {
	targetFile := lines(
		"target: {url: http://127.0.0.1:1/, urls: ['http://127.0.0.1:2/']}",
		"workload:",
		"  - {name: steady, rate: 5/s}",
		"  - {name: also, rate: 1/s}",
	)
	noTarget := lines("workload: [{name: w, rate: 5/s}]", "requirements: [error_rate < 1%]")
	mixed := lines(
		"target: {url: http://127.0.0.1:1/}",
		"workload:",
		"  - {name: ramp, stages: [{ramp_to: 10/s, over: 5s}]}",
		"  - {name: shoppers, model: closed, users: 3}",
		"  - {name: plain, rate: 5/s}",
	)
	t.Run("target replaces the file's, urls and all", func(t *testing.T) {
		s, err := parseWith(targetFile, LoadOptions{Target: "http://127.0.0.1:3/"})
		if err != nil {
			t.Fatal(err)
		}
		if s.Target.URL != "http://127.0.0.1:3/" || len(s.Target.URLs) != 0 {
			t.Errorf("target %+v", s.Target)
		}
	})
	t.Run("target for a file without one", func(t *testing.T) {
		s, err := parseWith(noTarget, LoadOptions{Target: "http://127.0.0.1:3/", Rate: "40/s", Duration: "3s"})
		if err != nil {
			t.Fatal(err)
		}
		if s.Target.URL != "http://127.0.0.1:3/" || s.Workload[0].Rate != 40 || s.Duration.D().Seconds() != 3 {
			t.Errorf("scenario %+v", s)
		}
	})
	t.Run("a value the command line replaces needs no variable", func(t *testing.T) {
		vars := lines(
			"target: {url: '${TARGET_URL}'}",
			"duration: ${DURATION}",
			"workload:",
			"  - {name: a, rate: '${RATE}', max_inflight: '${INFLIGHT}'}",
			"  - name: b",
			"    rate: ${RATE}",
		)
		s, err := parseWith(vars, LoadOptions{Lookup: env(), Target: "http://127.0.0.1:3/", Duration: "2s", Rate: "7/s",
			Sets: mustSets(t, "workload.0.max_inflight=9")})
		if err != nil {
			t.Fatal(err)
		}
		if s.Target.URL != "http://127.0.0.1:3/" || s.Workload[0].Rate != 7 || s.Workload[1].Rate != 7 || s.Workload[0].MaxInflight != 9 {
			t.Errorf("scenario %+v", s)
		}
		_, err = parseWith(vars, LoadOptions{Lookup: env(), Target: "http://127.0.0.1:3/", Duration: "2s", Rate: "7/s"})
		wantErrors(t, err, []string{`s.yaml:4:47: environment variable INFLIGHT is not set`})
	})
	t.Run("rate sets every open workload", func(t *testing.T) {
		s, err := parseWith(targetFile, LoadOptions{Rate: "9/s"})
		if err != nil {
			t.Fatal(err)
		}
		if s.Workload[0].Rate != 9 || s.Workload[1].Rate != 9 {
			t.Errorf("rates %v, %v", s.Workload[0].Rate, s.Workload[1].Rate)
		}
	})
	for _, tt := range []struct {
		name string
		data []byte
		opts LoadOptions
		want []string
	}{
		{"target with a built-in SUT", setBase, LoadOptions{Target: "http://127.0.0.1:3/"}, []string{
			`--target: the scenario has a built-in SUT (sut: at line 3), and --target points it at an external URL instead; remove sut: from the file, or run without --target`}},
		{"rate of staged and closed workloads", mixed, LoadOptions{Rate: "9/s"}, []string{
			`--rate: "ramp" has stages (a rate that changes over time), and --rate sets a constant rate; set a stage with --set workload.0.stages.N.hold=RATE`,
			`--rate: "shoppers" is a closed workload (virtual users) and has no arrival rate; --rate sets the rate of open workloads (set its users with --set workload.1.users=N)`}},
		{"a bad duration", targetFile, LoadOptions{Rate: "5/s", Duration: "long"}, []string{
			`--duration: expected a duration such as "250ms", "1.5s" or "2m", got "long"`}},
		{"a bad rate, said once", targetFile, LoadOptions{Rate: "fast"}, []string{
			`--rate: expected a rate such as "800/s" or "48000/min", got "fast"`}},
		{"an invalid target URL", targetFile, LoadOptions{Target: "ftp://x"}, []string{`--target: `}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWith(tt.data, tt.opts)
			wantErrors(t, err, tt.want)
		})
	}
}

// wantErrors checks that err is Errors, one line each, each starting with
// its want.
func wantErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n%s\nwant it to start with:\n%s", i, got[i], want[i])
		}
	}
}

func mustSets(t *testing.T, texts ...string) []Set {
	t.Helper()
	sets := make([]Set, len(texts))
	for i, text := range texts {
		s, err := ParseSet(text)
		if err != nil {
			t.Fatal(err)
		}
		sets[i] = s
	}
	return sets
}

// want is "" when ok, else the message.
func want(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}
