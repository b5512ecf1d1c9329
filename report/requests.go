package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ilities/ilities/scenario"
)

// ErrorSample is one failure as it was seen: when, in seconds from the
// start of the run, and what it said (the error, or the status that failed
// the request), cut at ErrorSampleMaxLen bytes.
type ErrorSample struct {
	AtS     float64 `json:"at_s"`
	Message string  `json:"message"`
}

// A scope keeps the first ErrorSamplesFirst failures of each class, which
// show how it began, and the last one, which shows whether it changed.
const (
	ErrorSamplesFirst = 3
	ErrorSampleMaxLen = 200
)

// SampleMessage is a failure's text as a sample keeps it: one line, at
// most ErrorSampleMaxLen bytes, cut on a character boundary.
func SampleMessage(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if len(text) <= ErrorSampleMaxLen {
		return text
	}
	cut := ErrorSampleMaxLen - len("…")
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}

// keepSamples bounds samples of one class, in time order, to the first
// ErrorSamplesFirst and the last.
func keepSamples(samples []ErrorSample) []ErrorSample {
	slices.SortStableFunc(samples, func(a, b ErrorSample) int { return cmp.Compare(a.AtS, b.AtS) })
	if len(samples) <= ErrorSamplesFirst+1 {
		return samples
	}
	return append(samples[:ErrorSamplesFirst:ErrorSamplesFirst], samples[len(samples)-1])
}

// mergeErrorSamples adds src's samples to dst's, each class bounded as a
// run's own.
func mergeErrorSamples(dst, src map[string][]ErrorSample) map[string][]ErrorSample {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[string][]ErrorSample{}
	}
	for class, samples := range src {
		dst[class] = keepSamples(append(slices.Clone(dst[class]), samples...))
	}
	return dst
}

// Add adds o's counts to t's: the totals of two scopes, or parts, together.
func (t *Totals) Add(o Totals) {
	t.Scheduled += o.Scheduled
	t.Succeeded += o.Succeeded
	t.Failed += o.Failed
	t.Dropped += o.Dropped
	t.CutAtEnd += o.CutAtEnd
	t.Exhausted += o.Exhausted
	t.Late += o.Late
	t.Held += o.Held
}

// Request returns the figures of the request named name, nil when the
// result has none. Names are unique within a workload and a requirement
// names a request only when a single workload sends it.
func (r *Result) Request(name string) *RequestResult {
	for i := range r.Requests {
		if r.Requests[i].Name == name {
			return &r.Requests[i]
		}
	}
	return nil
}

// scope is a requirement's scope in a result: its figures and, for a
// workload or a request, its arrivals and successes per second.
type scope struct {
	stats  *Stats
	counts []WindowCount
}

// scopeOf finds the requirement's scope: the whole run, a workload, or a
// request (quoted after "for"); ok is false when the result has no such.
func scopeOf(res *Result, req scenario.Requirement) (sc scope, ok bool) {
	switch {
	case req.Scope == "":
		return scope{stats: &res.Stats}, true
	case req.RequestScope:
		if r := res.Request(req.Scope); r != nil {
			return scope{stats: &r.Stats, counts: r.WindowCounts}, true
		}
	default:
		for i := range res.Workloads {
			if w := &res.Workloads[i]; w.Name == req.Scope {
				return scope{stats: &w.Stats, counts: w.WindowCounts}, true
			}
		}
	}
	return scope{}, false
}

// scopeText is the scope as a requirement writes it: for browse, for
// "POST /cart".
func scopeText(req scenario.Requirement) string {
	if req.RequestScope {
		return "for " + strconv.Quote(req.Scope)
	}
	return "for " + req.Scope
}

// mergeRequests combines the parts' per-request figures, matched by
// workload and name (every part of a run sends the same requests).
func mergeRequests(parts []*Result, figuresS, windowOK float64) ([]RequestResult, error) {
	var out []RequestResult
	for i, r := range parts[0].Requests {
		stats := make([]*Stats, 0, len(parts))
		counts := make([][]WindowCount, 0, len(parts))
		for _, p := range parts {
			if i >= len(p.Requests) || p.Requests[i].Name != r.Name || p.Requests[i].Workload != r.Workload {
				return nil, fmt.Errorf("part %s and part %s send different requests", p.Segment, parts[0].Segment)
			}
			stats = append(stats, &p.Requests[i].Stats)
			counts = append(counts, p.Requests[i].WindowCounts)
		}
		merged, windows, err := mergeScope(stats, counts, figuresS, windowOK)
		if err != nil {
			return nil, fmt.Errorf("request %s: %w", r.Name, err)
		}
		out = append(out, RequestResult{Name: r.Name, Workload: r.Workload, Stats: merged, WindowCounts: windows})
	}
	return out, nil
}

// mergeScope merges the parts of a workload or a request: their figures,
// their per-second counts, and availability by time from those.
func mergeScope(stats []*Stats, counts [][]WindowCount, figuresS, windowOK float64) (Stats, []WindowCount, error) {
	merged, err := mergeStats(stats, figuresS)
	if err != nil {
		return merged, nil, err
	}
	windows := sumCounts(counts)
	merged.Availability.Time = availabilityOfCounts(windows, windowOK)
	return merged, windows, nil
}

// availabilityOfCounts is availability by time over one scope's
// [offered, succeeded] per second.
func availabilityOfCounts(counts []WindowCount, windowOK float64) float64 {
	ws := make([]Window, len(counts))
	for t, c := range counts {
		ws[t] = Window{T: t, Scheduled: c[0], Succeeded: c[1]}
	}
	return AvailabilityByTime(ws, windowOK)
}

// requestsShown reports whether the reports list the requests: only when
// some workload sends more than one, since a workload's single request has
// the workload's own figures.
func requestsShown(res *Result) bool { return len(res.Requests) > len(res.Workloads) }

// statusCodesText lists the responses by status code, "200: 47790  503: 60",
// the codes in order, joined by sep.
func statusCodesText(codes map[int]int64, sep string) string {
	keys := make([]int, 0, len(codes))
	for code, n := range codes {
		if n > 0 {
			keys = append(keys, code)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, code := range keys {
		parts[i] = fmt.Sprintf("%d: %d", code, codes[code])
	}
	return strings.Join(parts, sep)
}

// firstSample is a class's first failure as the reports show it, "at
// 20.0s: dial tcp …: connection refused"; "" when none was kept.
func firstSample(samples []ErrorSample) string {
	if len(samples) == 0 {
		return ""
	}
	return "at " + formatSeconds(samples[0].AtS) + ": " + samples[0].Message
}

// requests is the table of request names, when the workloads send several.
func (t *textWriter) requests(res *Result) {
	if !requestsShown(res) {
		return
	}
	header, align := []string{"request", "workload"}, "wl"
	if len(res.Workloads) < 2 {
		header, align = header[:1], "w"
	}
	header = append(header, "scheduled", "throughput", "p50 latency", "p99 latency", "error rate")
	var rows [][]string
	for _, r := range res.Requests {
		row := []string{r.Name, r.Workload}[:len(align)]
		row = append(row, formatCount(r.Totals.Scheduled), FormatValue(r.ThroughputRPS, scenario.UnitRate),
			latencyCell(r.LatencyMS, r.LatencyMS.P50), latencyCell(r.LatencyMS, r.LatencyMS.P99),
			FormatValue(r.ErrorRate, scenario.UnitPercent))
		rows = append(rows, row)
	}
	t.blank()
	t.table(header, align+"rrrrr", rows)
}

// latencyCell is v of p, or "-" when p has no sample.
func latencyCell(p Percentiles, v float64) string {
	if p.Count == 0 {
		return "-"
	}
	return FormatValue(v, scenario.UnitDuration)
}

// markdownRequests is the table of request names, when the workloads send
// several.
func markdownRequests(md func(string, ...any), res *Result) {
	if !requestsShown(res) {
		return
	}
	md("| request | workload | scheduled | throughput | p50 latency | p99 latency | error rate |")
	md("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range res.Requests {
		md("| `%s` | %s | %d | %s | %s | %s | %s |", markdownCell(strings.ReplaceAll(r.Name, "`", "'")), markdownCell(markdownEscape(r.Workload)),
			r.Totals.Scheduled, FormatValue(r.ThroughputRPS, scenario.UnitRate), latencyCell(r.LatencyMS, r.LatencyMS.P50),
			latencyCell(r.LatencyMS, r.LatencyMS.P99), FormatValue(r.ErrorRate, scenario.UnitPercent))
	}
	md("")
}

// junitScope is a scoped requirement's part of its JUnit class name,
// ".browse" or ".browse.POST /cart", and the scope's figures as lines;
// nothing for a requirement of the whole run.
func junitScope(res *Result, v Verdict) (class string, figures []string) {
	req, err := scenario.ParseRequirement(v.Text)
	if err != nil || req.Scope == "" {
		return "", nil
	}
	sc, ok := scopeOf(res, req)
	if !ok {
		return "", nil
	}
	class = "." + junitClassPart(req.Scope)
	if r := res.Request(req.Scope); req.RequestScope && r != nil {
		class = "." + junitClassPart(r.Workload) + class
	}
	s := sc.stats
	figures = append(figures, fmt.Sprintf("%s: %s; throughput %s; p99 latency %s; error rate %s",
		strings.TrimPrefix(scopeText(req), "for "), accountingText(s.Totals), FormatValue(s.ThroughputRPS, scenario.UnitRate),
		latencyCell(s.LatencyMS, s.LatencyMS.P99), FormatValue(s.ErrorRate, scenario.UnitPercent)))
	if codes := statusCodesText(s.StatusCodes, ", "); codes != "" {
		figures = append(figures, "status codes: "+codes)
	}
	for _, c := range ErrorClassesByCount(s.Errors) {
		if sample := firstSample(s.ErrorSamples[c.Class]); sample != "" {
			figures = append(figures, fmt.Sprintf("%s (%d), first %s", c.Class, c.Count, sample))
		}
	}
	return class, figures
}
