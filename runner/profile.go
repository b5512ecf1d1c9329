package runner

import (
	"math"
	"time"

	"github.com/ilities/ilities/scenario"
)

// rateSegment is one piece of a piecewise-linear rate profile: the rate goes
// linearly from From to To (requests per second) between Start and End
// (seconds from the start of the run). Cum is the number of arrivals the
// profile holds before Start (the integral of the rate up to Start).
type rateSegment struct {
	Start, End float64
	From, To   float64
	Cum        float64
}

// area is the integral of the rate over the whole segment.
func (s rateSegment) area() float64 { return (s.From + s.To) / 2 * (s.End - s.Start) }

// rateProfile is a workload's arrival rate over the run, λ(t), with its
// integral Λ(t) and the inverse of Λ: the instant by which the profile has
// accumulated a given number of arrivals.
type rateProfile struct {
	segs  []rateSegment
	total float64 // Λ(duration)
	dur   float64 // seconds
}

// newRateProfile builds the profile of w over a run of the given length from
// the workload's stage geometry (scenario.Workload.Profile), adding to each
// segment the arrivals accumulated before it.
func newRateProfile(w scenario.Workload, duration time.Duration) rateProfile {
	p := rateProfile{dur: duration.Seconds()}
	for _, s := range w.Profile(duration) {
		seg := rateSegment{Start: s.Start.Seconds(), End: s.End.Seconds(), From: s.From, To: s.To, Cum: p.total}
		if seg.End <= seg.Start {
			continue
		}
		p.segs = append(p.segs, seg)
		p.total += seg.area()
	}
	return p
}

// rateAt is λ(t) in requests per second; 0 outside the run.
func (p rateProfile) rateAt(t float64) float64 {
	for _, s := range p.segs {
		if t >= s.Start && t < s.End {
			return s.From + (s.To-s.From)*(t-s.Start)/(s.End-s.Start)
		}
	}
	return 0
}

// integral is Λ(t): the number of arrivals the profile holds in [0, t).
func (p rateProfile) integral(t float64) float64 {
	for _, s := range p.segs {
		if t < s.End {
			if t <= s.Start {
				return s.Cum
			}
			tau := t - s.Start
			slope := (s.To - s.From) / (s.End - s.Start)
			return s.Cum + s.From*tau + slope*tau*tau/2
		}
	}
	return p.total
}

// inverse is Λ⁻¹(y) for 0 <= y < total: the instant at which the integral
// reaches y, solved exactly within its segment. cursor is the index of the
// segment to start looking from; callers asking for increasing y pass the
// same cursor each time so that a whole run costs one pass over the segments.
func (p rateProfile) inverse(y float64, cursor *int) float64 {
	i := *cursor
	for i < len(p.segs)-1 && y >= p.segs[i].Cum+p.segs[i].area() {
		i++
	}
	*cursor = i
	s := p.segs[i]
	r := y - s.Cum
	if r <= 0 {
		return s.Start
	}
	// Λ(Start+τ) - Cum = From·τ + a·τ² with a = slope/2. The root is written
	// as 2r / (From + √(From² + 4ar)) so that it stays exact when a → 0 and
	// for ramps down (a < 0).
	a := (s.To - s.From) / (s.End - s.Start) / 2
	disc := s.From*s.From + 4*a*r
	if disc < 0 {
		disc = 0
	}
	den := s.From + math.Sqrt(disc)
	if den <= 0 {
		return s.End
	}
	t := s.Start + 2*r/den
	if t > s.End {
		t = s.End
	}
	return t
}
