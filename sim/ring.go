package sim

// ring is a first-in-first-out queue on a circular slice that doubles when
// full: the stations' waiting rooms, the generator's waiting arrivals and
// the timeouts' lists reuse their storage, so the steady state allocates
// nothing.
type ring[T any] struct {
	buf        []T
	head, size int
}

func (r *ring[T]) len() int { return r.size }

func (r *ring[T]) push(v T) {
	if r.size == len(r.buf) {
		grown := make([]T, max(2*len(r.buf), 16))
		for i := range r.size {
			grown[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = v
	r.size++
}

// peek is the oldest value; the ring must not be empty.
func (r *ring[T]) peek() T { return r.buf[r.head] }

// pop removes the oldest value; the ring must not be empty.
func (r *ring[T]) pop() T {
	v := r.buf[r.head]
	var zero T
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return v
}
