package balancer

import (
	"math/rand/v2"
	"sync"
)

func init() {
	Register("power-of-two", func(o Options) Policy { return NewPowerOfTwo(o.Seed) })
}

// PowerOfTwo is P2C least-request: it draws two distinct available upstreams
// at random and takes the one with the lower (in-flight + queued + 1) /
// weight, the first drawn on a tie. It never picks the busier of its two, and
// with two random choices it avoids both the herding of a global
// least-connections scan and the blindness of plain random.
type PowerOfTwo struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewPowerOfTwo returns a P2C policy seeded with seed.
func NewPowerOfTwo(seed int64) *PowerOfTwo {
	return &PowerOfTwo{rng: rand.New(rand.NewPCG(uint64(seed), 0x2545f4914f6cdd1d))}
}

// Select implements Policy.
func (p *PowerOfTwo) Select(pool []*Upstream, _ *Request) *Upstream {
	n := countAvailable(pool)
	switch n {
	case 0:
		return nil
	case 1:
		return nthAvailable(pool, 0)
	}
	p.mu.Lock()
	i := p.rng.IntN(n)
	j := p.rng.IntN(n - 1)
	p.mu.Unlock()
	if j >= i {
		j++
	}
	a, b := nthAvailable(pool, i), nthAvailable(pool, j)
	if a == nil || b == nil { // availability changed meanwhile
		if a != nil {
			return a
		}
		return b
	}
	if lessLoaded(b, a) {
		return b
	}
	return a
}

// lessLoaded reports whether a's (in-flight + queued + 1) / weight is
// strictly below b's.
func lessLoaded(a, b *Upstream) bool {
	la, lb := a.Inflight()+a.Queued()+1, b.Inflight()+b.Queued()+1
	return la*int64(b.EffectiveWeight()) < lb*int64(a.EffectiveWeight())
}
