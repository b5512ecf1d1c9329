package admission

// fifo is a queue of waiters in arrival order, on a ring that doubles when
// full and is reused after: no allocation per waiter, where container/list
// allocates an element for each.
type fifo[W comparable] struct {
	ring []W
	head int // index of the oldest
	n    int
}

func (q *fifo[W]) len() int { return q.n }

// slot is the ring index of the i-th oldest waiter.
func (q *fifo[W]) slot(i int) int { return (q.head + i) % len(q.ring) }

func (q *fifo[W]) push(w W) {
	if q.n == len(q.ring) {
		ring := make([]W, max(2*len(q.ring), 8))
		copied := copy(ring, q.ring[q.head:])
		copy(ring[copied:], q.ring[:q.head])
		q.ring, q.head = ring, 0
	}
	q.ring[q.slot(q.n)] = w
	q.n++
}

// popFront takes the oldest waiter out.
func (q *fifo[W]) popFront() (w W, ok bool) {
	if q.n == 0 {
		return w, false
	}
	w = q.take(q.head)
	q.head = q.slot(1)
	q.n--
	return w, true
}

// popBack takes the newest waiter out.
func (q *fifo[W]) popBack() (w W, ok bool) {
	if q.n == 0 {
		return w, false
	}
	w = q.take(q.slot(q.n - 1))
	q.n--
	return w, true
}

// remove takes w out wherever it is, keeping the others' order.
func (q *fifo[W]) remove(w W) bool {
	for i := range q.n {
		if q.ring[q.slot(i)] != w {
			continue
		}
		for ; i < q.n-1; i++ {
			q.ring[q.slot(i)] = q.ring[q.slot(i+1)]
		}
		q.take(q.slot(q.n - 1))
		q.n--
		return true
	}
	return false
}

// take returns the waiter at ring index i and clears the slot, so the ring
// keeps nothing alive that has left it.
func (q *fifo[W]) take(i int) W {
	var zero W
	w := q.ring[i]
	q.ring[i] = zero
	return w
}
