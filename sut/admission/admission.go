// Package admission holds the rules by which the built-in proxy admits a
// request: the gate before each upstream (at most a limit in flight, a
// bounded queue in arrival order, known sessions first) and the rate limit
// per client (a token bucket each).
//
// The rules are pure: no goroutines, no channels, no clock. A waiting
// request is an identity the caller chooses, and what becomes of it comes
// back as a value: the caller wakes it (the proxy: through its channel; a
// simulation: by scheduling an event). What depends on time takes it as an
// argument, so the proxy applies the rules on the wall clock and a
// simulation on a virtual one, with the same results.
package admission

import "github.com/ilities/ilities/sut/balancer"

// Entry is what became of a request at a gate.
type Entry uint8

const (
	// Admitted: the request holds one of the upstream's slots; it Leaves
	// when done.
	Admitted Entry = iota
	// Queued: the request waits until Leave grants it a slot, a known
	// session's arrival evicts it, or it gives up.
	Queued
	// RejectedFull: the queue is full.
	RejectedFull
)

func (e Entry) String() string {
	switch e {
	case Admitted:
		return "admitted"
	case Queued:
		return "queued"
	case RejectedFull:
		return "rejected full"
	}
	return "unknown entry"
}

// Gate is admission control for one upstream: at most a limit of requests
// in flight, up to a queue's capacity more waiting in two FIFO queues,
// those of known sessions served before new ones. A finishing request
// hands its slot straight to the next waiter, so the in-flight count never
// exceeds the limit and no new arrival overtakes a waiter.
//
// The slots are the upstream's in-flight count (balancer.Upstream's
// Acquire, Release and Inflight) and the waiters its queued gauge, both of
// which strategies read. W names a waiting request: a pointer to what it
// blocks on, an event's index. A Gate is not safe for concurrent use: the
// caller serialises the calls, except as Limited allows.
type Gate[W comparable] struct {
	max      int64 // 0: no limit, no queue
	queueCap int
	known    fifo[W] // waiters of known sessions
	fresh    fifo[W] // waiters of new sessions
}

// NewGate returns a gate letting maxInflight requests in at once (none or
// fewer: no limit) with up to queue more waiting.
func NewGate[W comparable](maxInflight, queue int) *Gate[W] {
	return &Gate[W]{max: int64(max(maxInflight, 0)), queueCap: max(queue, 0)}
}

// Limited reports whether the gate has a limit. Without one, Enter and
// Leave only count the slot on the upstream (an atomic) and touch nothing
// of the gate, so they need no lock.
func (g *Gate[W]) Limited() bool { return g.max > 0 }

// Enter admits w to u when a slot is free and nobody waits, queues it when
// the queue has room, and rejects it otherwise. A known session's request
// finding the queue full takes the place of the newest new-session waiter,
// which is rejected: evicted names it, and didEvict is true.
func (g *Gate[W]) Enter(u *balancer.Upstream, w W, known bool) (entry Entry, evicted W, didEvict bool) {
	if g.max <= 0 {
		u.Acquire()
		return Admitted, evicted, false
	}
	waiting := g.Queued()
	if waiting == 0 && u.Inflight() < g.max {
		u.Acquire()
		return Admitted, evicted, false
	}
	if waiting >= g.queueCap {
		if !known || g.fresh.len() == 0 {
			return RejectedFull, evicted, false
		}
		evicted, didEvict = g.fresh.popBack()
		u.AddQueued(-1)
	}
	if known {
		g.known.push(w)
	} else {
		g.fresh.push(w)
	}
	u.AddQueued(1)
	return Queued, evicted, didEvict
}

// Leave ends a request that held a slot of u. The slot goes straight to
// the next waiter, known sessions first: granted names it, and ok is true.
// With nobody waiting the slot is freed.
func (g *Gate[W]) Leave(u *balancer.Upstream) (granted W, ok bool) {
	if g.max <= 0 {
		u.Release()
		return granted, false
	}
	if granted, ok = g.known.popFront(); !ok {
		granted, ok = g.fresh.popFront()
	}
	// More in flight than the limit (slots taken past the gate): the count
	// comes down by one even as the slot passes on.
	if !ok || u.Inflight() > g.max {
		u.Release()
	}
	if ok {
		u.AddQueued(-1)
	}
	return granted, ok
}

// GiveUp takes w out of the queue when it stops waiting (its time is up,
// its client has gone). false means it had left the queue already, granted
// a slot by Leave (it holds the slot and must Leave) or evicted by Enter.
func (g *Gate[W]) GiveUp(u *balancer.Upstream, w W) bool {
	if g.known.remove(w) || g.fresh.remove(w) {
		u.AddQueued(-1)
		return true
	}
	return false
}

// Queued is the number of requests waiting.
func (g *Gate[W]) Queued() int { return g.known.len() + g.fresh.len() }
