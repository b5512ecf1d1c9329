package proxy

import (
	"sync"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

// gate is admission control for one upstream: at most max requests in
// flight, up to queueCap more waiting in two FIFO queues (requests of known
// sessions are served first when the proxy is session-aware). A finishing
// request hands its slot straight to the next waiter, so the in-flight count
// never exceeds max and waiting requests are not overtaken by new arrivals.
type gate struct {
	max      int64 // 0: no limit, no queue
	queueCap int

	mu    sync.Mutex
	known []*waiter
	fresh []*waiter
}

type waiter struct {
	ch      chan struct{}
	granted bool
	evicted bool
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

type admitResult uint8

const (
	admitted admitResult = iota
	rejectedFull
	rejectedTimeout
)

// enter takes a slot of u or waits for one.
func (g *gate) enter(u *balancer.Upstream, known bool, timeout time.Duration) admitResult {
	if g.max <= 0 {
		u.Acquire()
		return admitted
	}
	g.mu.Lock()
	if u.Inflight() < g.max && len(g.known)+len(g.fresh) == 0 {
		u.Acquire()
		g.mu.Unlock()
		return admitted
	}
	if len(g.known)+len(g.fresh) >= g.queueCap {
		if !known || len(g.fresh) == 0 {
			g.mu.Unlock()
			return rejectedFull
		}
		// Make room for a known session: the newest new-session waiter
		// leaves with a rejection.
		last := g.fresh[len(g.fresh)-1]
		g.fresh = g.fresh[:len(g.fresh)-1]
		last.evicted = true
		u.AddQueued(-1)
		last.ch <- struct{}{}
	}
	w := waiterPool.Get().(*waiter)
	w.granted, w.evicted = false, false
	if known {
		g.known = append(g.known, w)
	} else {
		g.fresh = append(g.fresh, w)
	}
	u.AddQueued(1)
	g.mu.Unlock()

	t := time.NewTimer(timeout)
	select {
	case <-w.ch:
		t.Stop()
	case <-t.C:
		g.mu.Lock()
		if g.remove(w) {
			u.AddQueued(-1)
			g.mu.Unlock()
			waiterPool.Put(w)
			return rejectedTimeout
		}
		g.mu.Unlock()
		<-w.ch // granted or evicted meanwhile
	}
	res := admitted
	if w.evicted {
		res = rejectedFull
	}
	waiterPool.Put(w)
	return res
}

func (g *gate) remove(w *waiter) bool {
	for _, q := range []*[]*waiter{&g.known, &g.fresh} {
		for i, x := range *q {
			if x == w {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// leave gives the slot to the next waiter, or frees it.
func (g *gate) leave(u *balancer.Upstream) {
	if g.max <= 0 {
		u.Release()
		return
	}
	g.mu.Lock()
	var w *waiter
	switch {
	case len(g.known) > 0:
		w = g.known[0]
		g.known = g.known[1:]
	case len(g.fresh) > 0:
		w = g.fresh[0]
		g.fresh = g.fresh[1:]
	}
	if w == nil || u.Inflight() > g.max {
		u.Release()
	}
	if w != nil {
		u.AddQueued(-1)
		w.granted = true
		w.ch <- struct{}{}
	}
	g.mu.Unlock()
}

// queued is the number of waiting requests.
func (g *gate) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.known) + len(g.fresh)
}
