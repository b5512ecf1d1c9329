package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ilities/ilities/scenario"
)

// SinglePoint is one part of the built-in SUT whose failure alone fails
// the requests that need it.
type SinglePoint struct {
	// Kind is SPOFProxy, SPOFNode or SPOFPrimary.
	Kind string `json:"kind"`
	// Name is the node's name, or ProxyPool for the proxy.
	Name string `json:"name"`
	// Pool is the node's pool; absent for the proxy.
	Pool string `json:"pool,omitempty"`
	Why  string `json:"why"`
}

// Label names the single point of failure: "proxy", "web-1 (pool web)",
// "database primary db-1 (pool db)".
func (sp SinglePoint) Label() string {
	switch sp.Kind {
	case SPOFProxy:
		return sp.Name
	case SPOFPrimary:
		return "database primary " + sp.Name + " (pool " + sp.Pool + ")"
	}
	return sp.Name + " (pool " + sp.Pool + ")"
}

// Kinds of single point of failure.
const (
	SPOFProxy   = "proxy"            // the proxy, with one replica
	SPOFNode    = "node"             // a backend its pool cannot do without
	SPOFPrimary = "database-primary" // a database's primary, which no replica can replace
)

// SinglePointsOfFailure names every single point of failure of sc's
// built-in SUT, from its topology alone (sut: as declared; a backend an
// add-backend fault starts is not counted): the proxy with one replica; in
// each pool, a backend it cannot do without (its only one, or one of the
// backends it needs all of: needs); a database's primary that takes writes
// and that no replica can replace (promotion: 0, or no replica). A pool that
// only some requests reach (a call's probability, a cache's misses) is
// still one for those that do, and the why says so. Nil for an external
// target; empty, not nil, when there is none.
func SinglePointsOfFailure(sc *scenario.Scenario) []SinglePoint {
	if sc.SUT == nil {
		return nil
	}
	s := sc.SUT
	out := []SinglePoint{}
	switch {
	case s.Proxy.IsExternal():
		out = append(out, SinglePoint{Kind: SPOFProxy, Name: ProxyPool,
			Why: fmt.Sprintf("every request passes the proxy, one %s process (a real proxy runs as one instance)", s.Proxy.Kind)})
	case s.Proxy.Replicas <= 1:
		out = append(out, SinglePoint{Kind: SPOFProxy, Name: ProxyPool,
			Why: "every request passes the proxy, and it has one replica (sut.proxy.replicas: 1)"})
	}
	r := newReach(s)
	for i := range s.Pools {
		out = append(out, poolSinglePoints(&s.Pools[i], r)...)
	}
	return out
}

// poolSinglePoints are pool p's single points of failure.
func poolSinglePoints(p *scenario.Pool, r *reach) []SinglePoint {
	var out []SinglePoint
	n, needs := len(p.Backends), min(p.NeedsUp(), len(p.Backends))
	where := r.describe(p)
	what := "pool " + p.Name
	if r.tiers[p.Name] {
		what = "tier " + p.Name
	}
	if p.Database != nil {
		what = "database pool " + p.Name
	}
	primary := ""
	if db := p.Database; db != nil && r.writes[p.Name] && (db.Promotion == 0 || n < 2) {
		primary = p.PrimaryName()
		why := "no replica is promotable (promotion: 0)"
		if n < 2 {
			why = "it has no replica"
		}
		if n-needs == 0 {
			why += ", and the reads need it too"
		}
		out = append(out, SinglePoint{Kind: SPOFPrimary, Name: primary, Pool: p.Name,
			Why: fmt.Sprintf("the primary of %s takes every write and %s; %s", what, why, where)})
	}
	if n == 0 || n-needs > 0 {
		return out
	}
	for _, b := range p.Backends {
		if b.Name == primary {
			continue
		}
		role := "the only backend of " + what
		if n > 1 {
			role = fmt.Sprintf("one of the %d backends %s needs all of (needs: %d)", n, what, needs)
		}
		out = append(out, SinglePoint{Kind: SPOFNode, Name: b.Name, Pool: p.Name, Why: role + "; " + where})
	}
	return out
}

// reach is how requests reach each pool: who calls it, whether every
// request its callers serve does, whether any call writes.
type reach struct {
	s       *scenario.SUT
	tiers   map[string]bool
	writes  map[string]bool
	certain map[string]bool // memo of always
}

func newReach(s *scenario.SUT) *reach {
	r := &reach{s: s, tiers: s.Tiers(), writes: map[string]bool{}, certain: map[string]bool{}}
	for _, p := range s.Pools {
		for _, c := range p.Calls {
			r.writes[c.Pool] = r.writes[c.Pool] || c.Writes > 0
		}
	}
	return r
}

// always reports whether every request that reaches a caller of pool name
// down some path reaches it too: a routed pool, or one called with
// certainty (probability 100%, not behind a cache's hits) by such a pool.
func (r *reach) always(name string) bool {
	if !r.tiers[name] {
		return true
	}
	if v, ok := r.certain[name]; ok {
		return v
	}
	r.certain[name] = false // the calls form no cycle; this only guards
	for _, caller := range r.s.Pools {
		for _, c := range caller.Calls {
			if c.Pool == name && madeAlways(c) && !missesOnly(caller) && r.always(caller.Name) {
				r.certain[name] = true
				return true
			}
		}
	}
	return false
}

func madeAlways(c scenario.Call) bool { return c.Probability == nil || *c.Probability >= 1 }

func missesOnly(p scenario.Pool) bool { return p.Cache != nil && p.Cache.HitRatio > 0 }

// describe says how requests reach pool p, for a why.
func (r *reach) describe(p *scenario.Pool) string {
	if !r.tiers[p.Name] {
		return "the proxy routes requests to " + p.Name
	}
	var callers []string
	for _, caller := range r.s.Pools {
		for _, c := range caller.Calls {
			if c.Pool != p.Name {
				continue
			}
			var how []string
			if !madeAlways(c) {
				how = append(how, formatShareOf(c.Probability.Fraction())+" of its requests")
			}
			if missesOnly(caller) {
				how = append(how, "on a miss")
			}
			name := caller.Name
			if len(how) > 0 {
				name += " (" + strings.Join(how, ", ") + ")"
			}
			if !containsString(callers, name) {
				callers = append(callers, name)
			}
		}
	}
	verb := "calls"
	if len(callers) > 1 {
		verb = "call"
	}
	text := fmt.Sprintf("%s %s %s", joinAnd(callers), verb, p.Name)
	if !r.always(p.Name) {
		text += ": only the requests that reach it need it, not every request does"
	}
	return text
}

// formatShareOf shows a probability as a percentage without noise: 30%, 0.5%.
func formatShareOf(f float64) string {
	return strconv.FormatFloat(roundSignificant(f*100, 6), 'f', -1, 64) + "%"
}

// joinAnd lists names: "a", "a and b", "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
