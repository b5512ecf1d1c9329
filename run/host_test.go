package run

import (
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// hostDelayForExactCounts is the tool's delay up to which an end-to-end
// check may expect exact counts and times: report's threshold for a
// disturbed window, below any timeout, lateness bound or health-check
// interval the tests set.
const hostDelayForExactCounts = time.Duration(report.DisturbedAboveMS * float64(time.Millisecond))

// skipWhenHostDelayed skips the rest of a check when some window of the
// run had an apparatus delay above tolerated: the check cannot tell the
// host's doing from the code's then.
func skipWhenHostDelayed(t *testing.T, res *report.Result, tolerated time.Duration) {
	t.Helper()
	if why := report.DelayedBeyond(res, tolerated); why != "" {
		t.Skip(why)
	}
}
