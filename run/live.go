package run

import (
	"context"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/sut"
)

// NodeObserver follows the built-in SUT's nodes while a run goes (live
// metrics). A runner.Observer in Options that also meets it is handed the
// run's sampler's every reading, once a second, from the sampler's
// goroutine; WatchNodes does the same for a SUT served alone.
type NodeObserver interface {
	Nodes([]NodeFigures)
}

// NodeFigures is one backend of the built-in SUT at one reading. The
// counters count from the run's start (for a SUT served alone, from its
// start); the gauges are as read.
type NodeFigures struct {
	Name, Pool string
	// Requests the proxy replicas forwarded to it, Failures among them
	// without a response, Rejected by their admission control; Served by
	// the backend itself.
	Requests, Failures, Rejected, Served int64
	// Inflight and Queued at the proxy replicas.
	Inflight, Queued int64
	// Utilisation is busy worker-time over workers × time since the
	// previous reading.
	Utilisation float64
	// Up: the backend runs (neither crashed nor removed). Healthy: every
	// proxy replica may pick it.
	Up, Healthy bool
}

// nodeFigures joins one reading: the nodes' own figures, the proxy
// replicas' totals per backend (ProxyTotals) and each node's utilisation.
func nodeFigures(nodes []sut.NodeStats, atProxy map[string]report.ProxyWindow, util map[string]float64) []NodeFigures {
	out := make([]NodeFigures, len(nodes))
	for i, n := range nodes {
		f := NodeFigures{
			Name: n.Name, Pool: n.Pool,
			Requests: n.Requests, Failures: n.Failures, Served: n.Served,
			Utilisation: util[n.Name],
			Up:          !n.Down && !n.Removed,
		}
		f.Healthy = f.Up
		if p, ok := atProxy[n.Name]; ok {
			f.Rejected, f.Inflight, f.Queued, f.Healthy = p.Rejected, p.Inflight, p.Queued, p.Healthy
		}
		out[i] = f
	}
	return out
}

// WatchNodes reads a SUT served alone once a second, as a run's sampler
// does, and hands each reading to obs until ctx ends; it returns at once,
// and the returned channel is closed when watching has ended.
func WatchNodes(ctx context.Context, topo *sut.Topology, obs NodeObserver) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer crash.Guard()
		defer close(done)
		busy := map[string]float64{}
		var last time.Time // zero: the first reading has no utilisation yet
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			nodes, now := topo.Nodes(), time.Now()
			dt := 0.0
			if !last.IsZero() {
				dt = now.Sub(last).Seconds()
			}
			util := utilisation(busy, nodes, dt)
			obs.Nodes(nodeFigures(nodes, ProxyTotals(topo.ReplicaStats()), util))
			last = now
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return done
}
