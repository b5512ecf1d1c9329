// Package sut starts and stops the built-in system under test described by a
// scenario: one simulated backend (package backend) per configured backend,
// and the reverse proxy (package proxy) in front of them, all in this
// process on their own listeners. Pools that other pools call are tiers
// behind the proxy's pools (tiers.go): the proxy routes to none of them.
//
// Clients talk to the proxy at Topology.URL. Every answer that came from or
// was attributed to a backend carries the header X-Ilities-Backend (see
// headers.Node) naming it; the status codes and headers are documented in
// packages proxy and backend.
package sut

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
	"github.com/ilities/ilities/sut/external"
	"github.com/ilities/ilities/sut/proxy"
)

// Fallbacks for fields a scenario left at zero (the scenario loader normally
// fills them; these keep hand-built scenarios working).
const (
	defaultListen = "127.0.0.1:0"
	defaultQueue  = backend.DefaultQueue
)

// Topology is a running built-in SUT.
type Topology struct {
	proxy *proxy.Proxy // the first replica
	// ext is the real proxy in hybrid mode (kind nginx or haproxy); there
	// are no replicas then.
	ext *external.Proxy
	// replicas are every proxy instance (see replicas.go).
	replicas []*replica
	seed     int64
	// sut is the scenario's SUT: its pools' calls wire the backends added
	// later too. tiers are the pools other pools call, by name.
	sut   *scenario.SUT
	tiers map[string]*tier

	mu    sync.Mutex // guards nodes: backends join and leave while it runs
	nodes []*node
	// background runs the drains of remove-backend; Close waits for them.
	background sync.WaitGroup
}

type node struct {
	pool    string
	weight  int
	mtbf    time.Duration
	backend *backend.Backend
	// removed is set once remove-backend took the node out of its pool.
	removed bool
}

// Start starts every backend of s.SUT.Pools, tiers included, then the proxy
// on s.SUT.Listen with the scenario's strategy and weights, routing to the
// pools no pool calls. Backend i's service times are
// seeded from s.Seed and the backend's name, so runs are reproducible and
// adding a backend does not change the others' sequences. ctx bounds the
// start-up only; the topology runs until Close. On error everything started
// so far is stopped.
func Start(ctx context.Context, s *scenario.Scenario) (*Topology, error) {
	if s == nil || s.SUT == nil {
		return nil, errors.New("sut: the scenario has no built-in sut")
	}
	if len(s.SUT.Pools) == 0 {
		return nil, errors.New("sut: the scenario's sut has no pools")
	}
	t := &Topology{seed: s.Seed, sut: s.SUT, tiers: map[string]*tier{}}
	fail := func(err error) (*Topology, error) {
		_ = t.Close()
		return nil, err
	}
	for name := range s.SUT.Tiers() {
		if p := s.SUT.PoolByName(name); p != nil {
			t.tiers[name] = newTier(*p, s.Seed)
		}
	}
	pc := ProxyConfig(s)
	seen := map[string]bool{}
	for _, pool := range s.SUT.Pools {
		routed := t.tiers[pool.Name] == nil
		ppc := proxy.PoolConfig{Name: pool.Name, Host: pool.Match.Host, PathPrefix: pool.Match.PathPrefix}
		for _, bc := range pool.Backends {
			if bc.Name == "" {
				return fail(fmt.Errorf("sut: pool %s: a backend has no name", pool.Name))
			}
			if seen[bc.Name] {
				return fail(fmt.Errorf("sut: backend name %q used twice", bc.Name))
			}
			seen[bc.Name] = true
			n, err := t.startNode(pool.Name, bc)
			if err != nil {
				return fail(err)
			}
			t.nodes = append(t.nodes, n)
			ppc.Upstreams = append(ppc.Upstreams, proxy.UpstreamConfig{Name: bc.Name, URL: n.backend.URL(), Weight: n.weight})
			if err := ctx.Err(); err != nil {
				return fail(err)
			}
		}
		if routed {
			pc.Pools = append(pc.Pools, ppc)
		}
	}
	if s.SUT.Proxy.IsExternal() {
		if err := t.startExternal(ctx, s, pc.Pools); err != nil {
			return fail(err)
		}
		return t, nil
	}
	listen := s.SUT.Listen
	if listen == "" {
		listen = defaultListen
	}
	if err := t.startReplicas(pc, listen, s.SUT.Proxy.Replicas); err != nil {
		return fail(err)
	}
	return t, nil
}

// BackendSeed is the service-time seed of the backend called name in a
// scenario with the given seed.
func BackendSeed(seed int64, name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("backend\x00" + name))
	return int64(splitmix64(uint64(seed) ^ h.Sum64()))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// URL is the proxy's base URL, e.g. "http://127.0.0.1:41234".
func (t *Topology) URL() string {
	if t.ext != nil {
		return t.ext.URL()
	}
	return t.proxy.URL()
}

// NodeStats is one backend as it reports itself, with the proxy's view of it.
type NodeStats struct {
	Name, Pool string
	// URL is the backend's own base URL (bypassing the proxy).
	URL     string
	Weight  float64
	Workers int
	// Served, Rejected and Abandoned are the backend's counters (see
	// backend.Stats).
	Served, Rejected, Abandoned int64
	// BusySeconds and Utilisation: busy worker-time, and it divided by
	// workers × wall time, since start or the last ResetStats.
	BusySeconds, Utilisation float64
	// Requests and Failures are the proxy's counts for this node: requests
	// forwarded, and exchanges that ended without a response (502/504).
	// For a node of a tier, the calls its callers sent it, and those that
	// failed there (refused, timed out, 5xx).
	Requests, Failures int64
	// The node's counters for the per-tier figures (report.TierNodeCounters):
	// the summed waits for a worker, own services and times in calls of the
	// requests it served; a cache's hits and misses; a database node's
	// reads, writes, writes failed, promotions and whether it is the
	// primary now; its failed answers by the pool where the failure
	// started (backend.Stats.Failures).
	QueueSeconds, ServiceSeconds, CallSeconds float64
	Hits, Misses                              int64
	Reads, Writes, WritesFailed, Promotions   int64
	Primary                                   bool
	FailedBy                                  map[string]int64
	// MTBF is the node's declared mean time between failures (0: none).
	MTBF time.Duration
	// Down is true while the node is crashed; Removed once remove-backend
	// took it out of its pool.
	Down, Removed bool
}

// Nodes returns every backend's statistics, in scenario order.
func (t *Topology) Nodes() []NodeStats {
	forwarded := t.upstreamTotals() // summed over proxy replicas
	nodes := t.snapshot()
	out := make([]NodeStats, 0, len(nodes))
	for _, n := range nodes {
		st := n.backend.Stats()
		ps := forwarded[st.Name]
		ns := NodeStats{
			Name:           st.Name,
			Pool:           n.pool,
			URL:            n.backend.URL(),
			Weight:         float64(n.weight),
			Workers:        st.Workers,
			Served:         st.Served,
			Rejected:       st.Rejected,
			Abandoned:      st.Abandoned,
			BusySeconds:    st.BusySeconds,
			Utilisation:    st.Utilisation,
			Requests:       ps.Requests,
			Failures:       ps.Failures,
			MTBF:           n.mtbf,
			Down:           st.Down,
			Removed:        t.isRemoved(n),
			QueueSeconds:   st.QueueSeconds,
			ServiceSeconds: st.ServiceSeconds,
			CallSeconds:    st.CallSeconds,
			Hits:           st.Hits,
			Misses:         st.Misses,
			FailedBy:       st.Failures,
		}
		if tr := t.tiers[n.pool]; tr != nil {
			calls := tr.node(st.Name)
			ns.Requests, ns.Failures = calls.sent.Load(), calls.failed.Load()
			if db := tr.db; db != nil {
				c, primary := db.node(st.Name)
				ns.Reads, ns.Writes, ns.WritesFailed, ns.Promotions, ns.Primary = c.reads, c.writes, c.writesFailed, c.promotions, primary
			}
		}
		out = append(out, ns)
	}
	return out
}

// ProxyStats returns the proxy's counters.
func (t *Topology) ProxyStats() proxy.Stats {
	if t.ext != nil {
		return proxy.Stats{} // a real proxy's counters are not read
	}
	return t.proxy.Stats()
}

// ResetStats restarts every backend's and the proxy's statistics, e.g. after
// a warm-up.
func (t *Topology) ResetStats() {
	for _, n := range t.snapshot() {
		n.backend.ResetStats()
	}
	for _, tr := range t.tiers {
		tr.resetStats()
	}
	t.resetProxyStats()
}

// Close stops the proxy, then every backend, and returns when none of their
// listeners, connections or request handlers remain. It is safe to call more
// than once.
func (t *Topology) Close() error {
	var errs []error
	errs = append(errs, t.closeProxies()...)
	if t.ext != nil {
		errs = append(errs, t.ext.Close())
	}
	t.background.Wait()
	for _, tr := range t.tiers {
		tr.close()
	}
	for _, n := range t.snapshot() {
		errs = append(errs, n.backend.Close())
	}
	for _, tr := range t.tiers {
		tr.close() // the connections the closing backends' last calls opened
	}
	return errors.Join(errs...)
}
