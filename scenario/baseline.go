package scenario

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Relative is a threshold read from a baseline run (run --baseline): the
// baseline's figure for the same metric and scope, times Factor, plus
// Offset in the metric's base unit.
//
//	p99(latency) <= baseline * 1.10
//	throughput >= baseline - 5%
//	p95(latency) < baseline + 20ms
type Relative struct {
	Factor float64 `json:"factor"`
	Offset float64 `json:"offset,omitempty"`
}

// Of is the threshold for the baseline's figure.
func (r Relative) Of(baseline float64) float64 { return baseline*r.Factor + r.Offset }

const relativeExample = `"baseline", "baseline * 1.10", "baseline + 10%", "baseline - 5%" or "baseline + 20ms"`

// parseRelative reads a threshold relative to the baseline: "baseline"
// alone, "* FACTOR", "± N%" (N% of the baseline's figure, for every
// metric, percentages too) or "± VALUE" in the metric's unit. isRelative
// is false when the value does not start with "baseline".
func parseRelative(value string, unit Unit) (rel *Relative, isRelative bool, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(value), "baseline")
	if !ok {
		return nil, false, nil
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return &Relative{Factor: 1}, true, nil
	}
	bad := fmt.Errorf("a threshold relative to the baseline is %s, got %q", relativeExample, value)
	op, operand := rest[:1], strings.TrimSpace(rest[1:])
	switch op {
	case "*", "x":
		f, err := strconv.ParseFloat(operand, 64)
		if err != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, true, bad
		}
		return &Relative{Factor: f}, true, nil
	case "+", "-":
	default:
		return nil, true, bad
	}
	sign := 1.0
	if op == "-" {
		sign = -1
	}
	if num, isPercent := strings.CutSuffix(operand, "%"); isPercent {
		p, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || !(p >= 0) || math.IsInf(p, 0) || (sign < 0 && p > 100) {
			return nil, true, bad
		}
		return &Relative{Factor: 1 + sign*p/100}, true, nil
	}
	if unit == UnitPercent {
		return nil, true, fmt.Errorf("%s: a percentage metric changes by a share of the baseline's figure, such as \"baseline + 10%%\"", bad)
	}
	offset, err := parseThreshold(operand, unit)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %v", bad, err)
	}
	return &Relative{Factor: 1, Offset: sign * offset}, true, nil
}
