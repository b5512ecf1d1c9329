package main

import (
	"errors"
	"math"
	"strings"
	"testing"
)

const wrkOut = `Running 2s test @ http://127.0.0.1:8080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  500.00us   10.00ms   80.00%
    Req/Sec    27.00k     1.00k   30.00k    70.00%
  Latency Distribution
     50%  320.00us
     75%    1.40ms
     90%    1.80ms
     99%    3.00ms
  55079 requests in 2.00s, 7.51MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  27539.50
Transfer/sec:      3.75MB
`

const wrk2Out = `Running 10s test @ http://127.0.0.1:8080/
  1 threads and 1 connections
  Latency Distribution (HdrHistogram - Recorded Latency)
 50.000%    0.85ms
 75.000%    1.10ms
 99.000%    2.10ms
  9999 requests in 10.00s, 1.20MB read
Requests/sec:    999.90
`

func TestReadWrk(t *testing.T) {
	cases := []struct {
		name              string
		out               string
		requests          int64
		seconds, p50, cpu float64
		note              string
		err               bool
	}{
		{name: "wrk", out: wrkOut, requests: 55079, seconds: 2, p50: 0.32, note: "9 errors"},
		{name: "wrk2", out: wrk2Out, requests: 9999, seconds: 10, p50: 0.85},
		{name: "no latency distribution", out: "  10 requests in 1.00m, 1KB read\n", requests: 10, seconds: 60, p50: math.NaN()},
		{name: "not wrk", out: "command not found", err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := readWrk([]byte(c.out), 0.5)
			if (err != nil) != c.err {
				t.Fatalf("error %v, want one: %v", err, c.err)
			}
			if c.err {
				return
			}
			p50 := r.fig[figLatencyP50]
			if r.requests != c.requests || r.seconds != c.seconds || r.cpu != 0.5 || r.note != c.note ||
				(math.IsNaN(c.p50) != math.IsNaN(p50)) || (!math.IsNaN(p50) && math.Abs(p50-c.p50) > 1e-9) {
				t.Errorf("readWrk = %+v", r)
			}
			if want := float64(c.requests) / c.seconds; math.Abs(r.fig[figRate]-want) > 1e-9 {
				t.Errorf("rate %v, want %v", r.fig[figRate], want)
			}
		})
	}
}

func TestReadIlities(t *testing.T) {
	out := `{"measured_s": 10, "totals": {"scheduled": 10000, "succeeded": 9990, "failed": 10, "dropped": 0},
	"latency_ms": {"p50": 0.2}, "generator": {"saturated": true, "reason": "arrivals dropped", "send_lag_ms": {"p50": 0.03}}}
progress text after the JSON is not read`
	r, res, err := readIlities([]byte(out), 0.25)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 10000 || r.seconds != 10 || r.cpu != 0.25 || r.fig[figRate] != 1000 ||
		r.fig[figLatencyP50] != 0.2 || r.fig[figSendLagP50] != 0.03 || !res.Generator.Saturated || res.Generator.Reason != "arrivals dropped" {
		t.Errorf("readIlities = %+v, %+v", r, res)
	}
	if _, _, err := readIlities([]byte("exit 2: invalid"), 0); err == nil {
		t.Error("no JSON: no error")
	}
}

func TestPacing(t *testing.T) {
	cases := []struct {
		rate int
		want pacing
	}{
		{500, pacing{1, 2}}, {1000, pacing{1, 1}}, {1500, pacing{2, 1}}, {10000, pacing{10, 1}}, {50000, pacing{50, 1}}, {1, pacing{1, 1000}},
	}
	for _, c := range cases {
		if got := pacingFor(c.rate); got != c.want {
			t.Errorf("pacingFor(%d) = %+v, want %+v", c.rate, got, c.want)
		}
	}
}

func TestStepUp(t *testing.T) {
	steps := []int{50000, 80000, 100000, 150000}
	try := func(limit int) func(int) (result, string, error) {
		return func(rate int) (result, string, error) {
			r := result{requests: int64(rate), cpu: 1, aside: 0.5}
			if rate > limit {
				return r, "saturated: arrivals dropped", nil
			}
			return r, "", nil
		}
	}
	r, err := stepUp(steps, try(90000))
	if err != nil || r.fig[figHeld] != 80000 || r.note != "not held at 100k/s: saturated: arrivals dropped" || r.requests != 230000 || r.cpu != 3 || r.aside != 1.5 {
		t.Errorf("stepUp to 90k = %+v, %v", r, err)
	}
	if r, _ := stepUp(steps, try(1e6)); r.fig[figHeld] != 150000 || r.note != "held every step up to 150k/s" {
		t.Errorf("stepUp, all held = %+v", r)
	}
	if r, _ := stepUp(steps, try(0)); r.fig[figHeld] != 0 || !strings.HasPrefix(r.note, "not held at 50k/s") {
		t.Errorf("stepUp, none held = %+v", r)
	}
	if _, err := stepUp(steps, func(int) (result, string, error) { return result{}, "", errors.New("boom") }); err == nil {
		t.Error("an error of a step is lost")
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-rounds", "7", "-only", "closed,proxy", "-open-rates", "1000, 2000"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rounds != 7 || !cfg.only["closed"] || !cfg.only["proxy"] || cfg.only["open"] || len(cfg.openRates) != 2 || cfg.openRates[1] != 2000 {
		t.Errorf("config = %+v", cfg)
	}
	if d, _ := parseFlags(nil); d.rounds != 5 || len(d.only) != len(sections) || d.limit.others != 0.10 || len(d.steps) != 4 {
		t.Errorf("defaults = %+v", d)
	}
	for _, bad := range [][]string{
		{"-only", "closed,speed"}, {"-open-rates", "2000,1000"}, {"-steps", "50k"}, {"-rounds", "0"}, {"-proxy-workers", "0"}, {"-duration", "10ms"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// h2load's summary, as it prints it (1.52), trimmed to what is read.
const h2loadOutput = `Application protocol: h2c
finished in 1.00s, 5492.00 req/s, 241.85KB/s
requests: 5492 total, 5500 started, 5492 done, 5492 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 5494 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 241.85KB (247658) total, 37.91KB (38822) headers (space savings 96.64%), 59.00KB (60412) data
`

func TestReadH2load(t *testing.T) {
	r, err := readH2load([]byte(h2loadOutput), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 5492 || r.seconds != 1 || r.cpu != 0.5 || r.fig[figRate] != 5492 || r.note != "" {
		t.Errorf("read %+v", r)
	}
	bad := strings.Replace(strings.Replace(h2loadOutput, "0 failed", "3 failed", 1), "0 5xx", "2 5xx", 1)
	if r, err := readH2load([]byte(bad), 0); err != nil || r.note != "5 failed, errored, timed out or not 2xx" {
		t.Errorf("failures: note %q, %v", r.note, err)
	}
	if _, err := readH2load([]byte("nothing"), 0); err == nil {
		t.Error("unreadable output accepted")
	}
}

// The classes of failed requests are named, the most frequent first, ties
// by name.
func TestErrorClasses(t *testing.T) {
	cases := []struct {
		in   map[string]int64
		want string
	}{
		{nil, "no class reported"},
		{map[string]int64{"timeout": 3}, "timeout 3"},
		{map[string]int64{"reset": 85, "timeout": 800, "connect": 85}, "timeout 800, connect 85, reset 85"},
	}
	for _, tc := range cases {
		if got := errorClasses(tc.in); got != tc.want {
			t.Errorf("errorClasses(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
