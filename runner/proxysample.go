package runner

import (
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/sut/proxy"
)

// proxySampler reads the built-in proxy replicas' statistics once a second
// on the run's clock and keeps, per one-second window, each backend's
// report.ProxyWindow. Sampling is in-process and cheap (atomic counters).
type proxySampler struct {
	stats func() []proxy.Stats
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu sync.Mutex
	// windows holds one sample per second, on disk until attach (see spill).
	windows spill[map[string]report.ProxyWindow]
	prev    map[string]report.ProxyWindow // cumulative counters at the last sample
}

func newProxySampler(stats func() []proxy.Stats) *proxySampler {
	return &proxySampler{stats: stats, stop: make(chan struct{}), done: make(chan struct{})}
}

// begin starts sampling with the run's first window at start.
func (ps *proxySampler) begin(start time.Time) {
	ps.start = start
	ps.prev = ps.cumulative()
	go func() {
		defer crash.Guard()
		defer close(ps.done)
		for k := 1; ; k++ {
			t := time.NewTimer(time.Until(ps.start.Add(time.Duration(k) * time.Second)))
			select {
			case <-ps.stop:
				t.Stop()
				return
			case <-t.C:
			}
			ps.sample()
		}
	}()
}

// cumulative sums the replicas' statistics per backend, counters since
// start.
func (ps *proxySampler) cumulative() map[string]report.ProxyWindow {
	out := map[string]report.ProxyWindow{}
	count := map[string]int{}
	for _, s := range ps.stats() {
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

func (ps *proxySampler) sample() {
	cur := ps.cumulative()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	win := make(map[string]report.ProxyWindow, len(cur))
	for name, c := range cur {
		p := ps.prev[name]
		w := c
		w.Requests = max(c.Requests-p.Requests, 0)
		w.Failures = max(c.Failures-p.Failures, 0)
		w.Rejected = max(c.Rejected-p.Rejected, 0)
		w.HealthChanges = max(c.HealthChanges-p.HealthChanges, 0)
		w.Ejections = max(c.Ejections-p.Ejections, 0)
		win[name] = w
	}
	ps.windows.add(win)
	ps.prev = cur
}

// finish stops sampling, with a last partial window when it is long enough
// to mean something.
func (ps *proxySampler) finish() {
	close(ps.stop)
	if ps.start.IsZero() {
		return // never began
	}
	<-ps.done
	if since := time.Since(ps.start); since-time.Duration(ps.windows.len())*time.Second >= 100*time.Millisecond {
		ps.sample()
	}
}

// attach puts the samples into the result's windows.
func (ps *proxySampler) attach(res *report.Result) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	windows, err := ps.windows.all()
	if err != nil {
		return err
	}
	for i := range res.Windows {
		if i < len(windows) {
			res.Windows[i].Proxy = windows[i]
		}
	}
	return nil
}

// close releases the samples; attach cannot be called after.
func (ps *proxySampler) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.windows.close()
}
