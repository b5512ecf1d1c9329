package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// junitShape is the common JUnit XML schema (the Jenkins / Ant
// junit-10.xsd that CI systems accept), as allowed children per element.
var junitShape = map[string][]string{
	"":           {"testsuites"},
	"testsuites": {"testsuite"},
	"testsuite":  {"properties", "testcase", "system-out", "system-err"},
	"properties": {"property"},
	"property":   {},
	"testcase":   {"skipped", "error", "failure", "system-out", "system-err"},
	"failure":    {},
	"error":      {},
	"skipped":    {},
	"system-out": {},
	"system-err": {},
}

// junitRequired are the attributes each element must carry.
var junitRequired = map[string][]string{
	"testsuite": {"name", "tests", "failures", "errors", "time"},
	"testcase":  {"name", "classname"},
	"failure":   {"message", "type"},
	"property":  {"name", "value"},
}

// checkJUnitShape validates doc against junitShape and junitRequired and
// checks that every count attribute matches what the suite holds. It
// returns the failure messages by test case name.
func checkJUnitShape(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	failures, problems := junitShapeProblems(doc)
	for _, p := range problems {
		t.Error(p)
	}
	return failures
}

func junitShapeProblems(doc []byte) (failures map[string]string, problems []string) {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		name     string
		attrs    map[string]string
		cases    int
		failures int
	}
	stack := []*frame{{name: ""}}
	failures = map[string]string{}
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var currentCase string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			errorf("malformed XML: %v", err)
			return failures, problems
		}
		switch el := tok.(type) {
		case xml.StartElement:
			parent := stack[len(stack)-1]
			allowed := false
			for _, c := range junitShape[parent.name] {
				allowed = allowed || c == el.Name.Local
			}
			if !allowed {
				errorf("<%s> inside <%s> is not in the JUnit schema", el.Name.Local, parent.name)
				return failures, problems
			}
			f := &frame{name: el.Name.Local, attrs: map[string]string{}}
			for _, a := range el.Attr {
				f.attrs[a.Name.Local] = a.Value
			}
			for _, req := range junitRequired[f.name] {
				if _, ok := f.attrs[req]; !ok {
					errorf("<%s> lacks attribute %s", f.name, req)
				}
			}
			for _, num := range []string{"tests", "failures", "errors", "skipped", "time"} {
				if v, ok := f.attrs[num]; ok {
					if _, err := strconv.ParseFloat(v, 64); err != nil {
						errorf("<%s %s=%q> is not a number", f.name, num, v)
					}
				}
			}
			switch f.name {
			case "testcase":
				currentCase = f.attrs["name"]
				parent.cases++
			case "failure":
				failures[currentCase] = f.attrs["message"]
				stack[len(stack)-2].failures++ // the suite of this test case
			}
			stack = append(stack, f)
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.name == "testsuite" {
				if got := f.attrs["tests"]; got != strconv.Itoa(f.cases) {
					errorf("testsuite tests=%s, holds %d test cases", got, f.cases)
				}
				if got := f.attrs["failures"]; got != strconv.Itoa(f.failures) {
					errorf("testsuite failures=%s, holds %d failures", got, f.failures)
				}
			}
		}
	}
	return failures, problems
}

func TestWriteJUnit(t *testing.T) {
	cases := []struct {
		name string
		res  *Result
		// failures maps each failed requirement to its failure message.
		failures map[string]string
		tests    int
	}{
		{"one failure", fixtureResult(), map[string]string{
			"p99(latency) < 40ms for shoppers": "observed 61.3ms, threshold 40.0ms, margin -21.3ms; breached in 3 of 3 windows, 0s–3s",
		}, 6},
		{"unobserved and count requirements", saturatedResult(), map[string]string{
			"p99(latency) < 100ms for checkout": "not observed (no workload checkout in the result), threshold 100ms",
			"dropped == 0":                      "observed 30, threshold 0, margin -30; breached in 1 of 3 windows, 1s–2s",
		}, 3},
		{"all met", func() *Result {
			r := fixtureResult()
			r.Requirements = r.Requirements[:2]
			r.Verdict = VerdictPass
			return r
		}(), map[string]string{}, 2},
		{"no requirements", &Result{SchemaVersion: SchemaVersion, Verdict: VerdictPass}, map[string]string{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJUnit(&buf, tc.res); err != nil {
				t.Fatal(err)
			}
			doc := buf.Bytes()
			if !bytes.HasPrefix(doc, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
				t.Errorf("no XML declaration: %.60s", doc)
			}
			got := checkJUnitShape(t, doc)
			if len(got) != len(tc.failures) {
				t.Errorf("%d failures %v, want %d", len(got), got, len(tc.failures))
			}
			for name, msg := range tc.failures {
				if got[name] != msg {
					t.Errorf("failure of %q: message %q, want %q", name, got[name], msg)
				}
			}
			if n := strings.Count(buf.String(), "<testcase "); n != tc.tests {
				t.Errorf("%d test cases, want %d", n, tc.tests)
			}
		})
	}
}

// Requirement texts hold <, > and &: they must come out escaped, and the
// document must still parse.
func TestWriteJUnitEscapes(t *testing.T) {
	res := fixtureResult()
	res.Scenario = `a & b <"c"> d.e`
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, res); err != nil {
		t.Fatal(err)
	}
	checkJUnitShape(t, buf.Bytes())
	for _, want := range []string{`name="p99(latency) &lt; 150ms for browse"`, `classname="ilities.a &amp; b &lt;&#34;c&#34;&gt; d_e"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %s", want)
		}
	}
}

// The validator itself rejects what the schema does not allow.
func TestCheckJUnitShapeRejects(t *testing.T) {
	for _, doc := range []string{
		`<testsuite name="x" tests="1" failures="0" errors="0" time="1"><testcase name="a" classname="b"/></testsuite>`, // no <testsuites>
		`<testsuites><testsuite name="x" tests="1" failures="0" errors="0" time="1"><failure message="m" type="t"/></testsuite></testsuites>`,
	} {
		if _, problems := junitShapeProblems([]byte(doc)); len(problems) == 0 {
			t.Errorf("accepted %s", doc)
		}
	}
}

// A scoped requirement's class names its scope, and its output the scope's
// figures and first failures.
func TestWriteJUnitScopes(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, fixtureResult()); err != nil {
		t.Fatal(err)
	}
	checkJUnitShape(t, buf.Bytes())
	for _, want := range []string{
		`<testcase name="throughput &gt;= 700/s" classname="ilities.checkout under backend failure" time="0">`,
		`<testcase name="p99(latency) &lt; 150ms for browse" classname="ilities.checkout under backend failure.browse" time="0">`,
		`<testcase name="p95(latency) &lt; 40ms for &#34;search&#34;" classname="ilities.checkout under backend failure.browse.search" time="0">`,
		"observed 31.7ms, threshold 40.0ms, margin +8.30ms\n\"search\": 7000 scheduled = 6950 succeeded + 45 failed + 5 dropped; throughput 115.8/s; p99 latency 64.8ms; error rate 0.64%",
		"shoppers: 6000 scheduled = 5940 succeeded",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("missing %s in\n%s", want, buf.String())
		}
	}
}
