// Package stats holds the small summaries the benchmarks and the workflows
// share.
package stats

import "slices"

// Median is the median of xs (the mean of the middle two for an even
// count), 0 for none. xs is left as it was.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := slices.Clone(xs)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}
