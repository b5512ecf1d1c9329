package scenario

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

const requirementExample = `expected a requirement such as "p99(latency) < 150ms for browse"`

// operators in matching order: two-character ones first so "<=" is not read as "<".
var operators = []string{"<=", ">=", "==", "!=", "<", ">"}

// unitExamples say what a threshold of each unit looks like.
var unitExamples = map[Unit]string{
	UnitDuration: `a duration such as "150ms"`,
	UnitRate:     `a rate such as "700/s"`,
	UnitPercent:  `a percentage such as "99.9%"`,
	UnitCount:    `a count such as "0"`,
}

// ParseRequirement reads one requirement:
//
//	[agg(]metric[)] OP value [for WORKLOAD | for "REQUEST"]
//
// OP is one of < <= > >= == !=. Distribution metrics need an aggregation
// (p99(latency)); scalar metrics take none. The value's unit must match the
// metric's: durations for latency, rates for throughput, percentages for
// error_rate and availability, plain numbers for counts; or relative to a
// baseline run ("baseline * 1.10": parseRelative). Whether WORKLOAD names a
// workload, and REQUEST a request of one, is checked by Scenario.Validate.
func ParseRequirement(text string) (Requirement, error) {
	req := Requirement{Text: strings.TrimSpace(text)}
	left, op, right, ok := splitOperator(req.Text)
	if !ok && op == "=" {
		return req, fmt.Errorf(`%s: write "==" to compare for equality, not "="`, requirementExample)
	}
	if !ok {
		return req, fmt.Errorf("%s: no comparison operator (<, <=, >, >=, ==, !=) in %q", requirementExample, text)
	}
	req.Op = op
	if left == "" {
		return req, fmt.Errorf("%s: no metric before %q", requirementExample, op)
	}
	if right == "" {
		return req, fmt.Errorf("%s: no value after %q", requirementExample, op)
	}

	metric, err := parseMetric(left, &req)
	if err != nil {
		return req, err
	}

	value, scope, hasScope := cutScope(right)
	if hasScope {
		if req.Scope, req.RequestScope, err = parseScope(scope); err != nil {
			return req, err
		}
	}
	if value == "" {
		return req, fmt.Errorf("%s: no value after %q", requirementExample, op)
	}
	req.Unit = metric.Unit
	if rel, isRelative, err := parseRelative(value, metric.Unit); isRelative {
		req.Baseline = rel
		return req, err
	}
	req.Threshold, err = parseThreshold(value, metric.Unit)
	if err != nil {
		err = fmt.Errorf("%s needs %s, got %q", left, unitExamples[metric.Unit], value)
		if _, numErr := strconv.ParseFloat(value, 64); numErr == nil && metric.Unit == UnitPercent {
			// A bare number: ParsePercent says what to write instead ("1%").
			_, why := ParsePercent(value)
			err = fmt.Errorf("%w: %v", err, why)
		}
		return req, err
	}
	return req, nil
}

// splitOperator finds the first comparison operator outside parentheses.
func splitOperator(s string) (left, op, right string, ok bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
			continue
		case ')':
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		for _, o := range operators {
			if strings.HasPrefix(s[i:], o) {
				return strings.TrimSpace(s[:i]), o, strings.TrimSpace(s[i+len(o):]), true
			}
		}
		if s[i] == '=' {
			return strings.TrimSpace(s[:i]), "=", strings.TrimSpace(s[i+1:]), false
		}
	}
	return "", "", "", false
}

// parseMetric reads "throughput", "availability(time)" or "p99(latency)"
// into req.Metric and req.Agg.
func parseMetric(left string, req *Requirement) (MetricInfo, error) {
	compact := strings.Join(strings.Fields(left), "")
	if m, ok := LookupMetric(compact); ok {
		req.Metric = m.Name
		if m.Distribution {
			return m, fmt.Errorf("%s is a distribution: it needs an aggregation such as p99(%s) (one of %s)",
				m.Name, m.Name, aggregationList())
		}
		return m, nil
	}
	open := strings.IndexByte(compact, '(')
	if open <= 0 || !strings.HasSuffix(compact, ")") {
		return MetricInfo{}, unknownMetric(compact)
	}
	agg, inner := aggregationNamed(compact[:open]), compact[open+1:len(compact)-1]
	m, ok := LookupMetric(inner)
	if !ok {
		return MetricInfo{}, unknownMetric(inner)
	}
	req.Metric, req.Agg = m.Name, agg
	if !m.Distribution {
		return m, fmt.Errorf("%s is a single value and takes no aggregation: write %q, not %q", m.Name, m.Name, compact)
	}
	if !contains(Aggregations, agg) {
		return m, fmt.Errorf("unknown aggregation %q in %q; expected one of %s", agg, compact, aggregationList())
	}
	if len(m.Aggs) > 0 && !contains(m.Aggs, agg) {
		return m, fmt.Errorf("%s takes %s over the nodes, not %q", m.Name, strings.Join(m.Aggs, ", "), agg)
	}
	return m, nil
}

func unknownMetric(name string) error {
	names := make([]string, len(Metrics))
	for i, m := range Metrics {
		names[i] = m.Name
	}
	msg := fmt.Sprintf("unknown metric %q; known metrics: %s", name, strings.Join(names, ", "))
	if s := closest(name, names); s != "" {
		msg = fmt.Sprintf("unknown metric %q (did you mean %q?); known metrics: %s", name, s, strings.Join(names, ", "))
	}
	return fmt.Errorf("%s", msg)
}

// cutScope splits "150ms for browse" into the value and the scope as
// written after the first word "for" (a quoted request name keeps its
// spaces).
func cutScope(right string) (value, scope string, ok bool) {
	for i := 0; i+3 <= len(right); i++ {
		before := i == 0 || strings.IndexByte(" \t\r\n\v\f", right[i-1]) >= 0
		after := i+3 == len(right) || strings.IndexByte(" \t\r\n\v\f", right[i+3]) >= 0
		if before && after && right[i:i+3] == "for" {
			return strings.TrimSpace(right[:i]), strings.TrimSpace(right[i+3:]), true
		}
	}
	return right, "", false
}

// parseScope reads what follows "for": a workload name (for browse) or a
// request name in double quotes (for "POST /cart").
func parseScope(scope string) (name string, request bool, err error) {
	if !strings.HasPrefix(scope, `"`) {
		if scope == "" {
			return "", false, fmt.Errorf(`%s: "for" needs a workload name, or a request name in double quotes such as "POST /cart"`, requirementExample)
		}
		return scope, false, nil
	}
	name, err = strconv.Unquote(scope)
	if err != nil || name == "" {
		return "", true, fmt.Errorf(`%s: after "for", a request name is one double-quoted string such as "POST /cart", got %s`, requirementExample, scope)
	}
	return name, true, nil
}

// parseThreshold converts a value to the unit's base: milliseconds,
// requests per second, a fraction, or a plain number.
func parseThreshold(value string, unit Unit) (float64, error) {
	v := strings.Join(strings.Fields(value), "")
	bare, bareErr := strconv.ParseFloat(v, 64)
	isBare := bareErr == nil && !math.IsNaN(bare) && !math.IsInf(bare, 0)
	switch unit {
	case UnitDuration:
		if isBare && bare == 0 {
			return 0, nil
		}
		if isBare {
			break
		}
		d, err := ParseDuration(v)
		if err != nil {
			return 0, err
		}
		return float64(d) / float64(time.Millisecond), nil
	case UnitRate:
		if !isBare && !strings.Contains(v, "/") {
			break
		}
		r, err := ParseRate(v)
		if err != nil {
			return 0, err
		}
		return r.PerSecond(), nil
	case UnitPercent:
		p, err := ParsePercent(v)
		if err != nil {
			return 0, err
		}
		return p.Fraction(), nil
	default: // counts, and units added later: a plain number
		if isBare {
			return bare, nil
		}
	}
	return 0, fmt.Errorf("needs %s", unitExamples[unit])
}

// UnmarshalYAML reads a requirement written as a string, and records where
// it stands in the file.
func (r *Requirement) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	text, ok := scalarText(node)
	if !ok || node.Type() == ast.NullType {
		return fail(ctx, node, fmt.Sprintf("%s, written as a string", requirementExample))
	}
	req, err := ParseRequirement(text)
	req.Line, req.Column = nodePos(node)
	*r = req
	if err != nil {
		return fail(ctx, node, err.Error())
	}
	return nil
}

// MarshalYAML writes the requirement back as its text.
func (r Requirement) MarshalYAML() (any, error) { return r.Text, nil }

// String is the requirement as written.
func (r Requirement) String() string { return r.Text }

// Compare reports whether observed satisfies the requirement's operator
// against its threshold (both in the metric's base unit).
func (r Requirement) Compare(observed float64) bool {
	switch r.Op {
	case "<":
		return observed < r.Threshold
	case "<=":
		return observed <= r.Threshold
	case ">":
		return observed > r.Threshold
	case ">=":
		return observed >= r.Threshold
	case "==":
		return observed == r.Threshold
	case "!=":
		return observed != r.Threshold
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closest returns the candidate nearest to s in edit distance, if it is
// near enough to be a likely typo.
func closest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist <= 2 && bestDist < len(s) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
