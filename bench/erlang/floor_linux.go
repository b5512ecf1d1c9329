package main

import (
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/evloop"
)

// hostFloor measures what this host charges for the wake-ups a request's
// path cannot avoid: the mean delay from one thread's write to an eventfd
// until another thread, asleep in epoll on it, runs (cross), and the mean
// oversleep of a precise timed epoll wait (timer). Each from n samples,
// about 2 ms apart, so that the threads are idle in between as they are
// between requests at these rates.
func hostFloor(n int) (cross, timer time.Duration, ok bool) {
	p, err := evloop.NewPoller(4)
	if err != nil {
		return 0, 0, false
	}
	defer p.Close()
	var sent atomic.Int64 // UnixNano of the latest Wake
	got := make(chan time.Duration)
	go func() {
		evloop.LockThread(evloop.PreciseSlack)
		for i := 0; i < n; i++ {
			for woken := false; !woken; {
				for _, ev := range p.Wait(time.Second) {
					woken = woken || p.Woken(&ev)
				}
			}
			got <- time.Duration(time.Now().UnixNano() - sent.Load())
		}
		// The same thread's timed waits, with nothing to wake them early
		// but a signal (such a wait is not counted).
		var sum time.Duration
		var m int
		for i := 0; i < n; i++ {
			const d = 2 * time.Millisecond
			start := time.Now()
			p.Wait(d)
			if took := time.Since(start); took >= d {
				sum += took - d
				m++
			}
		}
		got <- sum / time.Duration(max(m, 1))
	}()
	var sum time.Duration
	for i := 0; i < n; i++ {
		time.Sleep(2 * time.Millisecond)
		sent.Store(time.Now().UnixNano())
		p.Wake()
		sum += <-got
	}
	return sum / time.Duration(n), <-got, true
}
