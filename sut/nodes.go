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

// startNode starts the backend bc of pool on its listen address.
func startNode(seed int64, pool string, bc scenario.Backend) (*node, error) {
	b := backend.New(BackendConfig(seed, bc))
	listen := bc.Listen
	if listen == "" {
		listen = defaultListen
	}
	if err := b.Start(listen); err != nil {
		return nil, fmt.Errorf("sut: %w", err)
	}
	return &node{pool: pool, weight: max(bc.Weight, 1), mtbf: bc.MTBF.D(), backend: b}, nil
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
// it so far (attempts included, answered or not).
func (t *Topology) Forwarded() map[string]int64 {
	out := map[string]int64{}
	for name, u := range t.upstreamTotals() {
		out[name] = u.Requests
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
