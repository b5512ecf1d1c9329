package report

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/ilities/ilities/scenario"
)

// textWidth is the width the terminal report fits in.
const textWidth = 100

// WriteText writes the human summary of a run: the verdict and the figures
// that decided it (first line), what ran, a loud warning
// when the generator saturated, the accounting of arrivals, rates, errors,
// availability, latency, workloads, nodes, faults, the requirement
// verdicts and the overall verdict. The output is plain text (no colour),
// fits 100 columns, and is deterministic for a given result.
func WriteText(w io.Writer, res *Result) error {
	return writeText(w, res, false)
}

// WriteTextInColour is WriteText for a terminal: the verdict words, PASS,
// FAIL and INCONCLUSIVE, in green, red and yellow, and every other byte
// as WriteText writes it.
func WriteTextInColour(w io.Writer, res *Result) error {
	return writeText(w, res, true)
}

func writeText(w io.Writer, res *Result, colour bool) error {
	out := &textWriter{colour: colour}
	out.headline(res)
	out.title(res)
	out.saturation(res)
	out.starts(res)
	out.figures(res)
	out.latency(res)
	out.errorClasses(res)
	out.workloads(res)
	out.requests(res)
	out.nodes(res)
	out.tiers(res)
	out.sites(res)
	out.faults(res)
	out.projection(res.Projection)
	out.singlePoints(res.SinglePointsOfFailure)
	out.requirements(res)
	if res.Diff != nil {
		out.blank()
		out.diff(res.Diff)
	}
	out.verdict(res)
	if out.err != nil {
		return out.err
	}
	_, err := w.Write(out.buf.Bytes())
	return err
}

// textWriter collects the report; the first table error is kept.
type textWriter struct {
	buf    bytes.Buffer
	err    error
	colour bool
}

// linef writes one line of free text, wrapped at textWidth with the
// continuation indented by two blanks.
func (t *textWriter) linef(format string, args ...any) {
	t.wrapped(fmt.Sprintf(format, args...), "  ")
}

func (t *textWriter) wrapped(text, indent string) {
	for _, l := range wrapWords(text, textWidth, indent) {
		t.buf.WriteString(l)
		t.buf.WriteByte('\n')
	}
}

func (t *textWriter) blank() { t.buf.WriteByte('\n') }

// field is one "label  value" line of the figures block.
func (t *textWriter) field(label, value string) {
	t.wrapped(fmt.Sprintf("%-13s %s", label, value), strings.Repeat(" ", 14))
}

// headline is the report's first line: the verdict and, unless it is a
// pass, the figures that made it so.
func (t *textWriter) headline(res *Result) {
	t.verdictLine(res)
	if res.Verdict != VerdictPass && res.VerdictReason != "" {
		t.hanging("  ", res.VerdictReason, 4)
	}
	t.explanations(res.Explanations)
	t.blank()
}

// explanations say, under the verdict, why each requirement missed: when,
// and what moved with it, best aligned first.
func (t *textWriter) explanations(es []Explanation) {
	for _, e := range es {
		t.hanging("  why ", e.Headline(), 6)
		for _, d := range e.Details() {
			t.hanging("      ", d, 8)
		}
		for i, c := range e.Causes {
			t.hanging(fmt.Sprintf("    %d. ", i+1), c.Line(), 7)
		}
	}
}

// hanging writes text after prefix, wrapped at textWidth, its further
// lines indented by indent blanks.
func (t *textWriter) hanging(prefix, text string, indent int) {
	lines := wrapWords(text, textWidth-max(len(prefix), indent), "")
	for i, l := range lines {
		if i == 0 {
			t.buf.WriteString(prefix)
		} else {
			t.buf.WriteString(strings.Repeat(" ", indent))
		}
		t.buf.WriteString(l)
		t.buf.WriteByte('\n')
	}
}

func (t *textWriter) title(res *Result) {
	name := res.Scenario
	if name == "" {
		name = "(unnamed scenario)"
	}
	if res.Incomplete {
		name += "  INCOMPLETE: the run stopped early"
	}
	t.linef("%s", name)
	var ctx []string
	if res.Mode != "" {
		ctx = append(ctx, res.Mode)
	}
	if res.Target != "" {
		ctx = append(ctx, "target "+res.Target)
	}
	if res.Strategy != "" {
		ctx = append(ctx, "strategy "+res.Strategy)
	}
	ctx = append(ctx, fmt.Sprintf("seed %d", res.Seed))
	measured := "measured " + formatSeconds(res.MeasuredS)
	if res.DurationS > 0 && !nearlyEqual(res.DurationS, res.MeasuredS) {
		measured += " of " + formatSeconds(res.DurationS)
	}
	if res.Warmup != nil {
		measured += fmt.Sprintf(" (first %s warm-up: %d requests, excluded)", formatSeconds(res.WarmupS), res.Warmup.Totals.Scheduled)
	}
	if res.Segment != "" {
		measured += "  segment " + res.Segment
	}
	if len(res.Parts) > 0 {
		measured += fmt.Sprintf("  merged from %d segments", len(res.Parts))
	}
	ctx = append(ctx, measured)
	t.linef("%s", strings.Join(ctx, "  "))
	if !res.Started.IsZero() || res.Tool != "" {
		var about []string
		if !res.Started.IsZero() {
			about = append(about, "started "+res.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		if res.Tool != "" {
			about = append(about, res.Tool)
		}
		t.linef("%s", strings.Join(about, "  "))
	}
}

// saturation is the loud line: a saturated generator sent less than the
// scenario asked for, so every figure below flatters the system.
func (t *textWriter) saturation(res *Result) {
	if !res.Generator.Saturated {
		return
	}
	reason := res.Generator.Reason
	if reason == "" {
		reason = "the generator could not keep to the schedule"
	}
	if d := res.Totals.Dropped; d > 0 {
		reason += fmt.Sprintf("; %d arrivals dropped", d)
	}
	banner, _, _ := res.Generator.SaturationTitle()
	t.blank()
	t.linef("%s: results understate the load", banner)
	t.linef("  %s", reason)
}

// starts says how a merged run's segments started: together, or out of
// step (loud, as saturation is).
func (t *textWriter) starts(res *Result) {
	if res.Starts == nil {
		return
	}
	if !res.Starts.Within {
		t.blank()
	}
	t.linef("%s", StartsText(res.Starts))
}

func (t *textWriter) figures(res *Result) {
	s := &res.Stats
	t.blank()
	t.field("requests", accountingText(s.Totals))
	if m := accountingMismatch(s.Totals); m != "" {
		t.linef("%s", m)
	}
	if s.Totals.Late > 0 {
		t.field("late", fmt.Sprintf("%d sent more than 1ms after their intended time", s.Totals.Late))
	}
	t.field("throughput", fmt.Sprintf("%s  request rate %s  target %s",
		FormatValue(s.ThroughputRPS, scenario.UnitRate),
		FormatValue(s.RequestRateRPS, scenario.UnitRate),
		FormatValue(s.TargetRPS, scenario.UnitRate)))
	t.field("error rate", FormatValue(s.ErrorRate, scenario.UnitPercent))
	t.field("availability", fmt.Sprintf("%s of requests  %s of time",
		FormatValue(s.Availability.Requests, scenario.UnitPercent),
		FormatValue(s.Availability.Time, scenario.UnitPercent)))
	if codes := statusCodesText(s.StatusCodes, "  "); codes != "" {
		t.field("status codes", codes)
	}
	if lag := res.Generator.SendLagMS; lag.Count > 0 {
		t.field("send lag", fmt.Sprintf("p50 %s  p99 %s  max %s",
			FormatValue(lag.P50, scenario.UnitDuration),
			FormatValue(lag.P99, scenario.UnitDuration),
			FormatValue(lag.Max, scenario.UnitDuration)))
	}
	if a := apparatusSummary(res); a != "" {
		t.field("apparatus", a)
	}
	if !res.Generator.Saturated && res.Generator.Reason != "" && res.Generator.SendLagMS.Count > 0 {
		t.field("generator", res.Generator.Reason)
	}
}

// accountingText shows the identity scheduled = succeeded + failed +
// dropped (+ cut at the end) with the run's figures ("!=" when they break it).
func accountingText(t Totals) string {
	rel := "="
	if t.Succeeded+t.Failed+t.Dropped+t.CutAtEnd+t.Exhausted != t.Scheduled {
		rel = "!="
	}
	s := fmt.Sprintf("%d scheduled %s %d succeeded + %d failed + %d dropped",
		t.Scheduled, rel, t.Succeeded, t.Failed, t.Dropped)
	if t.CutAtEnd > 0 {
		s += fmt.Sprintf(" + %d cut at the end", t.CutAtEnd)
	}
	if t.Exhausted > 0 {
		s += fmt.Sprintf(" + %d not sent, data exhausted", t.Exhausted)
	}
	return s
}

// accountingMismatch is the loud message for totals that break the
// identity, "" when they keep it. Every arrival must end in exactly one of
// the three outcomes; a mismatch means arrivals were lost or counted twice.
func accountingMismatch(t Totals) string {
	sum := t.Succeeded + t.Failed + t.Dropped + t.CutAtEnd + t.Exhausted
	if sum == t.Scheduled {
		return ""
	}
	return fmt.Sprintf("ACCOUNTING MISMATCH: succeeded + failed + dropped + cut = %d, scheduled = %d (%+d)",
		sum, t.Scheduled, sum-t.Scheduled)
}

func (t *textWriter) latency(res *Result) {
	lat, svc := res.LatencyMS, res.ServiceLatencyMS
	if lat.Count == 0 && svc.Count == 0 {
		t.blank()
		t.field("latency", "no request completed")
		return
	}
	ms := func(p Percentiles, v float64) string {
		if p.Count == 0 {
			return "-"
		}
		return FormatValue(v, scenario.UnitDuration)
	}
	rows := [][]string{
		{"p50", ms(lat, lat.P50), ms(svc, svc.P50)},
		{"p90", ms(lat, lat.P90), ms(svc, svc.P90)},
		{"p95", ms(lat, lat.P95), ms(svc, svc.P95)},
		{"p99", ms(lat, lat.P99), ms(svc, svc.P99)},
		{scenario.AggregationLabel("p999"), ms(lat, lat.P999), ms(svc, svc.P999)},
		{"max", ms(lat, lat.Max), ms(svc, svc.Max)},
		{"mean", ms(lat, lat.Mean), ms(svc, svc.Mean)},
	}
	t.blank()
	t.table([]string{"", "latency", "service latency"}, "lrr", rows)
}

func (t *textWriter) errorClasses(res *Result) {
	classes := ErrorClassesByCount(res.Errors)
	if len(classes) == 0 {
		return
	}
	var rows [][]string
	for _, c := range classes {
		share := "-"
		if res.Totals.Failed > 0 {
			share = formatShare(float64(c.Count) / float64(res.Totals.Failed))
		}
		rows = append(rows, []string{c.Class, formatCount(c.Count), share, firstSample(res.ErrorSamples[c.Class])})
	}
	t.blank()
	t.table([]string{"error class", "count", "of failed", "first seen"}, "lrrw", rows)
}

// ErrorClassCount is a class of failed requests and how many there were.
type ErrorClassCount struct {
	Class string
	Count int64
}

// ErrorClassesByCount lists the classes with a count above zero, the most
// frequent first (ties by name, for stable output).
func ErrorClassesByCount(errs map[string]int64) []ErrorClassCount {
	var out []ErrorClassCount
	for class, n := range errs {
		if n > 0 {
			out = append(out, ErrorClassCount{class, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Class < out[j].Class
	})
	return out
}

func (t *textWriter) workloads(res *Result) {
	if len(res.Workloads) < 2 {
		return
	}
	var rows [][]string
	for _, w := range res.Workloads {
		rows = append(rows, []string{
			w.Name,
			formatCount(w.Totals.Scheduled),
			FormatValue(w.ThroughputRPS, scenario.UnitRate),
			latencyCell(w.LatencyMS, w.LatencyMS.P99),
			FormatValue(w.ErrorRate, scenario.UnitPercent),
			FormatValue(w.Availability.Requests, scenario.UnitPercent),
		})
	}
	t.blank()
	t.table([]string{"workload", "scheduled", "throughput", "p99 latency", "error rate", "availability"}, "lrrrrr", rows)
}

func (t *textWriter) nodes(res *Result) {
	if len(res.Nodes) == 0 {
		return
	}
	var rows [][]string
	for _, n := range res.Nodes {
		rows = append(rows, []string{n.Name, formatCount(n.Requests), formatShare(n.Share), nodeWeight(n), nodeUtilisation(n)})
	}
	t.blank()
	t.table([]string{"node", "requests", "share", "weight", "utilisation"}, "lrrrr", rows)
	if res.Fairness > 0 {
		t.linef("fairness %.3f  (Jain's index of share / weight: 1 is perfectly even)", res.Fairness)
	}
}

// nodeWeight and nodeUtilisation show "-" for a figure the node did not
// report (an external node has neither).
func nodeWeight(n Node) string {
	if n.Weight == 0 {
		return "-"
	}
	return fmt.Sprintf("%g", n.Weight)
}

func nodeUtilisation(n Node) string {
	if n.Utilisation == 0 {
		return "-"
	}
	return formatShare(n.Utilisation)
}

func (t *textWriter) faults(res *Result) {
	if len(res.Faults) == 0 {
		return
	}
	var rows [][]string
	for _, f := range res.Faults {
		rows = append(rows, faultRow(res, f))
	}
	t.blank()
	t.table([]string{"fault", "node", "at", "for", "detected after", "recovered after"}, "llrrrr", rows)
	for _, f := range res.Faults {
		if f.Error != "" {
			t.linef("fault %s %s at %s was not applied: %s", f.Kind, f.Target(), formatSeconds(f.PlannedAtS), f.Error)
		}
	}
	for _, note := range siteFaultNotes(res) {
		t.linef("%s", note)
	}
}

// projection shows the long-run availability projected from each node's
// MTBF and MTTR, each pool's redundancy, each route and the service.
func (t *textWriter) projection(p *Projection) {
	if p == nil {
		return
	}
	t.blank()
	t.table(projectionHeader, "lrrrr", projectionRows(p))
	for _, note := range projectionNotes(p) {
		t.linef("%s", note)
	}
}

var projectionHeader = []string{"projection", "mtbf", "mttr", "availability", "downtime/year"}

// projectionRows are the projection's table: each node, each pool (a
// database's reads and writes apart), each route, the service.
func projectionRows(p *Projection) [][]string {
	var rows [][]string
	for _, n := range p.Nodes {
		rows = append(rows, []string{n.Name, fmt.Sprintf("%gh", n.MTBFH), formatSpan(n.MTTRS) + " (" + n.MTTRFrom + ")",
			formatFraction(n.Availability), formatSpan(n.DowntimePerYearS)})
	}
	for _, pl := range p.Pools {
		label := poolLabel(pl)
		if pl.Writes != nil {
			label += " reads"
		}
		rows = append(rows, projectionRow(label, fmt.Sprintf("%d of %d up", pl.Needs, pl.Nodes), pl.Projected))
		if pl.Writes != nil {
			rows = append(rows, projectionRow(poolLabel(pl)+" writes", "primary", *pl.Writes))
		}
	}
	for _, r := range p.Routes {
		rows = append(rows, projectionRow("route "+r.Pool, "", r.Projected))
	}
	return append(rows, projectionRow("service", "", p.Service))
}

// projectionNotes say how the projection is made, and what it left out.
func projectionNotes(p *Projection) []string {
	notes := []string{"availability = MTBF/(MTBF+MTTR) per node; a pool is up while k of its n nodes are (independent failures), a route while its pool and the tiers its calls reach are, the service while the proxy and every route are"}
	if len(p.WithoutMTTR) > 0 {
		notes = append(notes, "left out, with an mtbf but no time to repair (no mttr:, no fault in the run): "+strings.Join(p.WithoutMTTR, ", "))
	}
	if p.Approximate {
		notes = append(notes, "approximate: too many tiers are reached along several paths to weigh jointly; some are taken as independent")
	}
	return notes
}

func projectionRow(label, redundancy string, p Projected) []string {
	return []string{label, redundancy, "", formatFraction(p.Availability), formatSpan(p.DowntimePerYearS)}
}

// poolLabel names a pool of a projection with its kind.
func poolLabel(pl PoolProjection) string {
	if pl.Kind == PoolProxy {
		return "proxy"
	}
	return pl.Kind + " " + pl.Name
}

// singlePoints lists the SUT's single points of failure; nothing for an
// external target.
func (t *textWriter) singlePoints(spofs []SinglePoint) {
	if spofs == nil {
		return
	}
	t.blank()
	if len(spofs) == 0 {
		t.linef("single points of failure: none")
		return
	}
	var rows [][]string
	for _, sp := range spofs {
		rows = append(rows, []string{sp.Label(), sp.Why})
	}
	t.table([]string{fmt.Sprintf("single points of failure (%d)", len(spofs)), "why"}, "lw", rows)
}

// faultRow is a fault as the reports' fault tables show it: kind, node,
// at, for, detected after, recovered after.
func faultRow(res *Result, f Fault) []string {
	forS := "-"
	if f.ForS > 0 {
		forS = formatSeconds(f.ForS)
	}
	return []string{f.Kind, f.Target(), formatSeconds(f.AtS), forS,
		faultTime(f.DetectionTimeS, "never"), recoveryText(res, f)}
}

// faultTime shows a per-fault time; a negative one never happened.
func faultTime(s float64, never string) string {
	if s < 0 {
		return never
	}
	return formatSeconds(s)
}

// recoveryText is a fault's recovery time; for a fault that never made a
// window fall below window_ok (RecoveryTime's 0), what it did instead:
// "recovered after 0ms" would read as an instant recovery from a slow
// node that raised the p99 tenfold.
func recoveryText(res *Result, f Fault) string {
	if f.RecoveryTimeS != 0 || f.Error != "" {
		return faultTime(f.RecoveryTimeS, "did not")
	}
	text := "no window below window_ok"
	if p99 := worstP99(res.Windows, f); p99 > 0 {
		text += ", p99 up to " + FormatValue(p99, scenario.UnitDuration)
	}
	return text
}

// worstP99 is the highest p99 of the windows the fault was on in.
func worstP99(windows []Window, f Fault) float64 {
	worst := 0.0
	for _, w := range windows {
		if float64(w.T+1) > f.AtS && (f.EndS == 0 || float64(w.T) < f.EndS) {
			worst = max(worst, w.LatencyMS.P99)
		}
	}
	return worst
}

func (t *textWriter) requirements(res *Result) {
	if len(res.Requirements) == 0 {
		return
	}
	var rows [][]string
	for _, v := range res.Requirements {
		unit := scenario.Unit(v.Unit)
		text, observed, margin := v.Text, FormatValue(v.Observed, unit), FormatMargin(v.Margin, unit)
		if v.Note != "" {
			text += "\n(" + v.Note + ")"
		}
		if v.Why != "" {
			text += "\n(" + v.Why + ")"
		}
		if v.Unobserved() {
			observed, margin = "n/a", "-"
		}
		rows = append(rows, []string{statusWord(v), text, observed, FormatValue(v.Threshold, unit), margin})
	}
	t.blank()
	from := t.buf.Len()
	t.table([]string{"", "requirement", "observed", "threshold", "margin"}, "lwrrr", rows)
	// A row's status is its first cell, after the table's one blank of padding.
	t.paint(from, 1, true)
}

// statusWord is a requirement's status as the reports print it.
func statusWord(v Verdict) string {
	switch {
	case v.Pass:
		return "PASS"
	case v.Inconclusive():
		return "INCONCLUSIVE"
	}
	return "FAIL"
}

// apparatusSummary is the one-line account of the tool's own delays and
// the machine's load, "" when the result has none.
func apparatusSummary(res *Result) string {
	a := res.Apparatus
	if a == nil {
		return ""
	}
	if res.Mode == ModeSimulated {
		return fmt.Sprintf("none: simulated on a virtual clock, no hiccups, CPU or pressure to measure; own delay p99 %s (waits for a free in-flight slot only)",
			FormatValue(a.DelayMS.P99, scenario.UnitDuration))
	}
	ms := func(v float64) string { return FormatValue(v, scenario.UnitDuration) }
	var parts []string
	if a.HiccupMS.Count > 0 {
		parts = append(parts, fmt.Sprintf("hiccup p99 %s max %s", ms(a.HiccupMS.P99), ms(a.HiccupMS.Max)))
	}
	if h := a.SUTHiccupMS; h != nil && h.Count > 0 {
		parts = append(parts, fmt.Sprintf("SUT hiccup p99 %s", ms(h.P99)))
	}
	parts = append(parts, fmt.Sprintf("own delay p99 %s", ms(a.DelayMS.P99)))
	if a.Processors > 0 {
		parts = append(parts, fmt.Sprintf("CPU %s of %d cores", FormatValue(a.CPUShare, scenario.UnitPercent), a.Processors))
	}
	if a.InvoluntarySwitches > 0 {
		parts = append(parts, fmt.Sprintf("%d involuntary switches", a.InvoluntarySwitches))
	}
	if a.CPUPressure >= 0 {
		parts = append(parts, "CPU pressure "+FormatValue(a.CPUPressure, scenario.UnitPercent))
	}
	if a.Steal > 0 {
		parts = append(parts, "steal "+FormatValue(a.Steal, scenario.UnitPercent))
	}
	if n := len(a.Windows); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d windows disturbed (own delay over %s)", a.DisturbedWindows, n, ms(DisturbedAboveMS)))
	}
	return strings.Join(parts, ", ")
}

func (t *textWriter) verdict(res *Result) {
	t.blank()
	t.verdictLine(res)
}

func (t *textWriter) verdictLine(res *Result) {
	from := t.buf.Len()
	const prefix = "VERDICT: "
	t.linef("%s%s", prefix, verdictSummary(res))
	t.paint(from, len(prefix), false)
}

// statusColours are the ANSI colours of the verdict words on a terminal.
var statusColours = map[string]string{"PASS": "\x1b[32m", "FAIL": "\x1b[31m", "INCONCLUSIVE": "\x1b[33m"}

const colourReset = "\x1b[0m"

// paint colours a verdict word that starts at byte at of the lines written
// since from: of the first line alone, or of every line. Painting after
// the layout keeps the widths and wrapping of the plain text.
func (t *textWriter) paint(from, at int, everyLine bool) {
	if !t.colour {
		return
	}
	lines := strings.SplitAfter(string(t.buf.Bytes()[from:]), "\n")
	t.buf.Truncate(from)
	for i, line := range lines {
		if i == 0 || everyLine {
			line = paintStatus(line, at)
		}
		t.buf.WriteString(line)
	}
}

func paintStatus(line string, at int) string {
	if len(line) <= at {
		return line
	}
	word := strings.TrimRight(strings.SplitN(line[at:], " ", 2)[0], "\n")
	colour, ok := statusColours[word]
	if !ok {
		return line
	}
	return line[:at] + colour + word + colourReset + line[at+len(word):]
}

// verdictSummary is the one-line outcome shared by the renderers, e.g.
// "FAIL - 1 of 4 requirements failed".
func verdictSummary(res *Result) string {
	var failed, unsure int
	for _, v := range res.Requirements {
		switch {
		case v.Inconclusive():
			unsure++
		case !v.Pass:
			failed++
		}
	}
	n := len(res.Requirements)
	var s string
	switch {
	case n == 0:
		s = "no requirements declared"
	case failed > 0 && unsure > 0:
		s = fmt.Sprintf("%d of %d %s failed, %d inconclusive", failed, n, plural(n, "requirement", "requirements"), unsure)
	case failed > 0:
		s = fmt.Sprintf("%d of %d %s failed", failed, n, plural(n, "requirement", "requirements"))
	case unsure > 0:
		s = fmt.Sprintf("%d of %d %s inconclusive (the tool's own delay could have decided %s), none failed",
			unsure, n, plural(n, "requirement", "requirements"), plural(unsure, "it", "them"))
	default:
		s = fmt.Sprintf("all %d %s met", n, plural(n, "requirement", "requirements"))
	}
	verdict := strings.ToUpper(res.Verdict)
	if verdict == "" {
		verdict = "NOT EVALUATED"
	}
	s = verdict + " - " + s
	var caveats []string
	if res.Generator.Saturated {
		_, caveat, _ := res.Generator.SaturationTitle()
		caveats = append(caveats, caveat)
	}
	if res.Incomplete {
		caveats = append(caveats, "run incomplete")
	}
	if res.RunError != "" {
		caveats = append(caveats, "the run could not be carried out")
	}
	if d := res.Diff; d != nil && d.Verdict == VerdictFail {
		caveats = append(caveats, "worse than the baseline")
	} else if d != nil && d.Verdict == VerdictInconclusive {
		caveats = append(caveats, "the comparison with the baseline is inconclusive")
	}
	if a := res.Apparatus; a != nil && a.DisturbedWindows > 0 {
		caveats = append(caveats, fmt.Sprintf("the tool was delayed in %d of %d windows", a.DisturbedWindows, len(a.Windows)))
	}
	if len(caveats) > 0 {
		s += " (" + strings.Join(caveats, ", ") + ")"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// table renders one borderless table with a rule under the header. align
// holds one letter per column: l(eft), r(ight), or w for a left-aligned
// column whose text is word-wrapped so that the table fits textWidth.
// Trailing blanks are trimmed so that the output is stable in files and
// diffs.
func (t *textWriter) table(header []string, align string, rows [][]string) {
	if t.err != nil {
		return
	}
	aligns := make([]tw.Align, len(align))
	for i, a := range align {
		aligns[i] = tw.AlignLeft
		if a == 'r' {
			aligns[i] = tw.AlignRight
		}
		if a == 'w' {
			wrapColumn(header, rows, i)
		}
	}
	var buf bytes.Buffer
	table := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleASCII),
			Borders: tw.Border{Left: tw.Off, Right: tw.Off, Top: tw.Off, Bottom: tw.Off},
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.On},
			},
		})),
		// Headers keep their case: "p99 latency", not "P99 LATENCY".
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		// Wrapping is done here (wrapColumn), where it is predictable.
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	table.Header(header)
	if err := table.Bulk(rows); err != nil {
		t.err = err
		return
	}
	if err := table.Render(); err != nil {
		t.err = err
		return
	}
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		t.buf.WriteString(strings.TrimRight(line, " "))
		t.buf.WriteByte('\n')
	}
}

// wrapColumn word-wraps column col of rows so that the table, one blank of
// padding on each side of every column, fits textWidth. The column keeps
// at least 24 columns, however wide the others are.
func wrapColumn(header []string, rows [][]string, col int) {
	used := 0
	for c := range header {
		if c == col {
			continue
		}
		width := textCellWidth(header[c])
		for _, r := range rows {
			if c < len(r) {
				width = max(width, textCellWidth(r[c]))
			}
		}
		used += width + 2
	}
	room := max(textWidth-used-2, 24)
	for _, r := range rows {
		if col >= len(r) {
			continue
		}
		var lines []string
		for _, l := range strings.Split(r[col], "\n") {
			lines = append(lines, wrapWords(l, room, "")...)
		}
		r[col] = strings.Join(lines, "\n")
	}
}

// textCellWidth is the width of a cell's widest line.
func textCellWidth(s string) int {
	width := 0
	for _, l := range strings.Split(s, "\n") {
		width = max(width, utf8.RuneCountInString(l))
	}
	return width
}

// wrapWords breaks text at blanks into lines of at most width runes; the
// lines after the first start with indent. A word longer than a line is
// left whole rather than cut.
func wrapWords(text string, width int, indent string) []string {
	if utf8.RuneCountInString(text) <= width {
		return []string{text}
	}
	var lines []string
	line := ""
	for _, word := range strings.Split(text, " ") {
		candidate := line + " " + word
		if line == "" || strings.TrimSpace(line) == "" {
			candidate = line + word
		}
		if utf8.RuneCountInString(candidate) > width && strings.TrimSpace(line) != "" {
			lines = append(lines, line)
			candidate = indent + word
		}
		line = candidate
	}
	return append(lines, line)
}
