package report

import (
	"fmt"
	"math"
	"time"
)

// DefaultMaxSkew is how far apart the segments of one run may start their
// clocks, by default, for merge to take their loads as one run's: well
// above what run --start-at achieves (a few milliseconds), well below a
// one-second window.
const DefaultMaxSkew = 100 * time.Millisecond

// MergeOptions are how MergeWith combines the parts of a run.
type MergeOptions struct {
	// MaxSkew is how far apart the parts' time origins (Result.Started) may
	// be; parts further apart make the merged result invalid (Decide).
	MaxSkew time.Duration
}

// SegmentStarts is when the segments of a merged run started their clocks
// (each part's time origin) and whether together, within the skew merge
// allowed.
type SegmentStarts struct {
	// PlannedStart is the instant every part was to start at (run
	// --start-at), when they all named the same one; zero otherwise.
	PlannedStart time.Time   `json:"planned_start,omitzero"`
	Parts        []PartStart `json:"parts"`
	// SkewMS is the latest part's time origin less the earliest's;
	// MaxSkewMS the most merge allowed.
	SkewMS    float64 `json:"skew_ms"`
	MaxSkewMS float64 `json:"max_skew_ms"`
	// Within is SkewMS <= MaxSkewMS. A merged result whose parts did not
	// start within it is invalid: its verdict is inconclusive (Decide).
	Within bool `json:"within"`
}

// PartStart is one segment's start.
type PartStart struct {
	Segment string    `json:"segment"`
	T0      time.Time `json:"t0"`
	// OffsetS is how many whole seconds after the earliest part it started,
	// the shift that lined its windows up with the others' by absolute time.
	OffsetS int `json:"offset_s,omitempty"`
}

// segmentStarts reads the parts' time origins: how far apart they are and
// by how many windows each is to be shifted. nil (no shift) for simulated
// parts, on a virtual clock, and for parts without a start time.
func segmentStarts(parts []*Result, maxSkew time.Duration) (*SegmentStarts, []int) {
	earliest, latest := parts[0].Started, parts[0].Started
	for _, p := range parts {
		if p.Started.IsZero() || p.Mode == ModeSimulated {
			return nil, nil
		}
		if p.Started.Before(earliest) {
			earliest = p.Started
		}
		if p.Started.After(latest) {
			latest = p.Started
		}
	}
	skew := latest.Sub(earliest)
	s := &SegmentStarts{
		PlannedStart: parts[0].Manifest.PlannedStart,
		SkewMS:       durationMS(skew),
		MaxSkewMS:    durationMS(maxSkew),
		Within:       skew <= maxSkew,
	}
	offsets := make([]int, len(parts))
	for i, p := range parts {
		offsets[i] = int(math.Round(p.Started.Sub(earliest).Seconds()))
		s.Parts = append(s.Parts, PartStart{Segment: p.Segment, T0: p.Started.UTC(), OffsetS: offsets[i]})
		if !p.Manifest.PlannedStart.Equal(s.PlannedStart) {
			s.PlannedStart = time.Time{}
		}
	}
	return s, offsets
}

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// alignParts shifts each part's per-second figures (windows, the
// workloads' and requests' counts, the apparatus's windows) by its offset
// in whole seconds, so that the merged windows add up the same absolute
// second of every part. The parts themselves are left as they were.
func alignParts(parts []*Result, offsets []int) []*Result {
	out := make([]*Result, len(parts))
	for i, p := range parts {
		off := 0
		if offsets != nil {
			off = offsets[i]
		}
		if off == 0 {
			out[i] = p
			continue
		}
		c := *p
		c.Windows = make([]Window, len(p.Windows))
		for j, w := range p.Windows {
			w.T += off
			c.Windows[j] = w
		}
		c.Workloads = append([]WorkloadResult(nil), p.Workloads...)
		for j := range c.Workloads {
			c.Workloads[j].WindowCounts = shiftCounts(c.Workloads[j].WindowCounts, off)
		}
		c.Requests = append([]RequestResult(nil), p.Requests...)
		for j := range c.Requests {
			c.Requests[j].WindowCounts = shiftCounts(c.Requests[j].WindowCounts, off)
		}
		if p.Apparatus != nil {
			a := *p.Apparatus
			a.Windows = make([]ApparatusWindow, len(p.Apparatus.Windows))
			for j, w := range p.Apparatus.Windows {
				w.T += off
				a.Windows[j] = w
			}
			c.Apparatus = &a
		}
		out[i] = &c
	}
	return out
}

// shiftCounts puts off empty seconds before counts.
func shiftCounts(counts []WindowCount, off int) []WindowCount {
	if len(counts) == 0 {
		return counts
	}
	return append(make([]WindowCount, off), counts...)
}

// startsInvalidity is why a merged result's parts are not one run, "" when
// they are.
func startsInvalidity(s *SegmentStarts) string {
	if s == nil || s.Within {
		return ""
	}
	return fmt.Sprintf("is invalid: its segments started %s apart, more than the %s allowed (merge --max-skew): their loads did not overlap as one run's",
		formatMS(s.SkewMS), formatMS(s.MaxSkewMS))
}

// StartsText is one line on how a merged run's segments started.
func StartsText(s *SegmentStarts) string {
	planned := ""
	if !s.PlannedStart.IsZero() {
		planned = ", planned for " + s.PlannedStart.UTC().Format("2006-01-02 15:04:05.000 UTC")
	}
	if !s.Within {
		return fmt.Sprintf("SEGMENTS OUT OF STEP: their clocks started %s apart, more than the %s allowed%s; windows lined up by absolute time",
			formatMS(s.SkewMS), formatMS(s.MaxSkewMS), planned)
	}
	return fmt.Sprintf("%d segments started within %s of each other (at most %s allowed)%s",
		len(s.Parts), formatMS(s.SkewMS), formatMS(s.MaxSkewMS), planned)
}

// formatMS is a duration in milliseconds as time.Duration writes it, to
// the microsecond (the millisecond from a second on).
func formatMS(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	if d >= time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Microsecond).String()
}
