package report

import (
	"math"

	"github.com/ilities/ilities/scenario"
)

// Project is the availability projection of a run of sc (see Projection):
// each projected node's availability (projectNodes), each pool's under
// k-of-n redundancy, each route's through the tiers below it, and the
// service's. runEndS is the end of the run on the faults' clock. It returns
// nil for an external target and when no node is projected (no mtbf, or no
// MTTR for any node that has one).
func Project(sc *scenario.Scenario, faults []Fault, runEndS float64) *Projection {
	nodes, withoutMTTR := projectNodes(NodeMTBFs(sc), faults, runEndS)
	if len(nodes) == 0 {
		return nil
	}
	up := make(map[string]float64, len(nodes))
	for _, n := range nodes {
		up[n.Name] = n.Availability
	}
	m := newTierModel(sc, up)
	p := &Projection{Nodes: nodes, Pools: []PoolProjection{}, Routes: []RouteProjection{}, WithoutMTTR: withoutMTTR, Approximate: m.approximate}
	if m.proxy.nodes > 0 {
		p.Pools = append(p.Pools, m.proxy.projection())
	}
	for _, pm := range m.pools {
		if pm.nodes > 0 {
			p.Pools = append(p.Pools, pm.projection())
		}
	}
	service, routes := m.service()
	for i, pm := range m.routed {
		p.Routes = append(p.Routes, RouteProjection{Pool: pm.name, Projected: projected(routes[i])})
	}
	p.Service = projected(m.proxy.reads() * service)
	return p
}

// maxJointStates bounds the joint states of the tiers reached along several
// paths that the projection weighs one by one (about a dozen such tiers):
// past it, the rest are taken as independent, which understates the
// availability slightly (Projection.Approximate).
const maxJointStates = 4096

// poolState is one state of a pool with its probability: whether it serves
// writes (a database's primary) and reads (every other request).
type poolState struct {
	p             float64
	writes, reads bool
}

// serves is the chance that one call of which a share writes succeeds in
// the pool itself.
func (s poolState) serves(writes float64) float64 {
	var ok float64
	if s.writes {
		ok += writes
	}
	if s.reads {
		ok += 1 - writes
	}
	return ok
}

// poolModel is one pool as the projection sees it.
type poolModel struct {
	name, kind string
	pool       *scenario.Pool // nil for the proxy
	// nodes are the projected nodes, needs how many must be up.
	nodes, needs int
	states       []poolState
	hasWrites    bool
	// fixed is the state of a pool weighed jointly, for the assignment of
	// states being summed; nil for a pool reached once.
	fixed *poolState
}

func (pm *poolModel) share(of func(poolState) bool) float64 {
	var a float64
	for _, s := range pm.states {
		if of(s) {
			a += s.p
		}
	}
	return a
}

func (pm *poolModel) reads() float64 { return pm.share(func(s poolState) bool { return s.reads }) }

func (pm *poolModel) projection() PoolProjection {
	pp := PoolProjection{Name: pm.name, Kind: pm.kind, Nodes: pm.nodes, Needs: pm.needs, Projected: projected(pm.reads())}
	if pm.hasWrites {
		w := projected(pm.share(func(s poolState) bool { return s.writes }))
		pp.Writes = &w
	}
	return pp
}

// tierModel is the SUT's pools, the calls between them and the proxy.
type tierModel struct {
	proxy  *poolModel
	pools  []*poolModel // in the scenario's order
	byName map[string]*poolModel
	routed []*poolModel
	// joint are the pools reached more than once per service, whose
	// states are summed over jointly.
	joint       []*poolModel
	approximate bool
}

// newTierModel builds every pool's states from its projected nodes'
// availabilities (up, by node name).
func newTierModel(sc *scenario.Scenario, up map[string]float64) *tierModel {
	s := sc.SUT
	members := map[string][]string{}
	for _, n := range backendMTBFs(sc) {
		members[n.Pool] = append(members[n.Pool], n.Name)
	}
	m := &tierModel{byName: map[string]*poolModel{}}
	m.proxy = kOfNPool(ProxyPool, PoolProxy, projectedOf(proxyReplicas(s), up), 1)
	tiers := s.Tiers()
	for i := range s.Pools {
		p := &s.Pools[i]
		var pm *poolModel
		if p.Database != nil {
			pm = databasePool(p, members[p.Name], up)
		} else {
			kind := PoolRouted
			switch {
			case p.Cache != nil:
				kind = PoolCache
			case tiers[p.Name]:
				kind = PoolTier
			}
			pm = kOfNPool(p.Name, kind, projectedOf(members[p.Name], up), p.NeedsUp())
		}
		pm.pool = p
		m.pools = append(m.pools, pm)
		m.byName[p.Name] = pm
		if !tiers[p.Name] {
			m.routed = append(m.routed, pm)
		}
	}
	m.chooseJoint()
	return m
}

// projectedOf is the availabilities of the nodes named that are projected.
func projectedOf(names []string, up map[string]float64) []float64 {
	var as []float64
	for _, name := range names {
		if a, ok := up[name]; ok {
			as = append(as, a)
		}
	}
	return as
}

// kOfNPool is a pool up while needs of its nodes (availabilities as) are,
// needs capped at their number.
func kOfNPool(name, kind string, as []float64, needs int) *poolModel {
	k := min(needs, len(as))
	a := atLeast(k, as)
	return &poolModel{name: name, kind: kind, nodes: len(as), needs: k,
		states: nonZero([]poolState{{a, true, true}, {1 - a, false, false}})}
}

// databasePool is a database's states. Reads need k of its projected nodes
// up (the replicas, the primary standing in when too few are); writes need
// the primary. Without a promotable replica (promotion 0, or none) the
// primary's own availability decides, weighed against the others' for the
// reads; with one, a primary failure costs a promotion (A_role = MTBF /
// (MTBF + promotion) of the primary), and writes fail too while every node
// is down.
func databasePool(p *scenario.Pool, members []string, up map[string]float64) *poolModel {
	primary := p.PrimaryName()
	var all, others []float64
	primaryA, primaryKnown := up[primary]
	for _, name := range members {
		if a, ok := up[name]; ok {
			all = append(all, a)
			if name != primary {
				others = append(others, a)
			}
		}
	}
	k := min(p.NeedsUp(), len(all))
	pm := &poolModel{name: p.Name, kind: PoolDatabase, nodes: len(all), needs: k, hasWrites: true}
	reads := atLeast(k, all)
	switch {
	case len(all) == 0:
		pm.states = []poolState{{1, true, true}}
	case !primaryKnown:
		// A primary without mtbf never fails: the writes never do.
		pm.states = []poolState{{reads, true, true}, {1 - reads, true, false}}
	case p.Database.Promotion == 0 || len(members) < 2:
		withPrimary, without := atLeast(k-1, others), atLeast(k, others)
		pm.states = []poolState{
			{primaryA * withPrimary, true, true}, {primaryA * (1 - withPrimary), true, false},
			{(1 - primaryA) * without, false, true}, {(1 - primaryA) * (1 - without), false, false},
		}
	default:
		var mtbf float64
		for _, b := range p.Backends {
			if b.Name == primary {
				mtbf = b.MTBF.D().Seconds()
			}
		}
		role := mtbf / (mtbf + p.Database.Promotion.D().Seconds())
		allDown := 1.0
		for _, a := range all {
			allDown *= 1 - a
		}
		pm.states = []poolState{
			{role * reads, true, true}, {role * (1 - allDown - reads), true, false},
			{(1 - role) * reads, false, true}, {allDown + (1-role)*(1-allDown-reads), false, false},
		}
	}
	pm.states = nonZero(pm.states)
	return pm
}

// nonZero drops the states that cannot happen, so that no assignment of
// states is summed for nothing.
func nonZero(states []poolState) []poolState {
	out := states[:0]
	for _, s := range states {
		if s.p > 0 {
			out = append(out, s)
		}
	}
	return out
}

// atLeast is the probability that at least k of independent events of
// probabilities ps happen (a Poisson binomial tail).
func atLeast(k int, ps []float64) float64 {
	if k <= 0 {
		return 1
	}
	// count[j] = P(exactly j of the events so far)
	count := make([]float64, len(ps)+1)
	count[0] = 1
	for i, p := range ps {
		for j := i + 1; j > 0; j-- {
			count[j] = count[j]*(1-p) + count[j-1]*p
		}
		count[0] *= 1 - p
	}
	var tail float64
	for j := k; j < len(count); j++ {
		tail += count[j]
	}
	return math.Min(tail, 1)
}

// chooseJoint picks the pools whose states are summed over jointly: those
// reached more than once per service (along several paths, or by calls
// made several times), whose one state every visit shares. A pool reached
// once enters as its expectation, which is exact.
func (m *tierModel) chooseJoint() {
	reached := map[string]float64{}
	var visits func(pm *poolModel) float64
	visits = func(pm *poolModel) float64 {
		if v, ok := reached[pm.name]; ok {
			return v
		}
		v := 0.0
		for _, caller := range m.pools {
			for _, c := range caller.pool.Calls {
				if c.Pool == pm.name && caller != pm {
					v += visits(caller) * float64(max(c.Times, 1))
				}
			}
		}
		if v == 0 {
			v = 1 // routed
		}
		reached[pm.name] = v
		return v
	}
	combinations := 1
	for _, pm := range m.pools {
		if visits(pm) <= 1 || len(pm.states) < 2 {
			continue
		}
		if combinations*len(pm.states) > maxJointStates {
			m.approximate = true
			continue
		}
		combinations *= len(pm.states)
		m.joint = append(m.joint, pm)
	}
}

// service sums, over every assignment of states to the joint pools, the
// chance that a request on each route succeeds: it returns the chance that
// all routes' requests do (the service, the proxy aside) and each route's.
func (m *tierModel) service() (all float64, routes []float64) {
	routes = make([]float64, len(m.routed))
	at := make([]int, len(m.joint)) // the assignment, as an odometer
	for {
		weight := 1.0
		for i, pm := range m.joint {
			pm.fixed = &pm.states[at[i]]
			weight *= pm.fixed.p
		}
		below := map[*poolModel]float64{}
		every := 1.0
		for i, pm := range m.routed {
			ok := m.visit(pm, 0, 1, below)
			routes[i] += weight * ok
			every *= ok
		}
		all += weight * every
		i := 0
		for ; i < len(at); i++ {
			if at[i]++; at[i] < len(m.joint[i].states) {
				break
			}
			at[i] = 0
		}
		if i == len(at) {
			break
		}
	}
	for _, pm := range m.joint {
		pm.fixed = nil
	}
	return all, routes
}

// visit is the chance that times calls to pm, of which a share writes,
// all succeed: pm serves each and so do the calls it makes below. A
// joint pool's state is the assignment's; another's is summed over here.
func (m *tierModel) visit(pm *poolModel, writes float64, times int, below map[*poolModel]float64) float64 {
	g := m.below(pm, below)
	if pm.fixed != nil {
		return math.Pow(pm.fixed.serves(writes)*g, float64(times))
	}
	var ok float64
	for _, s := range pm.states {
		ok += s.p * math.Pow(s.serves(writes)*g, float64(times))
	}
	return ok
}

// below is the chance that the calls a request served by pm makes all
// succeed: each kind of call is made with its probability, and a cache
// makes them on a miss only. Kept per assignment of joint states.
func (m *tierModel) below(pm *poolModel, memo map[*poolModel]float64) float64 {
	if g, ok := memo[pm]; ok {
		return g
	}
	g := 1.0
	for _, c := range pm.pool.Calls {
		callee := m.byName[c.Pool]
		if callee == nil || callee == pm {
			continue
		}
		made := 1.0
		if c.Probability != nil {
			made = c.Probability.Fraction()
		}
		g *= 1 - made + made*m.visit(callee, c.Writes.Fraction(), max(c.Times, 1), memo)
	}
	if cache := pm.pool.Cache; cache != nil {
		hit := cache.HitRatio.Fraction()
		g = hit + (1-hit)*g
	}
	memo[pm] = g
	return g
}
