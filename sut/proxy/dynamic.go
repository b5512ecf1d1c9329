package proxy

import (
	"fmt"
	"sync"
	"time"

	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
)

// HealthEvent is one change of an upstream's availability as the proxy saw
// it: an active check crossing fall or rise, a passive ejection, a
// re-admission, a manual change, a join or a removal. Comparing At with the
// time a fault started gives the detection time.
type HealthEvent struct {
	At       time.Time `json:"at"`
	Pool     string    `json:"pool"`
	Upstream string    `json:"upstream"`
	// Healthy is the availability after the event.
	Healthy bool `json:"healthy"`
	// Reason says what caused it, e.g. "active check: 2 failed (connection
	// refused)", "passive: 5 consecutive failures, ejected for 5s",
	// "ejection ended", "manual", "start", "added", "draining", "removed"
	// (the rules and their reasons: package sut/health).
	Reason string `json:"reason"`
}

// maxEvents bounds the event log; older events are dropped first.
const maxEvents = 10_000

type eventLog struct {
	mu     sync.Mutex
	events []HealthEvent
}

func (l *eventLog) add(e HealthEvent) {
	l.mu.Lock()
	if len(l.events) >= maxEvents {
		copy(l.events, l.events[len(l.events)-maxEvents/2:])
		l.events = l.events[:maxEvents/2]
	}
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) list() []HealthEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]HealthEvent(nil), l.events...)
}

// Events returns the health events so far, oldest first.
func (p *Proxy) Events() []HealthEvent { return p.events.list() }

func (p *Proxy) emit(pool, name string, healthy bool, reason string) {
	p.events.add(HealthEvent{At: time.Now(), Pool: pool, Upstream: name, Healthy: healthy, Reason: reason})
}

// findPool returns the pool called name, or nil.
func (p *Proxy) findPool(name string) *pool {
	for _, pl := range p.pools {
		if pl.cfg.Name == name {
			return pl
		}
	}
	return nil
}

// AddUpstream adds a backend to the pool called pool while the proxy runs.
// New requests may pick it at once (with slow start when configured). The
// name must not be in use in any pool.
func (p *Proxy) AddUpstream(pool string, u UpstreamConfig) error {
	pl := p.findPool(pool)
	if pl == nil {
		return fmt.Errorf("proxy: no pool %q", pool)
	}
	if u.Name == "" {
		return fmt.Errorf("proxy: pool %s: upstream with no name", pool)
	}
	up, err := p.newUpstream(pl, u)
	if err != nil {
		return err
	}
	p.topoMu.Lock()
	defer p.topoMu.Unlock()
	for _, other := range p.pools {
		for _, n := range other.load().members {
			if n.Name == u.Name {
				return fmt.Errorf("proxy: upstream %q already exists in pool %s", u.Name, other.cfg.Name)
			}
		}
	}
	old := pl.load()
	next := &poolView{
		members: append(append([]*balancer.Upstream(nil), old.members...), up.node),
		byNode:  make(map[*balancer.Upstream]*upstream, len(old.byNode)+1),
	}
	for k, v := range old.byNode {
		next.byNode[k] = v
	}
	next.byNode[up.node] = up
	// Published before the pool has it, so that a slow start runs from its
	// first request.
	up.changeHealth(time.Now(), publishAs(health.ReasonAdded))
	pl.view.Store(next)
	if p.started.Load() {
		p.startChecks(up)
	}
	return nil
}

// RemoveUpstream takes the upstream called name out of its pool gracefully:
// it gets no new requests at once, the requests already sent to it may
// finish for up to drain, then it leaves the pool (requests still running
// then are not interrupted, but no longer counted). It blocks until the
// upstream has left.
func (p *Proxy) RemoveUpstream(name string, drain time.Duration) error {
	pl, up := p.lookup(name)
	if up == nil {
		return fmt.Errorf("proxy: no upstream %q", name)
	}
	already := false
	up.changeHealth(time.Now(), func(h *health.Upstream, now time.Time) (health.Change, bool) {
		if already = h.Draining(); already {
			return health.Change{}, false
		}
		return h.Drain(now)
	})
	if already {
		return fmt.Errorf("proxy: upstream %q is already being removed", name)
	}
	deadline := time.Now().Add(drain)
	for up.node.Inflight() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.topoMu.Lock()
	old := pl.load()
	next := &poolView{byNode: make(map[*balancer.Upstream]*upstream, len(old.byNode))}
	for _, n := range old.members {
		if n != up.node {
			next.members = append(next.members, n)
			next.byNode[n] = old.byNode[n]
		}
	}
	pl.view.Store(next)
	p.topoMu.Unlock()
	if up.checkStop != nil {
		close(up.checkStop)
	}
	up.closeIdle()
	p.emit(pl.cfg.Name, name, false, health.ReasonRemoved)
	return nil
}

// lookup finds the upstream called name in any pool.
func (p *Proxy) lookup(name string) (*pool, *upstream) {
	for _, pl := range p.pools {
		view := pl.load()
		for _, n := range view.members {
			if n.Name == name {
				return pl, view.byNode[n]
			}
		}
	}
	return nil, nil
}

// SetHealthy marks the upstream called name healthy or not by hand, as an
// operator would; unhealthy upstreams are never selected. It reports whether
// an upstream has that name.
func (p *Proxy) SetHealthy(name string, ok bool) bool {
	_, up := p.lookup(name)
	if up == nil {
		return false
	}
	up.changeHealth(time.Now(), func(h *health.Upstream, now time.Time) (health.Change, bool) {
		return h.MarkDown(!ok, now)
	})
	return true
}
