package sut

import (
	"fmt"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/backend"
	"github.com/ilities/ilities/sut/proxy"
)

// BackendConfig is the runtime configuration of the scenario backend bc in
// a scenario seeded with seed.
func BackendConfig(seed int64, bc scenario.Backend) backend.Config {
	queue := defaultQueue
	if bc.Queue != nil {
		queue = *bc.Queue
	}
	cfg := backend.Config{
		Name:         bc.Name,
		Workers:      bc.Workers,
		Queue:        queue,
		ServiceTime:  bc.ServiceTime,
		Seed:         BackendSeed(seed, bc.Name),
		CPUBurn:      bc.CPUBurn,
		StartupDelay: bc.StartupDelay.D(),
		Sessions:     bc.Sessions,
	}
	if bc.ResponseSize != nil {
		cfg.ResponseSize = *bc.ResponseSize
	}
	return cfg
}

// startNode starts the backend bc of pool on its listen address, with its
// pool's calls, and makes it a member of its tier when the pool is one.
func (t *Topology) startNode(pool string, bc scenario.Backend) (*node, error) {
	cfg, err := t.nodeConfig(pool, bc)
	if err != nil {
		return nil, fmt.Errorf("sut: pool %s: %w", pool, err)
	}
	b := backend.New(cfg)
	listen := bc.Listen
	if listen == "" {
		listen = defaultListen
	}
	if err := b.Start(listen); err != nil {
		return nil, fmt.Errorf("sut: %w", err)
	}
	n := &node{pool: pool, weight: max(bc.Weight, 1), mtbf: bc.MTBF.D(), backend: b}
	if tr := t.tiers[pool]; tr != nil {
		tr.add(member{name: bc.Name, url: b.URL(), weight: n.weight})
	}
	return n, nil
}

// nodeConfig is BackendConfig with what the backend's pool asks of it as a
// tier: its pool, a client of each pool it calls, a cache's hit ratio, a
// database's watch of its state.
func (t *Topology) nodeConfig(pool string, bc scenario.Backend) (backend.Config, error) {
	cfg := BackendConfig(t.seed, bc)
	cfg.Pool = pool
	var p *scenario.Pool
	if t.sut != nil {
		p = t.sut.PoolByName(pool)
	}
	if p == nil {
		return cfg, nil
	}
	for _, c := range p.Calls {
		tr := t.tiers[c.Pool]
		if tr == nil {
			return cfg, fmt.Errorf("calls pool %q, which the SUT does not have", c.Pool)
		}
		client, err := tr.client(bc.Name, cfg.Workers)
		if err != nil {
			return cfg, err
		}
		probability := 1.0
		if c.Probability != nil {
			probability = c.Probability.Fraction()
		}
		cfg.Calls = append(cfg.Calls, backend.Call{To: client, Times: c.Times, Probability: probability,
			Writes: c.Writes.Fraction(), Timeout: c.Timeout.D()})
	}
	if p.Cache != nil {
		cfg.Cache, cfg.HitRatio = true, p.Cache.HitRatio.Fraction()
	}
	if tr := t.tiers[pool]; tr != nil && tr.db != nil {
		cfg.Watch = tr.db.watch(bc.Name)
	}
	return cfg, nil
}

// snapshot is the node list now.
func (t *Topology) snapshot() []*node {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*node(nil), t.nodes...)
}

// find returns the node called name, or nil.
func (t *Topology) find(name string) *node {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.nodes {
		if n.backend.Name() == name {
			return n
		}
	}
	return nil
}

func (t *Topology) isRemoved(n *node) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return n.removed
}

// Backend returns the running backend called name, or nil.
func (t *Topology) Backend(name string) *backend.Backend {
	if n := t.find(name); n != nil {
		return n.backend
	}
	return nil
}

func errNoNode(name string) error { return fmt.Errorf("no backend called %q", name) }

// Forwarded returns, per backend, the requests the proxy replicas have sent
// it so far (attempts included, answered or not); for a node of a tier, the
// calls its callers sent it.
func (t *Topology) Forwarded() map[string]int64 {
	out := map[string]int64{}
	for name, u := range t.upstreamTotals() {
		out[name] = u.Requests
	}
	for _, n := range t.snapshot() {
		if tr := t.tiers[n.pool]; tr != nil {
			name := n.backend.Name()
			out[name] = tr.node(name).sent.Load()
		}
	}
	return out
}

// HealthEvent is a change of a backend's availability as a proxy saw it.
type HealthEvent = proxy.HealthEvent

// HealthEvents returns each proxy replica's health events so far, oldest
// first, one list per replica.
func (t *Topology) HealthEvents() [][]HealthEvent {
	if t.ext != nil {
		return t.externalEvents()
	}
	out := make([][]HealthEvent, len(t.replicas))
	for i, r := range t.replicas {
		r.mu.Lock()
		out[i] = r.p.Events()
		r.mu.Unlock()
	}
	return out
}
