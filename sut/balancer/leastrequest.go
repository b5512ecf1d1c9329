package balancer

import (
	"math/rand/v2"
	"sync"
)

func init() {
	Register("least-request", func(o Options) Policy { return NewLeastRequest(o.Seed) })
}

// LeastRequest is Envoy's LEAST_REQUEST for unequal weights, with an active
// request bias of 1: each available upstream counts for its dynamic weight,
// weight / (in-flight + queued + 1). Two distinct upstreams are drawn at
// random in proportion to their dynamic weights, and the one with the larger
// dynamic weight is taken, the first drawn on a tie. Drawing by dynamic
// weight gives a heavy or idle upstream more chances to be compared, as
// Envoy's weighted schedule does; comparing two keeps power-of-two's promise
// never to take the busier of its pair.
type LeastRequest struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewLeastRequest returns a weighted least-request policy seeded with seed.
func NewLeastRequest(seed int64) *LeastRequest {
	return &LeastRequest{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

// Select implements Policy.
func (p *LeastRequest) Select(pool []*Upstream, _ *Request) *Upstream {
	var (
		ubuf [16]*Upstream
		wbuf [16]float64
		ups  = ubuf[:0]
		dyn  = wbuf[:0]
	)
	total := 0.0
	for _, u := range pool {
		if u.Available() {
			w := float64(u.EffectiveWeight()) / float64(u.Inflight()+u.Queued()+1)
			ups, dyn = append(ups, u), append(dyn, w)
			total += w
		}
	}
	switch len(ups) {
	case 0:
		return nil
	case 1:
		return ups[0]
	}
	p.mu.Lock()
	r1, r2 := p.rng.Float64(), p.rng.Float64()
	p.mu.Unlock()
	i := drawWeighted(dyn, r1*total, -1)
	j := drawWeighted(dyn, r2*(total-dyn[i]), i)
	if lessLoaded(ups[j], ups[i]) {
		return ups[j]
	}
	return ups[i]
}

// drawWeighted returns the index whose cumulative weight first exceeds at,
// skipping index skip; rounding past the end gives the last index drawn.
func drawWeighted(w []float64, at float64, skip int) int {
	last := -1
	for k, x := range w {
		if k == skip {
			continue
		}
		if last = k; at < x {
			return k
		}
		at -= x
	}
	return last
}
