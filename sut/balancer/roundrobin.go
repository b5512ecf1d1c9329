package balancer

import "sync/atomic"

func init() {
	Register("round-robin", func(Options) Policy { return &RoundRobin{} })
}

// RoundRobin hands requests to the available upstreams in turn, ignoring
// weights. With some upstreams unavailable, the rest still share evenly.
type RoundRobin struct {
	next atomic.Uint64
}

// Select implements Policy.
func (p *RoundRobin) Select(pool []*Upstream, _ *Request) *Upstream {
	n := countAvailable(pool)
	if n == 0 {
		return nil
	}
	turn := p.next.Add(1) - 1
	if n == len(pool) {
		return pool[turn%uint64(n)]
	}
	return nthAvailable(pool, int(turn%uint64(n)))
}
