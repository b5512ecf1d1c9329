package runner

import (
	"context"
	"fmt"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
)

// Execute carries out a whole scenario: it starts the built-in SUT when the
// scenario has one (or targets the external URL), runs the load, reads the
// nodes' own figures, and evaluates the requirements into a verdict.
//
// It returns a nil result only when nothing could be measured (the SUT did
// not start). Otherwise the result is complete as far as the run went, and
// the error, if any, says why the run could not be carried out.
func Execute(ctx context.Context, sc *scenario.Scenario, opts Options) (*report.Result, error) {
	switch {
	case sc.SUT != nil:
		topo, err := sut.Start(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("starting the built-in SUT: %w", err)
		}
		defer topo.Close()
		opts.URL = topo.URL()
		opts.NodeStats = func() []NodeReport {
			var out []NodeReport
			for _, n := range topo.Nodes() {
				out = append(out, NodeReport{Name: n.Name, Weight: n.Weight, Utilisation: n.Utilisation})
			}
			return out
		}
	case sc.Target != nil:
		opts.URL = sc.Target.URL
	}
	res, err := Run(ctx, sc, opts)
	if res != nil {
		report.Evaluate(res, sc.Requirements)
	}
	return res, err
}
