package sim

import (
	"net/http"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
)

// result assembles what the run measured through the runner's recording,
// as a live run's result is assembled, and adds what run.Execute adds
// after the load: the nodes' utilisation per window, the availability
// projection, the manifest and the verdict.
func (s *sim) result(sc *scenario.Scenario, started time.Time) (*report.Result, error) {
	res, err := s.rec.Result(started)
	if err != nil {
		return nil, err
	}
	res.Mode = report.ModeSimulated
	s.readProxy(len(res.Windows))
	for i := range res.Windows {
		res.Windows[i].Utilisation = s.utilisation(i)
		res.Windows[i].Proxy = s.proxyWindows[i]
	}
	report.AttachTiers(res, report.SitesPools(sc), s.tierCounters())
	s.siteResults(res)
	runEnd := time.Duration(res.MeasuredS * float64(time.Second))
	res.Faults = s.faultResults(runEnd)
	report.ApplyRecoveryTimes(res, sc.WindowOK.Fraction())
	res.Projection = report.Project(sc, res.Faults, res.MeasuredS)
	res.SinglePointsOfFailure = report.SinglePointsOfFailure(sc)
	res.Manifest = report.NewManifest(sc.File)
	report.Evaluate(res, sc.Requirements)
	return res, nil
}

// utilisation is each node's busy worker-time share in window i of the
// run, as the live run's sampler reads it once a second.
func (s *sim) utilisation(i int) map[string]float64 {
	out := make(map[string]float64, len(s.stations))
	for _, st := range s.stations {
		busy := int64(0)
		if i < len(st.busyNS) {
			busy = st.busyNS[i]
		}
		out[st.name] = float64(busy) / (float64(st.workers) * float64(time.Second))
	}
	return out
}

// nodeStats is each node's own account at the end of the run: its
// utilisation from the run's start (or its own, added later) to its last
// answer (the end, at least), as the live nodes report theirs when the run
// is over. The services still going on or starting after that reading
// (requests the clients gave up on, still queued) are not counted: the
// whole windows before it count, and of the window it falls in, its busy
// time up to what its workers could have been busy by the reading (exact
// when they were busy throughout, or idle once the answers ended).
func (s *sim) nodeStats() []runner.NodeReport {
	second := int64(time.Second)
	read := max(s.last, int64(s.duration))
	whole, part := read/second, float64(read%second)
	out := make([]runner.NodeReport, len(s.stations))
	for i, st := range s.stations {
		var busy float64
		for w, ns := range st.busyNS {
			switch {
			case int64(w) < whole:
				busy += float64(ns)
			case int64(w) == whole:
				busy += min(float64(ns), float64(st.workers)*part)
			}
		}
		span := float64(max(read-st.since, 1))
		out[i] = runner.NodeReport{Name: st.name, Weight: float64(st.weight), Utilisation: busy / (float64(st.workers) * span)}
	}
	return out
}

// describe completes smp, the sample of flight f's answer, with what the
// client read of it: the node that answered and its own times, a body cut
// short, a lost session; or how a request without an answer failed.
func (s *sim) describe(f *flight, smp *runner.Sample) {
	switch {
	case f.class != "":
		smp.Status, smp.Fate, smp.Class = 0, runner.FateFailed, f.class
		return
	case f.cut:
		smp.Class = classTruncated
	case f.sessionLost && f.status == http.StatusConflict:
		smp.Session = "lost"
	}
	if f.station >= 0 {
		st := s.stations[f.station]
		smp.Node = st.name
		if f.status == http.StatusOK {
			smp.QueueUS, smp.ServiceUS = micros(f.start-f.arrived), micros(f.end-f.start)
			if st.calls {
				// A backend that calls gives its service and its calls, not
				// its wait (sut/backend's timing).
				smp.QueueUS = 0
			}
		}
	}
}
