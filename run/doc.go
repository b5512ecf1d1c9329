// Package run carries out a whole run of a scenario around the load
// engine (package runner): it starts the built-in SUT, in this process or
// a child, or targets the scenario's URL; starts the fault timeline and
// the SUT's sampler on the engine's clock; and, once the engine has
// measured, adds what the SUT saw (per-window utilisation and proxy
// figures, the faults' actual, detection and recovery times, the
// availability projection, a SUT apart's own hiccups) and evaluates the
// requirements into a verdict.
//
// It also serves a built-in SUT with no run (Serve, PlayFaults), and is
// the child's side of a SUT run apart (ServeChild).
//
// The engine knows nothing of the SUT: it gets the target's URLs, a
// function that reads the nodes' own figures and a hook at its time
// origin (runner.Options), and returns plain data (report.Result).
package run
