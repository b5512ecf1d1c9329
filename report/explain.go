package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/ilities/ilities/internal/stats"
	"github.com/ilities/ilities/scenario"
)

// Explanation is why one requirement failed or was inconclusive, read from
// the result's one-second windows: when it was breached, and what moved
// with it, ranked by how well each lines up with the breach (Explain).
type Explanation struct {
	// Requirement is the verdict's text; Status its "fail" or "inconclusive".
	Requirement string `json:"requirement"`
	Status      string `json:"status"`
	// Windows is how many one-second windows were judged (after the
	// warm-up, with something to judge), Breached how many of them missed
	// the requirement on their own, and Spans the breached windows as runs
	// of consecutive seconds.
	Windows  int          `json:"windows"`
	Breached int          `json:"breached"`
	Spans    []BreachSpan `json:"spans,omitempty"`
	// Series is the requirement's own figure per window, in words.
	Series string `json:"series,omitempty"`
	// Causes are what moved with the breach, best aligned first.
	Causes []Cause `json:"causes,omitempty"`
	// Note says what limits the explanation (no per-window figure for the
	// metric, windows of the whole run for a workload's requirement, ...).
	Note string `json:"note,omitempty"`
}

// BreachSpan is a run of consecutive breached windows: from FromS to ToS
// seconds from the start of the run (ToS is the end of its last window).
type BreachSpan struct {
	FromS int `json:"from_s"`
	ToS   int `json:"to_s"`
}

// Cause is one thing that moved with a breach: Kind (CauseFault,
// CauseUtilisation, ...), Subject (the node, the fault as "slow app-3",
// the error class, "tool"), Score how well its per-window series tells the
// breached windows from the others (separation, -1..1; for a share, its
// absolute value, since a strategy moves load either way),
// Outside and During its mean outside the breach and during it, and
// Figures those in words.
type Cause struct {
	Kind    string  `json:"kind"`
	Subject string  `json:"subject"`
	Score   float64 `json:"score"`
	Outside float64 `json:"outside"`
	During  float64 `json:"during"`
	Figures string  `json:"figures"`
}

// The kinds of cause, in the order a tie ranks them.
const (
	CauseFault       = "fault"
	CauseUtilisation = "utilisation"
	CauseQueue       = "queue"
	CauseErrors      = "errors"
	CauseShare       = "share"
	CauseApparatus   = "apparatus"
)

var causeRank = map[string]int{CauseFault: 0, CauseUtilisation: 1, CauseQueue: 2, CauseErrors: 3, CauseShare: 4, CauseApparatus: 5}

// minCauseScore is the least alignment a cause needs to be named, and
// maxCauses how many are named at most.
const (
	minCauseScore = 0.3
	maxCauses     = 5
	// minExplainedWindows is the fewest windows whose series can say what
	// moved with a breach.
	minExplainedWindows = 5
)

// Explain explains every failed or inconclusive requirement of res, in the
// order of res.Requirements, from what the result holds: the windows'
// figures (latency histograms, counts, the nodes' utilisation and the
// proxy's view of each node), the faults with their times, and the
// apparatus's delay per window. A window is breached when its own figure
// misses the requirement's threshold (a count, such as failed, when it
// counts any). Each candidate (a fault in effect; a node's utilisation,
// queue, errors or share of the requests; an error class; the tool's own
// delay) is scored by how well its per-window series tells the breached
// windows from the others (separation); when every window, or none, was
// breached, the worse half of the windows by the requirement's own figure
// plays the breach. Only candidates that rose materially (a share: moved)
// and score at least minCauseScore are kept.
func Explain(res *Result) []Explanation {
	var out []Explanation
	for _, v := range res.Requirements {
		if v.Status != VerdictFail && v.Status != VerdictInconclusive {
			continue
		}
		if e, ok := explainVerdict(res, v); ok {
			out = append(out, e)
		}
	}
	return out
}

// windowSeries is a requirement's figure in each judged window.
type windowSeries struct {
	ts       []int
	value    []float64
	severity []float64 // higher is worse: the margin's negative
	breached []bool
	label    string
	unit     scenario.Unit
	note     string
}

// explainVerdict explains v; ok is false for a requirement that was not
// observed at all (its note says why, and no window can say more).
func explainVerdict(res *Result, v Verdict) (e Explanation, ok bool) {
	e = Explanation{Requirement: v.Text, Status: v.Status}
	req, err := scenario.ParseRequirement(v.Text)
	if err != nil {
		e.Note = "the requirement could not be read again: " + err.Error()
		return e, true
	}
	// A fault that never recovered, or was never detected, has no time,
	// but its span is still the breach.
	if v.Unobserved() && req.Metric != "recovery_time" && req.Metric != "detection_time" {
		return e, false
	}
	req.Threshold, req.Baseline = v.Threshold, nil
	return explainSeries(res, req, e), true
}

// explainSeries fills e from req's figure per window and the candidates
// that moved with it.
func explainSeries(res *Result, req scenario.Requirement, e Explanation) Explanation {
	s := requirementSeries(res, req)
	e.Note = s.note
	if len(s.ts) == 0 {
		return e
	}
	e.Windows = len(s.ts)
	for i, b := range s.breached {
		if !b {
			continue
		}
		e.Breached++
		if n := len(e.Spans); n > 0 && e.Spans[n-1].ToS == s.ts[i] {
			e.Spans[n-1].ToS++
		} else {
			e.Spans = append(e.Spans, BreachSpan{FromS: s.ts[i], ToS: s.ts[i] + 1})
		}
	}
	g, ok := splitWindows(s)
	if !ok {
		e.Note = joinNotes(e.Note, "every window alike: nothing that changed during the run lines up with it")
		return e
	}
	e.Series = g.describeSeries(s)
	if len(s.ts) < minExplainedWindows {
		e.Note = joinNotes(e.Note, fmt.Sprintf("too few windows (%d) to tell what moved with it", len(s.ts)))
		return e
	}
	var shares []Cause
	for _, c := range candidates(res, req, s.ts) {
		cause, ok := g.score(c)
		switch {
		case !ok:
		case c.kind == CauseShare:
			shares = append(shares, cause)
		default:
			e.Causes = append(e.Causes, cause)
		}
	}
	if cause, ok := shareShift(shares, g); ok {
		e.Causes = append(e.Causes, cause)
	}
	sort.SliceStable(e.Causes, func(i, j int) bool {
		a, b := e.Causes[i], e.Causes[j]
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		return causeRank[a.Kind] < causeRank[b.Kind]
	})
	if len(e.Causes) > maxCauses {
		e.Causes = e.Causes[:maxCauses]
	}
	if len(e.Causes) == 0 {
		e.Note = joinNotes(e.Note, "nothing the result records (faults, the nodes, the tool's own delay) moved with it")
	}
	return e
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// requirementSeries is req's figure in each window after the warm-up, or a
// note saying why the metric has none.
func requirementSeries(res *Result, req scenario.Requirement) windowSeries {
	s := windowSeries{label: req.Metric, unit: metricEvaluators[req.Metric].unit}
	if req.Agg != "" {
		s.label = req.Agg + "(" + req.Metric + ")"
	}
	add := func(t int, value float64, breached bool, severity float64) {
		s.ts = append(s.ts, t)
		s.value = append(s.value, value)
		s.breached = append(s.breached, breached)
		s.severity = append(s.severity, severity)
	}
	judge := func(t int, value float64) {
		pass, margin, err := compare(req.Op, value, req.Threshold)
		if err == nil {
			add(t, value, !pass, -margin)
		}
	}
	warm := int(math.Ceil(res.WarmupS))
	switch req.Metric {
	case "latency", "service_latency":
		s.note = latencyWindowsNote(res, req)
		for _, w := range res.Windows {
			if value, ok := windowLatency(w, req.Agg); ok && !w.Warmup && w.T >= warm {
				judge(w.T, value)
			}
		}
	case "throughput", "request_rate", "error_rate", "availability", "availability(time)", "failed", "dropped":
		ws, whole := scopeWindows(res, req)
		if req.Metric == "dropped" && !whole {
			s.note = "a workload keeps no drops per window"
			return s
		}
		for _, w := range ws {
			if w.scheduled <= 0 && req.Metric != "throughput" && req.Metric != "request_rate" {
				continue
			}
			value, ok := recount(req.Metric, []windowTally{w}, 1, res.WindowOK)
			switch {
			case !ok:
			case req.Metric == "failed" || req.Metric == "dropped":
				// A count's threshold is the whole run's: a window adds to it when it counts any.
				add(w.t, value, value > 0, value)
			default:
				judge(w.t, value)
			}
		}
	case "session_loss":
		if req.Scope != "" {
			s.note = "windows count session losses of the whole run"
		}
		for _, w := range res.Windows {
			if !w.Warmup && w.T >= warm && w.Scheduled > 0 {
				lost := float64(w.Errors["session_lost"])
				add(w.T, lost, lost > 0, lost)
			}
		}
	case "utilisation":
		for _, w := range res.Windows {
			if xs := sortedValues(w.Utilisation); len(xs) > 0 && !w.Warmup && w.T >= warm {
				if value, err := reduce(req.Agg, xs); err == nil {
					judge(w.T, value)
				}
			}
		}
	case "fairness":
		for _, w := range res.Windows {
			if value, ok := windowFairness(res, w); ok && !w.Warmup && w.T >= warm {
				judge(w.T, value)
			}
		}
	case "recovery_time", "detection_time":
		spans := missedFaultSpans(res, req)
		s.label, s.unit = "the spans of the faults that missed it", ""
		for _, w := range res.Windows {
			if !w.Warmup && w.T >= warm {
				in := inSpans(spans, w.T)
				add(w.T, b2f(in), in, b2f(in))
			}
		}
	default:
		s.note = req.Metric + " is not measured per window"
	}
	return s
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// latencyWindowsNote says when the windows' latency is not exactly the
// requirement's: windows keep the whole run's latency, from the intended
// send time.
func latencyWindowsNote(res *Result, req scenario.Requirement) string {
	var notes []string
	if req.Metric == "service_latency" {
		notes = append(notes, "windows keep latency, not service latency: theirs is read")
	}
	if req.Scope != "" && len(res.Workloads) > 1 {
		notes = append(notes, "windows keep the whole run's latency, not that of "+req.Scope+" alone")
	}
	return strings.Join(notes, "; ")
}

// windowLatency is the window's latency at agg: from its histogram, or,
// without one, the nearest figure of its summary.
func windowLatency(w Window, agg string) (float64, bool) {
	if w.Histogram != "" {
		if h, err := DecodeHistogram(w.Histogram); err == nil && h.TotalCount() > 0 {
			if of, ok := percentileAggregations[agg]; ok {
				return of(PercentilesOf(h)), true
			}
		}
	}
	l := w.LatencyMS
	if l.Max == 0 && l.P99 == 0 {
		return 0, false
	}
	switch agg {
	case "p90", "p95":
		return l.P90, true
	case "p99":
		return l.P99, true
	case "p999", "p9999", "max":
		return l.Max, true
	}
	return l.P50, true
}

// windowFairness is Jain's index of share / weight over the nodes that
// answered in w.
func windowFairness(res *Result, w Window) (float64, bool) {
	weights := map[string]float64{}
	for _, n := range res.Nodes {
		weights[n.Name] = n.Weight
	}
	var xs []float64
	for _, name := range mapKeys(w.Nodes) {
		weight := weights[name]
		if weight <= 0 {
			weight = 1
		}
		xs = append(xs, float64(w.Nodes[name])/weight)
	}
	if len(xs) < 2 {
		return 0, false
	}
	return JainIndex(xs), true
}

// missedFaultSpans are the spans, in whole seconds [from, to), of the
// faults whose recovery or detection time missed req.
func missedFaultSpans(res *Result, req scenario.Requirement) []BreachSpan {
	var spans []BreachSpan
	for _, m := range missedFaults(res, req) {
		spans = append(spans, BreachSpan{FromS: int(math.Floor(m.fault.AtS)), ToS: int(math.Ceil(m.end))})
	}
	return spans
}

func inSpans(spans []BreachSpan, t int) bool {
	for _, s := range spans {
		if t >= s.FromS && t < s.ToS {
			return true
		}
	}
	return false
}

// windowGroups splits the judged windows in two to contrast them: the
// breached and the others, or, when every window or none was breached,
// the worse half by the requirement's own figure and the milder half.
type windowGroups struct {
	in        []bool
	inWord    string // "during the breach"
	outWord   string // "outside it"
	inCount   int
	outCount  int
	inNoun    string // "breached windows"
	outNoun   string // "others"
	byBreach  bool
	worstTime int
}

func splitWindows(s windowSeries) (windowGroups, bool) {
	g := windowGroups{in: s.breached, byBreach: true,
		inWord: "during it", outWord: "outside the breach", inNoun: "breached windows", outNoun: "others"}
	if !slices.Contains(s.breached, true) || !slices.Contains(s.breached, false) {
		if flat(s.severity) {
			return g, false
		}
		median := stats.Median(s.severity)
		g.in, g.byBreach = make([]bool, len(s.ts)), false
		g.inWord, g.outWord, g.inNoun, g.outNoun = "in the worse half", "in the milder half of the windows", "worse windows", "milder ones"
		for i, x := range s.severity {
			g.in[i] = x > median
		}
	}
	worst := math.Inf(-1)
	for i, in := range g.in {
		if in {
			g.inCount++
		} else {
			g.outCount++
		}
		if s.severity[i] > worst {
			worst, g.worstTime = s.severity[i], s.ts[i]
		}
	}
	return g, g.inCount > 0 && g.outCount > 0
}

// describeSeries is the requirement's own figure outside and during the
// breach, and its worst window.
func (g windowGroups) describeSeries(s windowSeries) string {
	if s.unit == "" {
		return ""
	}
	out, in := g.means(s.value)
	worst := 0.0
	for i, t := range s.ts {
		if t == g.worstTime {
			worst = s.value[i]
		}
	}
	f := func(v float64) string { return FormatValue(v, s.unit) }
	return fmt.Sprintf("%s per window: %s %s, %s %s, worst %s at %ds",
		s.label, f(out), g.outWord, f(in), g.inWord, f(worst), g.worstTime)
}

// means are xs's mean over the windows outside the breach and during it.
func (g windowGroups) means(xs []float64) (out, in float64) {
	var so, si float64
	for i, x := range xs {
		if g.in[i] {
			si += x
		} else {
			so += x
		}
	}
	return so / float64(g.outCount), si / float64(g.inCount)
}

// candidate is one series that may have moved with a breach.
type candidate struct {
	kind, subject string
	xs            []float64
	// material is the least difference of means that counts as a move;
	// absolute scores a move either way (a share).
	material float64
	absolute bool
	format   func(v float64) string
	what     string // "utilisation", "share of the requests", ...
	fault    *Fault
}

// score scores c against the breach: ok is false when it did not move
// materially or does not line up well enough.
func (g windowGroups) score(c candidate) (Cause, bool) {
	out, in := g.means(c.xs)
	r := g.separation(c.xs)
	if c.absolute {
		r = math.Abs(r)
	}
	r = math.Round(r*100) / 100
	if r < minCauseScore || math.Abs(in-out) < c.material || (!c.absolute && in <= out) {
		return Cause{}, false
	}
	cause := Cause{Kind: c.kind, Subject: c.subject, Score: r, Outside: roundSignificant(out, 6), During: roundSignificant(in, 6)}
	if c.fault != nil {
		cause.Figures = g.faultFigures(c)
		return cause, true
	}
	peak := 0.0
	for _, x := range c.xs {
		peak = math.Max(peak, x)
	}
	cause.Figures = fmt.Sprintf("%s %s %s, %s %s", c.what, c.format(out), g.outWord, c.format(in), g.inWord)
	if c.kind == CauseQueue || c.kind == CauseApparatus {
		cause.Figures += ", up to " + c.format(peak)
	}
	return cause, true
}

// shareShift is the strategy's shift of the requests between the nodes
// as one cause: scored as the best aligned node's share, named after the
// node whose share moved most, its figures every moved node's share
// outside the breach and during it.
func shareShift(shares []Cause, g windowGroups) (Cause, bool) {
	if len(shares) == 0 {
		return Cause{}, false
	}
	sort.SliceStable(shares, func(i, j int) bool {
		return math.Abs(shares[i].During-shares[i].Outside) > math.Abs(shares[j].During-shares[j].Outside)
	})
	moved := make([]string, len(shares))
	shift := shares[0]
	for i, c := range shares {
		moved[i] = fmt.Sprintf("%s %s → %s", c.Subject, formatShare(c.Outside), formatShare(c.During))
		shift.Score = math.Max(shift.Score, c.Score)
	}
	shift.Figures = fmt.Sprintf("share of the requests %s → %s: %s", g.outWord, g.inWord, strings.Join(moved, ", "))
	return shift, true
}

// separation is how well xs tells the breached windows from the others:
// the rank-biserial correlation, the chance that a breached window's value
// is above another window's less the chance that it is below (2·AUC − 1,
// from the Mann–Whitney U of their ranks). 1 when every breached window's
// value is above every other's, 0 when they cannot be told apart; for a
// fault's share of each window in effect, the share of the breached windows
// it was in effect in less the share of the others (Youden's J). Ranks keep
// one extreme window from deciding it.
func (g windowGroups) separation(xs []float64) float64 {
	var sum float64
	for i, r := range ranks(xs) {
		if g.in[i] {
			sum += r
		}
	}
	nIn, nOut := float64(g.inCount), float64(g.outCount)
	u := sum - nIn*(nIn+1)/2
	return 2*u/(nIn*nOut) - 1
}

// inEffect counts the windows of each group in which xs is positive.
func (g windowGroups) inEffect(xs []float64) (in, out int) {
	for i, x := range xs {
		switch {
		case x <= 0:
		case g.in[i]:
			in++
		default:
			out++
		}
	}
	return in, out
}

// faultFigures says when a fault was in effect and in how many windows
// of each group.
func (g windowGroups) faultFigures(c candidate) string {
	f := c.fault
	in, out := g.inEffect(c.xs)
	until := "to the end"
	if end := faultEnd(*f); !math.IsInf(end, 1) {
		until = "to " + formatSeconds(end)
	}
	return fmt.Sprintf("%s in effect from %s %s, in %d of %d %s and %d of %d %s",
		c.subject, formatSeconds(f.AtS), until, in, g.inCount, g.inNoun, out, g.outCount, g.outNoun)
}

// faultEnd is when a fault was lifted, +Inf when it lasted to the end.
func faultEnd(f Fault) float64 {
	switch {
	case f.EndS > 0:
		return f.EndS
	case f.ForS > 0:
		return f.AtS + f.ForS
	}
	return math.Inf(1)
}

// candidates are every series the result holds per window that may have
// moved with req's breach, over the windows ts.
func candidates(res *Result, req scenario.Requirement, ts []int) []candidate {
	windows := make(map[int]*Window, len(res.Windows))
	for i := range res.Windows {
		windows[res.Windows[i].T] = &res.Windows[i]
	}
	series := func(of func(w *Window) float64) []float64 {
		xs := make([]float64, len(ts))
		for i, t := range ts {
			if w := windows[t]; w != nil {
				xs[i] = of(w)
			}
		}
		return xs
	}
	var cs []candidate
	for i := range res.Faults {
		f := &res.Faults[i]
		if f.Error != "" {
			continue
		}
		end := faultEnd(*f)
		xs := make([]float64, len(ts))
		for j, t := range ts {
			xs[j] = math.Max(0, math.Min(float64(t+1), end)-math.Max(float64(t), f.AtS))
		}
		cs = append(cs, candidate{kind: CauseFault, subject: f.Kind + " " + f.Target(), xs: xs, fault: f, material: 0.01})
	}
	ms := func(v float64) string { return FormatValue(v, scenario.UnitDuration) }
	perSecond := func(v float64) string { return FormatValue(v, scenario.UnitRate) }
	count := func(v float64) string { return trimFloat(v) }
	for _, node := range windowNodes(res) {
		cs = append(cs,
			candidate{kind: CauseUtilisation, subject: node, what: node + " utilisation", material: 0.05, format: formatShare,
				xs: series(func(w *Window) float64 { return w.Utilisation[node] })},
			candidate{kind: CauseQueue, subject: node, what: node + " in flight and queued at the proxy", material: 1, format: count,
				xs: series(func(w *Window) float64 { p := w.Proxy[node]; return float64(p.Inflight + p.Queued) })},
			candidate{kind: CauseErrors, subject: node, what: node + " failed or rejected at the proxy", material: 1, format: perSecond,
				xs: series(func(w *Window) float64 { p := w.Proxy[node]; return float64(p.Failures + p.Rejected) })},
			candidate{kind: CauseShare, subject: node, what: node, material: 0.02, format: formatShare, absolute: true,
				xs: series(func(w *Window) float64 { return windowShare(w, node) })},
		)
	}
	if !countsFailures(req.Metric) {
		for _, class := range errorClasses(res) {
			cs = append(cs, candidate{kind: CauseErrors, subject: class, what: class + " errors", material: 1, format: perSecond,
				xs: series(func(w *Window) float64 { return float64(w.Errors[class]) })})
		}
	}
	if a := res.Apparatus; a != nil && len(a.Windows) > 0 {
		xs := make([]float64, len(ts))
		for i, t := range ts {
			if aw := a.Window(t); aw != nil {
				xs[i] = aw.DelayMS
			}
		}
		cs = append(cs, candidate{kind: CauseApparatus, subject: "tool", what: "the tool's own delay", material: 1, format: ms, xs: xs})
	}
	return cs
}

// countsFailures reports whether a metric is made of the failures
// themselves, which an error class would only restate.
func countsFailures(metric string) bool {
	switch metric {
	case "error_rate", "availability", "availability(time)", "failed", "session_loss", "recovery_time":
		return true
	}
	return false
}

// windowNodes are the nodes any window names, sorted.
func windowNodes(res *Result) []string {
	seen := map[string]bool{}
	for _, n := range res.Nodes {
		seen[n.Name] = true
	}
	for _, w := range res.Windows {
		for n := range w.Nodes {
			seen[n] = true
		}
		for n := range w.Utilisation {
			seen[n] = true
		}
		for n := range w.Proxy {
			seen[n] = true
		}
	}
	delete(seen, "")
	return mapKeys(seen)
}

// errorClasses are the failure classes any window counts, sorted.
func errorClasses(res *Result) []string {
	seen := map[string]bool{}
	for _, w := range res.Windows {
		for class := range w.Errors {
			seen[class] = true
		}
	}
	return mapKeys(seen)
}

// windowShare is node's share of the requests in w: those the proxy
// forwarded when it says, else the responses the node answered.
func windowShare(w *Window, node string) float64 {
	var total, mine int64
	if len(w.Proxy) > 0 {
		for name, p := range w.Proxy {
			total += p.Requests
			if name == node {
				mine = p.Requests
			}
		}
	} else {
		for name, n := range w.Nodes {
			total += n
			if name == node {
				mine = n
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(mine) / float64(total)
}

func sortedValues(m map[string]float64) []float64 {
	xs := make([]float64, 0, len(m))
	for _, k := range mapKeys(m) {
		xs = append(xs, m[k])
	}
	return xs
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}

// ranks are the ranks of xs from 1, ties given their mean rank.
func ranks(xs []float64) []float64 {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return xs[order[a]] < xs[order[b]] })
	r := make([]float64, len(xs))
	for i := 0; i < len(order); {
		j := i
		for j+1 < len(order) && xs[order[j+1]] == xs[order[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[order[k]] = float64(i+j)/2 + 1
		}
		i = j + 1
	}
	return r
}

// flat reports whether every value of xs is the same.
func flat(xs []float64) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}
