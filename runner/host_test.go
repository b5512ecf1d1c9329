package runner

import (
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/report"
)

// sentArrivals checks that a run scheduled exactly want arrivals, every one
// accounted for, and returns how many were sent. An arrival is dropped when
// the generator could not send it in time; on a quiet host none is, so a
// drop is an error unless the scheduling delay measured over the run (host)
// reached spacing, the interval between arrivals: then the drops are the
// host's, logged with that figure. No arrival sent at all leaves nothing to
// check: the test is skipped with the figure.
func sentArrivals(t *testing.T, res *report.Result, want int64, host hiccup.Figures, spacing time.Duration) int64 {
	t.Helper()
	tot := res.Totals
	if tot.Scheduled != want || tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped {
		t.Fatalf("totals %+v, want %d scheduled, each accounted for", tot, want)
	}
	sent := tot.Scheduled - tot.Dropped
	if tot.Dropped > 0 {
		if host.Max < spacing {
			t.Fatalf("totals %+v, want none dropped: the host delayed this process by at most %v (%v)", tot, host.Max, host)
		}
		t.Logf("%d of %d arrivals dropped by a host that delayed this process by up to %v, past the %v between arrivals (%v); checking the %d sent",
			tot.Dropped, tot.Scheduled, host.Max, spacing, host, sent)
	}
	if sent == 0 {
		t.Skipf("no arrival sent: %v; generator: %s", host, res.Generator.Reason)
	}
	return sent
}

// hostDelayForExactCounts is the tool's delay up to which a check may
// expect exact counts (no arrival dropped, none timed out): report's
// threshold for a disturbed window, below any timeout or lateness bound
// the tests set.
const hostDelayForExactCounts = time.Duration(report.DisturbedAboveMS * float64(time.Millisecond))

// skipWhenHostDelayed skips the rest of an end-to-end check whose bounds
// hold only while the tool itself is delayed by less than tolerated: when
// some window of the run had an apparatus delay (the run's own measure of
// its delays, report.Apparatus) above that, the check cannot tell the
// host's doing from the code's, and the test is skipped with the figures.
func skipWhenHostDelayed(t *testing.T, res *report.Result, tolerated time.Duration) {
	t.Helper()
	if why := report.DelayedBeyond(res, tolerated); why != "" {
		t.Skip(why)
	}
}
