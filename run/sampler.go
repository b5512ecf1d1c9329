package run

import (
	"context"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/internal/spill"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/proxy"
)

const (
	// sampleEvery is the sampler's period: one reading per window of the run.
	sampleEvery = time.Second
	// minPartialWindow is how long a last, partial window must be for the
	// sampler to read it at the stop: shorter, its rates mean little.
	minPartialWindow = 100 * time.Millisecond
)

// sutStats is what the sampler reads of the built-in SUT: in this process
// atomic counters, apart one control API call each.
type sutStats interface {
	Nodes() []sut.NodeStats
	ReplicaStats() []proxy.Stats
}

// sampler reads the built-in SUT once a second on the run's clock, from
// the run's start until the run's context ends, and keeps per one-second
// window what the windows of the result show of the SUT: each node's
// utilisation (windows[].utilisation) and each backend's figures at the
// proxy replicas (windows[].proxy). Both come from one reading: the
// window's figures are the difference between two readings of cumulative
// counters, the gauges as last read.
type sampler struct {
	sut  sutStats
	done chan struct{} // closed when sampling has ended; nil until begin

	// The sampling goroutine owns what follows until done is closed.
	windows spill.List[sampledWindow] // one per second, on disk until attach
	last    time.Duration             // run time of the latest reading
	busy    map[string]float64        // each node's busy seconds, as last read
	counts  map[string]report.ProxyWindow
	// observer, when set, is handed every reading (live metrics).
	observer NodeObserver
}

// sampledWindow is what the sampler keeps of one window (exported fields
// for the spill's gob).
type sampledWindow struct {
	Utilisation map[string]float64
	Proxy       map[string]report.ProxyWindow
}

func newSampler(s sutStats) *sampler {
	return &sampler{sut: s, busy: map[string]float64{}, counts: map[string]report.ProxyWindow{}}
}

// begin starts sampling with the run's first window at start, when the
// SUT's counters were reset (the first reading counts from zero: a reading
// here would delay the run's first arrivals, or miss them); it stops when
// ctx ends, reading a last partial window when it is long enough.
func (s *sampler) begin(ctx context.Context, start time.Time) {
	s.done = make(chan struct{})
	go func() {
		defer crash.Guard()
		defer close(s.done)
		for k := 1; ; k++ {
			if !hrtimer.Sleep(time.Until(start.Add(time.Duration(k)*sampleEvery)), ctx.Done()) {
				if time.Since(start)-s.last >= minPartialWindow {
					s.windows.Add(s.read(start))
				}
				return
			}
			s.windows.Add(s.read(start))
		}
	}()
}

// read reads the SUT and returns the window since the previous reading.
func (s *sampler) read(start time.Time) sampledWindow {
	nodes, replicas := s.sut.Nodes(), s.sut.ReplicaStats()
	now := time.Since(start)
	totals := ProxyTotals(replicas)
	w := sampledWindow{
		Utilisation: utilisation(s.busy, nodes, (now - s.last).Seconds()),
		Proxy:       ProxyWindow(s.counts, totals),
	}
	s.last = now
	if s.observer != nil {
		s.observer.Nodes(nodeFigures(nodes, totals, w.Utilisation))
	}
	return w
}

// finish waits until sampling has ended; the caller has ended the context
// begin was given.
func (s *sampler) finish() {
	if s.done != nil {
		<-s.done
	}
}

// attach puts the windows' readings into the result's windows.
func (s *sampler) attach(res *report.Result) error {
	windows, err := s.windows.All()
	if err != nil {
		return err
	}
	for i := range res.Windows {
		if i < len(windows) {
			res.Windows[i].Utilisation, res.Windows[i].Proxy = windows[i].Utilisation, windows[i].Proxy
		}
	}
	return nil
}

// close releases the readings; attach cannot be called after.
func (s *sampler) close() { s.windows.Close() }

// utilisation is each node's busy worker-time since its previous reading
// (busy, updated) over its workers × dt seconds.
func utilisation(busy map[string]float64, nodes []sut.NodeStats, dt float64) map[string]float64 {
	out := map[string]float64{}
	for _, n := range nodes {
		if n.Workers > 0 && dt > 0 {
			out[n.Name] = max(n.BusySeconds-busy[n.Name], 0) / (float64(n.Workers) * dt)
		}
		busy[n.Name] = n.BusySeconds
	}
	return out
}

// ProxyTotals sums the replicas' statistics per backend: counters since
// the start, gauges now (weights and latency averages are the replicas'
// mean).
func ProxyTotals(replicas []proxy.Stats) map[string]report.ProxyWindow {
	out := map[string]report.ProxyWindow{}
	count := map[string]int{}
	for _, s := range replicas {
		for _, u := range s.Upstreams {
			w, seen := out[u.Name]
			if !seen {
				w.Healthy = true
			}
			w.Requests += u.Requests
			w.Failures += u.Failures
			w.Rejected += u.RejectedFull + u.RejectedTimeout
			w.Inflight += u.Inflight
			w.Queued += u.Queued
			w.Healthy = w.Healthy && u.Healthy
			w.Ejected = w.Ejected || u.Ejected
			w.Weight += u.EffectiveWeight
			w.LatencyEWMAMS += u.LatencyEWMAMillis
			w.HealthChanges += u.HealthChanges
			w.Ejections += u.Ejections
			out[u.Name] = w
			count[u.Name]++
		}
	}
	for name, w := range out {
		w.Weight /= float64(count[name])
		w.LatencyEWMAMS /= float64(count[name])
		out[name] = w
	}
	return out
}

// ProxyWindow is each backend's counters since its previous reading
// (counts, updated) and its gauges now: windows[].proxy.
func ProxyWindow(counts, totals map[string]report.ProxyWindow) map[string]report.ProxyWindow {
	out := make(map[string]report.ProxyWindow, len(totals))
	for name, c := range totals {
		p := counts[name]
		w := c
		w.Requests = max(c.Requests-p.Requests, 0)
		w.Failures = max(c.Failures-p.Failures, 0)
		w.Rejected = max(c.Rejected-p.Rejected, 0)
		w.HealthChanges = max(c.HealthChanges-p.HealthChanges, 0)
		w.Ejections = max(c.Ejections-p.Ejections, 0)
		out[name] = w
		counts[name] = c
	}
	return out
}
