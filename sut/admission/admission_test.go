package admission_test

import (
	"fmt"
	"testing"

	"github.com/ilities/ilities/sut/admission"
	"github.com/ilities/ilities/sut/balancer"
)

// step is one call on a gate, what it must report, and the upstream's
// in-flight and queued gauges after it.
type step struct {
	call             string // "enter a", "enter known k", "leave", "give up a", "acquire past the gate", "release past the gate"
	want             string
	inflight, queued int64
}

// apply makes the call of s on g and u and says what it reported.
func apply(g *admission.Gate[string], u *balancer.Upstream, call string) string {
	var w string
	switch {
	case scan(call, "enter known %s", &w):
		return entered(g.Enter(u, w, true))
	case scan(call, "enter %s", &w):
		return entered(g.Enter(u, w, false))
	case call == "leave":
		if granted, ok := g.Leave(u); ok {
			return "grants " + granted
		}
		return "frees the slot"
	case scan(call, "give up %s", &w):
		if g.GiveUp(u, w) {
			return "removed"
		}
		return "had left"
	case call == "acquire past the gate":
		u.Acquire()
		return ""
	case call == "release past the gate":
		u.Release()
		return ""
	}
	panic("unknown call " + call)
}

func scan(call, format string, w *string) bool {
	n, err := fmt.Sscanf(call, format, w)
	return err == nil && n == 1
}

func entered(e admission.Entry, evicted string, didEvict bool) string {
	if didEvict {
		return e.String() + ", evicts " + evicted
	}
	return e.String()
}

func TestGate(t *testing.T) {
	for _, tc := range []struct {
		name             string
		maxInflight, cap int
		steps            []step
	}{
		{"no limit admits all", 0, 0, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "admitted", 2, 0},
			{"enter known c", "admitted", 3, 0},
			{"leave", "frees the slot", 2, 0},
		}},
		{"limit without a queue", 2, 0, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "admitted", 2, 0},
			{"enter c", "rejected full", 2, 0},
			{"enter known k", "rejected full", 2, 0},
			{"leave", "frees the slot", 1, 0},
			{"enter d", "admitted", 2, 0},
		}},
		{"waiters served in arrival order", 1, 3, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "queued", 1, 1},
			{"enter c", "queued", 1, 2},
			{"enter d", "queued", 1, 3},
			{"enter e", "rejected full", 1, 3},
			{"leave", "grants b", 1, 2},
			{"leave", "grants c", 1, 1},
			{"leave", "grants d", 1, 0},
			{"leave", "frees the slot", 0, 0},
		}},
		{"known sessions first, each queue in order", 1, 4, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "queued", 1, 1},
			{"enter known k1", "queued", 1, 2},
			{"enter c", "queued", 1, 3},
			{"enter known k2", "queued", 1, 4},
			{"leave", "grants k1", 1, 3},
			{"leave", "grants k2", 1, 2},
			{"leave", "grants b", 1, 1},
			{"leave", "grants c", 1, 0},
		}},
		{"a known session evicts the newest new-session waiter", 1, 2, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "queued", 1, 1},
			{"enter c", "queued", 1, 2},
			{"enter known k1", "queued, evicts c", 1, 2},
			{"enter known k2", "queued, evicts b", 1, 2},
			{"enter known k3", "rejected full", 1, 2},
			{"enter d", "rejected full", 1, 2},
			{"give up c", "had left", 1, 2},
			{"leave", "grants k1", 1, 1},
			{"leave", "grants k2", 1, 0},
		}},
		{"a new arrival never overtakes a waiter", 2, 2, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "admitted", 2, 0},
			{"enter c", "queued", 2, 1},
			{"leave", "grants c", 2, 0},
			{"enter d", "queued", 2, 1},
			// A slot freed past the gate is no opening while d waits.
			{"release past the gate", "", 1, 1},
			{"enter e", "queued", 1, 2},
			{"leave", "grants d", 1, 1},
			{"leave", "grants e", 1, 0},
			{"leave", "frees the slot", 0, 0},
			{"enter f", "admitted", 1, 0},
		}},
		{"over the limit, a hand-over lowers the count", 1, 1, []step{
			{"enter a", "admitted", 1, 0},
			{"acquire past the gate", "", 2, 0},
			{"enter b", "queued", 2, 1},
			{"leave", "grants b", 1, 0},
		}},
		{"a queued waiter gives up", 1, 3, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "queued", 1, 1},
			{"enter known k", "queued", 1, 2},
			{"enter c", "queued", 1, 3},
			{"give up b", "removed", 1, 2},
			{"give up k", "removed", 1, 1},
			{"give up b", "had left", 1, 1},
			{"enter d", "queued", 1, 2},
			{"leave", "grants c", 1, 1},
			{"leave", "grants d", 1, 0},
		}},
		{"a granted waiter gives up too late and holds the slot", 1, 2, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "queued", 1, 1},
			{"leave", "grants b", 1, 0},
			{"give up b", "had left", 1, 0},
			{"leave", "frees the slot", 0, 0},
		}},
		{"the queue makes room again", 1, 1, []step{
			{"enter a", "admitted", 1, 0},
			{"enter b", "queued", 1, 1},
			{"enter c", "rejected full", 1, 1},
			{"leave", "grants b", 1, 0},
			{"enter c", "queued", 1, 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := admission.NewGate[string](tc.maxInflight, tc.cap)
			u := balancer.NewUpstream("u", 1)
			for i, s := range tc.steps {
				if got := apply(g, u, s.call); got != s.want {
					t.Fatalf("step %d, %s: %q, want %q", i+1, s.call, got, s.want)
				}
				if u.Inflight() != s.inflight || u.Queued() != s.queued {
					t.Fatalf("step %d, %s: %d in flight, %d queued; want %d, %d", i+1, s.call, u.Inflight(), u.Queued(), s.inflight, s.queued)
				}
				if int64(g.Queued()) != s.queued {
					t.Fatalf("step %d, %s: the gate counts %d waiting, the upstream %d", i+1, s.call, g.Queued(), u.Queued())
				}
			}
		})
	}
}

// TestGateAllocatesNothingOnceGrown: once its queues have grown, a gate's
// calls allocate nothing, which the proxy's request path relies on.
func TestGateAllocatesNothingOnceGrown(t *testing.T) {
	g := admission.NewGate[*int](1, 64)
	u := balancer.NewUpstream("u", 1)
	waiters := make([]*int, 64)
	for i := range waiters {
		waiters[i] = new(int)
	}
	cycle := func() {
		g.Enter(u, waiters[0], false)
		for _, w := range waiters[1:] {
			g.Enter(u, w, false)
		}
		g.Enter(u, waiters[0], true) // evicts the newest
		g.GiveUp(u, waiters[1])
		for {
			if _, ok := g.Leave(u); !ok {
				break
			}
		}
	}
	cycle()
	if allocs := testing.AllocsPerRun(50, cycle); allocs != 0 {
		t.Fatalf("%v allocations per cycle, want 0", allocs)
	}
	if u.Inflight() != 0 || u.Queued() != 0 {
		t.Fatalf("after the cycles: %d in flight, %d queued; want 0, 0", u.Inflight(), u.Queued())
	}
}
