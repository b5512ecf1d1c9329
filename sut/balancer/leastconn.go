package balancer

import "sync/atomic"

func init() {
	Register("least-connections", func(Options) Policy { return &LeastConnections{} })
}

// LeastConnections picks the available upstream with the lowest
// (in-flight + queued + 1) / weight: the one whose share of the current load is
// furthest below its capacity. The +1 makes weight count even when nothing
// is in flight. Ties are broken by a rotating counter, so equally loaded
// upstreams take turns instead of the first one taking everything.
type LeastConnections struct {
	ties atomic.Uint64
}

// Select implements Policy.
func (p *LeastConnections) Select(pool []*Upstream, _ *Request) *Upstream {
	var (
		buf      [16]*Upstream
		best     = buf[:0]
		bestLoad int64 // (inflight+1) of best[0]
		bestW    int64 // weight of best[0]
	)
	for _, u := range pool {
		if !u.Available() {
			continue
		}
		load, w := u.Inflight()+u.Queued()+1, int64(u.EffectiveWeight())
		if len(best) == 0 {
			best, bestLoad, bestW = append(best, u), load, w
			continue
		}
		// Compare load/w with bestLoad/bestW without division.
		switch lhs, rhs := load*bestW, bestLoad*w; {
		case lhs < rhs:
			best, bestLoad, bestW = append(best[:0], u), load, w
		case lhs == rhs:
			best = append(best, u)
		}
	}
	return rotateTies(best, &p.ties)
}
