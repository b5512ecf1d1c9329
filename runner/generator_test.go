package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// The generator is saturated when it could not offer the load: drops,
// arrivals mostly sent late for reasons of its own, or more than a handful
// cut at the end; not when a few are cut or the machine explains the
// lateness. When the delayed arrivals mostly waited for an in-flight slot,
// the reason names the workload's max_inflight, never the generator's
// speed; whether that is saturation stays the rule's.
func TestGeneratorSaturation(t *testing.T) {
	quietMachine := &report.Apparatus{HiccupMS: report.Percentiles{Count: 1000, P50: 0.05, P99: 0.2}}
	stalledMachine := &report.Apparatus{HiccupMS: report.Percentiles{Count: 1000, P50: 3, P99: 680}}
	// Beside 160 spinning threads: short sleeps wake nearly on time, but
	// the process gets 1.7% of a processor.
	starvedMachine := &report.Apparatus{HiccupMS: report.Percentiles{Count: 1000, P50: 2, P99: 218}, CPUShare: 0.0085, Processors: 2, CPUPressure: 0.997}
	busyGenerator := &report.Apparatus{HiccupMS: quietMachine.HiccupMS, CPUShare: 0.5, Processors: 2, CPUPressure: 0.9}
	// What a simulated run's recording measures: no hiccups at all.
	simulated := &report.Apparatus{CPUPressure: -1, Steal: -1}
	slots := inflightHeld([]*workloadRun{{name: "api", maxInflight: 1000, maxConns: 1000}}, []int64{1})
	const bound = "arrivals waited for one of max_inflight's 1000 slots, all held by requests not yet answered (rate × latency reached 1000): the workload's bound, not the generator's speed; raise max_inflight to offer more"
	for _, tc := range []struct {
		name      string
		totals    report.Totals
		lagP50    float64
		a         *report.Apparatus
		held      string // inflightHeld's words
		saturated bool
		reason    string
		bound     bool   // Generator.InflightBound
		never     string // "" or words the reason must not have
	}{
		{"on time", report.Totals{Scheduled: 10000, Succeeded: 10000}, 0.05, quietMachine, "", false, "", false, ""},
		{"a handful cut at the end", report.Totals{Scheduled: 10000, Succeeded: 9950, CutAtEnd: 50}, 0.05, quietMachine, "", false, "were cut", false, ""},
		{"a stall cut a third", report.Totals{Scheduled: 10000, Succeeded: 6203, Late: 2455, CutAtEnd: 3797}, 0.04, stalledMachine, "", true, "3797 of 10000 arrivals (38.0%) were never sent", false, ""},
		{"dropped", report.Totals{Scheduled: 10000, Succeeded: 9999, Dropped: 1}, 0.05, quietMachine, "", true, "dropped", false, ""},
		{"mostly late, its own doing", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 4, quietMachine, "", true, "could not keep up", false, ""},
		{"mostly late, the machine's doing", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 4, stalledMachine, "", false, "the machine delayed the tool", false, ""},
		{"mostly late, starved by the machine", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 3588, starvedMachine, "", true, "the machine starved the tool: it ran on 1.7% of one processor", false, ""},
		{"cut, starved by the machine", report.Totals{Scheduled: 10000, Succeeded: 7516, Late: 7515, CutAtEnd: 2484}, 3588, starvedMachine, "", true, "while some task waited for a CPU 100% of the time", false, ""},
		{"mostly late on a whole processor", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 4, busyGenerator, "", true, "lower the rate", false, ""},

		{"mostly late, held by max_inflight", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 8800, Held: 8700}, 6.4, quietMachine, slots, true,
			"8800 of 10000 arrivals (88%) sent more than 1ms late (send lag p50 6.40ms, p99 64.0ms) (hiccup p50 0.050ms, p99 0.200ms): " + bound, true, "could not keep up"},
		{"mostly late, a few of them held: the generator's own doing", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000, Held: 100}, 4, quietMachine, slots, true, "could not keep up", false, "max_inflight's"},
		{"mostly late, held, hiccups as long", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000, Held: 6000}, 4, stalledMachine, slots, false, "the machine's hiccups are as long", true, ""},
		{"dropped while held", report.Totals{Scheduled: 10000, Succeeded: 9000, Late: 8000, Dropped: 1000, Held: 9000}, 40, quietMachine, slots, true,
			"1000 of 10000 arrivals dropped (10.00%): not sent within max_lateness of their intended time: " + bound, true, "lower the rate"},
		{"cut while held", report.Totals{Scheduled: 10000, Succeeded: 9500, Late: 200, CutAtEnd: 500, Held: 700}, 0.05, quietMachine, slots, true, "the target was offered less than the scenario asks; " + bound, true, ""},
		{"a few late, held", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 30, Held: 30}, 0.05, quietMachine, slots, false, "their latency includes the wait; " + bound, true, ""},
		{"simulated: held is all the lateness there is", report.Totals{Scheduled: 9817311, Succeeded: 9817311, Late: 8606602, Held: 8606602}, 6.41, simulated, slots, true, bound, true, "could not keep up"},
		{"simulated drops", report.Totals{Scheduled: 10000, Succeeded: 9000, Late: 9000, Dropped: 1000, Held: 10000}, 60, simulated, slots, true, bound, true, "segments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := generatorOf(tc.totals, report.Percentiles{Count: 1, P50: tc.lagP50, P99: 10 * tc.lagP50}, tc.a, tc.held)
			if g.Saturated != tc.saturated || !strings.Contains(g.Reason, tc.reason) || g.InflightBound != tc.bound {
				t.Errorf("saturated %v, in-flight bound %v (%q), want %v, %v with %q", g.Saturated, g.InflightBound, g.Reason, tc.saturated, tc.bound, tc.reason)
			}
			if tc.never != "" && strings.Contains(g.Reason, tc.never) {
				t.Errorf("the reason has %q: %q", tc.never, g.Reason)
			}
		})
	}
}

// inflightHeld names the bound of the workloads whose arrivals waited for
// a slot, and fewer connections than slots beside it.
func TestInflightHeldWords(t *testing.T) {
	api := &workloadRun{name: "api", maxInflight: 20, maxConns: 20}
	narrow := &workloadRun{name: "api", maxInflight: 20, maxConns: 4}
	admin := &workloadRun{name: "admin", maxInflight: 5, maxConns: 5}
	users := &workloadRun{name: "users", closed: true, maxInflight: 50, maxConns: 50}
	for _, tc := range []struct {
		name      string
		workloads []*workloadRun
		heldBy    []int64
		want      string
	}{
		{"none held", []*workloadRun{api}, []int64{0}, ""},
		{"one workload", []*workloadRun{api}, []int64{7},
			"arrivals waited for one of max_inflight's 20 slots, all held by requests not yet answered (rate × latency reached 20): the workload's bound, not the generator's speed; raise max_inflight to offer more"},
		{"fewer connections than slots", []*workloadRun{narrow}, []int64{7},
			"arrivals waited for one of max_inflight's 20 slots (on max_connections' 4 connections), all held by requests not yet answered (rate × latency reached 20): the workload's bound, not the generator's speed; raise max_inflight and max_connections to offer more"},
		{"only the held workload is named", []*workloadRun{api, admin}, []int64{0, 3}, "one of max_inflight's 5 slots"},
		{"several held", []*workloadRun{api, admin}, []int64{2, 3},
			"arrivals waited for an in-flight slot of their workload, all held by requests not yet answered (rate × latency reached max_inflight: api 20, admin 5)"},
		{"a closed workload's users are no in-flight bound", []*workloadRun{users}, []int64{9}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := inflightHeld(tc.workloads, tc.heldBy)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A target that answers in 50 ms holds max_inflight's 5 slots for 50 ms
// each: at most 100/s go out, so at 200/s arrivals wait for a slot, and
// the reason says the workload's bound held them, not the generator's
// speed, on the event loop and on the workers alike.
func TestHeldArrivalsNameMaxInflight(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"event loop", Options{}},
		{"workers", Options{forceWorkers: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := okServer(t, 50*time.Millisecond, nil)
			w := openWorkload("slow", 200)
			w.MaxInflight = 5
			w.MaxLateness = sec(2)
			tc.opts.URL = srv.URL
			res := run(t, newScenario(time.Second, w), tc.opts)
			checkAccounting(t, res)
			tot, g := res.Totals, res.Generator
			t.Logf("%+v, send lag p50 %.1fms; %s", tot, g.SendLagMS.P50, g.Reason)
			delayed := tot.Late + tot.Dropped + tot.CutAtEnd
			held := tot.Held > 0 && 2*tot.Held >= delayed && g.InflightBound
			named := strings.Contains(g.Reason, "one of max_inflight's 5 slots") && !strings.Contains(g.Reason, "could not keep up")
			if !held || !named {
				// A host that keeps the tool from running leaves arrivals
				// unsent whatever their slots: its reason says so instead.
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
			}
			if !held {
				t.Errorf("%d held of %d late, dropped or cut, in-flight bound %v; want most held and the bound named", tot.Held, delayed, g.InflightBound)
			}
			if !named {
				t.Errorf("the reason does not name max_inflight, or blames the generator: %q", g.Reason)
			}
		})
	}
}
