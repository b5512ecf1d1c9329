package report

import (
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
	slices.SortStableFunc(samples, func(a, b ErrorSample) int {
		switch {
		case a.AtS < b.AtS:
			return -1
		case a.AtS > b.AtS:
			return 1
		}
		return 0
	})
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

func mergeStatusCodes(dst, src map[int]int64) map[int]int64 {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[int]int64{}
	}
	for code, n := range src {
		dst[code] += n
	}
	return dst
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
		merged, err := mergeStats(stats, figuresS)
		if err != nil {
			return nil, fmt.Errorf("request %s: %w", r.Name, err)
		}
		m := RequestResult{Name: r.Name, Workload: r.Workload, Stats: merged, WindowCounts: sumCounts(counts)}
		m.Availability.Time = availabilityOfCounts(m.WindowCounts, windowOK)
		out = append(out, m)
	}
	return out, nil
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
