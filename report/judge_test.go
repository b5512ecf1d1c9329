package report

import (
	"strings"
	"testing"

	"github.com/ilities/ilities/scenario"
)

// judgeResult is a 10-second run of 100 arrivals a second with a p99
// latency of 118 ms. The apparatus's delay at p99 is 67 ms (send lag) or
// as the case sets it; the windows listed in disturbed carry a large delay.
func judgeResult(lagP99, hiccupP99 float64, disturbed map[int]bool, failedPerWindow map[int]int64) *Result {
	res := &Result{
		MeasuredS: 10,
		WindowOK:  0.95,
		Stats: Stats{
			LatencyMS:        Percentiles{Count: 1000, P50: 20, P99: 118, Max: 300, Mean: 25},
			ServiceLatencyMS: Percentiles{Count: 1000, P50: 19, P99: 60, Max: 250, Mean: 22},
		},
		Generator: Generator{SendLagMS: Percentiles{Count: 1000, P50: 0.5, P99: lagP99, Max: 2 * lagP99, Mean: 1}},
		Apparatus: &Apparatus{HiccupMS: Percentiles{Count: 10000, P50: 0.05, P99: hiccupP99, Max: 2 * hiccupP99, Mean: 0.1}},
		Nodes:     []Node{{Name: "a", Utilisation: 0.9}},
	}
	var t Totals
	for i := range 10 {
		failed := failedPerWindow[i]
		w := Window{T: i, Scheduled: 100, Succeeded: 100 - failed, Failed: failed}
		res.Windows = append(res.Windows, w)
		t.Scheduled += 100
		t.Succeeded += w.Succeeded
		t.Failed += failed
		aw := ApparatusWindow{T: i, SendLagP99: 0.2, HiccupP99: 0.1}
		if disturbed[i] {
			aw.SendLagP99 = 80
		}
		res.Apparatus.Windows = append(res.Apparatus.Windows, aw)
	}
	res.Totals = t
	res.Derive(10)
	res.Apparatus.Assess(res.Generator.SendLagMS)
	return res
}

func TestJudgeSeparatesTheApparatusFromTheSystem(t *testing.T) {
	calm := map[int]bool{}
	twoDisturbed := map[int]bool{3: true, 4: true}
	allDisturbed := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true}
	errorsInDisturbed := map[int]int64{3: 30, 4: 30}
	errorsEverywhere := map[int]int64{0: 6, 1: 6, 2: 6, 3: 6, 4: 6, 5: 6, 6: 6, 7: 6, 8: 6, 9: 6}
	cases := []struct {
		name              string
		req               string
		lagP99, hiccupP99 float64
		disturbed         map[int]bool
		failed            map[int]int64
		want              string
		why               string // a part of Why, for inconclusive
		// class names the failures' error class (none: unclassified); with
		// builtIn the SUT runs in the tool's process.
		class   string
		builtIn bool
	}{
		{"latency met", "p99(latency) < 150ms", 67, 1, calm, nil, VerdictPass, "", "", false},
		{"latency missed within the send lag", "p99(latency) < 100ms", 67, 1, calm, nil, VerdictInconclusive, "send lag p99 67.0ms", "", false},
		{"latency missed within the hiccups", "p99(latency) < 100ms", 1, 40, calm, nil, VerdictInconclusive, "hiccup p99 40.0ms", "", false},
		{"latency missed beyond the apparatus", "p99(latency) < 100ms", 5, 5, calm, nil, VerdictFail, "", "", false},
		{"tenfold miss stays a fail under a busy machine", "p99(latency) < 11.8ms", 67, 40, calm, nil, VerdictFail, "", "", false},
		{"too fast is never the apparatus", "p99(latency) > 200ms", 67, 40, calm, nil, VerdictFail, "", "", false},
		{"service latency ignores send lag", "p99(service_latency) < 50ms", 67, 1, calm, nil, VerdictFail, "", "", false},
		{"service latency within the hiccups", "p99(service_latency) < 50ms", 1, 20, calm, nil, VerdictInconclusive, "hiccup p99", "", false},
		{"errors only in disturbed windows", "error_rate < 1%", 1, 1, twoDisturbed, errorsInDisturbed, VerdictInconclusive, "met in the 8 undisturbed windows", "", false},
		{"errors in calm windows too", "error_rate < 1%", 1, 1, twoDisturbed, errorsEverywhere, VerdictFail, "", "", false},
		{"errors with no disturbed window", "error_rate < 1%", 1, 1, calm, errorsInDisturbed, VerdictFail, "", "", false},
		{"availability in calm windows", "availability >= 99.5%", 1, 1, twoDisturbed, errorsInDisturbed, VerdictInconclusive, "undisturbed", "", false},
		{"throughput in calm windows", "throughput >= 95/s", 1, 1, twoDisturbed, errorsInDisturbed, VerdictInconclusive, "100.0/s there", "", false},
		{"failed count scaled to the run", "failed <= 10", 1, 1, twoDisturbed, errorsEverywhere, VerdictFail, "", "", false},
		{"every window disturbed", "error_rate < 1%", 1, 1, allDisturbed, errorsEverywhere, VerdictInconclusive, "every window", "", false},
		{"utilisation is the system's own", "max(utilisation) < 80%", 67, 40, allDisturbed, nil, VerdictFail, "", "", false},
		{"4xx answers are the system's own", "error_rate < 1%", 1, 1, allDisturbed, errorsEverywhere, VerdictFail, "", "4xx", true},
		{"timeouts in disturbed windows stay in doubt", "error_rate < 1%", 1, 1, allDisturbed, errorsEverywhere, VerdictInconclusive, "every window", "timeout", false},
		{"an external target's 5xx are its own", "availability >= 99%", 1, 1, allDisturbed, errorsEverywhere, VerdictFail, "", "5xx", false},
		{"the built-in SUT's 5xx may be the host's", "availability >= 99%", 1, 1, allDisturbed, errorsEverywhere, VerdictInconclusive, "every window", "5xx", true},
		{"4xx in disturbed windows count for certain", "failed <= 50", 1, 1, twoDisturbed, errorsInDisturbed, VerdictFail, "", "4xx", false},
		{"timeouts in disturbed windows do not", "failed <= 50", 1, 1, twoDisturbed, errorsInDisturbed, VerdictInconclusive, "undisturbed", "timeout", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := judgeResult(c.lagP99, c.hiccupP99, c.disturbed, c.failed)
			for i := range res.Windows {
				if w := &res.Windows[i]; c.class != "" && w.Failed > 0 {
					w.Errors = map[string]int64{c.class: w.Failed}
				}
			}
			if c.builtIn {
				res.Apparatus.SUTWakeups = 4
			}
			req, err := scenario.ParseRequirement(c.req)
			if err != nil {
				t.Fatal(err)
			}
			v := EvaluateRequirement(res, req)
			if v.Status != c.want {
				t.Fatalf("%s: status %s (observed %v, why %q), want %s", c.req, v.Status, v.Observed, v.Why, c.want)
			}
			if v.Pass != (c.want == VerdictPass) {
				t.Errorf("Pass = %v with status %s", v.Pass, v.Status)
			}
			if !strings.Contains(v.Why, c.why) {
				t.Errorf("why %q lacks %q", v.Why, c.why)
			}
		})
	}
}

func TestJudgeFaultTimesInDisturbedWindows(t *testing.T) {
	res := judgeResult(1, 1, map[int]bool{5: true}, nil)
	res.Faults = []Fault{{Kind: "crash", Node: "a", AtS: 4, EndS: 6, RecoveryTimeS: 5, DetectionTimeS: 0.2}}
	other := judgeResult(1, 1, map[int]bool{1: true}, nil)
	other.Faults = res.Faults
	for _, c := range []struct {
		res  *Result
		want string
	}{{res, VerdictInconclusive}, {other, VerdictFail}} {
		req, _ := scenario.ParseRequirement("recovery_time <= 3s")
		if v := EvaluateRequirement(c.res, req); v.Status != c.want {
			t.Errorf("recovery 5s against 3s, disturbed %v: %s (%s), want %s", c.res.Apparatus.Windows, v.Status, v.Why, c.want)
		}
	}
}

func TestDecideOrdersFailInconclusiveAndSaturation(t *testing.T) {
	pass := Verdict{Text: "a", Status: VerdictPass, Pass: true}
	fail := Verdict{Text: "b", Status: VerdictFail, Observed: 3}
	unsure := Verdict{Text: "c", Status: VerdictInconclusive, Why: "within the tool's own delay"}
	cases := []struct {
		name      string
		reqs      []Verdict
		saturated bool
		accept    bool
		runError  string
		want      string
		reason    string
	}{
		{"all pass", []Verdict{pass, pass}, false, false, "", VerdictPass, "every requirement met"},
		{"none declared", nil, false, false, "", VerdictPass, ""},
		{"a certain fail wins", []Verdict{pass, unsure, fail}, true, false, "", VerdictFail, "b observed"},
		{"inconclusive", []Verdict{pass, unsure}, false, false, "", VerdictInconclusive, "c: within"},
		{"saturated passes prove nothing", []Verdict{pass}, true, false, "", VerdictInconclusive, "the run is invalid: the generator saturated: 3 dropped"},
		{"saturation accepted", []Verdict{pass}, true, true, "", VerdictPass, ""},
		{"not carried out, none declared", nil, false, false, "no response", VerdictInconclusive, "the run is invalid: it could not be carried out: no response"},
		{"not carried out, saturation accepted", []Verdict{pass}, true, true, "no response", VerdictInconclusive, "could not be carried out"},
		{"not carried out, a certain fail", []Verdict{fail}, false, false, "no response", VerdictFail, "b observed"},
	}
	for _, c := range cases {
		res := &Result{Requirements: c.reqs, Generator: Generator{Saturated: c.saturated, Reason: "3 dropped"}, RunError: c.runError}
		Decide(res, c.accept)
		if res.Verdict != c.want || !strings.Contains(res.VerdictReason, c.reason) {
			t.Errorf("%s: %s %q, want %s with %q", c.name, res.Verdict, res.VerdictReason, c.want, c.reason)
		}
	}
}

func TestAssessMarksDisturbedWindows(t *testing.T) {
	a := &Apparatus{
		HiccupMS:    Percentiles{Count: 10, P99: 3, Max: 30},
		SUTHiccupMS: &Percentiles{Count: 10, P99: 2, Max: 5},
		Windows: []ApparatusWindow{
			{T: 0, SendLagP99: 1, HiccupP99: 2},
			{T: 1, SendLagP99: 12, HiccupP99: 2},
			{T: 2, SendLagP99: 1, HiccupP99: 9, SUTHiccupP99: 2},
		},
	}
	a.Assess(Percentiles{Count: 10, P99: 4, Max: 20})
	if got := []bool{a.Windows[0].Disturbed, a.Windows[1].Disturbed, a.Windows[2].Disturbed}; got[0] || !got[1] || !got[2] {
		t.Errorf("disturbed = %v, want [false true true] (delays %v %v %v)", got, a.Windows[0].DelayMS, a.Windows[1].DelayMS, a.Windows[2].DelayMS)
	}
	if a.DisturbedWindows != 2 {
		t.Errorf("DisturbedWindows = %d, want 2", a.DisturbedWindows)
	}
	// p99: max(send lag 4, hiccup 3) + SUT 2; max: max(20, 30) + 5.
	if a.DelayMS.P99 != 6 || a.DelayMS.Max != 35 {
		t.Errorf("delay p99 %v max %v, want 6 and 35", a.DelayMS.P99, a.DelayMS.Max)
	}
}

// A built-in SUT in the generator's process makes a request wait for a CPU
// several times: each wait counts in the apparatus's delay.
func TestJudgeCountsTheInProcessSUTsWaits(t *testing.T) {
	req, _ := scenario.ParseRequirement("p99(latency) < 50ms")
	for _, c := range []struct {
		wakeups int
		want    string
	}{{0, VerdictFail}, {4, VerdictInconclusive}} {
		res := judgeResult(10, 20, nil, nil) // p99 118ms: 118 − 20 misses 50; 118 − 20 − 4×20 does not
		res.Apparatus.SUTWakeups = c.wakeups
		res.Apparatus.Assess(res.Generator.SendLagMS)
		v := EvaluateRequirement(res, req)
		if v.Status != c.want {
			t.Errorf("%d waits: %s (%s), want %s", c.wakeups, v.Status, v.Why, c.want)
		}
		if want := 20 + float64(c.wakeups)*20; res.Apparatus.DelayMS.P99 != want {
			t.Errorf("%d waits: delay p99 %v, want %v", c.wakeups, res.Apparatus.DelayMS.P99, want)
		}
	}
}

// A latency missed within the tool's delay is still a fail when the
// built-in backends' own clocks show the system missed it by itself.
func TestJudgeLatencyFromTheStationsClock(t *testing.T) {
	// Built-in SUT in the tool's process: delay at p99 = 67 (send lag) +
	// 2 × 40 (hiccups) + 2 × 67 (loops) = 281 ms.
	cases := []struct {
		name         string
		latencyP99   float64
		station      *Station
		stationCount int64
		want, why    string
	}{
		{"no station account", 350, nil, 0, VerdictInconclusive, "within the tool's own delay"},
		{"service alone misses", 350, &Station{SojournMS: Percentiles{P99: 130}, ServiceMS: Percentiles{P99: 105}, OutsideMaxMS: 300}, 1000,
			VerdictFail, "service p99 105ms"},
		{"queue and service beyond the longest time outside", 350, &Station{SojournMS: Percentiles{P99: 290}, ServiceMS: Percentiles{P99: 60}, OutsideMaxMS: 100}, 1000,
			VerdictFail, "less 100ms"},
		{"queue and service within it", 350, &Station{SojournMS: Percentiles{P99: 290}, ServiceMS: Percentiles{P99: 60}, OutsideMaxMS: 200}, 1000,
			VerdictInconclusive, "within the tool's own delay"},
		{"an account of fewer requests is not a bound", 350, &Station{SojournMS: Percentiles{P99: 290}, ServiceMS: Percentiles{P99: 105}}, 999,
			VerdictInconclusive, "within the tool's own delay"},
		{"a fail beyond the whole delay needs no account", 400, nil, 0, VerdictFail, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := judgeResult(67, 40, nil, nil)
			res.Apparatus.SUTWakeups, res.Apparatus.SUTLoopWakeups = 4, 2
			res.LatencyMS.P99 = c.latencyP99
			if c.station != nil {
				st := *c.station
				st.SojournMS.Count, st.ServiceMS.Count = c.stationCount, c.stationCount
				res.Station = &st
			}
			req, _ := scenario.ParseRequirement("p99(latency) < 100ms")
			v := EvaluateRequirement(res, req)
			if v.Status != c.want || !strings.Contains(v.Why, c.why) {
				t.Errorf("status %s, why %q; want %s with %q", v.Status, v.Why, c.want, c.why)
			}
		})
	}
}

// With the built-in SUT and disturbed windows, the whole run's delay is no
// bound (a starved SUT's queues grow past it): the calm windows decide.
func TestJudgeLatencyOfAStarvedBuiltInSUT(t *testing.T) {
	cases := []struct {
		name            string
		disturbed       []int
		calmMS, stormMS int64 // every latency of a calm or a disturbed window
		builtIn         bool
		want, why       string
	}{
		{"every window disturbed", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 0, 500, true, VerdictInconclusive, "disturbed every window"},
		{"missed in the calm windows", []int{3, 4}, 150, 500, true, VerdictFail, "in the 7 calm windows"},
		{"met in the calm windows", []int{3, 4}, 20, 500, true, VerdictInconclusive, "in the 7 calm ones it is 20"},
		{"an external target keeps the whole run's delay", []int{3, 4}, 20, 500, false, VerdictFail, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			disturbed := map[int]bool{}
			for _, w := range c.disturbed {
				disturbed[w] = true
			}
			res := judgeResult(1, 1, disturbed, nil)
			all := NewHistogram()
			for i := range res.Windows {
				h := NewHistogram()
				v := c.calmMS
				if disturbed[i] {
					v = c.stormMS
				}
				for range 100 {
					RecordUS(h, v*1000)
					RecordUS(all, v*1000)
				}
				res.Windows[i].Histogram, _ = EncodeHistogram(h)
			}
			res.LatencyMS = PercentilesOf(all)
			if c.builtIn {
				res.Apparatus.SUTWakeups, res.Apparatus.SUTLoopWakeups = 4, 2
			}
			req, _ := scenario.ParseRequirement("p99(latency) < 100ms")
			v := EvaluateRequirement(res, req)
			if v.Status != c.want || !strings.Contains(v.Why, c.why) {
				t.Errorf("observed %v: status %s, why %q; want %s with %q", v.Observed, v.Status, v.Why, c.want, c.why)
			}
		})
	}
}

// A SUT in a process of its own waits for a CPU as often as one in the
// tool's process; each wait is drawn from its own process's hiccups.
func TestSUTApartCountsEachWait(t *testing.T) {
	res := judgeResult(1, 1, nil, nil)
	res.Apparatus.SUTHiccupMS = &Percentiles{Count: 100, P99: 10}
	res.Apparatus.SUTWakeups = 4
	res.Apparatus.Assess(res.Generator.SendLagMS)
	if got := res.Apparatus.DelayMS.P99; got != 41 {
		t.Errorf("delay p99 %v, want 1 + 4 × 10 = 41", got)
	}
	res.Apparatus.SUTWakeups = 0 // a result that does not count them
	res.Apparatus.Assess(res.Generator.SendLagMS)
	if got := res.Apparatus.DelayMS.P99; got != 11 {
		t.Errorf("delay p99 %v without wake-ups, want 1 + 10 = 11", got)
	}
}
