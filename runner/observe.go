package runner

import (
	"time"

	"github.com/ilities/ilities/scenario"
)

// Observer follows a run while it goes, for live metrics (package live
// serves them to Prometheus). The engine calls it from the collector's
// goroutine only, once a second for the arrivals of the last harvest,
// never on the sending path: an implementation needs no lock against the
// engine, and what it costs delays no request.
type Observer interface {
	// Begin is called once, before the clock starts, with the workloads'
	// names in scenario order (Observation.Workload indexes them).
	Begin(workloads []string)
	// Observe is called for every arrival once it is recorded, the
	// warm-up's too, in no particular order.
	Observe(Observation)
}

// Fate is what became of one arrival.
type Fate uint8

const (
	// FateSucceeded: sent, and the response met the workload's expect.
	FateSucceeded Fate = iota
	// FateFailed: sent, and it failed (Observation.Class says how).
	FateFailed
	// FateDropped: no worker or connection was free within max_lateness.
	FateDropped
	// FateCut: due before the end of the run and still unsent at the end.
	FateCut
	// FateExhausted: not sent because a data source with when_exhausted:
	// stop had handed out every row.
	FateExhausted
)

// Observation is one arrival as live metrics see it: plain values, no
// pointer into the engine.
type Observation struct {
	Workload int
	Fate     Fate
	// Class is the failure class (ClassRefused, Class5xx, ...) when Fate
	// is FateFailed, "" otherwise.
	Class string
	// Latency is completion − intended send time, for a sent arrival.
	Latency time.Duration
	// SendLag is actual − intended send time, for a sent open-loop
	// arrival (Paced); a closed-loop request is sent when its user is
	// ready, so it has none.
	SendLag time.Duration
	Paced   bool
	// Status is the response's HTTP status code, 0 when the engine
	// recorded none.
	Status int
}

// observation is what an Observer is told of sample s of workload wl.
func observation(s *sample, wl int) Observation {
	o := Observation{Workload: wl}
	switch s.outcome {
	case outSuccess:
		o.Fate = FateSucceeded
	case outDropped:
		return Observation{Workload: wl, Fate: FateDropped}
	case outCut:
		return Observation{Workload: wl, Fate: FateCut}
	case outExhausted:
		return Observation{Workload: wl, Fate: FateExhausted}
	default:
		o.Fate, o.Class = FateFailed, s.outcome.class()
	}
	o.Latency = s.done - s.intended
	o.Status = int(s.status)
	if !s.closed {
		o.SendLag, o.Paced = s.sent-s.intended, true
	}
	return o
}

// workloadNames are the scenario's workloads' names, in order.
func workloadNames(sc *scenario.Scenario) []string {
	names := make([]string, len(sc.Workload))
	for i, w := range sc.Workload {
		names[i] = w.Name
	}
	return names
}
