package report

import (
	"fmt"
	"strings"
)

// maxSpansShown is how many spans of a breach its words name.
const maxSpansShown = 4

// Headline is the explanation's first line: the requirement, its outcome
// and when it was breached, e.g. "p99(latency) < 60ms failed: breached in
// 15 of 20 windows, 5s–20s".
func (e Explanation) Headline() string {
	verb := "failed"
	if e.Status == VerdictInconclusive {
		verb = "was inconclusive"
	}
	if when := e.When(); when != "" {
		return e.Requirement + " " + verb + ": " + when
	}
	return e.Requirement + " " + verb
}

// When says which one-second windows breached the requirement.
func (e Explanation) When() string {
	switch {
	case e.Windows == 0:
		return ""
	case e.Breached == 0:
		return fmt.Sprintf("no window of %d breached it on its own", e.Windows)
	}
	spans := make([]string, 0, maxSpansShown+1)
	for i, s := range e.Spans {
		if i == maxSpansShown {
			spans = append(spans, fmt.Sprintf("and %d more", len(e.Spans)-i))
			break
		}
		spans = append(spans, fmt.Sprintf("%ds–%ds", s.FromS, s.ToS))
	}
	return fmt.Sprintf("breached in %d of %d windows, %s", e.Breached, e.Windows, strings.Join(spans, ", "))
}

// Details are the lines under the headline: the requirement's own figure
// per window, then what limits the explanation.
func (e Explanation) Details() []string {
	var lines []string
	if e.Series != "" {
		lines = append(lines, e.Series)
	}
	if e.Note != "" {
		lines = append(lines, e.Note)
	}
	return lines
}

// Line is the cause in a line: its kind, its figures and its score.
func (c Cause) Line() string {
	return fmt.Sprintf("%s: %s (score %.2f)", c.Kind, c.Figures, c.Score)
}

// Summary is the explanation in one sentence, for a message: when, and
// the subjects of its causes, e.g. "breached in 15 of 20 windows,
// 5s–20s; with fault slow app-3, utilisation app-3".
func (e Explanation) Summary() string {
	parts := []string{}
	if when := e.When(); when != "" {
		parts = append(parts, when)
	}
	if len(e.Causes) > 0 {
		names := make([]string, len(e.Causes))
		for i, c := range e.Causes {
			names[i] = c.Kind + " " + c.Subject
		}
		parts = append(parts, "with "+strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ")
}

// explanationOf is the explanation of the verdict v, if it has one.
func explanationOf(res *Result, v Verdict) (Explanation, bool) {
	for _, e := range res.Explanations {
		if e.Requirement == v.Text {
			return e, true
		}
	}
	return Explanation{}, false
}
