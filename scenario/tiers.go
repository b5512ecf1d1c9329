package scenario

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

// Tiers: a backend may call other pools for each request it serves, so a
// scenario describes a tiered infrastructure (web servers, application
// servers, a cache, a database) behind the proxy.
//
//	pools:
//	  - name: web
//	    backends: [{name: web-1, workers: 16, service_time: {dist: exponential, mean: 1ms}}]
//	    calls: [{pool: app}]
//	  - name: app
//	    strategy: least-conn      # how a caller picks among app's backends
//	    backends: [...]
//	    calls: [{pool: cache}, {pool: db, times: 2, writes: 10%}]
//	  - name: cache
//	    cache: {hit_ratio: 80%}    # a miss makes the pool's calls
//	    backends: [...]
//	    calls: [{pool: db}]
//	  - name: db
//	    database: {primary: db-1, promotion: 10s}
//	    backends: [{name: db-1}, {name: db-2}]
//
// A pool that some pool calls is a tier: the proxy does not route to it, so
// it takes no match:. A backend serves its own service time first, then
// makes its pool's calls in order, holding its worker throughout; a call
// that fails (no answer, or a 5xx) makes the backend answer 502, naming
// the tier the failure started in.

// Call is one kind of call a backend makes, for each request it serves, to
// another pool.
type Call struct {
	// Pool names the pool called.
	Pool string `yaml:"pool"`
	// Times is how many calls, one after the other. Default 1.
	Times int `yaml:"times"`
	// Probability is the chance that a request makes these calls at all.
	// Default 100%; 0% is refused (a call never made is no call).
	Probability *Percent `yaml:"probability"`
	// Writes is, for a database pool, the share of these calls that write
	// (served by the primary); the rest read (served by the replicas, or
	// the primary when it has none). Default 0%.
	Writes Percent `yaml:"writes"`
	// Timeout bounds one call. Default 10s.
	Timeout Duration `yaml:"timeout"`
}

// Database makes a pool a database: one primary and its replicas.
type Database struct {
	// Primary names the pool's backend that starts as the primary. Default
	// the pool's first backend.
	Primary string `yaml:"primary"`
	// Promotion is how long after the primary goes down a replica becomes
	// the primary (writes fail meanwhile). 0: no replica is promotable, so
	// writes fail until the primary comes back.
	Promotion Duration `yaml:"promotion"`
	// ReadsFromPrimary sends reads to the primary too, with the replicas.
	ReadsFromPrimary bool `yaml:"reads_from_primary"`
}

// Cache makes a pool a cache: a share of the requests it serves are hits,
// answered with its own service time alone; a miss also makes the pool's
// calls.
type Cache struct {
	HitRatio Percent `yaml:"hit_ratio"`
}

// DefaultCallTimeout bounds a call between tiers when the scenario does not.
const DefaultCallTimeout = Duration(10 * time.Second)

// Tiers returns the names of the pools some pool calls: the proxy routes to
// none of them.
func (s *SUT) Tiers() map[string]bool {
	called := map[string]bool{}
	for _, p := range s.Pools {
		for _, c := range p.Calls {
			called[c.Pool] = true
		}
	}
	return called
}

// Routed returns the pools the proxy routes to: those no pool calls.
func (s *SUT) Routed() []Pool {
	tiers := s.Tiers()
	var routed []Pool
	for _, p := range s.Pools {
		if !tiers[p.Name] {
			routed = append(routed, p)
		}
	}
	return routed
}

// PoolByName returns the pool named name, or nil.
func (s *SUT) PoolByName(name string) *Pool {
	for i := range s.Pools {
		if s.Pools[i].Name == name {
			return &s.Pools[i]
		}
	}
	return nil
}

// PrimaryName is a database pool's first primary: Database.Primary, or the
// first backend's name.
func (p *Pool) PrimaryName() string {
	if p.Database == nil {
		return ""
	}
	if p.Database.Primary != "" || len(p.Backends) == 0 {
		return p.Database.Primary
	}
	return p.Backends[0].Name
}

func (c *Call) applyDefaults() {
	if c.Times == 0 {
		c.Times = 1
	}
	if c.Probability == nil {
		all := Percent(1)
		c.Probability = &all
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultCallTimeout
	}
}

// MaxCallsPerRequest bounds the calls one request through the proxy may
// cause in every tier below, times multiplied along each path: each holds
// a worker and a connection in the tier above while it runs.
const MaxCallsPerRequest = 1000

var limitCalls = Limit{"calls per request, times multiplied along the tiers", MaxCallsPerRequest, "", "each call holds a worker and a connection in the tier above while it runs"}

// tiers checks the calls between pools, databases and caches; the pools'
// own fields are checked by sut. Called after the pools' names are known.
func (v *validator) tiers(s *SUT) {
	byName := map[string]int{}
	for i, p := range s.Pools {
		if _, dup := byName[p.Name]; !dup {
			byName[p.Name] = i
		}
	}
	tiers := s.Tiers()
	routed := 0
	for i, p := range s.Pools {
		path := fmt.Sprintf("sut.pools[%d]", i)
		if tiers[p.Name] {
			if p.Match != (Match{}) {
				v.addf(path+".match", "pool %q is a tier (another pool calls it), so the proxy does not route to it and it takes no match", p.Name)
			}
		} else {
			routed++
			if p.Strategy != "" {
				v.addf(path+".strategy", "pool %q is routed to by the proxy, whose strategy (sut.proxy.strategy) balances it; strategy: is for a tier, a pool another pool calls", p.Name)
			}
			if p.Connections != 0 {
				v.addf(path+".connections", "pool %q is routed to by the proxy; connections: is for a tier, a pool another pool calls", p.Name)
			}
		}
		if p.Strategy != "" {
			v.oneOf(path+".strategy", "strategy", p.Strategy, balancer.Names())
		}
		if p.Connections < 0 {
			v.addf(path+".connections", "connections must be 0 (as many as the caller's workers) or more, got %d", p.Connections)
		}
		v.atMost(path+".connections", float64(p.Connections), limitQueue)
		for j, c := range p.Calls {
			cpath := fmt.Sprintf("%s.calls[%d]", path, j)
			k, ok := byName[c.Pool]
			switch {
			case c.Pool == "":
				v.addf(cpath+".pool", "a call needs pool: the name of the pool it calls, one of %s", strings.Join(poolNames(s), ", "))
			case !ok:
				v.oneOf(cpath+".pool", "pool", c.Pool, poolNames(s))
			case c.Pool == p.Name:
				v.addf(cpath+".pool", "pool %q calls itself; a call goes to another pool", p.Name)
			}
			if c.Times < 1 {
				v.addf(cpath+".times", "times must be at least 1, got %d", c.Times)
			}
			if c.Probability != nil && *c.Probability <= 0 {
				v.addf(cpath+".probability", "probability must be more than 0%% (a call never made is no call; remove it), got %s", *c.Probability)
			}
			if c.Writes > 0 && ok && s.Pools[k].Database == nil {
				v.addf(cpath+".writes", "writes: is for calls to a database pool; pool %q has no database:", c.Pool)
			}
		}
		if d := p.Database; d != nil {
			if d.Primary != "" && !slices.ContainsFunc(p.Backends, func(b Backend) bool { return b.Name == d.Primary }) {
				v.oneOf(path+".database.primary", "backend of pool "+p.Name, d.Primary, backendNames(p))
			}
			if p.Cache != nil {
				v.addf(path+".cache", "pool %q is a database; a pool is a database or a cache, not both", p.Name)
			}
		}
	}
	if len(s.Pools) > 0 && routed == 0 {
		v.add("sut.pools", "every pool is called by another, so the proxy routes to none: the calls between pools form a cycle")
		return
	}
	if cycle := callCycle(s); cycle != nil {
		v.addf(fmt.Sprintf("sut.pools[%d].calls", byName[cycle[0]]), "the calls between pools form a cycle (%s); a tier calls only the tiers below it", strings.Join(cycle, " → "))
		return
	}
	for i, p := range s.Pools {
		if tiers[p.Name] {
			continue
		}
		if n := callsPerRequest(s, p.Name); n > MaxCallsPerRequest {
			v.addf(fmt.Sprintf("sut.pools[%d].calls", i), "expected at most %d calls per request in the tiers below pool %q (times multiplied along each path), got %.0f: %s",
				MaxCallsPerRequest, p.Name, n, limitCalls.Why)
		}
	}
}

// callCycle returns a cycle of pool names (the first repeated at the end),
// or nil.
func callCycle(s *SUT) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) []string
	visit = func(name string) []string {
		switch state[name] {
		case onPath:
			i := slices.Index(path, name)
			return append(slices.Clone(path[i:]), name)
		case done:
			return nil
		}
		state[name] = onPath
		path = append(path, name)
		if p := s.PoolByName(name); p != nil {
			for _, c := range p.Calls {
				if c.Pool == name {
					continue // reported as a self-call
				}
				if cycle := visit(c.Pool); cycle != nil {
					return cycle
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, p := range s.Pools {
		if cycle := visit(p.Name); cycle != nil {
			return cycle
		}
	}
	return nil
}

// callsPerRequest is the most calls one request served by pool name causes
// in the tiers below it (times multiplied, every call made), capped just
// past the limit so that the sum cannot overflow. The calls form no cycle.
func callsPerRequest(s *SUT, name string) float64 {
	return callsBelow(s, name, false, MaxCallsPerRequest)
}

// ExpectedCalls is the mean number of calls one request served by pool
// name causes in the tiers below it: times × probability along each path,
// a cache's calls for its misses alone. The calls form no cycle
// (validation refuses one).
func (s *SUT) ExpectedCalls(name string) float64 {
	return callsBelow(s, name, true, math.Inf(1))
}

// callsBelow counts the calls below pool name: every call made, or with
// expected each weighed by its probability and a cache's by its misses;
// past most it stops, at most + 1.
func callsBelow(s *SUT, name string, expected bool, most float64) float64 {
	p := s.PoolByName(name)
	if p == nil {
		return 0
	}
	total := 0.0
	for _, c := range p.Calls {
		if c.Pool == name {
			continue
		}
		n := float64(max(c.Times, 1))
		if expected && c.Probability != nil {
			n *= c.Probability.Fraction()
		}
		total += n * (1 + callsBelow(s, c.Pool, expected, most))
		if total > most {
			return most + 1
		}
	}
	if expected && p.Cache != nil {
		total *= 1 - p.Cache.HitRatio.Fraction()
	}
	return total
}

func poolNames(s *SUT) []string {
	names := make([]string, len(s.Pools))
	for i, p := range s.Pools {
		names[i] = p.Name
	}
	return names
}

func backendNames(p Pool) []string {
	names := make([]string, len(p.Backends))
	for i, b := range p.Backends {
		names[i] = b.Name
	}
	return names
}
