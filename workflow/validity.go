package workflow

import (
	"fmt"
	"math"
	"strings"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// A capacity step measures the SUT only when the apparatus (the generator,
// its process and the machine under it) delayed requests by little next to
// what the requirements allow. These bounds say how little, whatever the
// run's own verdict says: the search must not mistake a busy machine for a
// SUT at capacity.
const (
	// ApparatusShareMax is the most the apparatus delay at a latency
	// requirement's aggregation may be of that requirement's threshold:
	// mean(latency) < 10ms needs a mean apparatus delay of at most 1 ms.
	ApparatusShareMax = 0.10
	// DisturbedShareMax is the most of a step's measured windows that may be
	// disturbed (apparatus delay above report.DisturbedAboveMS).
	DisturbedShareMax = 0.10
)

// stepCheck is what decided a step's validity: the apparatus delay at the
// aggregation of the latency requirement it weighs most on (ms) and that
// share of its threshold, and the disturbed windows among the measured ones.
type stepCheck struct {
	delayMS, share     float64
	disturbed, windows int
}

// invalidity says why res proves nothing about the SUT, "" when it does:
// the generator saturated; the verdict is inconclusive; the apparatus delay
// at a latency requirement's aggregation exceeds ApparatusShareMax of its
// threshold; or more than DisturbedShareMax of the measured windows were
// disturbed. The apparatus delay is res.Apparatus.DelayMS; a result without
// apparatus figures still has the generator's send lag, which latency (from
// the intended send time) includes, so that stands in for latency
// requirements.
func invalidity(reqs []scenario.Requirement, res *report.Result) (string, stepCheck) {
	var chk stepCheck
	if res.Generator.Saturated {
		return "generator saturated: " + res.Generator.Reason, chk
	}
	reason := ""
	chk.share = -1
	for _, r := range reqs {
		if r.Unit != scenario.UnitDuration || r.Agg == "" || r.Threshold <= 0 {
			continue
		}
		if d, ok := apparatusDelay(res, r); ok && d/r.Threshold > chk.share {
			chk.delayMS, chk.share = d, d/r.Threshold
			if chk.share > ApparatusShareMax {
				reason = fmt.Sprintf("apparatus delay %s %.3gms is %.0f%% of %s (more than %.0f%%)",
					r.Agg, d, 100*chk.share, r.Text, 100*ApparatusShareMax)
			}
		}
	}
	chk.share = math.Max(chk.share, 0)
	if a := res.Apparatus; a != nil {
		for _, w := range a.Windows {
			if float64(w.T) < res.WarmupS {
				continue
			}
			chk.windows++
			if w.Disturbed {
				chk.disturbed++
			}
		}
		if reason == "" && chk.windows > 0 && float64(chk.disturbed) > DisturbedShareMax*float64(chk.windows) {
			reason = fmt.Sprintf("apparatus: %d of %d windows disturbed (delay above %gms; more than %.0f%%)",
				chk.disturbed, chk.windows, report.DisturbedAboveMS, 100*DisturbedShareMax)
		}
	}
	if reason != "" {
		return reason, chk
	}
	if res.Verdict == report.VerdictInconclusive {
		why := res.VerdictReason
		if why == "" {
			why = "the apparatus's delay could have decided a requirement"
		}
		return "inconclusive: " + why, chk
	}
	return "", chk
}

// apparatusDelay is the apparatus delay (ms) at requirement r's
// aggregation: from res.Apparatus, or else the generator's send lag for
// latency (service latency starts at the actual send: the send lag is not
// in it).
func apparatusDelay(res *report.Result, r scenario.Requirement) (float64, bool) {
	if res.Apparatus != nil {
		return atAgg(res.Apparatus.DelayMS, r.Agg)
	}
	if r.Metric == "latency" {
		return atAgg(res.Generator.SendLagMS, r.Agg)
	}
	return 0, false
}

// atAgg is p's figure for aggregation agg; stddev has none to compare.
func atAgg(p report.Percentiles, agg string) (float64, bool) {
	v, ok := map[string]float64{
		"min": p.Min, "mean": p.Mean, "p50": p.P50, "p75": p.P75, "p90": p.P90, "p95": p.P95,
		"p99": p.P99, "p999": p.P999, "p9999": p.P9999, "max": p.Max,
	}[strings.ToLower(agg)]
	return v, ok && !math.IsNaN(v)
}
