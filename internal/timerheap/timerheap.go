// Package timerheap is the deadline queue of the event loops and of the
// simulation's calendar: a binary min-heap of values keyed by a time. It is
// generic rather than built on container/heap, whose interface would box an
// entry on every push, which the loops do per request.
package timerheap

// Heap orders values by their time, earliest first; values of equal time
// come out in the order they were pushed, so that a caller replaying the
// same pushes gets the same pops. The zero value is an empty heap.
type Heap[T any] struct {
	items  []entry[T]
	pushed uint64 // pushes so far: each entry's place among equal times
}

type entry[T any] struct {
	at    int64
	seq   uint64
	value T
}

func (e *entry[T]) before(o *entry[T]) bool {
	return e.at < o.at || (e.at == o.at && e.seq < o.seq)
}

// Len is the number of entries.
func (h *Heap[T]) Len() int { return len(h.items) }

// Push adds v at time at.
func (h *Heap[T]) Push(at int64, v T) {
	h.items = append(h.items, entry[T]{at, h.pushed, v})
	h.pushed++
	q := h.items
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q[i].before(&q[parent]) {
			break
		}
		q[parent], q[i] = q[i], q[parent]
		i = parent
	}
}

// Peek returns the earliest entry; ok is false when the heap is empty.
func (h *Heap[T]) Peek() (at int64, v T, ok bool) {
	if len(h.items) == 0 {
		return 0, v, false
	}
	return h.items[0].at, h.items[0].value, true
}

// Pop removes the earliest entry. The heap must not be empty.
func (h *Heap[T]) Pop() {
	q := h.items
	last := len(q) - 1
	q[0] = q[last]
	q[last] = entry[T]{} // drop what the value refers to
	q = q[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q[l].before(&q[least]) {
			least = l
		}
		if r < len(q) && q[r].before(&q[least]) {
			least = r
		}
		if least == i {
			break
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
	h.items = q
}
