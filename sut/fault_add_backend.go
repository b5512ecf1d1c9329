package sut

import (
	"errors"

	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/proxy"
)

// add-backend: a new backend starts (with its start-up delay, if any) and
// joins its pool on every proxy replica; new requests may be sent to it at
// once. Permanent.
func init() {
	registerFault("add-backend", func(t *Topology, f scenario.Fault) (Lift, error) {
		if f.Backend == nil {
			return nil, errors.New("no backend: to add")
		}
		if t.find(f.Backend.Name) != nil {
			return nil, errors.New("a backend with that name exists")
		}
		n, err := startNode(t.seed, f.Pool, *f.Backend)
		if err != nil {
			return nil, err
		}
		// Listed first, so that a replica restarting meanwhile includes it.
		t.mu.Lock()
		t.nodes = append(t.nodes, n)
		t.mu.Unlock()
		uc := proxy.UpstreamConfig{Name: f.Backend.Name, URL: n.backend.URL(), Weight: n.weight}
		for _, p := range t.Proxies() {
			if err := p.AddUpstream(f.Pool, uc); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}
