package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// The JUnit XML shape CI systems read (Jenkins, GitLab, GitHub actions,
// Azure): <testsuites> holding one <testsuite> per run, one <testcase>
// per requirement, a <failure> in each failed one.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  *junitText      `xml:"system-out"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
	Skipped   *junitSkipped `xml:"skipped"`
	SystemOut *junitText    `xml:"system-out"`
}

// junitSkipped marks an inconclusive requirement: neither met nor missed
// for certain, which CI systems show apart from passes and failures.
type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// junitText is text kept as CDATA, so that it reads as written.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// WriteJUnit writes the requirement verdicts as JUnit XML (junit.xml): one
// test case per requirement, named by its text, its class the scenario and
// its scope (workload, then request name: a CI page groups them so), with
// the scope's figures and first failures as its output, and a failure for each
// requirement missed for certain, a skip for each inconclusive one (the
// tool's own delay could have decided it), whose message gives the observed value, the
// threshold and the margin. The suite carries the run's seed, target,
// strategy and verdict as properties, and the text report as system-out.
func WriteJUnit(w io.Writer, res *Result) error {
	name := res.Scenario
	if name == "" {
		name = "(unnamed scenario)"
	}
	seconds := strconv.FormatFloat(res.MeasuredS, 'f', 3, 64)
	suite := junitSuite{
		Name: name,
		Time: seconds,
		Properties: []junitProperty{
			{"verdict", res.Verdict},
			{"verdict_reason", res.VerdictReason},
			{"seed", strconv.FormatInt(res.Seed, 10)},
			{"target", res.Target},
			{"strategy", res.Strategy},
			{"tool", res.Tool},
			{"generator_saturated", strconv.FormatBool(res.Generator.Saturated)},
			{"incomplete", strconv.FormatBool(res.Incomplete)},
		},
	}
	if !res.Started.IsZero() {
		suite.Timestamp = res.Started.UTC().Format("2006-01-02T15:04:05")
	}
	classname := "ilities." + junitClassPart(name)
	for _, v := range res.Requirements {
		// A requirement takes no time of its own: the run's time is the suite's.
		scope, figures := junitScope(res, v)
		tc := junitCase{Name: v.Text, Classname: classname + scope, Time: "0", SystemOut: &junitText{strings.Join(append([]string{requirementLine(v)}, figures...), "\n")}}
		switch {
		case v.Inconclusive():
			tc.Skipped = &junitSkipped{Message: "inconclusive: " + requirementLine(v) + ": " + v.Why + explanationSummary(res, v)}
			tc.SystemOut.Text += explanationText(res, v)
			suite.Skipped++
		case !v.Pass:
			tc.Failure = &junitFailure{Type: "RequirementFailed", Message: requirementLine(v) + explanationSummary(res, v), Text: requirementDetail(res, v)}
			suite.Failures++
		}
		suite.Cases = append(suite.Cases, tc)
	}
	if res.Diff != nil {
		suite.addDiff(res.Diff, classname)
	}
	suite.Tests = len(suite.Cases)
	var text strings.Builder
	if err := WriteText(&text, res); err != nil {
		return err
	}
	suite.SystemOut = &junitText{text.String()}
	doc := junitSuites{
		Name: "ilities", Tests: suite.Tests, Failures: suite.Failures, Time: seconds,
		Suites: []junitSuite{suite},
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// requirementLine is one requirement's outcome in a line, e.g.
// "observed 61.3ms, threshold 40.0ms, margin -21.3ms".
func requirementLine(v Verdict) string {
	unit := scenario.Unit(v.Unit)
	if v.Unobserved() {
		return fmt.Sprintf("not observed (%s), threshold %s", v.Note, FormatValue(v.Threshold, unit))
	}
	s := fmt.Sprintf("observed %s, threshold %s, margin %s", FormatValue(v.Observed, unit),
		FormatValue(v.Threshold, unit), FormatMargin(v.Margin, unit))
	if v.Note != "" {
		s += " (" + v.Note + ")"
	}
	return s
}

// requirementDetail is the body of a failure: the requirement, the outcome,
// and what may make the figures unreliable.
func requirementDetail(res *Result, v Verdict) string {
	lines := []string{"requirement: " + v.Text, requirementLine(v), "verdict: " + verdictSummary(res)}
	if res.Generator.Saturated {
		banner, _, _ := res.Generator.SaturationTitle()
		lines = append(lines, banner+": results understate the load")
	}
	return strings.Join(lines, "\n") + explanationText(res, v)
}

// explanationSummary is the explanation of v in a sentence, for a
// message: "; breached in 15 of 20 windows, 5s–20s; with fault slow app-3".
func explanationSummary(res *Result, v Verdict) string {
	if e, ok := explanationOf(res, v); ok && e.Summary() != "" {
		return "; " + e.Summary()
	}
	return ""
}

// explanationText is the explanation of v in full, one line each, after a
// blank line.
func explanationText(res *Result, v Verdict) string {
	e, ok := explanationOf(res, v)
	if !ok {
		return ""
	}
	lines := append([]string{"", "why: " + e.Headline()}, e.Details()...)
	for i, c := range e.Causes {
		lines = append(lines, fmt.Sprintf("%d. %s", i+1, c.Line()))
	}
	return strings.Join(lines, "\n")
}

// junitClassPart makes a scenario name usable as a dotted class name part:
// CI systems split classnames at dots into packages.
func junitClassPart(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' {
			return '_'
		}
		return r
	}, name)
}
