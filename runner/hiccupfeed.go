package runner

import (
	"sync/atomic"
	"time"
)

// hiccupFeed lets an event loop be the hiccup sampler. The loop already
// sleeps to a deadline between its sends, on a thread of its own: how late
// it woke past that deadline is the same measure the sampler's own sleeps
// take, of the very thread that sends, and it costs no wake-up. A separate
// sampler wakes 200 times a second, which on a virtual machine cost about
// 12 µs of CPU per request at 1,000 requests a second, more than all of the
// loop's other idle work.
//
// The run's clock is cut in slots of hiccupInterval. The first timed wait
// whose deadline falls in a slot and which did not end early (an event
// woke it) is the slot's sample; an idle loop is made to wake by the end of
// each slot (wakeBy), so that every slot has one, as with the sampler. The
// samples go through a single-producer, single-consumer ring to the meter,
// which reads them a few times a second and takes sampling back whenever
// they stop coming (the loop is busy without waiting, or has ended).
type hiccupFeed struct {
	ring       [hiccupRing]hiccupSample
	head, tail atomic.Uint64 // head: the next to write (the loop's); tail: the next to read (the meter's)
	// newest is the wake-up time (run ns) of the newest sample; 0 before any.
	newest atomic.Int64
	// lastSlot is the last slot sampled; the loop's alone.
	lastSlot int64
}

// hiccupRing holds the samples of a second and more: the meter reads them
// every feedDrain.
const hiccupRing = 256

type hiccupSample struct{ intended, woke time.Duration }

func newHiccupFeed() *hiccupFeed { return &hiccupFeed{lastSlot: -1} }

func hiccupSlot(at time.Duration) int64 { return int64(at / hiccupInterval) }

// wakeBy is the latest a wait beginning at now may end for every slot to
// have its sample: the end of the first slot, from now's, not yet sampled.
func (f *hiccupFeed) wakeBy(now time.Duration) time.Duration {
	slot := max(hiccupSlot(now), f.lastSlot+1)
	return time.Duration(slot+1)*hiccupInterval - 1
}

// waited takes a timed wait that was to end at deadline and ended at woke
// (run clock). A wait an event ended early says nothing of the timer.
func (f *hiccupFeed) waited(deadline, woke time.Duration) {
	slot := hiccupSlot(deadline)
	if woke < deadline || deadline < 0 || slot <= f.lastSlot {
		return
	}
	f.lastSlot = slot
	h := f.head.Load()
	if h-f.tail.Load() == hiccupRing {
		return // the meter is behind: the slot goes without
	}
	f.ring[h%hiccupRing] = hiccupSample{intended: deadline, woke: woke}
	f.head.Store(h + 1)
	f.newest.Store(int64(woke))
}

// drain hands the samples taken since the last drain to take, oldest first.
func (f *hiccupFeed) drain(take func(intended, woke time.Duration)) {
	t, h := f.tail.Load(), f.head.Load()
	for ; t < h; t++ {
		s := f.ring[t%hiccupRing]
		take(s.intended, s.woke)
	}
	f.tail.Store(t)
}

// live reports whether the loop sampled within stale of the run time now.
func (f *hiccupFeed) live(now, stale time.Duration) bool {
	n := f.newest.Load()
	return n > 0 && now-time.Duration(n) <= stale
}
