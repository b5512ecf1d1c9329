package run

import (
	"context"
	"math"
	"testing"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// runExample runs examples/<name>.yaml, optionally with another strategy.
func runExample(t *testing.T, name, strategy string) *report.Result {
	t.Helper()
	sc, err := scenario.Load("../examples/" + name + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strategy != "" {
		sc.SUT.Proxy.Strategy = strategy
	}
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkFaultAccountingOnly(t, res)
	return res
}

func checkFaultAccountingOnly(t *testing.T, res *report.Result) {
	t.Helper()
	if tot := res.Totals; tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd {
		t.Errorf("accounting: %+v", tot)
	}
}

// TestFailoverExamples: with health checks every 250ms and fall 2, the crash
// is detected after about interval x fall (within one interval) and the
// service recovers; without health checks, availability drops by about the
// crashed node's share for the fault's length.
func TestFailoverExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 30 s failover examples")
	}
	t.Run("health checks", func(t *testing.T) {
		t.Parallel()
		res := runExample(t, "failover", "")
		f := res.Faults[0]
		t.Logf("detection %.3fs by %q, recovery %.3fs, availability %.4f", f.DetectionTimeS, f.DetectedBy, f.RecoveryTimeS, res.Availability.Requests)
		// Health checks run in this process: a host delaying it by more
		// than a fraction of their 250ms interval moves the detection.
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
		if d := f.DetectionTimeS; d < 0.25 || d > 0.75 {
			t.Errorf("detection %.3fs, want 0.5s ± one 250ms interval", d)
		}
		if f.RecoveryTimeS < 0 || f.RecoveryTimeS > 3 {
			t.Errorf("recovery %.3fs", f.RecoveryTimeS)
		}
		if res.Verdict != report.VerdictPass {
			t.Errorf("verdicts %+v", res.Requirements)
		}
	})
	t.Run("no health checks", func(t *testing.T) {
		t.Parallel()
		res := runExample(t, "failover-no-health", "")
		f := res.Faults[0]
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
		share := nodeShare(res, "app-2")
		want := 1 - share*(f.EndS-f.AtS)/res.MeasuredS
		t.Logf("availability %.4f, expected about %.4f (share %.3f); detection %.3f recovery %.3f", res.Availability.Requests, want, share, f.DetectionTimeS, f.RecoveryTimeS)
		if math.Abs(res.Availability.Requests-want) > 0.01 {
			t.Errorf("availability %.4f, want %.4f ± 1%%", res.Availability.Requests, want)
		}
		if f.DetectionTimeS >= 0 {
			t.Errorf("detected (%.3fs by %q) without health checks", f.DetectionTimeS, f.DetectedBy)
		}
	})
}

func nodeShare(res *report.Result, name string) float64 {
	for _, n := range res.Nodes {
		if n.Name == name {
			return n.Share
		}
	}
	return 0
}

// TestStickySessionsExample: round-robin loses sessions; the cookie
// strategy loses none until its node crashes (at 15s).
func TestStickySessionsExample(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 30 s sticky-sessions example twice")
	}
	t.Run("round-robin", func(t *testing.T) {
		t.Parallel()
		res := runExample(t, "sticky-sessions", "round-robin")
		if n := res.Errors["session_lost"]; n == 0 {
			t.Errorf("round-robin lost no session: %v", res.Errors)
		}
	})
	t.Run("cookie", func(t *testing.T) {
		t.Parallel()
		res := runExample(t, "sticky-sessions", "")
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
		// Windows hold requests by intended send time: the one just before
		// the crash also holds requests still in flight when it came.
		crash := int(res.Faults[0].AtS)
		var before, after int64
		for _, w := range res.Windows {
			if w.T < crash-1 {
				before += w.Errors["session_lost"]
			} else {
				after += w.Errors["session_lost"]
			}
		}
		t.Logf("session loss before the crash %d, after %d", before, after)
		if before != 0 {
			t.Errorf("cookie strategy lost %d sessions before its node crashed", before)
		}
	})
}
