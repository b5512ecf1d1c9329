// Package balancer holds the load-balancing strategies of the built-in
// proxy. Each strategy is a small Policy that picks one upstream from a pool
// for one request. Policies are pure: no I/O, no clocks, and deterministic
// given their seed and the sequence of calls.
//
// A strategy lives in its own file and registers itself by name in init;
// New builds one by name and Names lists them all. Adding one takes that file
// and a row in the conformance table of balancer_test.go, which checks every
// registered strategy for the shared rules: nil on an empty or all-unhealthy
// pool, unhealthy members never picked, reproducible from the seed, safe for
// concurrent use, robust to pool changes.
package balancer

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
)

// Upstream is one member of a pool: a backend the proxy may send requests to.
// Its mutable state is atomic so policies can read it without locks while the
// proxy updates it from many goroutines.
type Upstream struct {
	// Name identifies the upstream (the backend's node name).
	Name string
	// Weight is the upstream's relative capacity for weighted strategies.
	// Values below 1 count as 1.
	Weight int

	inflight  atomic.Int64
	unhealthy atomic.Bool // zero value = healthy
}

// NewUpstream returns a healthy upstream with no requests in flight.
func NewUpstream(name string, weight int) *Upstream {
	return &Upstream{Name: name, Weight: weight}
}

// EffectiveWeight is the weight strategies use: Weight, at least 1.
func (u *Upstream) EffectiveWeight() int {
	if u.Weight < 1 {
		return 1
	}
	return u.Weight
}

// Inflight is the number of requests currently sent to this upstream and not
// yet finished.
func (u *Upstream) Inflight() int64 { return u.inflight.Load() }

// Acquire counts one more request in flight. Pair every Acquire with Release.
func (u *Upstream) Acquire() { u.inflight.Add(1) }

// Release counts one request in flight as finished.
func (u *Upstream) Release() { u.inflight.Add(-1) }

// Healthy reports whether health checking currently allows this upstream.
// Upstreams start healthy.
func (u *Upstream) Healthy() bool { return !u.unhealthy.Load() }

// SetHealthy marks the upstream healthy or unhealthy.
func (u *Upstream) SetHealthy(ok bool) { u.unhealthy.Store(!ok) }

// Available reports whether a policy may pick this upstream now. Every policy
// filters with it, so new exclusion reasons (ejection, draining) are added
// here once.
func (u *Upstream) Available() bool { return u.Healthy() }

// Request is what a policy may know about the request being balanced.
type Request struct {
	// ClientIP is the client's address without port ("" if unknown).
	ClientIP string
	// Key is a caller-chosen affinity key (for hash strategies), e.g. a path
	// or a session id.
	Key string
	// Header holds the request headers (may be nil).
	Header http.Header
}

// Policy picks the upstream for one request from pool. It returns nil when no
// upstream of the pool is available (empty pool or every member excluded).
// Policies are safe for concurrent use; the pool may differ between calls
// (members added or removed), and policies must cope with that.
type Policy interface {
	Select(pool []*Upstream, req *Request) *Upstream
}

// Factory builds a fresh policy instance from a seed.
type Factory func(seed int64) Policy

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a strategy available under name. It panics on an empty
// name or a duplicate, which are programming errors.
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || f == nil {
		panic("balancer: Register with empty name or nil factory")
	}
	if _, dup := registry[name]; dup {
		panic("balancer: strategy registered twice: " + name)
	}
	registry[name] = f
}

// New returns a new instance of the strategy called name, seeded with seed.
// Each call returns independent state; give each pool its own policy.
func New(name string, seed int64) (Policy, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown balancing strategy %q (known: %v)", name, Names())
	}
	return f(seed), nil
}

// Names lists the registered strategies, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// countAvailable returns how many members of pool are available.
func countAvailable(pool []*Upstream) int {
	n := 0
	for _, u := range pool {
		if u.Available() {
			n++
		}
	}
	return n
}

// nthAvailable returns the k-th (0-based) available member of pool, or nil.
func nthAvailable(pool []*Upstream, k int) *Upstream {
	for _, u := range pool {
		if u.Available() {
			if k == 0 {
				return u
			}
			k--
		}
	}
	return nil
}
