package workflow

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

func requirements(t *testing.T, texts ...string) []scenario.Requirement {
	t.Helper()
	var out []scenario.Requirement
	for _, s := range texts {
		r, err := scenario.ParseRequirement(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// apparatus is a result's apparatus with delay d at every percentile and
// windows 0..n-1, the first disturbed ones of them marked.
func apparatus(d float64, n, disturbed int) *report.Apparatus {
	a := &report.Apparatus{DelayMS: report.Percentiles{Min: d, Mean: d, P50: d, P75: d, P90: d, P95: d, P99: d, P999: d, P9999: d, Max: d}}
	for i := range n {
		a.Windows = append(a.Windows, report.ApparatusWindow{T: i, Disturbed: i < disturbed})
	}
	return a
}

func TestStepInvalidity(t *testing.T) {
	reqs := requirements(t, "mean(latency) < 10ms", "p99(latency) < 200ms", "error_rate == 0%")
	pass := report.Result{Verdict: report.VerdictPass, WarmupS: 2}
	with := func(f func(r *report.Result)) report.Result { r := pass; f(&r); return r }
	cases := []struct {
		name  string
		res   report.Result
		why   string  // "" valid; else a word of the reason
		delay float64 // the binding apparatus delay reported
	}{
		{"no apparatus figures, no send lag: valid", pass, "", 0},
		{"quiet machine", with(func(r *report.Result) { r.Apparatus = apparatus(0.05, 10, 0) }), "", 0.05},
		{"apparatus delay at 10% of the threshold is still valid", with(func(r *report.Result) { r.Apparatus = apparatus(1, 10, 0) }), "", 1},
		{"apparatus mean delay above 10% of mean(latency) < 10ms", with(func(r *report.Result) { r.Apparatus = apparatus(3, 10, 0) }), "30% of mean(latency) < 10ms", 3},
		{"p99 delay weighs on p99(latency)", with(func(r *report.Result) {
			r.Apparatus = apparatus(0.2, 10, 0)
			r.Apparatus.DelayMS.P99 = 40
		}), "20% of p99(latency) < 200ms", 40},
		{"a failing verdict under a busy machine is invalid, not a failure", with(func(r *report.Result) {
			r.Verdict = report.VerdictFail
			r.Apparatus = apparatus(5, 10, 0)
		}), "apparatus delay mean", 5},
		{"without apparatus figures the send lag stands in for latency", with(func(r *report.Result) {
			r.Generator.SendLagMS = report.Percentiles{Mean: 12, P99: 106}
		}), "120% of mean(latency)", 12},
		{"disturbed windows beyond 10% of the measured ones", with(func(r *report.Result) { r.Apparatus = apparatus(0.1, 12, 4) }), "2 of 10 windows disturbed", 0.1},
		{"disturbed warm-up windows do not count", with(func(r *report.Result) { r.Apparatus = apparatus(0.1, 12, 2) }), "", 0.1},
		{"one disturbed window of ten is tolerated", with(func(r *report.Result) { r.Apparatus = apparatus(0.1, 12, 3) }), "", 0.1},
		{"generator saturated", with(func(r *report.Result) { r.Generator = report.Generator{Saturated: true, Reason: "12 dropped"} }), "generator saturated: 12 dropped", 0},
		{"inconclusive verdict", with(func(r *report.Result) {
			r.Verdict, r.VerdictReason = report.VerdictInconclusive, "missed by less than the apparatus delay"
		}), "inconclusive: missed by less", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			why, chk := invalidity(reqs, &tc.res)
			if (why == "") != (tc.why == "") || !strings.Contains(why, tc.why) {
				t.Fatalf("invalidity %q, want %q", why, tc.why)
			}
			if math.Abs(chk.delayMS-tc.delay) > 1e-9 {
				t.Errorf("binding delay %g, want %g", chk.delayMS, tc.delay)
			}
		})
	}
	// service_latency does not include the send lag: without apparatus
	// figures there is nothing to hold against it.
	lag := with(func(r *report.Result) { r.Generator.SendLagMS = report.Percentiles{Mean: 12} })
	if why, _ := invalidity(requirements(t, "mean(service_latency) < 10ms"), &lag); why != "" {
		t.Errorf("send lag held against service latency: %q", why)
	}
}

// model is a SUT of capacity capRPS measured from a machine that cannot
// measure at or above limitRPS (0: any rate), by a scenario whose
// max_inflight holds the arrivals at or above heldRPS (0: never), and whose
// first flaky runs at each rate are invalid anyway (a neighbour's burst).
type model struct {
	capRPS, limitRPS, heldRPS float64
	flaky                     int
	runs                      map[float64]int
}

func (m *model) step(rate float64, index int) (Step, error) {
	if m.runs == nil {
		m.runs = map[float64]int{}
	}
	m.runs[rate]++
	st := Step{RateRPS: rate, Seed: int64(index), MeanMS: 5}
	switch {
	case m.heldRPS > 0 && rate >= m.heldRPS:
		st.LimitedBy = "max_inflight (1000)"
		st.Reason = "limited by the scenario's max_inflight (1000): arrivals waited for one of max_inflight's 1000 slots"
	case m.limitRPS >= 0 && rate >= m.limitRPS:
		st.Reason = "apparatus delay mean 3ms is 30% of mean(latency) < 10ms (more than 10%)"
	case m.runs[rate] <= m.flaky:
		st.Reason = "apparatus: 5 of 8 windows disturbed"
	default:
		st.Valid, st.Pass = true, rate < m.capRPS
		if !st.Pass {
			st.Failed = []string{"mean(latency) < 10ms"}
		}
	}
	return st, nil
}

// The search's rules on a model: no run, no clock. The bounds follow from
// bracketing from 400/s by 2 and halving the bracket to 5%.
func TestSearchInvalidSteps(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name                string
		m                   model
		retries             int
		simulate            bool
		limited             bool    // machine-limited
		held                bool    // workload-limited
		minRate, maxRate    float64 // MaxRateRPS, or MachineLimitRPS when limited
		invalidAt           float64 // InvalidRateRPS when limited
		wantInvalid, stepsN int     // invalid steps; total steps (0: not checked)
	}{
		{name: "quiet machine", m: model{capRPS: 560, limitRPS: inf}, minRate: 560 / 1.05, maxRate: 560},
		{name: "a busy burst at every rate: run again, never counted failing", m: model{capRPS: 560, limitRPS: inf, flaky: 1},
			minRate: 560 / 1.05, maxRate: 560, wantInvalid: -1},
		{name: "machine limit above the capacity: the capacity is found", m: model{capRPS: 560, limitRPS: 1000}, minRate: 560 / 1.05, maxRate: 560},
		{name: "machine limit below the capacity", m: model{capRPS: 560, limitRPS: 300},
			limited: true, minRate: 300 / 1.05, maxRate: 300, invalidAt: 300},
		{name: "nothing measurable", m: model{capRPS: 560, limitRPS: 0}, limited: true, stepsN: 12},
		{name: "no retries", m: model{capRPS: 560, limitRPS: 300}, retries: -1,
			limited: true, minRate: 300 / 1.05, maxRate: 300, invalidAt: 300},
		{name: "max_inflight binds below the capacity: limited by the scenario, run again live", m: model{capRPS: 560, limitRPS: inf, heldRPS: 300},
			held: true, minRate: 300 / 1.05, maxRate: 300, invalidAt: 300},
		{name: "max_inflight binds below the capacity, simulated: not run again", m: model{capRPS: 560, limitRPS: inf, heldRPS: 300}, simulate: true,
			held: true, minRate: 300 / 1.05, maxRate: 300, invalidAt: 300},
		{name: "max_inflight above the capacity: the capacity is found", m: model{capRPS: 560, limitRPS: inf, heldRPS: 1000}, minRate: 560 / 1.05, maxRate: 560},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := CapacityOptions{Start: 400, Growth: 2, Precision: 0.05, Repeats: 2, MaxSteps: 40,
				Cooldown: time.Nanosecond, InvalidCooldown: time.Nanosecond, InvalidRetries: tc.retries, Simulate: tc.simulate}
			if tc.stepsN > 0 {
				opts.MaxSteps = tc.stepsN
			}
			c, err := search(context.Background(), "model", opts, tc.m.step)
			if err != nil {
				t.Fatal(err)
			}
			var md strings.Builder
			_ = c.WriteMarkdown(&md)
			if c.MachineLimited != tc.limited || c.WorkloadLimited != tc.held {
				t.Fatalf("machine-limited %v, workload-limited %v, want %v, %v\n%s", c.MachineLimited, c.WorkloadLimited, tc.limited, tc.held, md.String())
			}
			got := c.MaxRateRPS
			if tc.held {
				got = c.WorkloadLimitRPS
				for _, out := range []string{c.Note, md.String()} {
					if !strings.Contains(out, "the scenario's max_inflight (1000) limits the offered load beyond") || strings.Contains(out, "machine") {
						t.Errorf("the result does not say the scenario's max_inflight limited it, or blames the machine:\n%s", out)
					}
				}
				if c.Converged || c.EstimatedRPS != c.MaxRateRPS || c.InvalidRateRPS < tc.invalidAt || c.InvalidRateRPS > tc.invalidAt*1.05+1e-9 {
					t.Errorf("converged %v, estimated %.1f/s, invalid at %.1f/s; want no capacity claimed, invalid within 5%% above %.1f/s", c.Converged, c.EstimatedRPS, c.InvalidRateRPS, tc.invalidAt)
				}
			}
			if tc.limited {
				got = c.MachineLimitRPS
				if c.InvalidRateRPS < tc.invalidAt || c.InvalidRateRPS > tc.invalidAt*1.05+1e-9 && tc.invalidAt > 0 {
					t.Errorf("invalid at %.1f/s, want within 5%% above %.1f/s", c.InvalidRateRPS, tc.invalidAt)
				}
				for _, out := range []string{c.Note, md.String()} {
					if !strings.Contains(out, "this machine cannot measure") || !strings.Contains(out, "apparatus delay") {
						t.Errorf("the result does not say the machine limited it, and why:\n%s", out)
					}
				}
				if c.Converged || c.EstimatedRPS != c.MaxRateRPS {
					t.Errorf("a machine-limited search claims a capacity: converged %v, estimated %.1f", c.Converged, c.EstimatedRPS)
				}
			} else if !tc.held && !c.Converged {
				t.Errorf("not converged: %s", c.Note)
			}
			if got < tc.minRate-1e-9 || got > tc.maxRate {
				t.Errorf("rate %.1f/s, want in [%.1f, %.1f]\n%s", got, tc.minRate, tc.maxRate, md.String())
			}
			invalidN, ceil := 0, math.Inf(1)
			for i, s := range c.Steps {
				if s.RateRPS >= ceil {
					t.Errorf("step %d at %.1f/s: at or above %.1f/s, which had stayed invalid", i+1, s.RateRPS, ceil)
				}
				if s.Valid {
					continue
				}
				invalidN++
				if s.Pass || len(s.Failed) > 0 {
					t.Errorf("an invalid step counted: %+v", s)
				}
				allowed := 1 + 2 // the default retries
				switch {
				case tc.simulate && s.LimitedBy != "":
					allowed = 1
				case tc.retries != 0:
					allowed = 1 + max(tc.retries, 0)
				}
				if tc.held && !tc.simulate && s.LimitedBy != "" && s.Attempt == 1 && (i+1 == len(c.Steps) || c.Steps[i+1].Attempt != 2) {
					t.Errorf("step %d at %.1f/s: a live step held by max_inflight not run again", i+1, s.RateRPS)
				}
				if s.Attempt > allowed {
					t.Errorf("step %d: attempt %d at %.1f/s, beyond the retries", i+1, s.Attempt, s.RateRPS)
				}
				if i+1 == len(c.Steps) || c.Steps[i+1].Attempt <= s.Attempt {
					ceil = math.Min(ceil, s.RateRPS)
				}
			}
			switch {
			case tc.wantInvalid == 0 && !tc.limited && !tc.held && invalidN > 0:
				t.Errorf("%d invalid steps on a quiet machine", invalidN)
			case tc.wantInvalid < 0 && (invalidN == 0 || !strings.Contains(c.Note, "run again and not counted")):
				t.Errorf("%d invalid steps; note %q", invalidN, c.Note)
			}
			if len(c.Steps) > opts.MaxSteps {
				t.Errorf("%d steps, more than %d", len(c.Steps), opts.MaxSteps)
			}
		})
	}
}

// No search asks for more than a scenario may: the bracket stops at the
// rate limit, and a start or a backend count past a limit is refused
// before anything runs.
func TestSearchStaysWithinTheRateLimit(t *testing.T) {
	m := model{capRPS: math.Inf(1), limitRPS: math.Inf(1)}
	opts := CapacityOptions{Start: 400_000, Growth: 2, Precision: 0.05, Repeats: 2, MaxSteps: 40,
		Cooldown: time.Nanosecond, InvalidCooldown: time.Nanosecond}
	c, err := search(context.Background(), "model", opts, m.step)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range c.Steps {
		if st.RateRPS > scenario.MaxRate {
			t.Errorf("step at %.0f/s, above the limit %d/s", st.RateRPS, scenario.MaxRate)
		}
	}
	if c.MaxRateRPS != scenario.MaxRate || len(c.Steps) != 3 || !strings.Contains(c.Note, "the most a scenario may ask") {
		t.Errorf("max %.0f/s after %d steps, note %q; want the limit reached in 3 steps and said", c.MaxRateRPS, len(c.Steps), c.Note)
	}

	sc := loadExample(t, "capacity.yaml")
	if _, err := FindCapacity(context.Background(), sc, CapacityOptions{Start: 2 * scenario.MaxRate}); err == nil ||
		!strings.Contains(err.Error(), "--start") {
		t.Errorf("a start past the limit: %v", err)
	}
	var progress strings.Builder
	copts := fastCapacity()
	copts.Progress = &progress
	s, err := Scale(context.Background(), sc, ScaleOptions{Backends: []int{1, scenario.MaxBackends + 1}, Capacity: copts})
	if err == nil || s != nil || !strings.Contains(err.Error(), fmt.Sprintf("--backends %d", scenario.MaxBackends+1)) {
		t.Errorf("a backend count past the limit: %v (result %v)", err, s)
	}
	if progress.Len() > 0 {
		t.Errorf("the bad count was found only after searches ran:\n%s", progress.String())
	}
}
