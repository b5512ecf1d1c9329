package sut

import (
	"errors"
	"sync"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/scenario"
)

// remove-backend: every proxy replica stops sending new requests to the
// backend at once, lets the requests already there finish for up to drain,
// then takes it out of its pool; the backend then stops. Clients see no
// failure when the requests in flight finish within the drain. Permanent.
// Inject returns at once: the drain runs in the background, and its outcome
// is what the returned Lift reports (at the end of the run). In a tier,
// its callers stop picking it at once (a database's primary removed is
// down, and replaced after the promotion time), and the calls already sent
// drain alike.
func init() {
	registerFault("remove-backend", func(t *Topology, f scenario.Fault) (Lift, error) {
		n := t.find(f.Node)
		if n == nil {
			return nil, errNoNode(f.Node)
		}
		t.mu.Lock()
		n.removed = true
		t.mu.Unlock()
		if tr := t.tiers[n.pool]; tr != nil {
			tr.remove(f.Node)
			t.background.Go(func() {
				defer crash.Guard()
				tr.drain(f.Node, f.Drain.D())
				_ = n.backend.Close()
			})
			return nil, nil
		}
		var (
			mu   sync.Mutex
			errs []error
		)
		proxies := t.Proxies()
		t.background.Go(func() {
			defer crash.Guard()
			var drains sync.WaitGroup
			for _, p := range proxies {
				drains.Go(func() {
					defer crash.Guard()
					if err := p.RemoveUpstream(f.Node, f.Drain.D()); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				})
			}
			drains.Wait()
			_ = n.backend.Close()
		})
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			return errors.Join(errs...)
		}, nil
	})
}
