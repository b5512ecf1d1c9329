package runner

import (
	"fmt"
	"strconv"
	"strings"
)

// Segment is a deterministic 1/N slice of a run, so that N processes (or
// machines) together generate exactly the load of one: segment K of N takes
// the open-loop arrivals whose index i has i mod N == K-1 (every segment
// draws the whole seeded sequence and keeps its share), and the closed-loop
// virtual users u with u mod N == K-1. The zero Segment is the whole run.
type Segment struct {
	K, N int
}

// ParseSegment reads "K/N" with 1 <= K <= N. K may be written "I+1", a
// 0-based index plus one ("$(JOB_COMPLETION_INDEX)+1/4" in a Kubernetes
// Indexed Job's arguments, which need no shell to compute it).
func ParseSegment(s string) (Segment, error) {
	ks, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	k, errK := segmentNumber(ks)
	n, errN := strconv.Atoi(ns)
	if !ok || errK != nil || errN != nil || n < 1 || k < 1 || k > n {
		return Segment{}, fmt.Errorf("segment %q: expected K/N with 1 <= K <= N, such as 2/4 (or I+1/N, such as 1+1/4)", s)
	}
	return Segment{K: k, N: n}, nil
}

// segmentNumber reads K, or I+J.
func segmentNumber(s string) (int, error) {
	a, b, plus := strings.Cut(s, "+")
	i, err := strconv.Atoi(a)
	if err != nil || !plus {
		return i, err
	}
	j, err := strconv.Atoi(b)
	if err != nil || i < 0 || j < 0 {
		return 0, fmt.Errorf("not I+J")
	}
	return i + j, nil
}

// Whole reports whether the segment is the whole run.
func (s Segment) Whole() bool { return s.N <= 1 }

// String is "K/N", or "" for the whole run.
func (s Segment) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// Has reports whether arrival or user i (counted from 0 in each workload)
// belongs to the segment.
func (s Segment) Has(i int) bool { return s.Whole() || i%s.N == s.K-1 }
