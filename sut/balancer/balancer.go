// Package balancer holds the load-balancing strategies of the built-in
// proxy. Each strategy is a small Policy that picks one upstream from a pool
// for one request. Policies are pure: no I/O, no clocks, and deterministic
// given their seed and the sequence of calls.
//
// A strategy lives in its own file and registers itself by name in init;
// New builds one by name and Names lists them all. Names is the one list of
// strategies: scenario validation, the CLI's help and completion and the
// nginx/HAProxy mapping of package sut/external read it. Adding one takes
// that file and a row in the conformance table of balancer_test.go, which
// checks every registered strategy for the shared rules: nil on an empty or
// all-unhealthy pool, unhealthy members never picked, reproducible from the
// seed, safe for concurrent use, robust to pool changes. The CLI's tests
// then ask for its rows in README.md and docs/scenario.md.
package balancer

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
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
	queued    atomic.Int64
	unhealthy atomic.Bool  // zero value = healthy
	scale     atomic.Int64 // weight scale in thousandths; 0 = 1000 (full)
}

// NewUpstream returns a healthy upstream with no requests in flight.
func NewUpstream(name string, weight int) *Upstream {
	return &Upstream{Name: name, Weight: weight}
}

// EffectiveWeight is the weight strategies use: Weight (at least 1) in
// thousandths, times the weight scale (slow start). Only ratios between
// upstreams matter; the unit keeps a scaled-down weight above zero.
func (u *Upstream) EffectiveWeight() int {
	w := max(u.Weight, 1)
	s := u.scale.Load()
	if s <= 0 || s > 1000 {
		s = 1000
	}
	return max(w*int(s), 1)
}

// SetWeightScale scales the upstream's weight to permille thousandths of
// itself (1..1000), e.g. to ramp a recovered upstream up slowly.
func (u *Upstream) SetWeightScale(permille int) {
	u.scale.Store(int64(min(max(permille, 1), 1000)))
}

// WeightScale is the current weight scale in thousandths (1000 = full).
func (u *Upstream) WeightScale() int {
	if s := u.scale.Load(); s > 0 && s <= 1000 {
		return int(s)
	}
	return 1000
}

// Queued is the number of requests waiting (at the proxy) for this upstream.
func (u *Upstream) Queued() int64 { return u.queued.Load() }

// AddQueued changes the queued gauge by delta.
func (u *Upstream) AddQueued(delta int64) { u.queued.Add(delta) }

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

// Headers gives read access to request headers; http.Header satisfies it.
type Headers interface {
	// Get returns the first value of the named header, "" if absent.
	Get(name string) string
}

// Request is what a policy may know about the request being balanced.
type Request struct {
	// ClientIP is the client's address without port ("" if unknown).
	ClientIP string
	// Path is the request path, without the query.
	Path string
	// Header holds the request headers (may be nil).
	Header Headers
	// Now is the caller's clock reading, for policies whose state decays
	// with time; zero means "no time has passed".
	Now time.Time
}

// Observation is what the proxy learned from one finished exchange with an
// upstream.
type Observation struct {
	// At is when the exchange finished.
	At time.Time
	// RTT is the time from sending the request to the response headers.
	RTT time.Duration
	// Failed is set when the exchange ended without a usable response
	// (connect error, reset, timeout, 5xx).
	Failed bool
	// Load is the load the upstream reported with the response, if any.
	Load *Load
}

// Load is an upstream's own account of how busy it is.
type Load struct {
	// Inflight is the number of requests it is serving; Workers how many it
	// can serve at once (0 if not reported); Queue how many wait.
	Inflight, Workers, Queue int
}

// Observer is implemented by policies that learn from finished exchanges.
type Observer interface {
	Observe(u *Upstream, o Observation)
}

// Sticky is implemented by policies that pin clients to an upstream with a
// cookie. The proxy sets the cookie CookieName() to the chosen upstream's
// name whenever the request did not already carry that value.
type Sticky interface {
	CookieName() string
}

// Options configure a strategy instance; each strategy reads the fields it
// needs and ignores the rest. Zero values mean the documented defaults.
type Options struct {
	// Seed makes seeded strategies reproducible.
	Seed int64
	// HashKey is what consistent-hash hashes: "path" (default),
	// "header:NAME" or "cookie:NAME". A request without the key falls back
	// to its client IP.
	HashKey string
	// HashMethod is "ring" (default, 160 points per unit of weight) or
	// "rendezvous" (highest random weight).
	HashMethod string
	// BoundedLoad, when > 1, caps every upstream's in-flight requests at
	// BoundedLoad times the pool mean (consistent hashing with bounded
	// loads); keys of a full upstream go to the next one. 0 disables it.
	BoundedLoad float64
	// CookieName is the cookie strategy's cookie. Default "ilities_node".
	CookieName string
	// Decay is least-response-time's EWMA time constant. Default 10s.
	Decay time.Duration
	// DefaultRTT is least-response-time's estimate for an upstream without
	// samples yet. Default 10ms.
	DefaultRTT time.Duration
}

// Policy picks the upstream for one request from pool. It returns nil when no
// upstream of the pool is available (empty pool or every member excluded).
// Policies are safe for concurrent use; the pool may differ between calls
// (members added or removed), and policies must cope with that.
type Policy interface {
	Select(pool []*Upstream, req *Request) *Upstream
}

// Factory builds a fresh policy instance from its options.
type Factory func(o Options) Policy

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

// New returns a new instance of the strategy called name, seeded with seed
// and otherwise with default options. Each call returns independent state;
// give each pool its own policy.
func New(name string, seed int64) (Policy, error) {
	return NewWithOptions(name, Options{Seed: seed})
}

// NewWithOptions is New with every option.
func NewWithOptions(name string, o Options) (Policy, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown balancing strategy %q (known: %v)", name, Names())
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return f(o), nil
}

func (o Options) check() error {
	if _, _, err := parseHashKey(o.HashKey); err != nil {
		return err
	}
	switch o.HashMethod {
	case "", "ring", "rendezvous":
	default:
		return fmt.Errorf("unknown hash method %q (known: ring, rendezvous)", o.HashMethod)
	}
	if o.BoundedLoad != 0 && o.BoundedLoad <= 1 {
		return fmt.Errorf("bounded load factor must be greater than 1, got %g", o.BoundedLoad)
	}
	if o.Decay < 0 || o.DefaultRTT < 0 {
		return fmt.Errorf("decay and default RTT must not be negative")
	}
	return nil
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

// rotateTies picks among equally good candidates in turn, so that equal
// upstreams share evenly; nil when there is none.
func rotateTies(best []*Upstream, ties *atomic.Uint64) *Upstream {
	switch len(best) {
	case 0:
		return nil
	case 1:
		return best[0]
	}
	return best[(ties.Add(1)-1)%uint64(len(best))]
}
