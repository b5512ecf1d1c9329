package hrtimer

import (
	"sync"
	"time"
)

// Group is a set of precise sleeps that Stop ends at once, as closing a
// channel ends the selects on it: a backend's services in progress, ended
// by a crash.
//
// A sleep in a Group waits on a timerfd of its own, read by the sleeping
// goroutine itself through the runtime's poller: the kernel's timer makes
// that goroutine runnable directly, without Sleep's hop through the
// process's reading goroutine and a channel (a thread woken and a
// goroutine switch fewer per sleep). Stop fires the timerfds of the sleeps
// in progress. The timerfds are kept for reuse, up to a bound; beyond
// maxOwn concurrent sleeps, and where there is no timerfd, a Group's sleep
// is Sleep with Done as its stop channel.
type Group struct {
	done chan struct{}

	mu       sync.Mutex
	stopped  bool
	sleeping map[*timerFD]struct{}
}

// NewGroup returns a Group not yet stopped.
func NewGroup() *Group {
	return &Group{done: make(chan struct{}), sleeping: map[*timerFD]struct{}{}}
}

// Done is closed by Stop.
func (g *Group) Done() <-chan struct{} { return g.done }

// Stop ends every sleep of the Group in progress, and makes every later one
// return at once; it closes Done. Calling it again does nothing.
func (g *Group) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return
	}
	g.stopped = true
	close(g.done)
	for t := range g.sleeping {
		t.set(1) // fires now: its sleeper wakes and sees the Group stopped
	}
}

// Sleep blocks the calling goroutine for d, or until Stop; it returns false
// when the Group was stopped first. Its timer is armed early by the
// Group's Lead and the rest spun, so that the wake-up lands on time.
func (g *Group) Sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	start := time.Now()
	if arm := groupLead.Arm(d); arm > 0 {
		switch slept, ok := g.wait(arm); {
		case !ok:
			return Sleep(d-time.Since(start), g.done)
		case !slept:
			return false
		}
		groupLead.Overslept(arm, time.Since(start))
	}
	SpinUntil(d, func() time.Duration { return time.Since(start) })
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// groupLead is the lead of every Group's sleeps: they share the process's
// threads, and so its oversleep.
var groupLead Lead

// wait waits d on a timerfd of the process's own: slept is false when the
// Group was stopped first, ok false when no timerfd could serve (the
// caller falls back).
func (g *Group) wait(d time.Duration) (slept, ok bool) {
	t := own.get()
	if t == nil {
		return false, false
	}
	// Armed under the lock, so that a Stop either sees the sleep and fires
	// its timer after the arming, or came first and is seen here.
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		own.put(t, true)
		return false, true
	}
	if !t.set(int64(d)) {
		g.mu.Unlock()
		own.put(t, false)
		return false, false
	}
	g.sleeping[t] = struct{}{}
	g.mu.Unlock()
	read := t.wait()
	g.mu.Lock()
	delete(g.sleeping, t)
	stopped := g.stopped
	g.mu.Unlock()
	// A Stop that fired the timer after it had expired leaves an expiry
	// pending: the next set clears it. A timer whose read failed is not
	// reused, and the sleep falls back.
	own.put(t, read)
	if !read {
		return false, false
	}
	return !stopped, true
}

// maxOwn bounds the timerfds that Groups' sleeps hold at once; maxIdle the
// ones kept open between sleeps.
const (
	maxOwn  = 1024
	maxIdle = 256
)

// own is the process's timerfds for Groups' sleeps.
var own ownTimers

type ownTimers struct {
	mu     sync.Mutex
	inUse  int
	idle   []*timerFD
	failed bool // a timerfd could not be made: every Group falls back
}

// get returns a timerfd for one sleep, or nil when none may or can be had.
func (o *ownTimers) get() *timerFD {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed || o.inUse >= maxOwn {
		return nil
	}
	if n := len(o.idle); n > 0 {
		t := o.idle[n-1]
		o.idle = o.idle[:n-1]
		o.inUse++
		return t
	}
	t := new(timerFD)
	if !t.open() {
		o.failed = true
		return nil
	}
	o.inUse++
	return t
}

// put takes back t after a sleep; reuse false closes it.
func (o *ownTimers) put(t *timerFD, reuse bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inUse--
	if reuse && len(o.idle) < maxIdle {
		o.idle = append(o.idle, t)
		return
	}
	t.close()
}
