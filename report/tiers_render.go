package report

import (
	"fmt"
	"strconv"

	"github.com/ilities/ilities/scenario"
)

// The tier table of the terminal and Markdown reports: one row per tier,
// then a line per cache and database.

var tierHeader = []string{"tier", "kind", "served", "visits", "residence", "latency share", "utilisation", "failures"}

func tierRow(t Tier) []string {
	return []string{t.Name, t.Kind, formatCount(t.Served), strconv.FormatFloat(t.Visits, 'f', 2, 64),
		FormatValue(t.ResidenceMS, scenario.UnitDuration), FormatValue(t.LatencyShareMS, scenario.UnitDuration),
		formatShare(t.Utilisation), formatCount(t.Failures)}
}

// tierNotes are what a cache and a database did, a line each.
func tierNotes(tiers []Tier) []string {
	var out []string
	for _, t := range tiers {
		if c := t.Cache; c != nil {
			out = append(out, fmt.Sprintf("%s: %d hits, %d misses (hit ratio %s)", t.Name, c.Hits, c.Misses, formatShare(c.HitRatio)))
		}
		if d := t.Database; d != nil {
			line := fmt.Sprintf("%s: %d reads, %d writes (%d failed); primary %s", t.Name, d.Reads, d.Writes, d.WritesFailed, d.Primary)
			if d.Promotions > 0 {
				line += fmt.Sprintf(" after %d %s", d.Promotions, plural(int(d.Promotions), "promotion", "promotions"))
			}
			out = append(out, line)
		}
	}
	return out
}

// tierShares says what part of the mean latency the tiers' shares make.
func tierShares(res *Result) string {
	var sum float64
	for _, t := range res.Tiers {
		sum += t.LatencyShareMS
	}
	line := "latency share = visits × residence: the tiers' shares add up to " + FormatValue(sum, scenario.UnitDuration)
	if l := res.LatencyMS; l.Count > 0 {
		line += " of the mean latency " + FormatValue(l.Mean, scenario.UnitDuration) + " (the rest: network, proxy, waits for a connection)"
	}
	return line
}

func (t *textWriter) tiers(res *Result) {
	if len(res.Tiers) == 0 {
		return
	}
	rows := make([][]string, len(res.Tiers))
	for i, tier := range res.Tiers {
		rows[i] = tierRow(tier)
	}
	t.blank()
	t.table(tierHeader, "llrrrrrr", rows)
	t.linef("%s", tierShares(res))
	for _, note := range tierNotes(res.Tiers) {
		t.linef("%s", note)
	}
}

func markdownTiers(md func(string, ...any), res *Result) {
	if len(res.Tiers) == 0 {
		return
	}
	md("| tier | kind | served | visits | residence | latency share | utilisation | failures |")
	md("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, tier := range res.Tiers {
		row := tierRow(tier)
		row[0] = markdownCell(markdownEscape(row[0]))
		md("| %s | %s | %s | %s | %s | %s | %s | %s |", row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
	}
	md("")
	md("%s.", markdownEscape(tierShares(res)))
	for _, note := range tierNotes(res.Tiers) {
		md("")
		md("%s.", markdownEscape(note))
	}
	md("")
}
