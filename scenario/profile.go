package scenario

import "time"

// Segment is one piece of a rate profile: the rate goes linearly from From
// at Start to To at End (requests per second). A hold has From == To.
type Segment struct {
	Start, End time.Duration
	From, To   float64
}

// RateAt is the segment's rate at offset t (clamped to the segment).
func (s Segment) RateAt(t time.Duration) float64 {
	if s.End <= s.Start || t >= s.End {
		return s.To
	}
	if t <= s.Start {
		return s.From
	}
	frac := float64(t-s.Start) / float64(s.End-s.Start)
	return s.From + (s.To-s.From)*frac
}

// Arrivals is the expected number of arrivals in the segment: the area
// under its rate.
func (s Segment) Arrivals() float64 {
	return (s.From + s.To) / 2 * (s.End - s.Start).Seconds()
}

// TotalLength is the sum of the stages' lengths; 0 for a constant rate.
func (w Workload) TotalLength() time.Duration {
	var total time.Duration
	for _, st := range w.Stages {
		total += st.length()
	}
	return total
}

func (st Stage) isRamp() bool { return st.RampTo != 0 || st.Over != 0 }

func (st Stage) length() time.Duration {
	if st.isRamp() {
		return st.Over.D()
	}
	return st.For.D()
}

// Profile is the workload's rate over [0,total): its stages in order (a
// first ramp starts from 0), cut at total, then a hold at the last rate if
// the stages end before total. A constant rate is one hold segment.
func (w Workload) Profile(total time.Duration) []Segment {
	if total <= 0 {
		return nil
	}
	if len(w.Stages) == 0 {
		r := w.Rate.PerSecond()
		return []Segment{{Start: 0, End: total, From: r, To: r}}
	}
	var (
		segs []Segment
		at   time.Duration
		rate float64
	)
	for _, st := range w.Stages {
		length := st.length()
		if length <= 0 {
			continue
		}
		seg := Segment{Start: at, End: at + length}
		if st.isRamp() {
			seg.From, seg.To = rate, st.RampTo.PerSecond()
		} else {
			seg.From, seg.To = st.Hold.PerSecond(), st.Hold.PerSecond()
		}
		if seg.End > total {
			seg.To = seg.RateAt(total)
			seg.End = total
		}
		segs = append(segs, seg)
		at, rate = seg.End, seg.To
		if at >= total {
			return segs
		}
	}
	return append(segs, Segment{Start: at, End: total, From: rate, To: rate})
}

// RateAt is the workload's arrival rate (per second) at offset t from the
// start of the run. Past the last stage the last rate holds.
func (w Workload) RateAt(t time.Duration) float64 {
	if len(w.Stages) == 0 {
		return w.Rate.PerSecond()
	}
	end := w.TotalLength()
	segs := w.Profile(end + time.Second)
	for _, s := range segs {
		if t < s.End {
			return s.RateAt(t)
		}
	}
	return segs[len(segs)-1].To
}

// Arrivals is the expected number of arrivals of the workload over
// [0,total).
func (w Workload) Arrivals(total time.Duration) float64 {
	var n float64
	for _, s := range w.Profile(total) {
		n += s.Arrivals()
	}
	return n
}
