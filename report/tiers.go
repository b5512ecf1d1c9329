package report

import (
	"github.com/ilities/ilities/scenario"
)

// The kinds of a tier (Tier.Kind).
const (
	// TierKindRouted is a pool the proxy routes to.
	TierKindRouted = "routed"
	// TierKindCalled is a pool reached only by the calls of another pool.
	TierKindCalled = "tier"
	// TierKindDatabase is a pool with a primary and replicas (scenario database:).
	TierKindDatabase = "database"
	// TierKindCache is a pool that answers a share of requests alone (scenario cache:).
	TierKindCache = "cache"
)

// Tier is one pool of a tiered SUT as its nodes saw it over the run: how
// often a request through the proxy visits it and what each visit costs.
// Its latency share is its part of the mean latency: the shares of every
// tier add up to the mean latency less what the network and the proxy add
// (the mean response time of a network of queues, Σ visits × residence).
type Tier struct {
	Name string `json:"name"`
	// Kind is TierKindRouted, TierKindCalled, TierDatabase or TierCache; Routed is
	// set for a pool the proxy routes to, whatever its kind.
	Kind   string   `json:"kind"`
	Routed bool     `json:"routed,omitempty"`
	Nodes  []string `json:"nodes"`
	// Served counts the requests its nodes served: the calls of the tiers
	// above included.
	Served int64 `json:"served"`
	// Visits is Served per request served by the routed pools: how many
	// times one request through the proxy reaches this tier.
	Visits float64 `json:"visits"`
	// QueueMS and ServiceMS are the mean wait for a worker and the mean own
	// service of a request served; ResidenceMS is their sum. The calls it
	// makes to the tiers below are theirs, not part of it.
	QueueMS     float64 `json:"queue_ms"`
	ServiceMS   float64 `json:"service_ms"`
	ResidenceMS float64 `json:"residence_ms"`
	// CallsMS is the mean time a request served spent in its calls: waiting
	// for a connection, on the network, in the tiers below.
	CallsMS float64 `json:"calls_ms"`
	// LatencyShareMS is Visits × ResidenceMS.
	LatencyShareMS float64 `json:"latency_share_ms"`
	// Utilisation is its nodes' busy worker-time over their workers × the
	// run: a worker making calls is busy.
	Utilisation float64 `json:"utilisation"`
	// Failures counts the failed answers of the routed pools whose failure
	// started in this tier (TierNodeCounters.Failures).
	Failures int64 `json:"failures"`
	// Cache and Database are set for those kinds.
	Cache    *TierCache    `json:"cache,omitempty"`
	Database *TierDatabase `json:"database,omitempty"`
}

// TierCache is what a cache tier answered alone (hits) and passed on
// (misses, which made the pool's calls).
type TierCache struct {
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	HitRatio float64 `json:"hit_ratio"`
}

// TierDatabase is what a database tier was asked, and which node was its
// primary at the end after how many promotions.
type TierDatabase struct {
	Reads        int64  `json:"reads"`
	Writes       int64  `json:"writes"`
	WritesFailed int64  `json:"writes_failed"`
	Primary      string `json:"primary"`
	Promotions   int64  `json:"promotions"`
}

// TierNodeCounters are one node's counters over the run, as the live
// topology and the simulation both count them.
type TierNodeCounters struct {
	Name, Pool string
	// Workers and Utilisation weigh the node in its tier's utilisation.
	Workers     int
	Utilisation float64
	// Served counts the requests whose own service ended (whatever their
	// calls did); QueueSeconds, ServiceSeconds and CallSeconds are their
	// summed waits for a worker, own services and time in calls.
	Served                                    int64
	QueueSeconds, ServiceSeconds, CallSeconds float64
	// Hits and Misses are a cache node's.
	Hits, Misses int64
	// Reads and Writes are the calls sent to a database node, and the
	// writes refused while it was a primary that was down; WritesFailed the
	// writes among them that failed, the refused ones included. Primary is set for the primary at
	// the end; Promotions counts the times the node became the primary.
	Reads, Writes, WritesFailed int64
	Primary                     bool
	Promotions                  int64
	// Failures counts the node's failed answers by the pool where the
	// failure started: its own pool for its own (a full queue, an injected
	// error, a cut answer), the called pool for a call refused, timed out
	// or answered 5xx there, and the pool a failed call's answer names
	// (X-Ilities-Failed-Tier) when the failure started further down. A
	// crashed node counts nothing: its callers, or the proxy, do.
	Failures map[string]int64
}

// AttachTiers puts the shape of s (Result.Topology) and each node's pool
// and role at the end into res, and the per-tier figures of s from its
// nodes' counters when pools call other pools, live and simulated alike.
// The fairness is then that of the routed pools' nodes alone: a tier's
// nodes answer no client, so their share of the answers says nothing of
// the proxy's balance.
func AttachTiers(res *Result, s *scenario.SUT, nodes []TierNodeCounters) {
	if s == nil {
		return
	}
	res.Topology = TopologyOf(s)
	markNodes(res, s, nodes)
	res.Tiers = TiersOf(s, nodes)
	if res.Tiers == nil {
		return
	}
	tiers := s.Tiers()
	routed := map[string]bool{}
	for _, n := range nodes {
		routed[n.Name] = !tiers[n.Pool]
	}
	var front []Node
	var total int64
	for _, n := range res.Nodes {
		if routed[n.Name] {
			front = append(front, n)
			total += n.Requests
		}
	}
	res.Fairness = FinishNodes(front, total)
}

// TiersOf returns the figures of each pool of s, in the scenario's order,
// from its nodes' counters (a node whose pool s does not have is left
// out); nil when no pool calls another: a SUT of one tier has its nodes'
// figures alone. Failures are read at the routed pools, where every failed
// request ends and is counted once.
func TiersOf(s *scenario.SUT, nodes []TierNodeCounters) []Tier {
	if s == nil || len(s.Tiers()) == 0 {
		return nil
	}
	called := s.Tiers()
	tiers := make([]Tier, len(s.Pools))
	index := make(map[string]int, len(s.Pools))
	for i, p := range s.Pools {
		index[p.Name] = i
		t := Tier{Name: p.Name, Kind: tierKind(&p, !called[p.Name]), Routed: !called[p.Name], Nodes: []string{}}
		switch t.Kind {
		case TierKindDatabase:
			t.Database = &TierDatabase{}
		case TierKindCache:
			t.Cache = &TierCache{}
		}
		tiers[i] = t
	}
	type sums struct{ queue, service, calls, busy, workers float64 }
	acc := make([]sums, len(tiers))
	var routedServed int64
	for _, n := range nodes {
		i, ok := index[n.Pool]
		if !ok {
			continue
		}
		t, a := &tiers[i], &acc[i]
		t.Nodes = append(t.Nodes, n.Name)
		t.Served += n.Served
		a.queue += n.QueueSeconds
		a.service += n.ServiceSeconds
		a.calls += n.CallSeconds
		a.busy += n.Utilisation * float64(n.Workers)
		a.workers += float64(n.Workers)
		if c := t.Cache; c != nil {
			c.Hits += n.Hits
			c.Misses += n.Misses
		}
		if d := t.Database; d != nil {
			d.Reads += n.Reads
			d.Writes += n.Writes
			d.WritesFailed += n.WritesFailed
			d.Promotions += n.Promotions
			if n.Primary {
				d.Primary = n.Name
			}
		}
		if t.Routed {
			routedServed += n.Served
			for name, count := range n.Failures {
				if k, ok := index[name]; ok {
					tiers[k].Failures += count
				}
			}
		}
	}
	for i := range tiers {
		t, a := &tiers[i], acc[i]
		if t.Served > 0 {
			t.QueueMS = round3(1000 * a.queue / float64(t.Served))
			t.ServiceMS = round3(1000 * a.service / float64(t.Served))
			t.ResidenceMS = round3(1000 * (a.queue + a.service) / float64(t.Served))
			t.CallsMS = round3(1000 * a.calls / float64(t.Served))
		}
		if routedServed > 0 {
			t.Visits = round3(float64(t.Served) / float64(routedServed))
			t.LatencyShareMS = round3(1000 * (a.queue + a.service) / float64(routedServed))
		}
		if a.workers > 0 {
			t.Utilisation = round3(a.busy / a.workers)
		}
		if c := t.Cache; c != nil && c.Hits+c.Misses > 0 {
			c.HitRatio = round3(float64(c.Hits) / float64(c.Hits+c.Misses))
		}
	}
	return tiers
}
