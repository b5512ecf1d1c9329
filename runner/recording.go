package runner

import (
	"cmp"
	"errors"
	"math"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// Recording is the engine's recording of arrivals that happen elsewhere (a
// simulation of the run on a virtual clock): Run's collector, histograms,
// windows and result assembly, fed one Sample at a time, so that a
// simulated result and a live one are the figures of one piece of code. It
// is used from one goroutine.
type Recording struct {
	sc        *scenario.Scenario
	opts      Options
	col       *collector
	workloads []*workloadRun // what the result names: workloads and their requests
	// lagged is set once an arrival was sent after its intended time.
	lagged bool
}

// Sample is one arrival recorded from outside the engine, as plain values.
// Offsets are from the run's start.
type Sample struct {
	// Workload and Request index the scenario's workload and its request
	// (an entry of the mix, or a session's step).
	Workload, Request int
	Intended          time.Duration
	// Sent and Done are the actual send and the completion (the answer
	// read, or the failure) of a sent arrival.
	Sent, Done time.Duration
	// Status is the answer's status code, judged by the request's expect
	// as a live answer is. 0 when no answer came back: Fate then says what
	// became of the arrival (FateDropped and FateCut were never sent), and
	// Class how a sent one failed (ClassTimeout, ...). With a Status, Class
	// is set only when the answer failed past its head (ClassTruncated: its
	// body stopped short).
	Status int
	Fate   Fate
	Class  string
	// Session is the answer's X-Ilities-Session header ("lost": the
	// backend did not know the request's session).
	Session string
	// Node is the node that answered (X-Ilities-Backend), "" when none.
	Node string
	// QueueUS and ServiceUS are the backend's own account of the request
	// (its Server-Timing: waiting for a worker, holding one), 0 when it
	// gave none.
	QueueUS, ServiceUS int32
	// Held marks an open-loop arrival that found every in-flight slot of
	// its workload busy and waited for one (report.Totals.Held).
	Held bool
}

// NewRecording returns an empty recording of a run of sc (defaults
// applied). opts give what Run would be given: Version, Segment and the
// target as URL or URLs (for the result's names), and NodeStats, read once
// by Result.
func NewRecording(sc *scenario.Scenario, opts Options) (*Recording, error) {
	if sc == nil || len(sc.Workload) == 0 {
		return nil, errors.New("runner: the scenario has no workload")
	}
	r := &Recording{sc: sc, opts: opts}
	requests := make([]int, len(sc.Workload))
	var settle time.Duration
	for i, spec := range sc.Workload {
		reqs, err := newRequests(sc, spec, opts.version())
		if err != nil {
			return nil, err
		}
		r.workloads = append(r.workloads, &workloadRun{index: i, name: spec.Name, model: spec.Model, closed: spec.Closed(), requests: reqs,
			maxInflight: spec.MaxInflight, maxConns: cmp.Or(spec.Client.MaxConnections, spec.MaxInflight)})
		requests[i] = len(reqs)
		settle = max(settle, spec.MaxLateness.D()+spec.Timeout.D())
	}
	r.col = newCollector(requests, settle+2*harvestEvery, int(math.Ceil(sc.Warmup.D().Seconds())))
	return r, nil
}

// Add records one arrival and reports whether it succeeded: an answer
// its request's expect accepts. A closed workload's request was sent when
// its user was ready (Intended is its Sent): it has no send lag.
func (r *Recording) Add(s Sample) (succeeded bool) {
	smp := sample{
		intended:  s.Intended,
		sent:      s.Sent,
		done:      s.Done,
		node:      s.Node,
		station:   stationTiming{queueUS: s.QueueUS, serviceUS: s.ServiceUS},
		outcome:   r.outcomeOf(&s),
		responded: s.Status != 0,
		req:       uint16(s.Request),
		status:    uint16(s.Status),
		closed:    r.workloads[s.Workload].closed,
		held:      s.Held,
	}
	r.lagged = r.lagged || smp.wasSent() && s.Sent > s.Intended
	r.col.add(&smp, s.Workload)
	return smp.outcome == outSuccess
}

// outcomeOf judges an answer by its request's expect, or names the fate
// of an arrival that got none.
func (r *Recording) outcomeOf(s *Sample) outcome {
	switch {
	case s.Status != 0 && s.Class == "":
		return r.workloads[s.Workload].requests[s.Request].expect.classify(response{status: s.Status, session: s.Session})
	case s.Status != 0:
		return outcomeOfClass(s.Class)
	}
	switch s.Fate {
	case FateSucceeded:
		return outSuccess
	case FateDropped:
		return outDropped
	case FateCut:
		return outCut
	case FateExhausted:
		return outExhausted
	}
	return outcomeOfClass(s.Class)
}

// outcomeOfClass is the failed outcome of a failure class.
func outcomeOfClass(class string) outcome {
	for o := outRefused; o < numOutcomes; o++ {
		if o.class() == class {
			return o
		}
	}
	return outOther
}

// Advance tells the recording that no arrival recorded from now on is
// intended before now less the longest max_lateness and timeout: the
// windows before are finished and leave memory, as Run's collector
// finishes them once a second.
func (r *Recording) Advance(now time.Duration) { r.col.closeWindows(now) }

// Result assembles the result of the run, started at started and as long
// as the scenario's duration, exactly as Run does, with no apparatus
// measured and nothing interrupted. When no arrival was sent late, the
// run has no send lag at all: the generator's and the apparatus's are left
// empty, where the histograms would show their floor (1µs).
func (r *Recording) Result(started time.Time) (*report.Result, error) {
	d := r.sc.Duration.D()
	res, err := buildResult(r.sc, r.opts, r.col, r.workloads, started, d, d, false, nil)
	if err != nil || r.lagged {
		return res, err
	}
	res.Generator.SendLagMS, res.Generator.SendLagHistogram = report.Percentiles{}, ""
	for i := range res.Apparatus.Windows {
		w := &res.Apparatus.Windows[i]
		w.SendLagP50, w.SendLagP99, w.SendLagMax = 0, 0, 0
	}
	res.Apparatus.Assess(res.Generator.SendLagMS)
	return res, nil
}
