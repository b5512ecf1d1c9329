package scenario

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Size is a number of bytes, written "512B", "4KB", "1.5MiB" or as a bare
// integer (bytes). KB, MB and GB are powers of 1000; KiB, MiB and GiB of 1024.
type Size int64

const sizeExample = `expected a size such as "512B", "4KB", "64KiB" or a number of bytes`

var sizeUnits = map[string]float64{
	"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "k": 1 << 10, "m": 1 << 20,
}

// ParseSize reads a size. Negative sizes are errors.
func ParseSize(text string) (Size, error) {
	s := strings.TrimSpace(text)
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(s[:i]), strings.ToLower(strings.TrimSpace(s[i:]))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%s, got %q", sizeExample, text)
	}
	if n < 0 {
		return 0, fmt.Errorf("a size must not be negative, got %q", text)
	}
	mult := 1.0
	if unit != "" {
		m, ok := sizeUnits[unit]
		if !ok {
			return 0, fmt.Errorf("%s: unknown unit %q, got %q", sizeExample, s[i:], text)
		}
		mult = m
	}
	return Size(math.Round(n * mult)), nil
}

// String writes the size in bytes with the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    Size
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s >= u.n && s%u.n == 0 {
			return strconv.FormatInt(int64(s/u.n), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML reads a size from a scalar.
func (s *Size) UnmarshalYAML(ctx context.Context, node ast.Node) error {
	return unmarshalUnit(ctx, node, sizeExample, ParseSize, s)
}

// MarshalText writes the size as String does.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a size.
func (s *Size) UnmarshalText(b []byte) error { return setParsed(s, ParseSize, string(b)) }

// SizeDistribution is a random size, e.g. of response bodies. It takes the
// same dist names and fields as Distribution, with sizes for values:
//
//	{dist: constant, value: 4KB}
//	{dist: lognormal, median: 2KB, p99: 64KB}
type SizeDistribution struct {
	Dist   string `yaml:"dist"`
	Value  Size   `yaml:"value"`
	Min    Size   `yaml:"min"`
	Max    Size   `yaml:"max"`
	Mean   Size   `yaml:"mean"`
	Median Size   `yaml:"median"`
	P99    Size   `yaml:"p99"`
}

// durations maps the sizes onto a Distribution (one byte per nanosecond),
// which shares its sampling and validation.
func (d SizeDistribution) durations() Distribution {
	return Distribution{Dist: d.Dist, Value: Duration(d.Value), Min: Duration(d.Min), Max: Duration(d.Max),
		Mean: Duration(d.Mean), Median: Duration(d.Median), P99: Duration(d.P99)}
}

// SampleSize draws one size in bytes.
func (d SizeDistribution) SampleSize(r *rand.Rand) int64 {
	return int64(d.durations().Sample(r))
}

// MeanSize is the distribution's expected value in bytes.
func (d SizeDistribution) MeanSize() int64 { return int64(d.durations().MeanDuration()) }
