package workflow

import (
	"context"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

// executor is how a workflow carries out its runs, chosen once from its
// options: live (run.Execute, on this machine, in real time) or simulated
// (sim.Run, on a virtual clock). The workflows call its functions and
// never ask which it is.
type executor struct {
	// execute runs one scenario to its evaluated result.
	execute func(context.Context, *scenario.Scenario) (*report.Result, error)
	// invalidity says why a step's result proves nothing about the SUT
	// ("" when it does; see invalidity).
	invalidity func([]scenario.Requirement, *report.Result) (string, stepCheck)
	// unsupported refuses, before anything runs, what the executor cannot
	// run (nil when it runs everything).
	unsupported func(*scenario.Scenario) error
	// mode is its results' report.Result.Mode: "" live, or
	// report.ModeSimulated.
	mode string
	// model is the simulation's constants and where they came from; nil
	// live.
	model *report.SimulationModel
}

// newExecutor is the live executor, or with simulate the simulated one
// (the model's constants as ilities simulate takes them by default: this
// machine's calibration file when there is one, else the built-in
// defaults), each reporting version.
func newExecutor(simulate bool, version string) executor {
	if simulate {
		opts, model, err := sim.Constants("")
		opts.Version = version
		return executor{
			execute: func(ctx context.Context, sc *scenario.Scenario) (*report.Result, error) {
				res, err := sim.Run(ctx, sc, opts)
				if res != nil {
					res.Manifest.Simulation = model
				}
				return res, err
			},
			invalidity: simulatedValidity,
			unsupported: func(sc *scenario.Scenario) error {
				if err != nil { // an unreadable calibration file: nothing runs
					return err
				}
				return sim.Unsupported(sc)
			},
			mode:  report.ModeSimulated,
			model: model,
		}
	}
	return executor{
		execute: func(ctx context.Context, sc *scenario.Scenario) (*report.Result, error) {
			return run.Execute(ctx, sc, run.Options{Options: runner.Options{Version: version}})
		},
		invalidity:  invalidity,
		unsupported: run.Refused,
	}
}

// simulatedValidity finds every simulated step valid as far as the
// apparatus goes: the apparatus, whose delays invalidate a live step, is
// not simulated. A simulated generator falls behind only when the
// scenario's max_inflight held its arrivals, which runStep judges for
// live and simulated steps alike (Step.LimitedBy).
func simulatedValidity([]scenario.Requirement, *report.Result) (string, stepCheck) {
	return "", stepCheck{}
}

// simulatedSuffix is what a title adds for results of mode.
func simulatedSuffix(mode string) string {
	if mode == report.ModeSimulated {
		return " (simulated)"
	}
	return ""
}
