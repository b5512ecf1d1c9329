package runner

import (
	"strings"
	"testing"

	"github.com/ilities/ilities/report"
)

// The generator is saturated when it could not offer the load: drops,
// arrivals mostly sent late for reasons of its own, or more than a handful
// cut at the end; not when a few are cut or the machine explains the
// lateness.
func TestGeneratorSaturation(t *testing.T) {
	quietMachine := &report.Apparatus{HiccupMS: report.Percentiles{Count: 1000, P50: 0.05, P99: 0.2}}
	stalledMachine := &report.Apparatus{HiccupMS: report.Percentiles{Count: 1000, P50: 3, P99: 680}}
	// Beside 160 spinning threads: short sleeps wake nearly on time, but
	// the process gets 1.7% of a processor.
	starvedMachine := &report.Apparatus{HiccupMS: report.Percentiles{Count: 1000, P50: 2, P99: 218}, CPUShare: 0.0085, Processors: 2, CPUPressure: 0.997}
	busyGenerator := &report.Apparatus{HiccupMS: quietMachine.HiccupMS, CPUShare: 0.5, Processors: 2, CPUPressure: 0.9}
	for _, tc := range []struct {
		name      string
		totals    report.Totals
		lagP50    float64
		a         *report.Apparatus
		saturated bool
		reason    string
	}{
		{"on time", report.Totals{Scheduled: 10000, Succeeded: 10000}, 0.05, quietMachine, false, ""},
		{"a handful cut at the end", report.Totals{Scheduled: 10000, Succeeded: 9950, CutAtEnd: 50}, 0.05, quietMachine, false, "were cut"},
		{"a stall cut a third", report.Totals{Scheduled: 10000, Succeeded: 6203, Late: 2455, CutAtEnd: 3797}, 0.04, stalledMachine, true, "3797 of 10000 arrivals (38.0%) were never sent"},
		{"dropped", report.Totals{Scheduled: 10000, Succeeded: 9999, Dropped: 1}, 0.05, quietMachine, true, "dropped"},
		{"mostly late, its own doing", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 4, quietMachine, true, "could not keep up"},
		{"mostly late, the machine's doing", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 4, stalledMachine, false, "the machine delayed the tool"},
		{"mostly late, starved by the machine", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 3588, starvedMachine, true, "the machine starved the tool: it ran on 1.7% of one processor"},
		{"cut, starved by the machine", report.Totals{Scheduled: 10000, Succeeded: 7516, Late: 7515, CutAtEnd: 2484}, 3588, starvedMachine, true, "while some task waited for a CPU 100% of the time"},
		{"mostly late on a whole processor", report.Totals{Scheduled: 10000, Succeeded: 10000, Late: 6000}, 4, busyGenerator, true, "lower the rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := generatorOf(tc.totals, report.Percentiles{Count: 1, P50: tc.lagP50, P99: 10 * tc.lagP50}, tc.a)
			if g.Saturated != tc.saturated || !strings.Contains(g.Reason, tc.reason) {
				t.Errorf("saturated %v (%q), want %v with %q", g.Saturated, g.Reason, tc.saturated, tc.reason)
			}
		})
	}
}
