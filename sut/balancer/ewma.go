package balancer

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	Register("least-response-time", func(o Options) Policy { return NewPeakEWMA(o.Decay, o.DefaultRTT) })
}

// Defaults of least-response-time.
const (
	DefaultDecay       = 10 * time.Second
	DefaultRTTEstimate = 10 * time.Millisecond
	// failurePenalty is the latency a failed exchange counts as, so an
	// upstream that fails fast does not look fast.
	failurePenalty = time.Second
)

// PeakEWMA is least-response-time as in Finagle and Linkerd: each upstream
// has a latency estimate that jumps up at once to any slower sample (the
// peak) and otherwise moves toward new samples as an exponentially weighted
// moving average with time constant Decay; between samples it also decays
// toward zero, so an upstream that was slow gets probed again. The cost of
// an upstream is estimate × (in-flight + 1) / weight, the in-flight factor
// being the penalty for requests already sent; the lowest cost wins, ties in
// turn. Before its first sample an upstream's estimate is DefaultRTT.
type PeakEWMA struct {
	decay      float64 // nanoseconds
	defaultRTT float64 // nanoseconds
	mu         sync.Mutex
	state      map[*Upstream]*ewmaState
	ties       atomic.Uint64
}

type ewmaState struct {
	cost  float64 // nanoseconds
	stamp time.Time
}

// NewPeakEWMA returns the policy; zero arguments mean the defaults.
func NewPeakEWMA(decay, defaultRTT time.Duration) *PeakEWMA {
	if decay <= 0 {
		decay = DefaultDecay
	}
	if defaultRTT <= 0 {
		defaultRTT = DefaultRTTEstimate
	}
	return &PeakEWMA{decay: float64(decay), defaultRTT: float64(defaultRTT), state: map[*Upstream]*ewmaState{}}
}

// decayTo returns the estimate carried to now by observing rtt at now.
func (p *PeakEWMA) update(st *ewmaState, rtt float64, now time.Time) {
	if st.stamp.IsZero() {
		st.cost, st.stamp = rtt, now
		return
	}
	td := float64(now.Sub(st.stamp))
	if td < 0 {
		td = 0
	}
	w := math.Exp(-td / p.decay)
	if rtt > st.cost {
		st.cost = rtt
	} else {
		st.cost = st.cost*w + rtt*(1-w)
	}
	if now.After(st.stamp) {
		st.stamp = now
	}
}

// Observe implements Observer.
func (p *PeakEWMA) Observe(u *Upstream, o Observation) {
	if o.RTT <= 0 && !o.Failed {
		return // a load report without a latency sample
	}
	rtt := float64(o.RTT)
	if o.Failed {
		rtt = max(rtt, float64(failurePenalty))
	}
	p.mu.Lock()
	st := p.state[u]
	if st == nil {
		st = &ewmaState{}
		p.state[u] = st
	}
	p.update(st, rtt, o.At)
	p.mu.Unlock()
}

// Estimate is u's current latency estimate (DefaultRTT before any sample).
func (p *PeakEWMA) Estimate(u *Upstream, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.estimate(u, now))
}

func (p *PeakEWMA) estimate(u *Upstream, now time.Time) float64 {
	st := p.state[u]
	if st == nil {
		return p.defaultRTT
	}
	if !now.IsZero() && now.After(st.stamp) {
		// Decay toward zero for the idle time (Finagle's observe(0)).
		w := math.Exp(-float64(now.Sub(st.stamp)) / p.decay)
		return st.cost * w
	}
	return st.cost
}

// Select implements Policy.
func (p *PeakEWMA) Select(pool []*Upstream, req *Request) *Upstream {
	var now time.Time
	if req != nil {
		now = req.Now
	}
	var (
		buf  [16]*Upstream
		best = buf[:0]
		low  = math.Inf(1)
	)
	p.mu.Lock()
	if len(p.state) > 4*len(pool)+16 {
		p.prune(pool)
	}
	for _, u := range pool {
		if !u.Available() {
			continue
		}
		cost := p.estimate(u, now) * float64(u.Inflight()+u.Queued()+1) / float64(u.EffectiveWeight())
		switch {
		case cost < low:
			low, best = cost, append(best[:0], u)
		case cost == low:
			best = append(best, u)
		}
	}
	p.mu.Unlock()
	return rotateTies(best, &p.ties)
}

// prune forgets upstreams that left the pool. Called with mu held.
func (p *PeakEWMA) prune(pool []*Upstream) {
	keep := make(map[*Upstream]bool, len(pool))
	for _, u := range pool {
		keep[u] = true
	}
	for u := range p.state {
		if !keep[u] {
			delete(p.state, u)
		}
	}
}
