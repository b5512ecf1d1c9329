package calibrate

import (
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

// round is a round whose direct probe spent direct µs outside the backend
// and whose proxied probe proxied µs, each disturbed or not.
func round(direct, proxied float64, directDisturbed, proxyDisturbed bool) sim.CalibrationRound {
	r := sim.CalibrationRound{Direct: sim.Probe{OutsideUS: direct}, Proxy: sim.Probe{OutsideUS: proxied}}
	if directDisturbed {
		r.Direct.Disturbed = "the host"
	}
	if proxyDisturbed {
		r.Proxy.Disturbed = "the host"
	}
	r.NetworkDelayUS = direct / hopsDirect
	r.ProxyCostUS = proxied - hopsProxied*r.NetworkDelayUS
	return r
}

// The constants are the medians of the rounds no disturbed probe is in;
// of all of them, marked, when every round has one; never negative.
func TestTheConstantsAreTheUndisturbedRoundsMedians(t *testing.T) {
	for _, tc := range []struct {
		name            string
		rounds          []sim.CalibrationRound
		delay, cost     float64
		wantDisturbance bool
	}{
		{"one round", []sim.CalibrationRound{round(40, 110, false, false)}, 20, 30, false},
		{"three rounds", []sim.CalibrationRound{round(40, 110, false, false), round(60, 160, false, false), round(50, 150, false, false)}, 25, 40, false},
		{"a disturbed direct probe leaves its round out", []sim.CalibrationRound{round(40, 110, false, false), round(400, 110, true, false), round(44, 130, false, false)}, 21, 36, false},
		{"a disturbed proxied probe too", []sim.CalibrationRound{round(40, 110, false, false), round(40, 900, false, true)}, 20, 30, false},
		{"every round disturbed", []sim.CalibrationRound{round(40, 110, true, false), round(60, 150, false, true), round(80, 150, true, true)}, 30, 30, true},
		{"a proxy cheaper than the hops' noise costs nothing", []sim.CalibrationRound{round(40, 70, false, false)}, 20, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			delay, cost, disturbed := estimate(tc.rounds)
			if delay != tc.delay || cost != tc.cost || disturbed != tc.wantDisturbance {
				t.Errorf("%gµs a hop, %gµs a request, disturbed %v; want %gµs, %gµs, %v", delay, cost, disturbed, tc.delay, tc.cost, tc.wantDisturbance)
			}
		})
	}
}

// Options a probe cannot run with are refused, each named; those it can
// make a scenario the loader accepts, with workers to spare.
func TestOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		says string // "" when valid
	}{
		{"the defaults", func(*Options) {}, ""},
		{"a second's probe", func(o *Options) { o.Probe = time.Second }, ""},
		{"fast", func(o *Options) { o.Rate, o.Service = 100_000, time.Millisecond }, ""},
		{"no rate", func(o *Options) { o.Rate = 0 }, "a rate of 0/s"},
		{"a probe of half a second", func(o *Options) { o.Probe = 500 * time.Millisecond }, "a probe of 500ms"},
		{"a warm-up in fractions", func(o *Options) { o.Warmup = 1500 * time.Millisecond }, "a warm-up of 1.5s"},
		{"no service", func(o *Options) { o.Service = 0 }, "a service time of 0s"},
		{"a service too short to time", func(o *Options) { o.Service = 999 * time.Nanosecond }, "a service time of 999ns"},
		{"a busy backend", func(o *Options) { o.Rate, o.Service = 1000, time.Second }, "keep 1000 workers busy"},
		{"no rounds", func(o *Options) { o.Rounds = 0 }, "0 rounds"},
		{"no attempt", func(o *Options) { o.Attempts = 0 }, "of 0 attempts"},
		{"no tolerance", func(o *Options) { o.Tolerated = 0 }, "a tolerated delay of 0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.set(&o)
			err := o.Check()
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("error %v, want one saying %q", err, tc.says)
			case tc.says != "":
				return
			}
			sc, err := scenario.Parse("calibration", []byte(o.scenario()))
			if err != nil {
				t.Fatalf("the probes' scenario: %v", err)
			}
			b := sc.SUT.Pools[0].Backends[0]
			if busy := o.Rate * o.Service.Seconds(); float64(b.Workers) < 4*busy || b.Workers < 4 {
				t.Errorf("%d workers for %g busy on average", b.Workers, busy)
			}
			if sc.Duration.D() != o.Probe+o.Warmup || sc.Warmup.D() != o.Warmup {
				t.Errorf("a run of %v with %v of warm-up, want %v measured after %v", sc.Duration.D(), sc.Warmup.D(), o.Probe, o.Warmup)
			}
		})
	}
}

// A probe is disturbed when its requests failed, its answers were not all
// timed by the backend, its generator saturated, or the host delayed the
// tool beyond what is tolerated; otherwise its figures are used.
func TestWhatDisturbsAProbe(t *testing.T) {
	clean := func() *report.Result {
		res := &report.Result{Apparatus: &report.Apparatus{CPUPressure: 0.05, Windows: []report.ApparatusWindow{{T: 0, DelayMS: 0.3}, {T: 1, DelayMS: 0.4}}}}
		res.Totals = report.Totals{Scheduled: 300, Succeeded: 300}
		res.Station = &report.Station{SojournMS: report.Percentiles{Count: 300, Min: 1, Mean: 1}}
		return res
	}
	for _, tc := range []struct {
		name   string
		change func(*report.Result)
		says   string // "" when undisturbed
	}{
		{"a clean probe", func(*report.Result) {}, ""},
		{"failed requests", func(r *report.Result) { r.Totals.Succeeded, r.Totals.Failed = 298, 2 }, "2 of 300 requests failed"},
		{"dropped arrivals", func(r *report.Result) { r.Totals.Succeeded, r.Totals.Dropped = 299, 1 }, "1 were dropped"},
		{"no backend timing", func(r *report.Result) { r.Station = nil }, "Server-Timing"},
		{"an answer untimed", func(r *report.Result) { r.Station.SojournMS.Min = 0 }, "Server-Timing"},
		{"a saturated generator", func(r *report.Result) { r.Generator = report.Generator{Saturated: true, Reason: "late"} }, "saturated: late"},
		{"a second the host delayed", func(r *report.Result) { r.Apparatus.Windows[1].DelayMS = 1.5 }, "delayed the tool by 1.5ms"},
		{"a starved tool", func(r *report.Result) { r.Apparatus.CPUPressure = 0.9 }, "CPU pressure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := clean()
			tc.change(res)
			got := disturbed(res, time.Millisecond)
			if (tc.says == "") != (got == "") || !strings.Contains(got, tc.says) {
				t.Errorf("disturbed: %q, want %q", got, tc.says)
			}
		})
	}
}
