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

// newRateProfile builds the profile of w over a run of the given length. A
// ramp stage goes linearly from the previous rate (0 at the start) to
// ramp_to over its length; a hold stage keeps its rate for its length; after
// the last stage the last rate holds until the end; stages past the end are
// cut. A constant rate with no stages is one hold for the whole run.
func newRateProfile(w scenario.Workload, duration time.Duration) rateProfile {
	p := rateProfile{dur: duration.Seconds()}
	if p.dur <= 0 {
		return p
	}
	add := func(length, from, to float64) {
		start := 0.0
		if n := len(p.segs); n > 0 {
			start = p.segs[n-1].End
		}
		if length <= 0 || start >= p.dur {
			return
		}
		end := start + length
		if end > p.dur {
			// Cut at the end of the run, with the rate the ramp has there.
			to = from + (to-from)*(p.dur-start)/length
			end = p.dur
		}
		p.segs = append(p.segs, rateSegment{Start: start, End: end, From: from, To: to})
	}
	if len(w.Stages) == 0 {
		r := w.Rate.PerSecond()
		add(p.dur, r, r)
	} else {
		prev := 0.0
		for _, st := range w.Stages {
			switch {
			case st.Over > 0:
				to := st.RampTo.PerSecond()
				add(st.Over.D().Seconds(), prev, to)
				prev = to
			case st.For > 0:
				add(st.For.D().Seconds(), st.Hold.PerSecond(), st.Hold.PerSecond())
				prev = st.Hold.PerSecond()
			case st.RampTo != 0:
				prev = st.RampTo.PerSecond() // a ramp over no time is a step
			default:
				prev = st.Hold.PerSecond()
			}
		}
		if n := len(p.segs); n == 0 || p.segs[n-1].End < p.dur {
			start := 0.0
			if n > 0 {
				start = p.segs[n-1].End
			}
			add(p.dur-start, prev, prev)
		}
	}
	cum := 0.0
	for i := range p.segs {
		p.segs[i].Cum = cum
		cum += p.segs[i].area()
	}
	p.total = cum
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
