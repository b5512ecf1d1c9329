package sim

import (
	"fmt"
	"math"
	"time"

	"github.com/ilities/ilities/report"
)

// A Bound is how far a simulated figure may be from the live one and still
// hold: Limit of the live figure when Relative, else Limit in the figure's
// own unit.
type Bound struct {
	Relative bool
	Limit    float64
}

func (b Bound) String() string {
	if b.Relative {
		return fmt.Sprintf("±%.1f%%", 100*b.Limit)
	}
	return fmt.Sprintf("±%g", b.Limit)
}

// CrossBounds are the bounds of each figure a live run and its simulation
// are compared on, for runs at moderate utilisation (a station far from
// saturation, where a small difference of rate or cost moves the waits
// little).
var CrossBounds = map[string]Bound{
	// The model's costs are a machine's means: a mean latency is
	// the figure they are calibrated on.
	"latency mean": {Relative: true, Limit: 0.05},
	// A tail is a few requests of the run, and the host's own tail
	// (scheduling, the runtime) is not modelled.
	"latency p99": {Relative: true, Limit: 0.20},
	// The same seed sends the same arrivals: only requests that fail
	// differently move it.
	"throughput": {Relative: true, Limit: 0.02},
	// A policy reading the live load (least connections, the tails of
	// exchanges) picks differently once one exchange ends in another order.
	"share": {Relative: true, Limit: 0.05},
	// Busy time is the service draws a node was given: its share's bound.
	"utilisation": {Relative: true, Limit: 0.05},
	// Requests lost to a fault depend on when its detection fell.
	"availability (requests)": {Relative: true, Limit: 0.01},
	// One window in twenty: a fault's edge may fall either side of a
	// second's boundary.
	"availability (time)": {Relative: false, Limit: 0.05},
	// A check's period, the live checks starting at the same offsets but
	// their answers on the host's time.
	"detection": {Relative: false, Limit: 0.5},
	// Recovery is counted in whole windows: one window either way.
	"recovery": {Relative: false, Limit: 1},
	// The same requirements over figures within the bounds above decide
	// the same, but for a requirement met or missed by less than they allow.
	"verdict": {Relative: false, Limit: 0},
}

// A CrossFigure is one figure of a live run beside its simulation's.
type CrossFigure struct {
	// Name is the figure's, Bound its CrossBounds name (a node's share is
	// "share app-1" of bound "share").
	Name  string
	Bound string
	Unit  string
	Live  float64
	Sim   float64
	// Diff is the simulation's difference from the live figure: relative
	// to it (sim/live − 1) for a relative bound, else sim − live.
	Diff float64
	// Slack widens the bound, in the figure's unit: the live run's
	// apparatus delay for a latency, which the model has no part of.
	Slack float64
	Holds bool
	// LiveText and SimText are the figures as words where they are not
	// numbers (a verdict, a time that did not come).
	LiveText, SimText string
}

// Allowed is the largest difference the figure's bound allows, in its unit
// (relative bounds of the live figure), its slack included.
func (f CrossFigure) Allowed() float64 {
	b := CrossBounds[f.Bound]
	if b.Relative {
		return b.Limit*math.Abs(f.Live) + f.Slack
	}
	return b.Limit + f.Slack
}

// A CrossCheck is a live run compared with its simulation, figure by
// figure. Disturbed says why the live run's figures cannot judge the model
// ("" when they can): its figures are still compared, and not judged.
type CrossCheck struct {
	Disturbed string
	// ApparatusMeanMS and ApparatusP99MS are the live run's apparatus
	// delay, by which its latencies' bounds are widened.
	ApparatusMeanMS, ApparatusP99MS float64
	Figures                         []CrossFigure
}

// Held counts the figures within their bounds.
func (c CrossCheck) Held() int {
	n := 0
	for _, f := range c.Figures {
		if f.Holds {
			n++
		}
	}
	return n
}

// CrossCompare compares a live run with the simulation of the same scenario
// and seed: the whole run's mean and p99 latency (their bounds widened by
// the live apparatus's delay at the mean and at the 99th percentile),
// throughput, each node's share and utilisation, availability by requests
// and by time, each fault's detection and recovery times, and the verdict.
func CrossCompare(live, simulated *report.Result) CrossCheck {
	var c CrossCheck
	if a := live.Apparatus; a != nil {
		c.ApparatusMeanMS, c.ApparatusP99MS = a.DelayMS.Mean, a.DelayMS.P99
	}
	c.Disturbed = report.DelayedBeyond(live, time.Duration(report.DisturbedAboveMS*float64(time.Millisecond)))
	if c.Disturbed == "" && live.Generator.Saturated {
		c.Disturbed = "the generator saturated: " + live.Generator.Reason
	}
	add := func(name, bound, unit string, l, s, slack float64) {
		f := CrossFigure{Name: name, Bound: bound, Unit: unit, Live: l, Sim: s, Slack: slack}
		if CrossBounds[bound].Relative {
			f.Diff = s/l - 1
			if l == 0 {
				f.Diff = math.Inf(1)
				if s == 0 {
					f.Diff = 0
				}
			}
		} else {
			f.Diff = s - l
		}
		f.Holds = math.Abs(s-l) <= f.Allowed()
		c.Figures = append(c.Figures, f)
	}
	add("latency mean", "latency mean", "ms", live.LatencyMS.Mean, simulated.LatencyMS.Mean, c.ApparatusMeanMS)
	add("latency p99", "latency p99", "ms", live.LatencyMS.P99, simulated.LatencyMS.P99, c.ApparatusP99MS)
	add("throughput", "throughput", "/s", live.ThroughputRPS, simulated.ThroughputRPS, 0)
	simNodes := map[string]report.Node{}
	for _, n := range simulated.Nodes {
		simNodes[n.Name] = n
	}
	for _, n := range live.Nodes {
		s := simNodes[n.Name]
		add("share "+n.Name, "share", "", n.Share, s.Share, 0)
		add("utilisation "+n.Name, "utilisation", "", n.Utilisation, s.Utilisation, 0)
	}
	add("availability (requests)", "availability (requests)", "", live.Availability.Requests, simulated.Availability.Requests, 0)
	add("availability (time)", "availability (time)", "", live.Availability.Time, simulated.Availability.Time, 0)
	for i, lf := range live.Faults {
		if i >= len(simulated.Faults) {
			break
		}
		sf := simulated.Faults[i]
		name := fmt.Sprintf("%s %s at %gs", lf.Kind, lf.Node, lf.PlannedAtS)
		c.addTime(name+" detection", "detection", lf.DetectionTimeS, sf.DetectionTimeS)
		c.addTime(name+" recovery", "recovery", lf.RecoveryTimeS, sf.RecoveryTimeS)
	}
	same := live.Verdict == simulated.Verdict
	c.Figures = append(c.Figures, CrossFigure{Name: "verdict", Bound: "verdict", LiveText: live.Verdict, SimText: simulated.Verdict, Holds: same})
	return c
}

// addTime adds a fault's time, in seconds; negative is "did not happen in
// the run", which holds only beside the same. A time neither run had (a
// topology change's detection) is no figure.
func (c *CrossCheck) addTime(name, bound string, live, simulated float64) {
	if live < 0 && simulated < 0 {
		return
	}
	f := CrossFigure{Name: name, Bound: bound, Unit: "s", Live: live, Sim: simulated, Diff: simulated - live}
	f.Holds = live >= 0 && simulated >= 0 && math.Abs(f.Diff) <= f.Allowed()
	if live < 0 {
		f.LiveText = "none"
	}
	if simulated < 0 {
		f.SimText = "none"
	}
	c.Figures = append(c.Figures, f)
}
