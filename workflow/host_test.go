package workflow

import (
	"time"

	"github.com/ilities/ilities/report"
)

// hostDelayTolerated is the tool's delay up to which a comparison's checks
// hold (a detection and a recovery seen, rankings by p99): report's
// threshold for a disturbed window, below the scenarios' timeouts and
// health-check intervals and the p99 gaps between the variants.
const hostDelayTolerated = time.Duration(report.DisturbedAboveMS * float64(time.Millisecond))

// hostDelayed says whether some window of the run had an apparatus delay
// above tolerated, with the figures to print when a check is skipped for it.
func hostDelayed(res *report.Result, tolerated time.Duration) (bool, string) {
	why := report.DelayedBeyond(res, tolerated)
	return why != "", why
}
