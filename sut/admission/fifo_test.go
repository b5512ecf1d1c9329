package admission

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestFIFOKeepsOrderAcrossWrapAndGrowth checks the ring against a plain
// slice over a long seeded sequence of pushes, pops at either end and
// removals from anywhere, so that the oldest waiter sits at every place of
// the ring and the ring grows while wrapped.
func TestFIFOKeepsOrderAcrossWrapAndGrowth(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pushShare float64 // of the calls; the rest pop or remove
	}{
		{"growing", 0.7},
		{"steady", 0.5},
		{"draining", 0.3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			var q fifo[int]
			var model []int
			next, grew := 0, 0
			for i := range 20000 {
				switch r := rng.Float64(); {
				case r < tc.pushShare || len(model) == 0:
					before := len(q.ring)
					q.push(next)
					model = append(model, next)
					next++
					if len(q.ring) > before && q.head != 0 {
						t.Fatalf("call %d: the ring grew with its oldest at %d, want 0", i, q.head)
					}
					if len(q.ring) > before && before > 0 {
						grew++
					}
				case r < tc.pushShare+(1-tc.pushShare)/3:
					w, ok := q.popFront()
					if !ok || w != model[0] {
						t.Fatalf("call %d: popFront %d, %v; want %d", i, w, ok, model[0])
					}
					model = model[1:]
				case r < tc.pushShare+2*(1-tc.pushShare)/3:
					w, ok := q.popBack()
					if !ok || w != model[len(model)-1] {
						t.Fatalf("call %d: popBack %d, %v; want %d", i, w, ok, model[len(model)-1])
					}
					model = model[:len(model)-1]
				default:
					w := model[rng.IntN(len(model))]
					if !q.remove(w) {
						t.Fatalf("call %d: remove %d found nothing", i, w)
					}
					model = slices.DeleteFunc(model, func(x int) bool { return x == w })
				}
				if q.len() != len(model) {
					t.Fatalf("call %d: %d waiting, want %d", i, q.len(), len(model))
				}
			}
			if q.remove(-1) {
				t.Fatal("remove of a waiter never pushed found one")
			}
			for _, want := range model {
				if w, ok := q.popFront(); !ok || w != want {
					t.Fatalf("draining: %d, %v; want %d", w, ok, want)
				}
			}
			if _, ok := q.popFront(); ok {
				t.Fatal("popFront of an empty queue found a waiter")
			}
			if _, ok := q.popBack(); ok {
				t.Fatal("popBack of an empty queue found a waiter")
			}
			for i, w := range q.ring {
				if w != 0 {
					t.Fatalf("ring slot %d still holds %d after every waiter left", i, w)
				}
			}
			t.Logf("ring of %d, grew %d times", len(q.ring), grew)
		})
	}
}

// TestFIFOAllocatesNothingOnceGrown: a queue that has reached its size
// reuses its ring.
func TestFIFOAllocatesNothingOnceGrown(t *testing.T) {
	var q fifo[*int]
	x := new(int)
	for range 100 {
		q.push(x)
	}
	for range 100 {
		q.popFront()
	}
	allocs := testing.AllocsPerRun(100, func() {
		for range 100 {
			q.push(x)
		}
		q.remove(x)
		q.popBack()
		for q.len() > 0 {
			q.popFront()
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
}
