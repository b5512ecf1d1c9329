package balancer

import "sync"

func init() {
	Register("weighted-round-robin", func(Options) Policy { return NewWeightedRoundRobin() })
}

// WeightedRoundRobin is nginx's smooth weighted round-robin: on each pick,
// every available upstream's current value grows by its weight, the largest
// current wins, and the winner's current drops by the total weight. Over any
// run of (sum of weights) consecutive picks each upstream is chosen exactly
// weight times, and picks of a heavy upstream are spread out, not bunched.
//
// The state is keyed by upstream, so the pool may gain or lose members
// between calls. Whenever the set of available members changes (a member
// joins, leaves, or changes availability) every current value restarts from
// zero, so shares are exact again from that pick on instead of carrying an
// offset left by the old membership.
type WeightedRoundRobin struct {
	mu      sync.Mutex
	current map[*Upstream]*wrrState
	gen     uint64
}

type wrrState struct {
	current   int
	seen      uint64 // generation of the last Select that saw this upstream
	available bool   // availability at that Select
}

// NewWeightedRoundRobin returns a policy with empty state.
func NewWeightedRoundRobin() *WeightedRoundRobin {
	return &WeightedRoundRobin{current: map[*Upstream]*wrrState{}}
}

// Select implements Policy.
func (p *WeightedRoundRobin) Select(pool []*Upstream, _ *Request) *Upstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	changed := false
	for _, u := range pool {
		st := p.current[u]
		if st == nil {
			st = &wrrState{}
			p.current[u] = st
			changed = true
		}
		st.seen = p.gen
		if avail := u.Available(); avail != st.available {
			st.available = avail
			changed = true
		}
	}
	if len(p.current) > len(pool) {
		for u, st := range p.current {
			if st.seen != p.gen {
				delete(p.current, u)
				changed = true
			}
		}
	}
	if changed {
		for _, st := range p.current {
			st.current = 0
		}
	}
	var (
		best      *Upstream
		bestState *wrrState
		total     int
	)
	for _, u := range pool {
		st := p.current[u]
		if !st.available {
			continue
		}
		w := u.EffectiveWeight()
		st.current += w
		total += w
		if best == nil || st.current > bestState.current {
			best, bestState = u, st
		}
	}
	if best == nil {
		return nil
	}
	bestState.current -= total
	return best
}
