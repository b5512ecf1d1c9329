package timerheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Entries come out in time order whatever order they went in, interleaved
// pushes and pops included, and equal times all come out.
func TestPopsInTimeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var h Heap[int]
		var want []int64
		n := 1 + rng.IntN(300)
		for i := range n {
			at := rng.Int64N(50) // many equal times
			h.Push(at, i)
			want = append(want, at)
			if rng.IntN(4) == 0 { // pop the current earliest now and then
				at, _, _ := h.Peek()
				h.Pop()
				i := slices.Index(want, slices.Min(want))
				if want[i] != at {
					t.Fatalf("round %d: popped %d, earliest is %d", round, at, want[i])
				}
				want = slices.Delete(want, i, i+1)
			}
		}
		slices.Sort(want)
		var got []int64
		for h.Len() > 0 {
			at, _, _ := h.Peek()
			got = append(got, at)
			h.Pop()
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: popped %v, want %v", round, got, want)
		}
	}
	var empty Heap[int]
	if _, _, ok := empty.Peek(); ok {
		t.Fatal("an empty heap has an entry")
	}
}

// Entries of equal time come out in the order they went in, however the
// pushes and pops interleave: a simulation replaying the same pushes gets
// the same events in the same order.
func TestEqualTimesPopInPushOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 100 {
		var h Heap[int]
		var lastAt int64 = -1
		last := map[int64]int{} // the latest value popped at each time
		next := 0
		for next < 500 || h.Len() > 0 {
			if next < 500 && (h.Len() == 0 || rng.IntN(3) > 0) {
				at := max(lastAt, 0) + rng.Int64N(4) // few distinct times, none before the last pop
				h.Push(at, next)
				next++
				continue
			}
			at, v, _ := h.Peek()
			h.Pop()
			if prev, seen := last[at]; seen && v < prev {
				t.Fatalf("round %d: at %d, %d came out after %d, pushed later", round, at, v, prev)
			}
			last[at], lastAt = v, at
		}
	}
}

// A push allocates nothing once the heap has grown.
func TestPushAllocatesNothing(t *testing.T) {
	var h Heap[*int]
	x := 1
	for range 64 {
		h.Push(1, &x)
	}
	for h.Len() > 0 {
		h.Pop()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		h.Push(int64(x), &x)
		h.Pop()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per push and pop", allocs)
	}
}
