package balancer

import (
	"math"
	"slices"
	"sync"
)

func init() {
	Register("consistent-hash", func(o Options) Policy { return NewConsistentHash(o) })
}

// ringPoints is the number of ring points per unit of weight.
const ringPoints = 160

// ConsistentHash maps a request key (path, a header or a cookie; see
// Options.HashKey) onto the pool so that the same key goes to the same
// upstream, and adding an upstream to N moves only about 1/(N+1) of the keys.
// Method "ring" places 160 points per unit of weight on a 64-bit ring (a key
// goes to the first available point clockwise); "rendezvous" takes the
// highest weighted random score. With BoundedLoad c > 1 no upstream takes
// more than ceil(c × mean in-flight) requests at once: a key whose upstream
// is full goes on to the next one (consistent hashing with bounded loads).
type ConsistentHash struct {
	kind, name  string
	rendezvous  bool
	boundedLoad float64

	mu   sync.Mutex
	ring *ring
}

type ring struct {
	members []*Upstream // the pool the ring was built from
	weights []int
	points  []ringPoint
}

type ringPoint struct {
	hash uint64
	u    *Upstream
}

// NewConsistentHash returns the policy; o must have passed validation (New
// does that).
func NewConsistentHash(o Options) *ConsistentHash {
	kind, name, _ := parseHashKey(o.HashKey)
	return &ConsistentHash{kind: kind, name: name, rendezvous: o.HashMethod == "rendezvous", boundedLoad: o.BoundedLoad}
}

// key extracts the hash key; a request without it falls back to its IP.
func (p *ConsistentHash) key(req *Request) string {
	if req == nil {
		return ""
	}
	var k string
	switch p.kind {
	case "path":
		k = req.Path
	case "header":
		if req.Header != nil {
			k = req.Header.Get(p.name)
		}
	case "cookie":
		k = CookieValue(req.Header, p.name)
	}
	if k == "" {
		k = req.ClientIP
	}
	return k
}

// Select implements Policy.
func (p *ConsistentHash) Select(pool []*Upstream, req *Request) *Upstream {
	kh := hash64(p.key(req))
	limit := p.limit(pool)
	fits := func(u *Upstream) bool { return limit == 0 || u.Inflight() < limit }
	if p.rendezvous {
		if u := rendezvous(pool, kh, fits); u != nil || limit == 0 {
			return u
		}
		return rendezvous(pool, kh, nil)
	}
	r := p.ringFor(pool)
	if len(r.points) == 0 {
		return nil
	}
	start, _ := slices.BinarySearchFunc(r.points, kh, func(pt ringPoint, h uint64) int {
		switch {
		case pt.hash < h:
			return -1
		case pt.hash > h:
			return 1
		}
		return 0
	})
	var fallback *Upstream
	for i := range r.points {
		u := r.points[(start+i)%len(r.points)].u
		if !u.Available() {
			continue
		}
		if fallback == nil {
			fallback = u
		}
		if fits(u) {
			return u
		}
	}
	return fallback
}

// limit is the bounded-load cap on in-flight requests, or 0 for none.
func (p *ConsistentHash) limit(pool []*Upstream) int64 {
	if p.boundedLoad <= 1 {
		return 0
	}
	var total, n int64
	for _, u := range pool {
		if u.Available() {
			total += u.Inflight()
			n++
		}
	}
	if n == 0 {
		return 0
	}
	// Counting the request being placed keeps the cap at least 1.
	return int64(math.Ceil(p.boundedLoad * float64(total+1) / float64(n)))
}

// ringFor returns the ring for pool, rebuilt when the members or their
// weights changed. Availability is not part of the ring: an unavailable
// upstream keeps its points and is skipped, so its keys come back to it.
func (p *ConsistentHash) ringFor(pool []*Upstream) *ring {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.ring; r != nil && slices.Equal(r.members, pool) {
		same := true
		for i, u := range pool {
			if r.weights[i] != max(u.Weight, 1) {
				same = false
				break
			}
		}
		if same {
			return r
		}
	}
	r := &ring{members: slices.Clone(pool), weights: make([]int, len(pool))}
	for i, u := range pool {
		w := max(u.Weight, 1)
		r.weights[i] = w
		base := hash64(u.Name)
		for k := range w * ringPoints {
			r.points = append(r.points, ringPoint{hash: mix64(base + uint64(k)*0x9e3779b97f4a7c15), u: u})
		}
	}
	slices.SortFunc(r.points, func(a, b ringPoint) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	p.ring = r
	return r
}
