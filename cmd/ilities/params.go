package main

import (
	"github.com/spf13/cobra"

	"github.com/ilities/ilities/scenario"
)

// The help of run and validate: where a scenario's values come from.
const (
	runLong = `Run a scenario and check its requirements.

SCENARIO may be - for standard input. Its ${VAR} and ${VAR:-default} are read
from the environment; --set PATH=VALUE sets any field as if the file said so,
and --target, --rate and --duration point it at a URL, at a constant rate, for
a length of time.`
	runExample = `  ilities run checkout.yaml --out results
  ilities run smoke.yaml --target http://127.0.0.1:8080 --rate 200/s --duration 30s
  ilities run checkout.yaml --set workload.0.rate=200/s --set 'requirements.1=p99(latency) < 80ms'
  git show main:gate.yaml | ilities run - --quiet`
	validateLong = `Check a scenario file without running it, as run would load it: with its
variables from the environment and the same --set, --target, --rate and
--duration. SCENARIO may be - for standard input.`
)

// scenarioFlag marks the flags loadOptions reads (serve's own --duration
// is not one).
const scenarioFlag = "scenario"

// setFlag gives a command that loads a scenario --set PATH=VALUE.
func setFlag(cmd *cobra.Command) {
	cmd.Flags().StringArray("set", nil, "set the scenario's field at a YAML path to a value, `PATH=VALUE`, as if the file said so (repeatable): workload.0.rate=200/s, sut.proxy.strategy=least-connections, requirements.1='p99(latency) < 80ms'")
	markScenarioFlags(cmd, "set")
}

// shapeFlags give run and validate the shorthands a CI gate against its
// own service needs: where, how fast, how long.
func shapeFlags(cmd *cobra.Command) {
	cmd.Flags().String("target", "", "point the scenario at `URL`, in place of its target: (a scenario with a built-in sut: is an error)")
	markScenarioFlags(cmd, "target")
	loadFlags(cmd)
}

// loadFlags are the shorthands of shapeFlags that keep the scenario's
// SUT: how fast, how long (simulate has them, not --target).
func loadFlags(cmd *cobra.Command) {
	cmd.Flags().String("rate", "", "the constant arrival `RATE` of every open workload, such as 200/s (a staged or closed workload is an error)")
	cmd.Flags().String("duration", "", "the run's length, such as 30s")
	markScenarioFlags(cmd, "rate", "duration")
}

func markScenarioFlags(cmd *cobra.Command, names ...string) {
	for _, name := range names {
		_ = cmd.Flags().SetAnnotation(name, scenarioFlag, []string{"true"})
	}
}

// loadOptions reads the command's scenario flags: --allow-paths, and
// --set, --target, --rate, --duration where it has them.
func loadOptions(cmd *cobra.Command) (scenario.LoadOptions, error) {
	opts := scenario.LoadOptions{Stdin: cmd.InOrStdin()}
	var err error
	if opts.AllowPaths, err = cmd.Flags().GetStringSlice("allow-paths"); err != nil {
		return opts, err
	}
	if isScenarioFlag(cmd, "set") {
		texts, err := cmd.Flags().GetStringArray("set")
		if err != nil {
			return opts, err
		}
		for _, text := range texts {
			set, err := scenario.ParseSet(text)
			if err != nil {
				return opts, err
			}
			opts.Sets = append(opts.Sets, set)
		}
	}
	for name, dst := range map[string]*string{"target": &opts.Target, "rate": &opts.Rate, "duration": &opts.Duration} {
		if isScenarioFlag(cmd, name) {
			*dst = cmd.Flags().Lookup(name).Value.String()
		}
	}
	return opts, nil
}

func isScenarioFlag(cmd *cobra.Command, name string) bool {
	f := cmd.Flags().Lookup(name)
	return f != nil && f.Annotations[scenarioFlag] != nil
}
