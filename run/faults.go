package run

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// faultTopology is what the fault timeline needs of the SUT.
type faultTopology interface {
	Inject(f scenario.Fault) (sut.Lift, error)
	// Forwarded counts requests the proxy has sent to each node so far.
	Forwarded() map[string]int64
	// HealthEvents are each proxy replica's health events.
	HealthEvents() [][]sut.HealthEvent
}

const (
	// trafficPoll is how often the proxy's per-node counters are read to see
	// when it stopped sending requests to a faulted node.
	trafficPoll = 10 * time.Millisecond
	// trafficQuiet is how long a faulted node must get no request, up to the
	// fault's end, for the proxy to count as having stopped sending to it.
	trafficQuiet = time.Second
)

// faultTimeline fires a scenario's faults at their offsets from the start
// of the run, lifts them after their for:, and watches which node the
// proxy stops sending to.
type faultTimeline struct {
	topo   faultTopology
	faults []scenario.Fault

	start time.Time
	stop  <-chan struct{} // the run's context's Done: begin's
	wg    sync.WaitGroup

	mu      sync.Mutex
	records []faultRecord // index-aligned with faults
}

type faultRecord struct {
	fired, ended bool
	at, end      time.Duration // actual, from the start of the run
	lift         sut.Lift
	err          error
	// Traffic to the node while the fault is on: the count last seen and
	// when it last changed.
	count      int64
	lastChange time.Duration
	seen       bool
}

func newFaultTimeline(topo faultTopology, faults []scenario.Fault) *faultTimeline {
	return &faultTimeline{topo: topo, faults: faults, records: make([]faultRecord, len(faults))}
}

// begin starts the timeline with the run's time origin; it stops when ctx
// ends: faults not yet fired never will be.
func (ft *faultTimeline) begin(ctx context.Context, start time.Time) {
	ft.start, ft.stop = start, ctx.Done()
	if len(ft.faults) == 0 {
		return
	}
	for i := range ft.faults {
		ft.wg.Go(func() {
			defer crash.Guard()
			ft.play(i)
		})
	}
	ft.wg.Go(func() {
		defer crash.Guard()
		ft.watch()
	})
}

// sleepUntil waits until offset at of the run, precisely (a runtime
// timer can wake a millisecond late). False when the timeline was stopped,
// also in the instant of the wake-up.
func (ft *faultTimeline) sleepUntil(at time.Duration) bool {
	if !hrtimer.Sleep(at-time.Since(ft.start), ft.stop) {
		return false
	}
	select {
	case <-ft.stop:
		return false
	default:
		return true
	}
}

// play fires fault i, then lifts it after its for:.
func (ft *faultTimeline) play(i int) {
	f := ft.faults[i]
	if !ft.sleepUntil(f.At.D()) {
		return
	}
	lift, err := ft.topo.Inject(f)
	at := time.Since(ft.start)
	ft.mu.Lock()
	r := &ft.records[i]
	r.fired, r.at, r.lift, r.err = true, at, lift, err
	if count, ok := ft.topo.Forwarded()[f.Node]; ok {
		r.count, r.lastChange, r.seen = count, at, true
	}
	ft.mu.Unlock()
	if err != nil || f.For <= 0 || lift == nil {
		return
	}
	if !ft.sleepUntil(f.At.D() + f.For.D()) {
		return
	}
	err = lift()
	end := time.Since(ft.start)
	ft.mu.Lock()
	r.ended, r.end = true, end
	if err != nil && r.err == nil {
		r.err = err
	}
	ft.mu.Unlock()
}

// watch reads the proxy's per-node counters while faults are on. It is not
// the run's sampler (sampler.go): a detection time wants the counters every
// 10 ms, and only while a fault is on, where the windows want every figure
// once a second.
func (ft *faultTimeline) watch() {
	tick := time.NewTicker(trafficPoll)
	defer tick.Stop()
	for {
		select {
		case <-ft.stop:
			return
		case <-tick.C:
		}
		if !ft.anyOn() {
			continue // no read: a SUT apart answers it over its control API
		}
		counts := ft.topo.Forwarded()
		now := time.Since(ft.start)
		ft.mu.Lock()
		for i := range ft.records {
			r := &ft.records[i]
			if !r.fired || r.ended || r.err != nil {
				continue
			}
			c, ok := counts[ft.faults[i].Node]
			if !ok {
				continue
			}
			if !r.seen || c != r.count {
				r.count, r.lastChange, r.seen = c, now, true
			}
		}
		ft.mu.Unlock()
	}
}

// anyOn reports whether a fault is on, whose node's traffic is watched.
func (ft *faultTimeline) anyOn() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, r := range ft.records {
		if r.fired && !r.ended && r.err == nil {
			return true
		}
	}
	return false
}

// finish lifts the faults still on once the timeline has stopped (the
// caller has ended the context begin was given).
func (ft *faultTimeline) finish() {
	ft.wg.Wait()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for i := range ft.records {
		r := &ft.records[i]
		if r.fired && !r.ended && r.lift != nil {
			if err := r.lift(); err != nil && r.err == nil {
				r.err = err
			}
		}
	}
}

// active names the faults in effect now, for the progress line.
func (ft *faultTimeline) active() []string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var out []string
	for i, r := range ft.records {
		if r.fired && !r.ended && r.err == nil && !ft.faults[i].IsTopologyEvent() {
			out = append(out, ft.faults[i].Kind+" "+ft.faults[i].Node)
		}
	}
	return out
}

// results lists the faults that fired, in time order, with their actual
// times and detection times; runEnd is the measured length of the run.
// Recovery times come later, from the windows (report.ApplyRecoveryTimes).
func (ft *faultTimeline) results(runEnd time.Duration) []report.Fault {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var fired []FiredFault
	for i, r := range ft.records {
		if r.fired {
			fired = append(fired, FiredFault{
				Fault: ft.faults[i], At: r.at, End: r.end, Ended: r.ended, Err: r.err,
				LastForward: r.lastChange, Watched: r.seen,
			})
		}
	}
	return FaultResults(fired, ft.start, runEnd, ft.topo.HealthEvents())
}

// FiredFault is what became of one fault of a run's timeline, as plain
// data: when it took effect and was lifted, from the start of the run, and
// the traffic to its node while it was on.
type FiredFault struct {
	Fault   scenario.Fault
	At, End time.Duration
	Ended   bool  // lifted before the run ended, at End
	Err     error // it could not be applied, or lifted
	// LastForward is when the proxy last sent the node a request while the
	// fault was on (At when it sent none); Watched says the node's traffic
	// was followed at all.
	LastForward time.Duration
	Watched     bool
}

// FaultResults is result.json's faults[]: each fired fault, in time order,
// with its actual times and its detection time, from the proxy replicas'
// health events (their times on the run's clock, which began at start) or,
// lacking them, from the node's traffic. runEnd is the measured length of
// the run. Recovery times come later, from the windows
// (report.ApplyRecoveryTimes).
func FaultResults(fired []FiredFault, start time.Time, runEnd time.Duration, events [][]sut.HealthEvent) []report.Fault {
	out := []report.Fault{}
	for _, r := range fired {
		f := r.Fault
		rf := report.Fault{
			Kind:           f.Kind,
			Node:           f.Node,
			PlannedAtS:     f.At.D().Seconds(),
			AtS:            roundMS(r.At),
			ForS:           f.For.D().Seconds(),
			DetectionTimeS: -1,
			RecoveryTimeS:  -1,
		}
		end := runEnd
		if r.Ended {
			rf.EndS = roundMS(r.End)
			end = r.End
		}
		if r.Err != nil {
			rf.Error = r.Err.Error()
			out = append(out, rf)
			continue
		}
		if d, by, ok := detection(f.Node, start.Add(r.At), start.Add(end), events); ok {
			rf.DetectionTimeS, rf.DetectedBy = roundMS(d), by
		} else if r.Watched && end-r.LastForward >= min(trafficQuiet, (end-r.At)/2) {
			rf.DetectionTimeS, rf.DetectedBy = roundMS(max(r.LastForward-r.At, 0)), "traffic"
		}
		out = append(out, rf)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].AtS < out[b].AtS })
	return out
}

// detection finds when every proxy replica had taken node out of service
// within [from, to]: the latest of their first health events doing so.
func detection(node string, from, to time.Time, replicas [][]sut.HealthEvent) (time.Duration, string, bool) {
	var latest time.Duration
	var reason string
	for _, events := range replicas {
		found := false
		for _, e := range events {
			if e.Upstream == node && !e.Healthy && !e.At.Before(from) && !e.At.After(to) {
				if d := e.At.Sub(from); !found && (reason == "" || d >= latest) {
					latest, reason = d, e.Reason
				}
				found = true
				break
			}
		}
		if !found {
			return 0, "", false
		}
	}
	return latest, reason, len(replicas) > 0
}

func roundMS(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }
