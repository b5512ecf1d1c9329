package proxy

import (
	"sync"
	"time"

	"github.com/ilities/ilities/sut/admission"
	"github.com/ilities/ilities/sut/balancer"
)

// gate runs an upstream's admission.Gate on the goroutine path: a request
// that must wait blocks on its waiter's channel until a finishing request
// hands it the slot, a known session evicts it, or its QueueTimeout ends.
// The rules are the admission.Gate's; the lock, channels and timers are
// what the waiting takes here.
type gate struct {
	mu    sync.Mutex
	rules *admission.Gate[*waiter]
}

func newGate(a AdmissionConfig) gate {
	return gate{rules: admission.NewGate[*waiter](a.MaxInflight, a.Queue)}
}

// waiter is a request that may wait for a slot: one per client connection,
// which has one request at a time at a gate, so a request costs no waiter
// of its own. Its channel is sent to once, under the gate's lock, when it is
// granted a slot or evicted; it is empty again, and the waiter out of the
// queue, whenever enter returns.
type waiter struct {
	ch      chan struct{} // made on the connection's first limited request
	evicted bool
}

type admitResult uint8

const (
	admitted admitResult = iota
	rejectedFull
	rejectedTimeout
)

// enter takes a slot of u or waits for one as w, for at most timeout.
// Without a limit it takes the slot at once, and w may be nil.
func (g *gate) enter(u *balancer.Upstream, w *waiter, known bool, timeout time.Duration) admitResult {
	if !g.rules.Limited() {
		g.rules.Enter(u, w, known) // takes the slot: no queue, no lock
		return admitted
	}
	if w.ch == nil {
		w.ch = make(chan struct{}, 1)
	}
	w.evicted = false
	g.mu.Lock()
	entry, evicted, didEvict := g.rules.Enter(u, w, known)
	if didEvict {
		evicted.evicted = true
		evicted.ch <- struct{}{}
	}
	g.mu.Unlock()
	switch entry {
	case admission.Admitted:
		return admitted
	case admission.RejectedFull:
		return rejectedFull
	}

	t := time.NewTimer(timeout)
	select {
	case <-w.ch:
		t.Stop()
	case <-t.C:
		g.mu.Lock()
		removed := g.rules.GiveUp(u, w)
		g.mu.Unlock()
		if removed {
			return rejectedTimeout
		}
		<-w.ch // granted or evicted meanwhile
	}
	if w.evicted {
		return rejectedFull
	}
	return admitted
}

// leave gives the slot to the next waiter, or frees it.
func (g *gate) leave(u *balancer.Upstream) {
	if !g.rules.Limited() {
		g.rules.Leave(u)
		return
	}
	g.mu.Lock()
	if w, ok := g.rules.Leave(u); ok {
		w.ch <- struct{}{}
	}
	g.mu.Unlock()
}
