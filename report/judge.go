package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// judge decides whether a missed requirement could have been missed
// because of the apparatus (the tool's own delays) rather than the system
// under test. It returns why when so (the requirement is then
// inconclusive), "" when the miss holds once the apparatus's delay is taken
// out (a certain fail); a certain fail that needed more than that says
// why too, with certain set. The rule, with its arithmetic, is in
// docs/verdicts.md:
//
//   - latency metrics (< or <=): the observed figure less the apparatus's
//     delay at the same aggregation still misses → fail; so does one whose
//     lower bound from the built-in backends' own clocks misses; otherwise
//     inconclusive. The apparatus only ever adds delay, so a latency that
//     is too low (> or >=) is never its doing;
//   - counts and rates (throughput, request_rate, error_rate, availability,
//     failed, dropped): recomputed over the windows the apparatus left
//     undisturbed; still missed → fail, met there → inconclusive;
//   - fault times (recovery_time, detection_time): a fault that missed with
//     a disturbed window in its span is inconclusive;
//   - the rest (utilisation, fairness, session_loss, scheduled, succeeded)
//     are the SUT's own figures, failover_time and requests_lost the
//     model's (a simulation's), and single_points_of_failure and
//     projected_availability are read from its topology, measured by
//     nothing: a miss is a fail.
func judge(res *Result, req scenario.Requirement, stats *Stats, observed float64) (why string, certain bool) {
	switch req.Metric {
	case "latency", "service_latency":
		return judgeLatency(res, req, stats, observed)
	case "throughput", "request_rate", "error_rate", "availability", "availability(time)", "failed", "dropped":
		return judgeCounts(res, req), false
	case "recovery_time", "detection_time":
		return judgeFaultTimes(res, req), false
	}
	return "", false
}

// judgeLatency decides a missed latency requirement (< or <=), in turn:
//
//  1. the lower bound from the built-in backends' own clocks
//     (stationBound) still misses → a fail for certain, whatever the host;
//  2. otherwise, against an external target or with no window disturbed,
//     the observed figure less the apparatus's delay at the same
//     aggregation still misses → fail; within it → inconclusive;
//  3. otherwise (the built-in SUT, some window disturbed) the delay
//     measured is no bound: a host that starves the SUT's process takes
//     away its capacity, and its queues then grow past any one wait. Only
//     the calm windows decide (calmLatency): missed there beyond their
//     delay → fail; else inconclusive.
func judgeLatency(res *Result, req scenario.Requirement, stats *Stats, observed float64) (string, bool) {
	if req.Op != "<" && req.Op != "<=" {
		return "", false
	}
	serviceOnly := req.Metric == "service_latency"
	gen, sut, parts := apparatusDelay(res, req.Agg, serviceOnly)
	delay := gen + sut
	if delay <= 0 {
		return "", false
	}
	ms := func(v float64) string { return FormatValue(v, scenario.UnitDuration) }
	misses := func(v float64) bool { pass, _, _ := compare(req.Op, v, req.Threshold); return !pass }
	a := res.Apparatus
	builtIn := a != nil && (a.SUTWakeups > 0 || a.SUTHiccupMS != nil)
	plain := !builtIn || a.DisturbedWindows == 0 // step 2 applies
	if own, how := stationBound(stats, req.Agg, serviceOnly); own > 0 && misses(own) {
		if plain && misses(observed-delay) {
			return "", false // certain by the plain rule too: nothing to explain
		}
		return "a fail for certain whatever the tool's own delay: " + how, true
	}
	within := fmt.Sprintf("%s %s misses %s by %s, within the tool's own delay at %s, %s (%s)",
		req.Agg, ms(observed), ms(req.Threshold), ms(observed-req.Threshold), req.Agg, ms(delay), parts)
	if plain {
		if misses(observed - delay) {
			return "", false
		}
		return within, false
	}
	calm, calmDelay, n := calmLatency(res, req, stats)
	switch {
	case n == 0:
		return fmt.Sprintf("%s %s misses %s, but the tool's own delay disturbed every window (or the one before it), and a host that starves the built-in SUT can make its queues grow past any one delay", req.Agg, ms(observed), ms(req.Threshold)), false
	case misses(calm - calmDelay):
		return fmt.Sprintf("a fail for certain in the %d calm windows (undisturbed, after an undisturbed one): %s there %s, the tool's delay there at most %s", n, req.Agg, ms(calm), ms(calmDelay)), true
	}
	return fmt.Sprintf("%s %s misses %s in disturbed windows; in the %d calm ones it is %s, within the tool's own delay there (%s)", req.Agg, ms(observed), ms(req.Threshold), n, ms(calm), ms(calmDelay)), false
}

// calmLatency is the scope's latency at the requirement's aggregation over
// the calm windows of the run: undisturbed, after the warm-up, and after an
// undisturbed window (a queue that grew while the host starved the SUT
// drains into the next second), with the largest of their delays and their
// number; n is 0 when no window is calm, or when the windows cannot tell
// the scope's latency apart (a workload's, in a run of several, or service
// latency, which windows do not keep).
func calmLatency(res *Result, req scenario.Requirement, stats *Stats) (latency, delay float64, n int) {
	a := res.Apparatus
	if req.Metric != "latency" || (req.Scope != "" && len(res.Workloads) != 1) || stats.LatencyMS.Count != res.LatencyMS.Count {
		return 0, 0, 0
	}
	disturbed := map[int]bool{}
	for _, w := range a.Windows {
		disturbed[w.T] = w.Disturbed
	}
	delays := map[int]float64{}
	for _, w := range a.Windows {
		delays[w.T] = w.DelayMS
	}
	h := NewHistogram()
	warm := int(math.Ceil(res.WarmupS))
	for _, w := range res.Windows {
		_, known := delays[w.T]
		if w.Warmup || w.T < warm || !known || disturbed[w.T] || disturbed[w.T-1] || w.Histogram == "" {
			continue
		}
		if err := mergeEncoded(h, w.Histogram); err != nil {
			return 0, 0, 0
		}
		delay = math.Max(delay, delays[w.T])
		n++
	}
	if n == 0 || h.TotalCount() == 0 {
		return 0, 0, 0
	}
	return percentileAggregations[req.Agg](PercentilesOf(h)), delay, n
}

// stationBound is a latency at aggregation agg that the system under test
// made by itself, from the built-in backends' own clocks (Stats.Station),
// and how it was reached; 0 when the scope has no such account. Each
// request's latency is at least its service, which the tool's delays do
// not touch, and at least its sojourn (queue + service) less what the
// delays before the backend could add to it: delaying a FIFO station's
// arrivals by at most D delays its departures by at most D, so a sojourn
// grows by at most D, and no request spent longer than OutsideMaxMS
// outside the backend.
func stationBound(stats *Stats, agg string, serviceOnly bool) (float64, string) {
	st := stats.Station
	measured := stats.LatencyMS.Count
	if serviceOnly {
		measured = stats.ServiceLatencyMS.Count
	}
	if st == nil || st.SojournMS.Count != measured || measured == 0 {
		return 0, ""
	}
	of := percentileAggregations[agg]
	service, sojourn := of(st.ServiceMS), of(st.SojournMS)
	own := math.Max(service, sojourn-st.OutsideMaxMS)
	ms := func(v float64) string { return FormatValue(v, scenario.UnitDuration) }
	return own, fmt.Sprintf("the backends' own clocks put %s at %s or more (service %s %s; queue and service %s %s less %s, the longest a request spent outside them)",
		agg, ms(own), agg, ms(service), agg, ms(sojourn), ms(st.OutsideMaxMS))
}

// apparatusDelay is how much the apparatus could have added to a request's
// latency at aggregation agg (p99, mean, max...), in ms, in two parts, and
// the figures they come from: the generator's, max(send lag, generator
// hiccup), and the SUT's share (its own process's hiccups, or its waits in
// this one: sutShare); for service latency, which starts at the actual
// send, the send lag is left out. Without an apparatus (older results) it
// is the send lag alone. 0 for stddev.
func apparatusDelay(res *Result, agg string, serviceOnly bool) (gen, sut float64, figures string) {
	of, ok := percentileAggregations[agg]
	if !ok || agg == "stddev" {
		return 0, 0, ""
	}
	ms := func(v float64) string { return FormatValue(v, scenario.UnitDuration) }
	var parts []string
	lag, hiccup := 0.0, 0.0
	if res.Generator.SendLagMS.Count > 0 {
		lag = of(res.Generator.SendLagMS)
		if !serviceOnly {
			parts = append(parts, "send lag "+agg+" "+ms(lag))
		}
	}
	if a := res.Apparatus; a != nil {
		if a.HiccupMS.Count > 0 {
			hiccup = of(a.HiccupMS)
			parts = append(parts, "hiccup "+agg+" "+ms(hiccup))
		}
		var sutHiccup float64
		if a.SUTHiccupMS != nil && a.SUTHiccupMS.Count > 0 {
			sutHiccup = of(*a.SUTHiccupMS)
		}
		if sut = a.sutShare(hiccup, lag, sutHiccup); sut > 0 {
			if a.SUTHiccupMS != nil {
				parts = append(parts, fmt.Sprintf("the built-in SUT's %d waits for a CPU in its own process, each its hiccup %s %s: %s", max(a.SUTWakeups, 1), agg, ms(sutHiccup), ms(sut)))
			} else {
				parts = append(parts, fmt.Sprintf("the built-in SUT's %d waits for a CPU in the same process, %s", a.SUTWakeups, ms(sut)))
			}
		}
	}
	gen = math.Max(lag, hiccup)
	if serviceOnly {
		gen = hiccup
	}
	return gen, sut, strings.Join(parts, ", ")
}

// windowTally is one window's counts of a scope.
type windowTally struct {
	t                           int
	scheduled, succeeded, other int64 // other: failed (and, for a workload, dropped)
	dropped                     int64
}

// scopeWindows lists the scope's windows after the warm-up. A workload or
// a request keeps only [scheduled, succeeded] per window, so its "other"
// is every arrival that did not succeed.
func scopeWindows(res *Result, req scenario.Requirement) ([]windowTally, bool) {
	var out []windowTally
	warm := int(math.Ceil(res.WarmupS))
	if req.Scope == "" {
		for _, w := range res.Windows {
			if w.Warmup || w.T < warm {
				continue
			}
			// Arrivals not sent for want of data were never offered (as a workload's counts leave them out).
			out = append(out, windowTally{t: w.T, scheduled: w.Scheduled - w.Exhausted, succeeded: w.Succeeded, other: w.Failed, dropped: w.Dropped})
		}
		return out, true
	}
	sc, _ := scopeOf(res, req)
	for t, c := range sc.counts {
		if t < warm {
			continue
		}
		out = append(out, windowTally{t: t, scheduled: c[0], succeeded: c[1], other: c[0] - c[1]})
	}
	return out, false
}

// judgeCounts recomputes a count or rate over the windows the apparatus
// left undisturbed.
func judgeCounts(res *Result, req scenario.Requirement) string {
	a := res.Apparatus
	if a == nil || a.DisturbedWindows == 0 {
		return ""
	}
	all, whole := scopeWindows(res, req)
	if req.Metric == "dropped" && !whole {
		return "" // a workload keeps no drops per window
	}
	var calm []windowTally
	for _, w := range all {
		if aw := a.Window(w.t); aw == nil || !aw.Disturbed {
			calm = append(calm, w)
		}
	}
	disturbed := len(all) - len(calm)
	if disturbed == 0 {
		return ""
	}
	summary := fmt.Sprintf("%d of %d windows disturbed by the tool's own delay (over %s)",
		disturbed, len(all), FormatValue(DisturbedAboveMS, scenario.UnitDuration))
	if whole && missedOnCertainFailures(res, req, a) {
		return ""
	}
	if len(calm) == 0 {
		return "every window was disturbed by the tool's own delay (over " + FormatValue(DisturbedAboveMS, scenario.UnitDuration) + ")"
	}
	value, ok := recount(req.Metric, calm, len(all), res.WindowOK)
	if !ok {
		return ""
	}
	if pass, _, _ := compare(req.Op, value, req.Threshold); !pass {
		return ""
	}
	return fmt.Sprintf("met in the %d undisturbed windows (%s there); %s",
		len(calm), FormatValue(value, metricEvaluators[req.Metric].unit), summary)
}

// delayProofClasses are the error classes the tool's own delay cannot
// cause: the answer itself says what went wrong. When the SUT is not the
// tool's own (an external target), its refusals, resets and 5xx are its
// own too; the built-in SUT's may come from the host starving it (a proxy
// timeout), so they stay in doubt, as timeouts always do.
var (
	delayProofClasses         = []string{"4xx", "unexpected_body"}
	delayProofExternalClasses = []string{"4xx", "unexpected_body", "5xx", "refused", "truncated"}
)

// missedOnCertainFailures reports whether a failure-counting requirement
// (error_rate, availability, failed) is missed even when, in the disturbed
// windows, only the failures the tool's delay cannot cause are counted.
func missedOnCertainFailures(res *Result, req scenario.Requirement, a *Apparatus) bool {
	switch req.Metric {
	case "error_rate", "availability", "failed":
	default:
		return false
	}
	classes := delayProofExternalClasses
	if a.SUTWakeups > 0 || a.SUTHiccupMS != nil {
		classes = delayProofClasses
	}
	warm := int(math.Ceil(res.WarmupS))
	var sched, certain int64
	for _, w := range res.Windows {
		if w.Warmup || w.T < warm {
			continue
		}
		sched += w.Scheduled
		if aw := a.Window(w.T); aw == nil || !aw.Disturbed {
			certain += w.Failed
			continue
		}
		for _, c := range classes {
			certain += w.Errors[c]
		}
	}
	if sched == 0 {
		return false
	}
	var value float64
	switch req.Metric {
	case "error_rate":
		value = float64(certain) / float64(sched)
	case "availability":
		value = float64(sched-certain) / float64(sched)
	case "failed":
		value = float64(certain)
	}
	pass, _, _ := compare(req.Op, value, req.Threshold)
	return !pass
}

// recount computes metric over the windows ws; counts are scaled to the
// scope's whole span (of windows) so that leaving windows out does not
// lower them by itself.
func recount(metric string, ws []windowTally, span int, windowOK float64) (float64, bool) {
	var sched, succ, other, dropped int64
	good := 0
	for _, w := range ws {
		sched += w.scheduled
		succ += w.succeeded
		other += w.other
		dropped += w.dropped
		if windowGood(Window{Scheduled: w.scheduled, Succeeded: w.succeeded}, windowOK) {
			good++
		}
	}
	n := float64(len(ws))
	scale := float64(span) / n
	switch metric {
	case "throughput":
		return float64(succ) / n, true
	case "request_rate":
		return float64(succ+other) / n, true
	case "error_rate":
		if sched == 0 {
			return 0, false
		}
		return float64(other) / float64(sched), true
	case "availability":
		if sched == 0 {
			return 0, false
		}
		return float64(succ) / float64(sched), true
	case "availability(time)":
		return float64(good) / n, true
	case "failed":
		return math.Round(float64(other) * scale), true
	case "dropped":
		return math.Round(float64(dropped) * scale), true
	}
	return 0, false
}

// missedFault is a fault whose recovery or detection time missed a
// requirement, with the end of its span: when it recovered (or was
// detected), the end of the run when it never did.
type missedFault struct {
	fault Fault
	end   float64
}

// missedFaults are the applied faults whose recovery or detection time
// (req's metric) missed req.
func missedFaults(res *Result, req scenario.Requirement) []missedFault {
	var out []missedFault
	for _, f := range res.Faults {
		if f.Error != "" || (req.Metric == "detection_time" && f.IsTopologyEvent()) {
			continue
		}
		t := f.RecoveryTimeS
		if req.Metric == "detection_time" {
			t = f.DetectionTimeS
		}
		end := res.MeasuredS
		if t >= 0 {
			if pass, _, _ := compare(req.Op, t*1000, req.Threshold); pass {
				continue
			}
			end = f.AtS + t
		}
		out = append(out, missedFault{fault: f, end: end})
	}
	return out
}

// judgeFaultTimes finds, for each fault whose time missed, whether a
// window of its span was disturbed; a miss with none is certain.
func judgeFaultTimes(res *Result, req scenario.Requirement) string {
	a := res.Apparatus
	if a == nil || a.DisturbedWindows == 0 || (req.Agg != "" && req.Agg != "max") {
		return ""
	}
	var spans []string
	for _, m := range missedFaults(res, req) {
		f := m.fault
		from, to := int(math.Floor(f.AtS)), int(math.Ceil(m.end))+recoveryWindows
		disturbed := 0
		for i := from; i <= to; i++ {
			if w := a.Window(i); w != nil && w.Disturbed {
				disturbed++
			}
		}
		if disturbed == 0 {
			return ""
		}
		spans = append(spans, fmt.Sprintf("%s %s at %s: %d disturbed window(s) in %d–%d s", f.Kind, f.Target(), formatSeconds(f.AtS), disturbed, from, to))
	}
	if len(spans) == 0 {
		return ""
	}
	return "the tool's own delay disturbed the faults' spans: " + strings.Join(spans, "; ")
}
