package workflow

import (
	"fmt"
	"time"

	"github.com/ilities/ilities/report"
)

// hostDelayTolerated is the tool's delay up to which a comparison's checks
// hold (a detection and a recovery seen, rankings by p99): report's
// threshold for a disturbed window, below the scenarios' timeouts and
// health-check intervals and the p99 gaps between the variants.
const hostDelayTolerated = time.Duration(report.DisturbedAboveMS * float64(time.Millisecond))

// hostDelayed says whether some window of the run had an apparatus delay
// (the run's own measure of how late the host made the tool) above
// tolerated, with the figures to print when a check is skipped for it.
func hostDelayed(res *report.Result, tolerated time.Duration) (bool, string) {
	if res == nil || res.Apparatus == nil {
		return false, ""
	}
	a := res.Apparatus
	worst, at := 0.0, -1
	for _, w := range a.Windows {
		if w.DelayMS > worst {
			worst, at = w.DelayMS, w.T
		}
	}
	if time.Duration(worst*float64(time.Millisecond)) <= tolerated {
		return false, ""
	}
	return true, fmt.Sprintf("the host delayed the tool by %.1fms (p99) in second %d, past the %v this check tolerates (run: apparatus delay p99 %.1fms, hiccup p99 %.1fms, send lag p99 %.1fms, %d of %d windows disturbed)",
		worst, at, tolerated, a.DelayMS.P99, a.HiccupMS.P99, res.Generator.SendLagMS.P99, a.DisturbedWindows, len(a.Windows))
}
