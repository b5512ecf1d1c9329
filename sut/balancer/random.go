package balancer

import (
	"math/rand/v2"
	"sync"
)

func init() {
	Register("random", func(o Options) Policy { return NewRandom(o.Seed) })
}

// Random picks an available upstream at random with probability proportional
// to its weight (uniform when weights are equal). The sequence of picks is
// reproducible from the seed.
type Random struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewRandom returns a Random policy seeded with seed.
func NewRandom(seed int64) *Random {
	return &Random{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

// Select implements Policy.
func (p *Random) Select(pool []*Upstream, _ *Request) *Upstream {
	total := 0
	for _, u := range pool {
		if u.Available() {
			total += u.EffectiveWeight()
		}
	}
	if total == 0 {
		return nil
	}
	p.mu.Lock()
	x := p.rng.IntN(total)
	p.mu.Unlock()
	var last *Upstream
	for _, u := range pool {
		if !u.Available() {
			continue
		}
		last = u
		if x -= u.EffectiveWeight(); x < 0 {
			return u
		}
	}
	// Reached only if availability changed between the two passes.
	return last
}
