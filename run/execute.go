package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// Options are a run's wiring: the load engine's, and where the scenario's
// built-in SUT runs. For a built-in SUT, Execute sets the engine's target
// URLs, NodeStats, SUT wake-ups and (when the scenario has faults)
// ActiveFaults itself.
type Options struct {
	runner.Options
	// SUTProcess is where Execute runs the scenario's built-in SUT:
	// SUTInProcess (also "") or SUTChild.
	SUTProcess string
	// SUTExecutable is the ilities binary started as the SUT's child
	// process (SUTChild), as `SUTExecutable serve --from-parent --control
	// 127.0.0.1:0`. The caller names it: this process need not be ilities.
	SUTExecutable string

	// sutChildEnv, when set, is the SUT child's environment (tests run
	// their own binary as the child).
	sutChildEnv []string
	// sutStarted, when set, is told of the built-in SUT once started (tests).
	sutStarted func(builtinSUT)
}

// Execute carries out a whole scenario: it starts the built-in SUT when the
// scenario has one, in this process or a child (Options.SUTProcess), or
// targets the external URL; runs the load (runner.Run) with the fault
// timeline and the SUT's sampler on the same clock, reads the nodes' own
// figures, computes the faults' detection and recovery times and the
// availability projection, and evaluates the requirements into a verdict.
//
// It returns a nil result only when nothing could be measured (the SUT did
// not start). Otherwise the result is complete as far as the run went, and
// the error, if any, says why the run could not be carried out.
func Execute(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	if err := Refused(sc); err != nil {
		return nil, err
	}
	var res *report.Result
	var err error
	if sc.HasSites() {
		res, err = executeSites(ctx, sc, opts)
	} else {
		res, err = executeOne(ctx, sc, opts)
	}
	if res != nil {
		res.Manifest = report.NewManifest(sc.File)
		res.Manifest.OpenFilesLimit = runner.OpenFileLimit()
		if !opts.StartAt.IsZero() {
			res.Manifest.PlannedStart, res.Manifest.T0 = opts.StartAt.Round(0).UTC(), res.Started.Round(0).UTC()
		}
		report.Evaluate(res, sc.Requirements)
	}
	return res, err
}

// executeOne runs the load against the scenario's one built-in SUT or
// its target.
func executeOne(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	load := opts.Options
	var after func(*report.Result) error
	switch {
	case sc.SUT != nil:
		topo, err := startBuiltin(ctx, sc, opts)
		if err != nil {
			return nil, fmt.Errorf("starting the built-in SUT: %w", err)
		}
		defer topo.Close()
		if opts.sutStarted != nil {
			opts.sutStarted(topo)
		}
		after = instrument(ctx, sc, topo, &load)
	case sc.Target != nil:
		load.URLs = sc.Target.URLList()
		load.URL = load.URLs[0]
	}
	res, err := runner.Run(ctx, sc, load)
	if after != nil {
		// What happened to the SUT (a lost child process) comes first: it
		// is usually why the run went wrong too.
		if aerr := after(res); aerr != nil {
			err = errors.Join(aerr, err)
		}
	}
	return res, err
}

// Refused names, at its place in the scenario, what a live run does not
// run; nil when it runs everything the scenario asks, as it now does
// every scenario the loader accepts (several sites behind DNS included:
// sites.go). run, the live workflows and bench/crossval ask it first.
func Refused(*scenario.Scenario) error { return nil }

// Where the built-in SUT runs (Options.SUTProcess).
const (
	// SUTInProcess runs it in the generator's process (the default).
	SUTInProcess = "in"
	// SUTChild runs it in a child process (ilities serve), with its own
	// hiccup sampler, driven through its control API.
	SUTChild = "child"
)

// builtinSUT is what a run needs of the built-in SUT, wherever it runs:
// *sut.Topology in this process, *sut.Remote in a child.
type builtinSUT interface {
	faultTopology
	sutStats
	URLs() []string
	ResetStats()
	Close() error
}

// apartSUT is a built-in SUT in a process of its own: its own sampler
// measures its delays, and it can be lost.
type apartSUT interface {
	Begin(start time.Time) error
	Hiccups(windows int) (sut.Hiccups, error)
	// Err is why the process could not be reached, or nil.
	Err() error
}

var (
	_ builtinSUT = (*sut.Topology)(nil)
	_ builtinSUT = (*sut.Remote)(nil)
	_ apartSUT   = (*sut.Remote)(nil)
)

// childArgs are the arguments of the ilities binary serving the SUT apart.
var childArgs = []string{"serve", "--from-parent", "--control", "127.0.0.1:0"}

// startBuiltin starts the scenario's built-in SUT where opts say.
func startBuiltin(ctx context.Context, sc *scenario.Scenario, opts Options) (builtinSUT, error) {
	switch opts.SUTProcess {
	case "", SUTInProcess:
		return sut.Start(ctx, sc)
	case SUTChild:
		if opts.SUTExecutable == "" {
			return nil, errors.New("a SUT in a child process needs the ilities executable (Options.SUTExecutable)")
		}
		return sut.StartChild(ctx, sc, opts.SUTExecutable, childArgs, opts.sutChildEnv)
	}
	return nil, fmt.Errorf("SUT process %q: want %q or %q", opts.SUTProcess, SUTInProcess, SUTChild)
}

// The waits for a CPU a request makes inside the built-in SUT: the proxy reading the request and the answer (its event loops),
// the backend's handler and the end of its service (goroutines); with a
// real proxy in front of the simulated backends (hybrid mode), only the
// backend's two.
const (
	builtinWakeups     = 4
	builtinLoopWakeups = 2
	hybridWakeups      = 2
)

// instrument wires the built-in topology into the run: its URLs, its nodes'
// figures, the fault timeline and the sampler, both started on the run's
// clock and stopped when ctx ends or the run is over. The returned function
// stops them once the run is over and puts what they saw into the result
// (which may be nil); it fails only when the sampler's readings cannot be
// read back or, for a SUT apart, its process was lost.
func instrument(ctx context.Context, sc *scenario.Scenario, topo builtinSUT, opts *runner.Options) func(*report.Result) error {
	opts.URLs = topo.URLs()
	opts.URL = opts.URLs[0]
	apart, isApart := topo.(apartSUT)
	switch t, _ := topo.(*sut.Topology); {
	case isApart:
		// The same waits, each measured by its own process's sampler
		// (Apparatus.SUTHiccupMS).
		opts.SUTWakeups, opts.SUTLoopWakeups = builtinWakeups, builtinLoopWakeups
	case t != nil && t.External() != nil:
		// The real proxy runs apart, unmeasured; the backends' waits remain.
		opts.SUTWakeups, opts.SUTLoopWakeups = hybridWakeups, 0
	default:
		opts.SUTWakeups, opts.SUTLoopWakeups = builtinWakeups, builtinLoopWakeups
	}
	opts.SUTWakeups += tierWakeups(sc.SUT) // the calls between tiers
	opts.NodeStats = nodeReports(topo)
	ctx, stop := context.WithCancel(ctx)
	timeline := newFaultTimeline(topo, sc.Faults)
	sampler := newSampler(topo)
	sampler.observer, _ = opts.Observer.(NodeObserver)
	started := opts.Started
	opts.Started = func(t0 time.Time) {
		topo.ResetStats() // utilisation and counters cover the run only
		if isApart {
			_ = apart.Begin(t0) // a failure is the remote's Err, reported at the end
		}
		timeline.begin(ctx, t0)
		sampler.begin(ctx, t0)
		if started != nil {
			started(t0)
		}
	}
	if len(sc.Faults) > 0 && opts.ActiveFaults == nil {
		opts.ActiveFaults = timeline.active
	}
	return func(res *report.Result) error {
		stop()
		timeline.finish()
		sampler.finish()
		defer sampler.close()
		runEnd := time.Duration(0)
		if res != nil {
			runEnd = time.Duration(res.MeasuredS * float64(time.Second))
		}
		if res == nil {
			if isApart {
				return apart.Err()
			}
			return nil
		}
		attachTiers(res, sc.SUT, topo.Nodes())
		// Failing to read back the readings leaves the rest of the result whole.
		err := sampler.attach(res)
		if isApart && apart.Err() == nil {
			err = errors.Join(err, attachSUTHiccups(res, apart))
		}
		res.Faults = timeline.results(runEnd)
		report.ApplyRecoveryTimes(res, sc.WindowOK.Fraction())
		res.Projection = report.Project(sc, res.Faults, runEnd.Seconds())
		res.SinglePointsOfFailure = report.SinglePointsOfFailure(sc)
		if isApart {
			if lost := apart.Err(); lost != nil {
				// Whatever it measured until then stays in the result.
				err = errors.Join(fmt.Errorf("the built-in SUT's process was lost during the run: %w", lost), err)
			}
		}
		return err
	}
}

// nodeReports reads the nodes' own figures at the end of the run
// (runner.Options.NodeStats).
func nodeReports(s sutStats) func() []runner.NodeReport {
	return func() []runner.NodeReport {
		var out []runner.NodeReport
		for _, n := range s.Nodes() {
			out = append(out, runner.NodeReport{Name: n.Name, Weight: n.Weight, Utilisation: n.Utilisation})
		}
		return out
	}
}

// attachSUTHiccups puts the SUT process's own hiccups into the result's
// apparatus and assesses it again with them.
func attachSUTHiccups(res *report.Result, apart apartSUT) error {
	a := res.Apparatus
	if a == nil {
		return nil
	}
	h, err := apart.Hiccups(len(a.Windows))
	if err != nil {
		return fmt.Errorf("reading the SUT's hiccups: %w", err)
	}
	if h.Histogram == "" {
		return nil // not measured
	}
	hist, err := report.DecodeHistogram(h.Histogram)
	if err != nil {
		return fmt.Errorf("reading the SUT's hiccups: %w", err)
	}
	p := report.PercentilesOf(hist)
	a.SUTHiccupMS, a.SUTHiccupHistogram = &p, h.Histogram
	for _, w := range h.Windows {
		if aw := a.Window(w.T); aw != nil {
			aw.SUTHiccupP99, aw.SUTHiccupMax = w.P99MS, w.MaxMS
		}
	}
	a.Assess(res.Generator.SendLagMS)
	return nil
}
