package sut

import (
	"errors"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/proxy"
)

// add-backend: a new backend starts (with its start-up delay, if any) and
// joins its pool on every proxy replica, or, in a tier, at every caller (a
// replica, in a database); new requests may be sent to it at once. It
// makes its pool's calls. Permanent.
func init() {
	registerFault("add-backend", func(t *Topology, f scenario.Fault) (Lift, error) {
		if f.Backend == nil {
			return nil, errors.New("no backend: to add")
		}
		if t.find(f.Backend.Name) != nil {
			return nil, errors.New("a backend with that name exists")
		}
		n, err := t.startNode(f.Pool, *f.Backend)
		if err != nil {
			return nil, err
		}
		// Listed first, so that a replica restarting meanwhile includes it.
		t.mu.Lock()
		t.nodes = append(t.nodes, n)
		t.mu.Unlock()
		if t.tiers[f.Pool] != nil {
			return nil, nil // its callers pick it already
		}
		uc := proxy.UpstreamConfig{Name: f.Backend.Name, URL: n.backend.URL(), Weight: n.weight}
		for _, p := range t.Proxies() {
			if err := p.AddUpstream(f.Pool, uc); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}
