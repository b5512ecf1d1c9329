package hrtimer

import (
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestManySleepers: concurrent sleeps of different lengths all end, none
// early, and the service stops once nobody waits. (The order in which the
// woken goroutines then run is the scheduler's: nothing asserted on it.)
func TestManySleepers(t *testing.T) {
	sleepMany(t, 50, func(d time.Duration) bool { return Sleep(d, nil) })
	waitIdle(t)
}

// sleepMany runs n concurrent sleeps of different lengths, the longest
// first, and fails t for each that ends early or reports a stop.
func sleepMany(t *testing.T, n int, sleep func(time.Duration) bool) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	early := 0
	for i := n - 1; i >= 0; i-- {
		wg.Go(func() {
			d := time.Duration(i%7+1) * 700 * time.Microsecond
			start := time.Now()
			if !sleep(d) {
				t.Error("a sleep never stopped reported a stop")
			}
			if time.Since(start) < d {
				mu.Lock()
				early++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if early > 0 {
		t.Errorf("%d of %d sleeps ended early", early, n)
	}
}

// waitIdle waits until the reading goroutine has ended with an empty heap.
func waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		svc.mu.Lock()
		running, n, live := svc.running, svc.heap.Len(), svc.live
		svc.mu.Unlock()
		if !running && n == 0 && live == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service still running with %d entries, %d live", n, live)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSleepNeverEarly(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 100 * time.Microsecond, time.Millisecond, 3 * time.Millisecond} {
		for range 20 {
			start := time.Now()
			Sleep(d, nil)
			if got := time.Since(start); got < d {
				t.Fatalf("slept %v, asked %v", got, d)
			}
		}
	}
}

func TestStopCancels(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan bool)
	for range 10 {
		go func() { done <- Sleep(time.Hour, stop) }()
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	for range 10 {
		if <-done {
			t.Fatal("a cancelled sleep reported its end")
		}
	}
	// With nobody waiting, the reading goroutine ends.
	waitIdle(t)
	// A reused waiter is not woken by its cancelled entry.
	if !Sleep(time.Millisecond, nil) {
		t.Fatal("sleep after cancellations failed")
	}
}

// TestSleepAllocatesNothing: within a busy period, a Sleep allocates
// nothing (starting the reading goroutine at the start of one may).
func TestSleepAllocatesNothing(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go Sleep(time.Hour, stop) // keeps the service running
	// The sleeper may not have run yet: until its entry is in, each Sleep
	// below would start the reading goroutine anew.
	deadline := time.Now().Add(10 * time.Second)
	for {
		svc.mu.Lock()
		running, live := svc.running, svc.live
		svc.mu.Unlock()
		if running && live >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hour-long sleeper never registered (running %v, %d live)", running, live)
		}
		time.Sleep(time.Millisecond)
	}
	if n := testing.AllocsPerRun(100, func() { Sleep(10*time.Microsecond, nil) }); n > 0.1 {
		t.Errorf("%.2f allocations per Sleep", n)
	}
}

// TestLateness prints how late Sleep and the runtime's timer wake an
// otherwise idle process. It asserts nothing: a busy machine delays both.
func TestLateness(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	late := func(sleep func(time.Duration)) (p50, p99 time.Duration) {
		var ls []time.Duration
		for range 200 {
			d := 1 * time.Millisecond
			start := time.Now()
			sleep(d)
			ls = append(ls, time.Since(start)-d)
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i] < ls[j] })
		return ls[len(ls)/2], ls[len(ls)*99/100]
	}
	a50, a99 := late(func(d time.Duration) { Sleep(d, nil) })
	b50, b99 := late(func(d time.Duration) { time.Sleep(d) })
	t.Logf("GOMAXPROCS %d; lateness of a 1ms sleep: hrtimer p50 %v p99 %v; runtime timer p50 %v p99 %v",
		runtime.GOMAXPROCS(0), a50, a99, b50, b99)
}
