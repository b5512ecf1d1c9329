package report

import "github.com/ilities/ilities/scenario"

// Topology is the built-in SUT's shape, as the scenario declares it: the
// proxy and each pool with the calls it makes. Which nodes each pool had
// is in Result.Nodes (Node.Pool, and a database's Node.Role at the end);
// how each node and proxy replica ended the run, in Result.Faults
// (NodeStates). It is what the drawing of the infrastructure is made from
// (topology.png and report.html), so a saved result draws it again alone.
type Topology struct {
	Proxy TopologyProxy  `json:"proxy"`
	Pools []TopologyPool `json:"pools"`
}

// TopologyProxy is the proxy in front of the routed pools.
type TopologyProxy struct {
	// Kind is the scenario's sut.proxy.kind: builtin, nginx or haproxy.
	Kind string `json:"kind"`
	// Replicas is how many instances run (proxy-1, proxy-2, …); a real
	// proxy runs one.
	Replicas int `json:"replicas"`
}

// TopologyPool is one pool: its kind as a tier's (TierKindRouted,
// TierKindCalled, TierKindCache, TierKindDatabase), whether the proxy
// routes to it, and the calls its backends make for each request.
type TopologyPool struct {
	Name   string         `json:"name"`
	Kind   string         `json:"kind"`
	Routed bool           `json:"routed,omitempty"`
	Calls  []TopologyCall `json:"calls,omitempty"`
}

// TopologyCall is one of a pool's calls (scenario.Call): Times calls one
// after the other, made by a share Probability of the requests served (of
// a cache's misses), of which a share Writes write to a database.
type TopologyCall struct {
	Pool        string  `json:"pool"`
	Times       int     `json:"times"`
	Probability float64 `json:"probability"`
	Writes      float64 `json:"writes,omitempty"`
}

// The states of a node at the end of the run (NodeStates).
const (
	NodeUp      = "up"
	NodeDown    = "down"    // crashed, and not restarted by the end
	NodeRemoved = "removed" // taken out of its pool by remove-backend
)

// The roles of a database's node at the end of the run (Node.Role).
const (
	RolePrimary  = "primary"  // the primary it started with
	RolePromoted = "promoted" // a replica that became the primary
	RoleReplica  = "replica"
)

// TopologyOf is the shape of the built-in SUT s; nil without one.
func TopologyOf(s *scenario.SUT) *Topology {
	if s == nil {
		return nil
	}
	t := &Topology{Proxy: TopologyProxy{Kind: s.Proxy.Kind, Replicas: max(s.Proxy.Replicas, 1)}, Pools: []TopologyPool{}}
	if s.Proxy.IsExternal() {
		t.Proxy.Replicas = 1
	}
	called := s.Tiers()
	for i := range s.Pools {
		p := &s.Pools[i]
		tp := TopologyPool{Name: p.Name, Kind: tierKind(p, !called[p.Name]), Routed: !called[p.Name]}
		for _, c := range p.Calls {
			tc := TopologyCall{Pool: c.Pool, Times: max(c.Times, 1), Probability: 1, Writes: c.Writes.Fraction()}
			if c.Probability != nil {
				tc.Probability = c.Probability.Fraction()
			}
			tp.Calls = append(tp.Calls, tc)
		}
		t.Pools = append(t.Pools, tp)
	}
	return t
}

// tierKind is pool p's kind: a database or a cache by its options, else
// routed or a plain tier.
func tierKind(p *scenario.Pool, routed bool) string {
	switch {
	case p.Database != nil:
		return TierKindDatabase
	case p.Cache != nil:
		return TierKindCache
	case routed:
		return TierKindRouted
	}
	return TierKindCalled
}

// markNodes gives each node of res its pool and, in a database, its role
// at the end, from the nodes' own counters.
func markNodes(res *Result, s *scenario.SUT, counters []TierNodeCounters) {
	byName := make(map[string]*TierNodeCounters, len(counters))
	for i := range counters {
		byName[counters[i].Name] = &counters[i]
	}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		c := byName[n.Name]
		if c == nil {
			continue
		}
		n.Pool = c.Pool
		if p := s.PoolByName(c.Pool); p != nil && p.Database != nil {
			switch {
			case c.Primary && c.Promotions > 0:
				n.Role = RolePromoted
			case c.Primary:
				n.Role = RolePrimary
			default:
				n.Role = RoleReplica
			}
		}
	}
}

// NodeStates names the nodes and proxy replicas that ended the run other
// than up, from the faults alone, so that live runs (whose timeline lifts
// what is left of its faults once the run is over) and simulations tell it
// alike: NodeDown after a crash or crash-proxy applied and never lifted
// within the run, NodeRemoved after a remove-backend.
func NodeStates(faults []Fault) map[string]string {
	states := map[string]string{}
	for _, f := range faults {
		if f.Error != "" || states[f.Node] == NodeRemoved {
			continue
		}
		switch f.Kind {
		case "crash", "crash-proxy":
			if f.EndS == 0 {
				states[f.Node] = NodeDown
			} else {
				delete(states, f.Node)
			}
		case "remove-backend":
			states[f.Node] = NodeRemoved
		}
	}
	return states
}
