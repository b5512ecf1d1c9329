package workflow

import (
	"fmt"
	"math"
	"slices"

	"github.com/ilities/ilities/internal/stats"
	"github.com/ilities/ilities/report"
)

// Repeated is a variant's runs summarised: how many met every
// requirement, and for each compared figure its median over the runs with
// the 95% confidence interval of its mean (Student's t over the runs, as
// suits a handful of them: each run is one independent measurement).
type Repeated struct {
	Runs  int     `json:"runs"`
	Seeds []int64 `json:"seeds"`
	// Passed counts the runs that met every requirement, Errored those
	// that could not be carried out.
	Passed        int      `json:"passed"`
	Errored       int      `json:"errored,omitempty"`
	P99MS         Interval `json:"p99_ms"`
	ThroughputRPS Interval `json:"throughput_rps"`
	ErrorRate     Interval `json:"error_rate"`
	// Requirements are each requirement's passing runs and median
	// observed value, in the scenario's order.
	Requirements []RepeatedRequirement `json:"requirements,omitempty"`
}

// Interval is a figure's median over the runs and the 95% confidence
// interval of its mean, never below 0 (none of the compared figures can be).
type Interval struct {
	Median float64 `json:"median"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
}

// RepeatedRequirement is one requirement over the runs.
type RepeatedRequirement struct {
	Text           string  `json:"text"`
	Passed         int     `json:"passed"`
	MedianObserved float64 `json:"median_observed"`
}

// intervalOf is the median and the 95% interval of the mean of xs.
func intervalOf(xs []float64) Interval {
	low, high := stats.TInterval(xs, 0.95)
	return Interval{Median: stats.Median(xs), Low: math.Max(low, 0), High: high}
}

func (a Interval) overlaps(b Interval) bool { return a.Low <= b.High && b.Low <= a.High }

// toldApart says whether neighbours a and b of a ranking differ beyond
// their runs' spread in the figure that ordered them: p99, or throughput
// when their p99s are tied. A single run has no spread: its figures tell
// variants apart as they always have.
func toldApart(a, b Row) bool {
	if a.Repeated == nil || b.Repeated == nil {
		return true
	}
	if orderFigure(a, b) == "throughput" {
		return !a.Repeated.ThroughputRPS.overlaps(b.Repeated.ThroughputRPS)
	}
	return !a.Repeated.P99MS.overlaps(b.Repeated.P99MS)
}

// RankingNotes say, for variants run several times, how sure each step
// of the ranking is: neighbours their runs cannot tell apart (not
// significant), neighbours told apart (significant: the 95% intervals of
// the figure that ordered them do not overlap), and neighbours their runs'
// verdicts ordered. A single run of each says nothing of chance: none.
func (c *Comparison) RankingNotes() []string {
	if c.Repeat <= 1 {
		return nil
	}
	var notes []string
	for i := 1; i < len(c.Ranking); i++ {
		a, b := c.Row(c.Ranking[i-1]), c.Row(c.Ranking[i])
		pair := [2]string{a.Name, b.Name}
		switch {
		case slices.Contains(c.Indistinct, pair):
			notes = append(notes, fmt.Sprintf("%s and %s cannot be told apart: their 95%% intervals of %s overlap (not significant).", a.Name, b.Name, orderFigure(*a, *b)))
		case slices.Contains(c.ToldApart, pair):
			notes = append(notes, fmt.Sprintf("%s > %s is significant: their 95%% intervals of %s do not overlap.", a.Name, b.Name, orderFigure(*a, *b)))
		default:
			notes = append(notes, fmt.Sprintf("%s > %s by their runs' verdicts: %s of %s met every requirement, %s of %s.", a.Name, b.Name, passedRuns(*a), a.Name, passedRuns(*b), b.Name))
		}
	}
	return notes
}

// passedRuns is "4/5": a variant's runs that met every requirement.
func passedRuns(r Row) string {
	if r.Repeated == nil {
		return "none"
	}
	return fmt.Sprintf("%d/%d", r.Repeated.Passed, r.Repeated.Runs)
}

// orderFigure is the figure that orders neighbours a and b of a ranking:
// p99, or throughput when their p99s are tied.
func orderFigure(a, b Row) string {
	if tied(a.P99MS, b.P99MS) {
		return "throughput"
	}
	return "p99"
}

// rowOfRuns is a variant's row from its runs, in seed order from seed
// (nil results where a run could not be carried out, errs its errors): the
// one run's figures, or with several each figure's median, detection and
// recovery the longest, errors summed, and the runs summarised in
// Repeated.
func rowOfRuns(results []*report.Result, errs []string, seed int64) Row {
	if len(results) == 1 {
		row := Row{Verdict: "error"}
		if results[0] != nil {
			row = rowOf(results[0])
		}
		row.Error = errs[0]
		return row
	}
	rep := &Repeated{Runs: len(results)}
	var rows []Row
	var errorRates []float64
	firstErr, withErr := "", 0
	for k, res := range results {
		rep.Seeds = append(rep.Seeds, seed+int64(k))
		if errs[k] != "" {
			withErr++
			if firstErr == "" {
				firstErr = errs[k]
			}
		}
		if res == nil {
			rep.Errored++
			continue
		}
		rows = append(rows, rowOf(res))
		errorRates = append(errorRates, res.ErrorRate)
	}
	if firstErr != "" {
		firstErr = fmt.Sprintf("%d of %d runs: %s", withErr, len(results), firstErr)
	}
	if len(rows) == 0 {
		return Row{Verdict: "error", Error: firstErr, Repeated: rep}
	}
	median := func(figure func(Row) float64) float64 { return stats.Median(figures(rows, figure)) }
	interval := func(figure func(Row) float64) Interval { return intervalOf(figures(rows, figure)) }
	row := rows[0]
	row.Error, row.Repeated = firstErr, rep
	row.ThroughputRPS = median(func(r Row) float64 { return r.ThroughputRPS })
	row.P50MS = median(func(r Row) float64 { return r.P50MS })
	row.P99MS = median(func(r Row) float64 { return r.P99MS })
	row.MaxMS = median(func(r Row) float64 { return r.MaxMS })
	row.Availability = median(func(r Row) float64 { return r.Availability })
	row.Fairness = median(func(r Row) float64 { return r.Fairness })
	row.SessionLoss = int64(median(func(r Row) float64 { return float64(r.SessionLoss) }))
	rep.P99MS = interval(func(r Row) float64 { return r.P99MS })
	rep.ThroughputRPS = interval(func(r Row) float64 { return r.ThroughputRPS })
	rep.ErrorRate = intervalOf(errorRates)
	row.Errors = map[string]int64{}
	verdicts := map[string]int{}
	bound := true // every saturated run held by max_inflight, none by the generator
	for _, r := range rows {
		verdicts[r.Verdict]++
		row.Saturated = row.Saturated || r.Saturated
		bound = bound && (!r.Saturated || r.InflightBound)
		for class, n := range r.Errors {
			row.Errors[class] += n
		}
		if r.RecoveryTimeS != nil {
			row.RecoveryTimeS = worst(row.RecoveryTimeS, *r.RecoveryTimeS)
		}
		if r.DetectionTimeS != nil {
			row.DetectionTimeS = worst(row.DetectionTimeS, *r.DetectionTimeS)
		}
	}
	row.InflightBound = row.Saturated && bound
	rep.Passed = verdicts[report.VerdictPass]
	switch {
	case rep.Passed == rep.Runs:
		row.Verdict = report.VerdictPass
	case verdicts[report.VerdictFail] > 0:
		row.Verdict = report.VerdictFail
	default: // no run failed for certain, yet not every one passed
		row.Verdict = report.VerdictInconclusive
	}
	for j, v := range rows[0].Requirements {
		req := RepeatedRequirement{Text: v.Text}
		var observed []float64
		for _, r := range rows {
			if j < len(r.Requirements) {
				observed = append(observed, r.Requirements[j].Observed)
				if r.Requirements[j].Pass {
					req.Passed++
				}
			}
		}
		req.MedianObserved = stats.Median(observed)
		rep.Requirements = append(rep.Requirements, req)
	}
	return row
}

// figures is one figure of each row.
func figures(rows []Row, figure func(Row) float64) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = figure(r)
	}
	return out
}
