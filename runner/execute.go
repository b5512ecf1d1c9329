package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// Execute carries out a whole scenario: it starts the built-in SUT when the
// scenario has one (or targets the external URL), runs the load with the
// fault timeline on the same clock, samples the nodes' utilisation every
// second, reads the nodes' own figures, computes the faults' detection and
// recovery times and the availability projection, and evaluates the
// requirements into a verdict.
//
// It returns a nil result only when nothing could be measured (the SUT did
// not start). Otherwise the result is complete as far as the run went, and
// the error, if any, says why the run could not be carried out.
func Execute(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	var after func(*report.Result) error
	switch {
	case sc.SUT != nil:
		topo, err := sut.Start(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("starting the built-in SUT: %w", err)
		}
		defer topo.Close()
		after = instrument(sc, topo, &opts)
	case sc.Target != nil:
		opts.URLs = sc.Target.URLList()
		opts.URL = opts.URLs[0]
	}
	res, err := Run(ctx, sc, opts)
	if after != nil {
		if aerr := after(res); err == nil {
			err = aerr
		}
	}
	if res != nil {
		res.Manifest = report.NewManifest(sc.File)
		res.Manifest.OpenFilesLimit = OpenFileLimit()
		report.Evaluate(res, sc.Requirements)
	}
	return res, err
}

// The waits for a CPU a request makes inside the built-in SUT in this
// process: the proxy reading the request and the answer (its event loops),
// the backend's handler and the end of its service (goroutines); with a
// real proxy in front of the simulated backends (hybrid mode), only the
// backend's two.
const (
	builtinWakeups     = 4
	builtinLoopWakeups = 2
	hybridWakeups      = 2
)

// instrument wires the built-in topology into the run: its URLs, its nodes'
// figures, the fault timeline and the utilisation sampling, all started on
// the run's clock. The returned function stops them once the run is over
// and puts what they saw into the result (which may be nil); it fails only
// when the samplers' readings cannot be read back.
func instrument(sc *scenario.Scenario, topo *sut.Topology, opts *Options) func(*report.Result) error {
	opts.URLs = topo.URLs()
	opts.URL = opts.URLs[0]
	opts.SUTWakeups, opts.SUTLoopWakeups = builtinWakeups, builtinLoopWakeups
	if topo.External() != nil {
		// The real proxy runs apart, unmeasured; the backends' waits remain.
		opts.SUTWakeups, opts.SUTLoopWakeups = hybridWakeups, 0
	}
	opts.NodeStats = func() []NodeReport {
		var out []NodeReport
		for _, n := range topo.Nodes() {
			out = append(out, NodeReport{Name: n.Name, Weight: n.Weight, Utilisation: n.Utilisation})
		}
		return out
	}
	timeline := newFaultTimeline(topo, sc.Faults)
	sampler := newNodeSampler(topo.Nodes)
	proxySamples := newProxySampler(topo.ReplicaStats)
	started := opts.Started
	opts.Started = func(t0 time.Time) {
		topo.ResetStats() // utilisation and counters cover the run only
		timeline.begin(t0)
		sampler.begin(t0)
		proxySamples.begin(t0)
		if started != nil {
			started(t0)
		}
	}
	if len(sc.Faults) > 0 && opts.ActiveFaults == nil {
		opts.ActiveFaults = timeline.active
	}
	return func(res *report.Result) error {
		defer sampler.close()
		defer proxySamples.close()
		runEnd := time.Duration(0)
		if res != nil {
			runEnd = time.Duration(res.MeasuredS * float64(time.Second))
		}
		timeline.finish()
		sampler.finish()
		proxySamples.finish()
		if res == nil {
			return nil
		}
		// Failing to read back some readings leaves the rest of the result whole.
		err := errors.Join(sampler.attach(res), proxySamples.attach(res))
		res.Faults = timeline.results(runEnd)
		report.ApplyRecoveryTimes(res, sc.WindowOK.Fraction())
		var mtbf []report.NodeMTBF
		for _, n := range topo.Nodes() {
			mtbf = append(mtbf, report.NodeMTBF{Name: n.Name, Pool: n.Pool, MTBF: n.MTBF})
		}
		res.Projection = report.ProjectRun(mtbf, res.Faults, runEnd.Seconds())
		return err
	}
}
