package workflow

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

// fixedCost is what the simulation adds to every request by default, on
// top of its backend's sojourn: the proxy's own time and four network
// hops (generator to proxy to backend, and back).
const fixedCost = sim.DefaultProxyCost + 4*sim.DefaultNetworkDelay

func parseScenario(t *testing.T, text string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// stations is a scenario of one pool of backends, each a station of
// workers with exponential service of mean, split by strategy, under
// Poisson arrivals, with requirements.
func stations(strategy string, backends, workers int, mean time.Duration, requirements ...string) string {
	var pool strings.Builder
	for i := range backends {
		fmt.Fprintf(&pool, "        - {name: app-%d, workers: %d, service_time: {dist: exponential, mean: %s}}\n", i+1, workers, mean)
	}
	return fmt.Sprintf(`name: stations
seed: 1
duration: 10s
sut:
  proxy: {strategy: %s}
  pools:
    - name: app
      backends:
%sworkload:
  - {name: api, arrival: poisson, rate: 100/s}
requirements: [%s]
`, strategy, pool.String(), strings.Join(requirements, ", "))
}

// A simulated search finds the capacity queueing theory gives, within
// the search's precision: the model is noise-free, so only the steps'
// sampling (a minute of arrivals each, the default) stands between them.
// The sojourn of an M/M/1 station is exponential with rate μ − λ, so its
// p99 is ln(100)/(μ − λ), and p99(latency) < L holds up to
// λ = μ − ln(100)/(L − the fixed cost); an M/M/2 station's mean comes
// from Erlang C.
func TestSimulatedCapacityMatchesQueueingTheory(t *testing.T) {
	mmOneP99 := func(mu float64, limit time.Duration) float64 {
		return mu - math.Log(100)/(limit-fixedCost).Seconds()
	}
	cases := []struct {
		name     string
		scenario string
		want     float64
	}{
		{"M/M/1, p99(latency) < 10ms", stations("random", 1, 1, time.Millisecond, "p99(latency) < 10ms"), mmOneP99(1000, 10*time.Millisecond)},
		{"M/M/1, p99(latency) < 20ms", stations("random", 1, 1, time.Millisecond, "p99(latency) < 20ms"), mmOneP99(1000, 20*time.Millisecond)},
		{"M/M/2, mean(latency) < 10ms", stations("random", 1, 2, 5*time.Millisecond, "mean(latency) < 10ms"), mmcMaxRate(2, 200, (10*time.Millisecond - fixedCost).Seconds())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := CapacityOptions{Simulate: true, Precision: 0.05}
			c, err := FindCapacity(context.Background(), parseScenario(t, tc.scenario), opts)
			if err != nil {
				t.Fatal(err)
			}
			var md strings.Builder
			_ = c.WriteMarkdown(&md)
			if !c.Converged || c.Mode != report.ModeSimulated || c.invalidSteps() > 0 {
				t.Fatalf("converged %v, mode %q, %d invalid step(s); want a converged simulated search, every step valid\n%s", c.Converged, c.Mode, c.invalidSteps(), md.String())
			}
			// The true capacity lies between the highest passing and the
			// lowest failing rate, up to the steps' sampling (1%).
			if c.MaxRateRPS > 1.01*tc.want || c.FailRateRPS < 0.99*tc.want {
				t.Errorf("bracket [%.1f, %.1f)/s misses the theory's %.1f/s\n%s", c.MaxRateRPS, c.FailRateRPS, tc.want, md.String())
			}
			if math.Abs(c.EstimatedRPS-tc.want) > opts.Precision*tc.want {
				t.Errorf("interpolated %.1f/s, want %.1f/s ± %.0f%%\n%s", c.EstimatedRPS, tc.want, 100*opts.Precision, md.String())
			}
			if c.StepDurationS != simulatedStep.Seconds() {
				t.Errorf("steps of %gs, want the simulated default %s", c.StepDurationS, simulatedStep)
			}
			if !strings.Contains(md.String(), "(simulated)") || !strings.Contains(md.String(), "none is invalid") {
				t.Errorf("the report does not say the search was simulated:\n%s", md.String())
			}
		})
	}
}

// A simulated search whose max_inflight binds before the SUT does ends
// limited by it, never failed for it: sixteen M/M/2 stations (5 ms
// exponential service, 2 workers) behind a random split meet mean(latency)
// < 10ms up to sixteen times Erlang C's rate, about 4.4k/s, but ten
// requests in flight at a latency of 5.1 ms or more carry at most
// 10 / 5.1ms ≈ 1.96k/s (Little's law). Beyond, arrivals wait for a slot,
// which the model's SUT has no part in: the search must name max_inflight
// and the rate where it bound, and run no step of it twice. Raised, the
// same search finds the stations' own capacity.
func TestSimulatedSearchLimitedByMaxInflight(t *testing.T) {
	perStation := mmcMaxRate(2, 200, (10*time.Millisecond - fixedCost).Seconds())
	littleBound := 10 / (5*time.Millisecond + fixedCost).Seconds()
	base := stations("random", 16, 2, 5*time.Millisecond, "mean(latency) < 10ms")
	cases := []struct {
		name        string
		maxInflight int
		limited     bool
	}{
		{"max_inflight 10 binds first", 10, true},
		{"max_inflight raised, the stations bind", 1000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := parseScenario(t, strings.Replace(base, "rate: 100/s", fmt.Sprintf("rate: 100/s, max_inflight: %d", tc.maxInflight), 1))
			c, err := FindCapacity(context.Background(), sc, CapacityOptions{Simulate: true, StepDuration: 30 * time.Second, Start: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var md strings.Builder
			_ = c.WriteMarkdown(&md)
			out := md.String()
			t.Logf("\n%s", out)
			if c.WorkloadLimited != tc.limited || c.MachineLimited || c.GeneratorLimited {
				t.Fatalf("workload-limited %v, machine-limited %v, generator-limited %v; want workload-limited %v\n%s",
					c.WorkloadLimited, c.MachineLimited, c.GeneratorLimited, tc.limited, out)
			}
			for _, s := range c.Steps {
				if !s.Valid && s.Attempt > 1 || s.LimitedBy != "" && (s.Valid || len(s.Failed) > 0) {
					t.Errorf("step at %.1f/s: attempt %d, valid %v, failed %q, limited by %q; a step held by max_inflight is invalid, not run again, never failed",
						s.RateRPS, s.Attempt, s.Valid, s.Failed, s.LimitedBy)
				}
				for _, never := range []string{"could not keep up", "segments", "this machine"} {
					if strings.Contains(s.Reason+strings.Join(s.Failed, " "), never) {
						t.Errorf("step at %.1f/s blames the generator or the machine (%q): %s", s.RateRPS, never, s.Reason)
					}
				}
			}
			if !tc.limited {
				want := 16 * perStation
				if !c.Converged || math.Abs(c.EstimatedRPS-want) > 0.05*want || c.invalidSteps() > 0 {
					t.Errorf("converged %v, interpolated %.1f/s, %d invalid step(s); want %.1f/s (Erlang C) ± 5%%, every step valid\n%s",
						c.Converged, c.EstimatedRPS, c.invalidSteps(), want, out)
				}
				return
			}
			// Little's law: a passing rate never puts more than ten in
			// flight, and the rate that stayed held is near where ten
			// are, far below the stations' own capacity.
			if c.LimitedBy != "max_inflight (10)" || c.WorkloadLimitRPS <= 0 || c.WorkloadLimitRPS > littleBound ||
				c.InvalidRateRPS < 0.8*littleBound || c.InvalidRateRPS > 1.1*c.WorkloadLimitRPS || c.Converged || c.EstimatedRPS != c.MaxRateRPS {
				t.Errorf("limited by %q beyond %.1f/s, invalid at %.1f/s, converged %v, estimated %.1f/s; want max_inflight (10) binding near %.1f/s\n%s",
					c.LimitedBy, c.WorkloadLimitRPS, c.InvalidRateRPS, c.Converged, c.EstimatedRPS, littleBound, out)
			}
			for _, w := range []string{"**Limited by the scenario**: the scenario's max_inflight (10) limits the offered load beyond",
				"raise max_inflight to search further", "not known", "limited by the scenario's max_inflight (10): "} {
				if !strings.Contains(out, w) {
					t.Errorf("the report lacks %q:\n%s", w, out)
				}
			}
			dir := t.TempDir()
			if err := c.WriteFiles(dir); err != nil {
				t.Fatal(err)
			}
			js, err := os.ReadFile(filepath.Join(dir, "capacity.json"))
			if err != nil || !strings.Contains(string(js), `"workload_limited": true`) || !strings.Contains(string(js), `"limited_by": "max_inflight (10)"`) {
				t.Errorf("capacity.json does not say it (%v):\n%s", err, js)
			}
		})
	}
}

// A count whose search max_inflight limits is left out of the USL fit and
// named. An M/M/1 station (1 ms) meets p99(latency) < 10ms up to about
// 483/s, at a mean latency near 3 ms: some 1.5 requests in flight each.
// Twenty slots leave 1, 2 and 4 stations (up to 6 in flight) alone, but 16
// of them would hold 23 at their capacity, so there the search stops at
// max_inflight. The fit is of 1, 2 and 4 alone, and the report says why 16
// is not in it, in words that blame neither the SUT nor the machine.
func TestSimulatedScaleLeavesOutACountMaxInflightLimits(t *testing.T) {
	sc := parseScenario(t, strings.Replace(stations("random", 1, 1, time.Millisecond, "p99(latency) < 10ms"),
		"rate: 100/s", "rate: 100/s, max_inflight: 20", 1))
	s, err := Scale(context.Background(), sc, ScaleOptions{Backends: []int{1, 2, 4, 16}, Simulate: true,
		Capacity: CapacityOptions{StepDuration: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	_ = s.WriteMarkdown(&md)
	out := md.String()
	t.Logf("\n%s", out)
	for _, p := range s.Points {
		if p.WorkloadLimited != (p.Backends == 16) || p.MachineLimited {
			t.Errorf("%d backends: workload-limited %v, machine-limited %v; want only 16 limited, by max_inflight", p.Backends, p.WorkloadLimited, p.MachineLimited)
		}
	}
	if s.Fit == nil || s.Fit.DOF != 0 || !s.Limited() || s.MachineLimited() {
		t.Fatalf("fit %+v (%s), limited %v, machine-limited %v; want a fit of three counts and the study limited, not by the machine", s.Fit, s.FitError, s.Limited(), s.MachineLimited())
	}
	for _, w := range []string{"| 16 | ≥ ", "limited by max_inflight (20)", "16 backend(s): the scenario's max_inflight (20) limits the offered load beyond", "left out of the fit"} {
		if !strings.Contains(out, w) {
			t.Errorf("the report lacks %q", w)
		}
	}
	if strings.Contains(out, "machine") {
		t.Errorf("the report blames the machine:\n%s", out)
	}
}

// Scalability in simulation against what each pool's theory says.
//
// A random split of Poisson arrivals over N M/M/1 backends gives each an
// independent Poisson stream of λ/N: N copies of the one-backend system,
// so capacity is exactly linear in N (σ = κ = 0), λ the one backend's:
// μ − ln(100)/L' as in TestSimulatedCapacityMatchesQueueingTheory, with
// L' = 10ms less the fixed cost. (Round-robin would not
// do: each backend's arrivals become Erlang-N, more regular, so capacity
// per backend rises with N, which the law cannot describe.)
//
// With a tenth of the requests going to one shared backend that is never
// copied, nothing the law calls coherency happens (the model has no
// crosstalk between backends), but capacity meets a hard ceiling: the
// run's p99 must stay under 10ms, and once the copies are many their
// share of the tail vanishes, so 0.1·P(shared sojourn > L') ≤ 1%, i.e. λ ≤ (μ − ln(10)/L')/0.1 ≈ 7.67k/s
// however many backends. Below it capacity grows linearly; the law bends
// a straight line into a plateau within a few counts only through its
// N² term: the fit needs κ > 0, well beyond its standard error, with a
// peak past the count where the ceiling is met, and the measured and
// fitted capacity at the largest count near the ceiling.
func TestSimulatedScalabilityFollowsTheory(t *testing.T) {
	if testing.Short() {
		t.Skip("six simulated searches")
	}
	shared := stations("random", 1, 1, time.Millisecond, "p99(latency) < 10ms")
	shared = strings.Replace(shared, "workload:", `    - name: db
      match: {path_prefix: /db}
      backends:
        - {name: db-1, workers: 1, service_time: {dist: exponential, mean: 1ms}}
workload:`, 1)
	shared = strings.Replace(shared, "rate: 100/s}", "rate: 100/s, requests: [{path: /, weight: 9}, {path: /db, weight: 1}]}", 1)
	perBackend := 1000 - math.Log(100)/(10*time.Millisecond-fixedCost).Seconds()
	ceiling := (1000 - math.Log(10)/(10*time.Millisecond-fixedCost).Seconds()) / 0.1
	cases := []struct {
		name     string
		scenario string
		counts   []int
		check    func(t *testing.T, s *Scalability)
	}{
		{"independent backends: linear", stations("random", 1, 1, time.Millisecond, "p99(latency) < 10ms"), []int{1, 2, 4, 8, 16},
			func(t *testing.T, s *Scalability) {
				f := s.Fit
				if f.Sigma > 0.01 || f.Kappa > 1e-4 || math.Abs(f.Lambda-perBackend) > 0.05*perBackend {
					t.Errorf("λ = %.1f/s, σ = %.4g, κ = %.4g; want λ = %.1f/s ± 5%% and σ, κ near 0", f.Lambda, f.Sigma, f.Kappa, perBackend)
				}
				for _, p := range s.Points {
					if want := float64(p.Backends) * perBackend; math.Abs(p.CapacityRPS-want) > 0.1*want {
						t.Errorf("%d backends: %.1f/s, want %.1f/s ± 10%%", p.Backends, p.CapacityRPS, want)
					}
				}
			}},
		{"a shared backend: a ceiling the fit bends into", shared, []int{1, 2, 4, 8, 16, 32},
			func(t *testing.T, s *Scalability) {
				f := s.Fit
				if f.Kappa <= 3*f.StdErr[2] {
					t.Errorf("κ = %.4g ± %.2g; want it above 0 by three standard errors", f.Kappa, f.StdErr[2])
				}
				if s.PeakBackends == nil || *s.PeakBackends < ceiling/f.Lambda {
					t.Errorf("peak %v; want one past %.1f backends, where the ceiling is met", s.PeakBackends, ceiling/f.Lambda)
				}
				last := s.Points[len(s.Points)-1]
				if math.Abs(last.CapacityRPS-ceiling) > 0.05*ceiling || math.Abs(last.FittedRPS-ceiling) > 0.05*ceiling {
					t.Errorf("%d backends: measured %.1f/s, fitted %.1f/s; want both near the ceiling %.1f/s", last.Backends, last.CapacityRPS, last.FittedRPS, ceiling)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Scale(context.Background(), parseScenario(t, tc.scenario), ScaleOptions{Backends: tc.counts, Simulate: true,
				Capacity: CapacityOptions{StepDuration: 30 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			var md strings.Builder
			_ = s.WriteMarkdown(&md)
			t.Logf("\n%s", md.String())
			if s.Mode != report.ModeSimulated || s.MachineLimited() || s.Fit == nil || s.Fit.Degenerate {
				t.Fatalf("mode %q, machine-limited %v, fit %+v (%s); want a simulated study with a fit", s.Mode, s.MachineLimited(), s.Fit, s.FitError)
			}
			if !strings.Contains(md.String(), "± ") || !strings.Contains(md.String(), "(simulated)") {
				t.Errorf("the report lacks the fit's standard errors or the mode")
			}
			tc.check(t, s)
		})
	}
}

// compare --repeat runs each variant with seeds seed, seed+1, …, every
// variant's first run before any second one, and ranks by the runs'
// medians, saying which neighbours their intervals cannot tell apart.
// Over four M/M/1 backends at ρ = 0.75, a random split leaves each an
// M/M/1 queue; round-robin makes each one's arrivals Erlang-4, shorter
// queues; least-connections pools the four, shorter still; and smooth
// weighted round-robin with equal weights is round-robin, request for
// request, so the two cannot be told apart.
func TestCompareRepeatSimulated(t *testing.T) {
	sc := parseScenario(t, strings.Replace(stations("random", 4, 1, time.Millisecond, "p99(latency) < 25ms"), "rate: 100/s", "rate: 3000/s", 1))
	strategies := []string{"random", "round-robin", "least-connections", "weighted-round-robin"}
	cases := []struct {
		repeat     int
		ranking    string
		indistinct [][2]string
	}{
		{1, "least-connections > round-robin > weighted-round-robin > random", nil},
		{3, "least-connections > round-robin ≈ weighted-round-robin > random", [][2]string{{"round-robin", "weighted-round-robin"}}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("repeat %d", tc.repeat), func(t *testing.T) {
			var progress strings.Builder
			cmp, err := Compare(context.Background(), sc, CompareOptions{Strategies: strategies, Repeat: tc.repeat, Simulate: true, Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			var md strings.Builder
			_ = cmp.WriteMarkdown(&md)
			if got := cmp.RankingLine(); got != tc.ranking || !slices.Equal(cmp.Indistinct, tc.indistinct) {
				t.Errorf("ranking %q, indistinct %v; want %q, %v\n%s", got, cmp.Indistinct, tc.ranking, tc.indistinct, md.String())
			}
			// Interleaved: the k-th run of every variant, in order, before
			// any (k+1)-th, each with seed+k.
			started := regexp.MustCompile(`compare: ([a-z-]+)(?:, run (\d)/\d \(seed (\d+)\))? \(\d+/\d+\) \.\.\.`).FindAllStringSubmatch(progress.String(), -1)
			if len(started) != tc.repeat*len(strategies) {
				t.Fatalf("%d runs started, want %d:\n%s", len(started), tc.repeat*len(strategies), progress.String())
			}
			for n, m := range started {
				k := n / len(strategies)
				if m[1] != strategies[n%len(strategies)] || tc.repeat > 1 && (m[2] != fmt.Sprint(k+1) || m[3] != fmt.Sprint(sc.Seed+int64(k))) {
					t.Errorf("run %d started %q, want %s's run %d with seed %d", n+1, m[0], strategies[n%len(strategies)], k+1, sc.Seed+int64(k))
				}
			}
			for i, r := range cmp.Rows {
				for k, res := range cmp.Runs[i] {
					if res.Seed != sc.Seed+int64(k) || res.Mode != report.ModeSimulated {
						t.Errorf("%s run %d: seed %d, mode %q; want seed %d, simulated", r.Name, k+1, res.Seed, res.Mode, sc.Seed+int64(k))
					}
				}
				if tc.repeat == 1 {
					if r.Repeated != nil {
						t.Errorf("%s: a single run summarised as repeated", r.Name)
					}
					continue
				}
				rep := r.Repeated
				if rep == nil || rep.Runs != tc.repeat || rep.Passed > rep.Runs || !slices.Equal(rep.Seeds, []int64{sc.Seed, sc.Seed + 1, sc.Seed + 2}) {
					t.Fatalf("%s: repeated %+v, want %d runs with seeds from %d", r.Name, rep, tc.repeat, sc.Seed)
				}
				for name, in := range map[string]Interval{"p99": rep.P99MS, "throughput": rep.ThroughputRPS, "error rate": rep.ErrorRate} {
					if !(in.Low <= in.Median && in.Median <= in.High) || name != "error rate" && in.Low == in.High {
						t.Errorf("%s %s: interval %+v, want low ≤ median ≤ high, and a spread over three seeds", r.Name, name, in)
					}
				}
				if r.P99MS != rep.P99MS.Median || r.ThroughputRPS != rep.ThroughputRPS.Median {
					t.Errorf("%s: the row's p99 %.2f and throughput %.1f are not the runs' medians %+v", r.Name, r.P99MS, r.ThroughputRPS, rep)
				}
				if len(rep.Requirements) != 1 || rep.Requirements[0].Passed != rep.Passed {
					t.Errorf("%s: requirements over the runs %+v, want the one requirement passed %d times", r.Name, rep.Requirements, rep.Passed)
				}
			}
			out := md.String()
			want, never := []string{"(seed 1) (simulated)"}, []string{"runs of each", "cannot be told apart"}
			if tc.repeat > 1 {
				want, never = []string{"seeds 1–3, 3 runs of each, interleaved", "round-robin and weighted-round-robin cannot be told apart: their 95% intervals of throughput overlap (not significant)",
					"least-connections > round-robin is significant: their 95% intervals of p99 do not overlap", "Student's t", "/3 pass (median"}, nil
				if !slices.Contains(cmp.ToldApart, [2]string{"least-connections", "round-robin"}) {
					t.Errorf("told apart %v, want least-connections and round-robin among them", cmp.ToldApart)
				}
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("the report lacks %q:\n%s", w, out)
				}
			}
			for _, w := range never {
				if strings.Contains(out, w) {
					t.Errorf("the report has %q:\n%s", w, out)
				}
			}
		})
	}
}
