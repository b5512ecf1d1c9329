package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// WriteMarkdown writes a short summary for a CI page (a GitHub step
// summary, a merge request comment): the verdict, the requirements, the key
// figures and the nodes, as GitHub-flavoured Markdown tables.
func WriteMarkdown(w io.Writer, res *Result) error {
	var b bytes.Buffer
	md := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	name := res.Scenario
	if name == "" {
		name = "(unnamed scenario)"
	}
	md("### %s %s", markdownVerdictMark(res.Verdict), markdownEscape(name))
	md("")
	md("**VERDICT: %s**", verdictSummary(res))
	md("")
	if res.Verdict != VerdictPass && res.VerdictReason != "" {
		md("%s", markdownEscape(res.VerdictReason))
		md("")
	}
	for _, e := range res.Explanations {
		md("**Why %s**", markdownEscape(e.Headline()))
		md("")
		for _, d := range e.Details() {
			md("%s", markdownEscape(d))
			md("")
		}
		for i, c := range e.Causes {
			md("%d. %s", i+1, markdownEscape(c.Line()))
		}
		if len(e.Causes) > 0 {
			md("")
		}
	}
	if res.Generator.Saturated {
		reason := res.Generator.Reason
		if reason == "" {
			reason = "the generator could not keep to the schedule"
		}
		md("> [!WARNING]")
		banner, _, _ := res.Generator.SaturationTitle()
		md("> **%s**: %s (%d arrivals dropped) - results understate the load.", banner, markdownEscape(reason), res.Totals.Dropped)
		md("")
	}
	if m := accountingMismatch(res.Totals); m != "" {
		md("> [!CAUTION]")
		md("> **%s**", m)
		md("")
	}
	if res.Incomplete {
		md("> [!WARNING]")
		md("> **INCOMPLETE**: measured %s of %s.", formatSeconds(res.MeasuredS), formatSeconds(res.DurationS))
		md("")
	}
	var about []string
	if res.Mode != "" {
		about = append(about, res.Mode)
	}
	if res.Target != "" {
		about = append(about, "target `"+res.Target+"`")
	}
	if res.Strategy != "" {
		about = append(about, "strategy `"+res.Strategy+"`")
	}
	about = append(about, fmt.Sprintf("seed %d", res.Seed), "measured "+formatSeconds(res.MeasuredS))
	md("%s", strings.Join(about, " · "))
	md("")

	if len(res.Requirements) > 0 {
		md("| | requirement | observed | threshold | margin |")
		md("| --- | --- | ---: | ---: | ---: |")
		for _, v := range res.Requirements {
			unit := scenario.Unit(v.Unit)
			observed, margin := FormatValue(v.Observed, unit), FormatMargin(v.Margin, unit)
			text := "`" + markdownCell(strings.ReplaceAll(v.Text, "`", "'")) + "`"
			if v.Unobserved() {
				observed, margin = "n/a", "-"
			}
			if v.Note != "" {
				text += " (" + markdownCell(markdownEscape(v.Note)) + ")"
			}
			if v.Why != "" {
				text += " (" + markdownCell(markdownEscape(v.Why)) + ")"
			}
			md("| %s | %s | %s | %s | %s |", markdownStatus(v), text, observed,
				FormatValue(v.Threshold, unit), margin)
		}
		md("")
	}

	s := &res.Stats
	md("| figure | value |")
	md("| --- | --- |")
	md("| requests | %s |", accountingText(s.Totals))
	md("| throughput | %s (request rate %s, target %s) |", FormatValue(s.ThroughputRPS, scenario.UnitRate),
		FormatValue(s.RequestRateRPS, scenario.UnitRate), FormatValue(s.TargetRPS, scenario.UnitRate))
	md("| error rate | %s |", FormatValue(s.ErrorRate, scenario.UnitPercent))
	md("| availability | %s of requests, %s of time |", FormatValue(s.Availability.Requests, scenario.UnitPercent),
		FormatValue(s.Availability.Time, scenario.UnitPercent))
	if l := s.LatencyMS; l.Count > 0 {
		md("| latency | p50 %s · p99 %s · "+scenario.AggregationLabel("p999")+" %s · max %s |", FormatValue(l.P50, scenario.UnitDuration),
			FormatValue(l.P99, scenario.UnitDuration), FormatValue(l.P999, scenario.UnitDuration),
			FormatValue(l.Max, scenario.UnitDuration))
	} else {
		md("| latency | no request completed |")
	}
	if classes := ErrorClassesByCount(s.Errors); len(classes) > 0 {
		parts := make([]string, len(classes))
		for i, c := range classes {
			parts[i] = fmt.Sprintf("%s %d", markdownCell(markdownEscape(c.Class)), c.Count)
		}
		md("| errors | %s |", strings.Join(parts, " · "))
		var first []string
		for _, c := range classes {
			if sample := firstSample(s.ErrorSamples[c.Class]); sample != "" {
				first = append(first, markdownCell(markdownEscape(c.Class+" "+sample)))
			}
		}
		if len(first) > 0 {
			md("| first failures | %s |", strings.Join(first, "<br>"))
		}
	}
	if codes := statusCodesText(s.StatusCodes, " · "); codes != "" {
		md("| status codes | %s |", codes)
	}
	md("")
	markdownRequests(md, res)

	if len(res.Nodes) > 0 {
		md("| node | requests | share | weight | utilisation |")
		md("| --- | ---: | ---: | ---: | ---: |")
		for _, n := range res.Nodes {
			md("| %s | %d | %s | %s | %s |", markdownCell(markdownEscape(n.Name)), n.Requests, formatShare(n.Share), nodeWeight(n), nodeUtilisation(n))
		}
		if res.Fairness > 0 {
			md("")
			md("Fairness (Jain's index of share / weight): %.3f", res.Fairness)
		}
		md("")
	}
	markdownTiers(md, res)
	markdownSites(md, res)
	if len(res.Faults) > 0 {
		md("| fault | node | at | for | detected after | recovered after |")
		md("| --- | --- | ---: | ---: | ---: | ---: |")
		for _, f := range res.Faults {
			row := faultRow(res, f)
			md("| %s | %s | %s | %s | %s | %s |", markdownCell(markdownEscape(row[0])), markdownCell(markdownEscape(row[1])),
				row[2], row[3], row[4], markdownEscape(row[5]))
		}
		md("")
		for _, note := range siteFaultNotes(res) {
			md("%s.", markdownEscape(upperFirst(note)))
			md("")
		}
	}
	markdownSinglePoints(md, res)
	if lag := res.Generator.SendLagMS; lag.Count > 0 {
		md("Generator: send lag p99 %s, %d arrivals late, %d dropped.",
			FormatValue(lag.P99, scenario.UnitDuration), res.Totals.Late, res.Totals.Dropped)
		md("")
	}
	if a := apparatusSummary(res); a != "" {
		md("Apparatus: %s.", markdownEscape(a))
		md("")
	}
	if res.Diff != nil {
		writeDiffMarkdown(&b, res.Diff)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// markdownSinglePoints lists the SUT's single points of failure and the
// projected availability of the whole; nothing for an external target.
func markdownSinglePoints(md func(string, ...any), res *Result) {
	if p := res.Projection; p != nil {
		md("Projected availability: %s (downtime %s a year).", formatFraction(p.Service.Availability), formatSpan(p.Service.DowntimePerYearS))
		md("")
	}
	switch spofs := res.SinglePointsOfFailure; {
	case spofs == nil:
	case len(spofs) == 0:
		md("Single points of failure: none.")
		md("")
	default:
		md("| single point of failure | why |")
		md("| --- | --- |")
		for _, sp := range spofs {
			md("| %s | %s |", markdownCell(markdownEscape(sp.Label())), markdownCell(markdownEscape(sp.Why)))
		}
		md("")
	}
}

func markdownVerdictMark(verdict string) string {
	switch verdict {
	case VerdictPass:
		return "✅"
	case VerdictFail:
		return "❌"
	}
	return "❔"
}

func markdownStatus(v Verdict) string {
	switch {
	case v.Pass:
		return "✅ pass"
	case v.Inconclusive():
		return "❔ inconclusive"
	}
	return "❌ fail"
}

// markdownCell keeps a value inside its table cell: a pipe would end the
// cell (GitHub honours \| even inside code spans) and a newline the row.
func markdownCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// markdownEscape keeps free text from turning into markup; in a table cell
// wrap it in markdownCell as well.
func markdownEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}
