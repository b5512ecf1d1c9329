package report

import (
	"fmt"
	"slices"
	"strings"
)

// The site table of the terminal and Markdown reports: one row per site,
// then a line for the DNS balancer; and, below the fault table, a line per
// site-down fault with what its failover cost.

var siteHeader = []string{"site", "requests", "share", "availability", "utilisation", "by region"}

func siteRow(s Site) []string {
	regions := slices.Sorted(func(yield func(string) bool) {
		for r := range s.Regions {
			if !yield(r) {
				return
			}
		}
	})
	parts := make([]string, len(regions))
	for i, r := range regions {
		parts[i] = fmt.Sprintf("%s %d", r, s.Regions[r])
	}
	return []string{s.Name, formatCount(s.Requests), formatShare(s.Share), formatFraction(s.Availability),
		formatShare(s.Utilisation), strings.Join(parts, ", ")}
}

// dnsLine says how the DNS balancer answered.
func dnsLine(d *DNS) string {
	return fmt.Sprintf("DNS: %s, TTL %s, %d clients, each site checked every %s: %d resolutions",
		d.Policy, formatSeconds(d.TTLS), d.Clients, formatSeconds(d.CheckIntervalS), d.Resolutions)
}

// siteFaultNotes say, for each site-down fault, what its failover cost:
// its detection by the DNS, the failover time beside detection + TTL, and
// the requests lost.
func siteFaultNotes(res *Result) []string {
	var out []string
	for _, f := range res.Faults {
		if f.RequestsLost == nil {
			continue
		}
		line := fmt.Sprintf("%s %s at %s: %d requests lost", f.Kind, f.Target(), formatSeconds(f.AtS), *f.RequestsLost)
		if fo := f.FailoverTimeS; fo != nil {
			switch {
			case *fo < 0:
				line += "; not failed over before the fault ended (clients still held the site's answer)"
			case res.DNS != nil && f.DetectionTimeS >= 0:
				line += fmt.Sprintf("; failed over after %s (DNS detection %s + TTL %s = %s)", formatSeconds(*fo),
					formatSeconds(f.DetectionTimeS), formatSeconds(res.DNS.TTLS), formatSeconds(f.DetectionTimeS+res.DNS.TTLS))
			default:
				line += fmt.Sprintf("; failed over after %s", formatSeconds(*fo))
			}
		}
		out = append(out, line)
	}
	return out
}

func (t *textWriter) sites(res *Result) {
	if len(res.Sites) == 0 {
		return
	}
	rows := make([][]string, len(res.Sites))
	for i, s := range res.Sites {
		rows[i] = siteRow(s)
	}
	t.blank()
	t.table(siteHeader, "lrrrrl", rows)
	if res.DNS != nil {
		t.linef("%s", dnsLine(res.DNS))
	}
}

func markdownSites(md func(string, ...any), res *Result) {
	if len(res.Sites) == 0 {
		return
	}
	md("| site | requests | share | availability | utilisation | by region |")
	md("| --- | ---: | ---: | ---: | ---: | --- |")
	for _, s := range res.Sites {
		row := siteRow(s)
		md("| %s | %s | %s | %s | %s | %s |", markdownCell(markdownEscape(row[0])), row[1], row[2], row[3], row[4], markdownCell(markdownEscape(row[5])))
	}
	md("")
	if res.DNS != nil {
		md("%s.", markdownEscape(dnsLine(res.DNS)))
		md("")
	}
}

// upperFirst capitalises a line's first letter, for a sentence.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
