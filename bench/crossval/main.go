// Command crossval checks the simulation against live runs: for every
// example scenario, one live run (ilities run) and one simulation of the
// same scenario and seed (ilities simulate), compared figure by figure
// (sim.CrossCompare) within the bounds of sim.CrossBounds.
//
//	make build && go run ./bench/crossval [-bin bin/ilities] [-only NAME] [-calibration FILE]
//
// Each example gets a table: the figure, the live and simulated values,
// their difference (relative for means, shares and rates; absolute, in
// seconds, for times), the bound stated for that figure (widened, for a
// latency, by the live run's apparatus delay) and whether it holds. A live
// run the apparatus calls disturbed is marked so: its figures are shown and
// not judged. The last line counts the figures within their bounds out of
// those judged. Timing figures mean something only on a quiet machine.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/run"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sim"
)

func main() {
	bin := flag.String("bin", "bin/ilities", "the built binary")
	only := flag.String("only", "", "compare only the examples whose name contains this")
	calibration := flag.String("calibration", "", "the calibration file the simulations take (default: simulate's own default)")
	examples := flag.String("examples", "examples", "the folder of example scenarios")
	keep := flag.String("keep", "", "keep the runs' output under this directory")
	flag.Parse()

	files, err := filepath.Glob(filepath.Join(*examples, "*.yaml"))
	if err != nil {
		fail(err)
	}
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "crossval")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	up, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# %s, loadavg %s", time.Now().Format(time.RFC3339), up)
	judged, held, compared := 0, 0, 0
	disturbed, unjudged := 0, 0 // examples whose live run was disturbed, and their figures
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		if *only != "" && !strings.Contains(name, *only) {
			continue
		}
		if sc, err := scenario.Load(file); err == nil {
			if why := run.Refused(sc); why != nil {
				fmt.Printf("\n## %s: simulated only, nothing to compare: %v\n", name, why)
				continue
			}
		}
		live, err := result(*bin, filepath.Join(dir, name+"-live"), "run", file)
		if err != nil {
			fmt.Printf("\n## %s: live run: %v\n", name, err)
			continue
		}
		args := []string{file}
		if *calibration != "" {
			args = append(args, "--calibration", *calibration)
		}
		simulated, err := result(*bin, filepath.Join(dir, name+"-sim"), "simulate", args...)
		if err != nil {
			fmt.Printf("\n## %s: simulation: %v\n", name, err)
			continue
		}
		c := sim.CrossCompare(live, simulated)
		printTable(name, simulated, c)
		compared++
		if c.Disturbed != "" {
			disturbed++
			unjudged += len(c.Figures)
			continue
		}
		judged += len(c.Figures)
		held += c.Held()
	}
	fmt.Printf("\n# %d of %d judged figures within their bounds; examples compared: %d, of which %d with a disturbed live run (%d figures compared, not judged)\n",
		held, judged, compared, disturbed, unjudged)
}

// printTable writes one example's table.
func printTable(name string, simulated *report.Result, c sim.CrossCheck) {
	model := "built-in defaults"
	if m := simulated.Manifest.Simulation; m != nil {
		model = fmt.Sprintf("%s: network delay %gµs, proxy cost %gµs", m.Source, m.NetworkDelayUS, m.ProxyCostUS)
	}
	fmt.Printf("\n## %s (model: %s)\n", name, model)
	fmt.Printf("# live apparatus delay: mean %.3fms, p99 %.3fms\n", c.ApparatusMeanMS, c.ApparatusP99MS)
	if c.Disturbed != "" {
		fmt.Printf("# DISTURBED live run, compared and not judged: %s\n", c.Disturbed)
	}
	fmt.Printf("%-34s %12s %12s %9s %9s %10s  %s\n", "figure", "live", "simulated", "diff", "bound", "allowed", "holds")
	for _, f := range c.Figures {
		holds := "yes"
		switch {
		case c.Disturbed != "":
			holds = "(not judged)"
		case !f.Holds:
			holds = "NO"
		}
		if f.Bound == "verdict" {
			fmt.Printf("%-34s %12s %12s %9s %9s %10s  %s\n", f.Name, f.LiveText, f.SimText, "", "same", "", holds)
			continue
		}
		fmt.Printf("%-34s %12s %12s %9s %9s %10s  %s\n", f.Name, value(f.Live, f.LiveText, f.Unit), value(f.Sim, f.SimText, f.Unit),
			diff(f), sim.CrossBounds[f.Bound].String(), value(f.Allowed(), "", f.Unit), holds)
	}
}

func value(v float64, text, unit string) string {
	if text != "" {
		return text
	}
	return fmt.Sprintf("%.4g%s", v, unit)
}

func diff(f sim.CrossFigure) string {
	switch {
	case f.LiveText != "" || f.SimText != "":
		return ""
	case math.IsInf(f.Diff, 0):
		return "inf"
	case sim.CrossBounds[f.Bound].Relative:
		return fmt.Sprintf("%+.2f%%", 100*f.Diff)
	}
	return fmt.Sprintf("%+.3g%s", f.Diff, f.Unit)
}

// result runs the binary's command on the scenario into out and reads its
// result.json; a failed verdict is an exit status, and the result is what
// counts.
func result(bin, out, command string, args ...string) (*report.Result, error) {
	cmd := exec.Command(bin, append([]string{command, "--out", out, "-q"}, args...)...)
	cmd.Stderr = os.Stderr
	_ = cmd.Run()
	f, err := os.Open(filepath.Join(out, "result.json"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.ReadJSON(f)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crossval:", err)
	os.Exit(1)
}
