package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// FormatValue renders a value held in a unit's base form for people:
// durations (milliseconds) as "0.412ms", "12.3ms", "153ms" or "1.20s";
// rates as "812.4/s"; fractions as "99.95%"; counts as "1234".
// Durations and percentages keep three significant figures or two
// decimals, and percentages gain decimals rather than round a value that is
// not exactly 0% or 100% to either. A value that rounds to zero shows no
// sign: "-0.00%" reads as a shortfall that is not there.
func FormatValue(v float64, unit scenario.Unit) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return unsignedZero(formatUnit(v, unit))
}

func formatUnit(v float64, unit scenario.Unit) string {
	switch unit {
	case scenario.UnitDuration:
		return formatMillis(v)
	case scenario.UnitRate:
		return strconv.FormatFloat(v, 'f', 1, 64) + "/s"
	case scenario.UnitPercent:
		return formatFraction(v)
	case scenario.UnitCount:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
}

// FormatMargin is FormatValue with an explicit sign, so a margin reads as
// headroom ("+12.3ms") or shortfall ("-4.10ms").
func FormatMargin(v float64, unit scenario.Unit) string {
	s := FormatValue(v, unit)
	if v > 0 && s != "n/a" {
		return "+" + s
	}
	return s
}

// unsignedZero drops the minus sign of a figure whose digits are all
// zero: a tiny negative value rounded away, or a negative zero.
func unsignedZero(s string) string {
	if !strings.HasPrefix(s, "-") || strings.ContainsAny(s, "123456789") {
		return s
	}
	return s[1:]
}

// formatMillis keeps three significant figures: below a second in
// milliseconds, from a second on in seconds.
func formatMillis(ms float64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	if ms == 0 {
		return "0ms"
	}
	// 999.7ms has three significant figures as 1.00s, not 1000ms.
	if ms < 999.5 {
		return sign + threeSignificant(ms) + "ms"
	}
	s := ms / 1000
	if s >= 999.5 {
		return sign + strconv.FormatFloat(s, 'f', 0, 64) + "s"
	}
	return sign + threeSignificant(s) + "s"
}

// threeSignificant formats a positive x below 1000 with three significant
// figures (at most three decimals).
func threeSignificant(x float64) string {
	decimals := 0
	switch {
	case x < 1:
		decimals = 3
	case x < 10:
		decimals = 2
	case x < 100:
		decimals = 1
	}
	s := strconv.FormatFloat(x, 'f', decimals, 64)
	// Rounding may carry into the next decade (9.999 -> "10.00"); one
	// decimal fewer keeps three significant figures.
	if decimals > 0 && len(strings.TrimLeft(strings.Replace(s, ".", "", 1), "0")) > 3 {
		s = strconv.FormatFloat(x, 'f', decimals-1, 64)
	}
	return s
}

// formatFraction shows a fraction as a percentage with two decimals, or
// more (up to nine) for two significant figures of its distance to 0% or
// 100%: 99.99943% availability is neither 100% nor 99.999%. The decimals
// follow that distance rounded first, so values a hair apart (99.9990% and
// 99.99899999%) keep the same decimals from one run to the next.
func formatFraction(f float64) string {
	p := f * 100
	return strconv.FormatFloat(p, 'f', percentDecimals(p), 64) + "%"
}

func percentDecimals(p float64) int {
	const fewest, most = 2, 9
	// A margin may be negative: -99.9999% is as near -100% as it is to 0%.
	size := math.Abs(p)
	distance := min(size, math.Abs(100-size))
	if distance == 0 {
		return fewest
	}
	rounded, _ := strconv.ParseFloat(strconv.FormatFloat(distance, 'e', 1, 64), 64)
	return min(max(1-int(math.Floor(math.Log10(rounded))), fewest), most)
}

// formatSeconds renders a span given in seconds with three significant
// figures ("60.0s", "1.50s", "250ms"): run lengths and fault offsets read
// best as plain seconds.
func formatSeconds(s float64) string {
	return formatMillis(s * 1000)
}

// formatCount renders an integer count.
func formatCount(n int64) string { return strconv.FormatInt(n, 10) }

// formatShare renders a fraction as a percentage with one decimal, for
// shares and utilisation where finer detail is noise.
func formatShare(f float64) string {
	return fmt.Sprintf("%.1f%%", f*100)
}
