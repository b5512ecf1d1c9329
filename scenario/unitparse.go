package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Examples used in messages, so every "expected ..." reads the same.
const (
	durationExample = `expected a duration such as "250ms", "1.5s" or "2m"`
	rateExample     = `expected a rate such as "800/s" or "48000/min"`
	percentExample  = `expected a percentage such as "99.9%" or a fraction between 0 and 1 such as "0.999"`
)

// ParseDuration reads "250ms", "1.5s", "2m", "1h30m" or a bare "0".
// Negative durations and bare numbers other than 0 are errors.
func ParseDuration(text string) (Duration, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return 0, fmt.Errorf("%s, got nothing", durationExample)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f == 0 {
			return 0, nil
		}
		if f < 0 {
			return 0, fmt.Errorf("a duration must not be negative, got %q", text)
		}
		return 0, fmt.Errorf(`expected a duration such as "%ss" or "%sms" (a number needs a unit: ms, s, m or h), got %q`, s, s, text)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s, got %q", durationExample, text)
	}
	if d < 0 {
		return 0, fmt.Errorf("a duration must not be negative, got %q", text)
	}
	return Duration(d), nil
}

// rateUnits are the accepted denominators of a rate, in seconds.
var rateUnits = map[string]float64{
	"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "sec": 1,
	"m": 60, "min": 60, "h": 3600, "hour": 3600,
}

// ParseRate reads "800/s", "48000/min", "2/ms", "10/h" or a bare number
// (per second). Negative rates are errors.
func ParseRate(text string) (Rate, error) {
	s := strings.TrimSpace(text)
	num, unit, hasUnit := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%s, got %q", rateExample, text)
	}
	if n < 0 {
		return 0, fmt.Errorf("a rate must not be negative, got %q", text)
	}
	if !hasUnit {
		return Rate(n), nil
	}
	per, ok := rateUnits[strings.TrimSpace(unit)]
	if !ok {
		return 0, fmt.Errorf("%s: unknown unit %q (use /s, /min, /ms or /h), got %q", rateExample, "/"+strings.TrimSpace(unit), text)
	}
	return Rate(n / per), nil
}

// ParsePercent reads "99.9%" (0.999) or a bare fraction in [0,1] written
// with a decimal point ("0.999", "1.0"); "0" is 0. Any other bare integer is
// an error: "1" may mean 1% or 100%.
func ParsePercent(text string) (Percent, error) {
	s := strings.TrimSpace(text)
	if num, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(n) {
			return 0, fmt.Errorf("%s, got %q", percentExample, text)
		}
		if n < 0 || n > 100 {
			return 0, fmt.Errorf("a percentage must be between 0%% and 100%%, got %q", text)
		}
		return Percent(n / 100), nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) {
		return 0, fmt.Errorf("%s, got %q", percentExample, text)
	}
	if n < 0 || n > 1 {
		return 0, fmt.Errorf(`a bare fraction must be between 0 and 1 (write "%s%%" for a percentage), got %q`, s, text)
	}
	// "error_rate < 1" reads as one percent and means a hundred: only 0 is
	// the same either way.
	if n != 0 && isInteger(s) {
		return 0, fmt.Errorf(`a bare %s is ambiguous: write "%s%%" for a percentage, or a fraction with a decimal point such as "%s.0"`, s, s, s)
	}
	return Percent(n), nil
}

// isInteger reports whether a number is written without a decimal point
// or an exponent.
func isInteger(s string) bool {
	return !strings.ContainsAny(s, ".eE")
}

// String writes the duration the way a scenario would: "250ms", "1.5s",
// "2m", "1h30m".
func (d Duration) String() string {
	s := time.Duration(d).String()
	// time.Duration writes "2m0s" and "1h0m0s"; drop the zero tails.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// String writes the rate per second, e.g. "800/s".
func (r Rate) String() string { return formatNumber(float64(r)) + "/s" }

// String writes the fraction as a percentage, e.g. "99.9%".
func (p Percent) String() string { return formatNumber(float64(p)*100) + "%" }

// formatNumber prints a float without exponent or binary noise
// (0.999*100 prints as 99.9, not 99.89999999999999).
func formatNumber(v float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		r = v
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// scalarText is the text of a scalar node as written, or ok=false for a
// mapping, a list or a null.
func scalarText(node ast.Node) (string, bool) {
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return node.GetToken().Value, true
	case *ast.TagNode:
		return scalarText(n.Value)
	case *ast.AnchorNode:
		return scalarText(n.Value)
	}
	return "", false
}

// shapeName says what a node is, for "got a mapping" or `got "abc"`.
func shapeName(node ast.Node) string {
	switch node.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	}
	if text, ok := scalarText(node); ok {
		return strconv.Quote(text)
	}
	return node.Type().YAMLName()
}

// unmarshalUnit decodes a scalar node with parse, reporting errors at the node.
func unmarshalUnit[T any](ctx context.Context, node ast.Node, example string, parse func(string) (T, error), dst *T) error {
	if node.Type() == ast.NullType {
		var zero T
		*dst = zero
		return nil
	}
	text, ok := scalarText(node)
	if !ok {
		return fail(ctx, node, fmt.Sprintf("%s, got %s", example, shapeName(node)))
	}
	v, err := parse(text)
	if err != nil {
		return fail(ctx, node, err.Error())
	}
	*dst = v
	return nil
}

// UnmarshalYAML reads a duration such as "250ms".
func (d *Duration) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return unmarshalUnit(ctx, node, durationExample, ParseDuration, d)
}

// UnmarshalYAML reads a rate such as "800/s".
func (r *Rate) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return unmarshalUnit(ctx, node, rateExample, ParseRate, r)
}

// UnmarshalYAML reads a percentage such as "99.9%".
func (p *Percent) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return unmarshalUnit(ctx, node, percentExample, ParsePercent, p)
}

// MarshalText writes "250ms"; JSON and YAML encoders use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalText writes "800/s".
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// MarshalText writes "99.9%".
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads what ParseDuration reads.
func (d *Duration) UnmarshalText(b []byte) error { return setParsed(d, ParseDuration, string(b)) }

// UnmarshalText reads what ParseRate reads.
func (r *Rate) UnmarshalText(b []byte) error { return setParsed(r, ParseRate, string(b)) }

// UnmarshalText reads what ParsePercent reads.
func (p *Percent) UnmarshalText(b []byte) error { return setParsed(p, ParsePercent, string(b)) }

// UnmarshalJSON accepts the text form or a bare number, like the YAML form.
func (d *Duration) UnmarshalJSON(b []byte) error { return unmarshalJSONUnit(b, d, ParseDuration) }

// UnmarshalJSON accepts the text form or a bare number (per second).
func (r *Rate) UnmarshalJSON(b []byte) error { return unmarshalJSONUnit(b, r, ParseRate) }

// UnmarshalJSON accepts the text form or a bare fraction.
func (p *Percent) UnmarshalJSON(b []byte) error { return unmarshalJSONUnit(b, p, ParsePercent) }

func unmarshalJSONUnit[T any](b []byte, dst *T, parse func(string) (T, error)) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		s = n.String()
	}
	return setParsed(dst, parse, s)
}

func setParsed[T any](dst *T, parse func(string) (T, error), s string) error {
	v, err := parse(s)
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// Set makes *Duration a command-line flag value (pflag.Value).
func (d *Duration) Set(s string) error { return setParsed(d, ParseDuration, s) }

// Set makes *Rate a command-line flag value (pflag.Value).
func (r *Rate) Set(s string) error { return setParsed(r, ParseRate, s) }

// Set makes *Percent a command-line flag value (pflag.Value).
func (p *Percent) Set(s string) error { return setParsed(p, ParsePercent, s) }

// Type names the flag's value kind in help text.
func (Duration) Type() string { return "duration" }

// Type names the flag's value kind in help text.
func (Rate) Type() string { return "rate" }

// Type names the flag's value kind in help text.
func (Percent) Type() string { return "percent" }
