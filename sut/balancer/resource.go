package balancer

import (
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	Register("resource-aware", func(Options) Policy { return NewResourceAware() })
}

// reportTTL is how long a reported queue length counts; a report older than
// that (the upstream was not picked for a while) is ignored, so a stale
// "busy" report cannot keep an upstream idle.
const reportTTL = time.Second

// ResourceAware follows the load the upstreams report about themselves
// (package backend sends it in the X-Ilities-Load response header and on its
// stats endpoint; the proxy passes it on through Observe). Each upstream's
// capacity is learned: the worker count it reports, or failing that the
// highest concurrency it was seen to sustain while it had a queue. The pick
// is the upstream with the lowest (in-flight + reported queue + 1) /
// capacity, ties in turn: traffic follows spare capacity, so unequal
// upstreams need no hand-set weights. Until an upstream has reported, its
// weight stands in for its capacity.
type ResourceAware struct {
	mu    sync.Mutex
	state map[*Upstream]*resourceState
	ties  atomic.Uint64
}

type resourceState struct {
	capacity int // learned; 0 = unknown
	learned  int // highest concurrency seen with a queue
	queue    int
	at       time.Time
}

// NewResourceAware returns the policy with nothing learned yet.
func NewResourceAware() *ResourceAware {
	return &ResourceAware{state: map[*Upstream]*resourceState{}}
}

// Observe implements Observer.
func (p *ResourceAware) Observe(u *Upstream, o Observation) {
	if o.Load == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state[u]
	if st == nil {
		st = &resourceState{}
		p.state[u] = st
	}
	l := o.Load
	if l.Queue > 0 && l.Inflight > st.learned {
		st.learned = l.Inflight
	}
	switch {
	case l.Workers > 0:
		st.capacity = l.Workers
	case st.learned > 0:
		st.capacity = st.learned
	}
	st.queue, st.at = l.Queue, o.At
}

// Capacity is the capacity learned for u (0 if none yet).
func (p *ResourceAware) Capacity(u *Upstream) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.state[u]; st != nil {
		return st.capacity
	}
	return 0
}

// Select implements Policy.
func (p *ResourceAware) Select(pool []*Upstream, req *Request) *Upstream {
	var now time.Time
	if req != nil {
		now = req.Now
	}
	var (
		buf             [16]*Upstream
		best            = buf[:0]
		bestLoad, bestC int64
	)
	p.mu.Lock()
	for _, u := range pool {
		if !u.Available() {
			continue
		}
		load := u.Inflight() + u.Queued() + 1
		capacity := int64(max(u.Weight, 1))
		if st := p.state[u]; st != nil {
			if st.capacity > 0 {
				capacity = int64(st.capacity)
			}
			if now.IsZero() || now.Sub(st.at) < reportTTL {
				load += int64(st.queue)
			}
		}
		// Slow start scales capacity like a weight.
		capacity = max(capacity*int64(u.WeightScale()), 1)
		if len(best) == 0 {
			best, bestLoad, bestC = append(best, u), load, capacity
			continue
		}
		switch lhs, rhs := load*bestC, bestLoad*capacity; {
		case lhs < rhs:
			best, bestLoad, bestC = append(best[:0], u), load, capacity
		case lhs == rhs:
			best = append(best, u)
		}
	}
	p.mu.Unlock()
	return rotateTies(best, &p.ties)
}
