// Package hrtimer wakes goroutines at precise instants.
//
// The runtime's timers wake up to a millisecond late on Linux when the
// process is otherwise idle: its poller waits in whole milliseconds. Here
// every waiter's deadline goes into one heap (internal/timerheap), and one
// timerfd, armed for the earliest, fires on the kernel's high-resolution
// clock. The goroutine that reads it (through the runtime's poller: it
// parks, holding no thread) wakes the waiters that are due. That goroutine
// runs only while someone waits, so an idle process has none.
//
// A Group's sleeps (group.go) each wait on a timerfd of their own instead,
// read by the sleeping goroutine: one hop fewer, for sleeps that a Stop must
// be able to end together (a backend's services, ended by a crash).
//
// Elsewhere than Linux, or when a timerfd cannot be made, Sleep falls back
// to a runtime timer.
package hrtimer

import (
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/timerheap"
)

// Sleep blocks the calling goroutine for d, or until stop is closed; it
// returns false when stop was closed first. It allocates nothing in the
// steady state.
func Sleep(d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	if !svc.init() {
		return fallback(d, stop)
	}
	w := waiters.Get().(*waiter)
	g := svc.add(w, d)
	select {
	case <-w.ch:
		waiters.Put(w)
		return true
	case <-stop:
		svc.cancel(w, g)
		waiters.Put(w)
		return false
	}
}

func fallback(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// waiter is one sleeping goroutine's wake-up channel, reused through a
// pool. gen tells a heap entry for this use from a stale one left by an
// earlier, cancelled use.
type waiter struct {
	ch  chan struct{}
	gen uint64
}

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

type ref struct {
	w   *waiter
	gen uint64
}

// service is the process's one precise timer.
type service struct {
	once sync.Once
	ok   bool
	base time.Time
	fd   timerFD

	mu      sync.Mutex
	heap    timerheap.Heap[ref]
	live    int   // waiters in the heap that were not cancelled
	armed   int64 // the instant the timerfd is set for (clock of now); 0: disarmed
	running bool  // the reading goroutine runs
}

var svc service

func (s *service) init() bool {
	s.once.Do(func() {
		s.base = time.Now()
		s.ok = s.fd.open()
	})
	return s.ok
}

// now is the service's clock: nanoseconds on the monotonic clock.
func (s *service) now() int64 { return int64(time.Since(s.base)) }

// add puts w in the heap, due after d, and returns the generation of its
// entry.
func (s *service) add(w *waiter, d time.Duration) uint64 {
	s.mu.Lock()
	g := w.gen
	now := s.now()
	at := now + int64(d)
	s.heap.Push(at, ref{w, w.gen})
	s.live++
	if s.armed == 0 || at < s.armed {
		s.arm(at, now)
	}
	if !s.running {
		s.running = true
		go s.run()
	}
	s.mu.Unlock()
	return g
}

// cancel forgets w's entry of generation g, unless it fired already. When
// no live waiter is left, the heap is emptied and the reader is woken, so
// that it ends.
func (s *service) cancel(w *waiter, g uint64) {
	s.mu.Lock()
	if w.gen == g {
		w.gen++
		s.live--
		if s.live == 0 {
			s.heap = timerheap.Heap[ref]{}
			now := s.now()
			s.arm(now, now)
		}
	}
	s.mu.Unlock()
	select { // a wake-up sent just before the cancellation
	case <-w.ch:
	default:
	}
}

// arm sets the timerfd for at. Called with s.mu held.
func (s *service) arm(at, now int64) {
	s.armed = at
	if !s.fd.set(max(at-now, 1)) {
		s.armed = 0
	}
}

// run wakes the due waiters each time the timerfd fires, and ends when the
// heap is empty.
func (s *service) run() {
	defer crash.Guard() // run on a goroutine of its own
	for {
		s.mu.Lock()
		now := s.now()
		for {
			at, r, ok := s.heap.Peek()
			if !ok || at > now {
				break
			}
			s.heap.Pop()
			if r.gen == r.w.gen {
				s.live--
				r.w.gen++ // the entry is spent
				select {
				case r.w.ch <- struct{}{}:
				default:
				}
			}
		}
		at, _, ok := s.heap.Peek()
		if !ok {
			// The timerfd was set for an entry that is now due: it has
			// fired (a one-shot then disarms) or is about to, which costs
			// the next reader one spurious turn at most.
			s.running = false
			s.armed = 0
			s.mu.Unlock()
			return
		}
		if s.armed == 0 || s.armed != at || at <= now {
			s.arm(at, now)
		}
		armed := s.armed
		s.mu.Unlock()
		if armed == 0 || !s.fd.wait() {
			// The timerfd failed: fall back to the runtime's timer.
			time.Sleep(time.Duration(at - now))
		}
	}
}
