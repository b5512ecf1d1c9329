package backend

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pause sleeps 1 ms on the kernel's high-resolution timer (nanosleep, on
// the calling thread) and returns how late it woke: what the machine itself
// delays a wake-up by, at that moment.
func pause() time.Duration {
	start := time.Now()
	ts := syscall.NsecToTimespec(int64(time.Millisecond))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
	return time.Since(start) - time.Millisecond
}

// TestCompletionsFollowTheStationClock: a request's answer reaches an
// in-process client within a bound of the instant its service ended on the
// station's own clock. The runtime's timers, on an otherwise idle process,
// end services up to a millisecond late (uniformly, for service times that
// are not whole milliseconds), which every response would carry.
//
// The bound is 250 µs (the answer's write and read over loopback, and a
// goroutine's wake-up) plus the machine's own hiccup, measured between the
// requests (p90 lateness of a 1 ms nanosleep); on a machine too busy for a
// bound well under a millisecond to mean anything, the test is skipped,
// saying so.
func TestCompletionsFollowTheStationClock(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	// Services that end between whole milliseconds: 0.5 ms to 3.3 ms.
	var ds []time.Duration
	for i := range 200 {
		ds = append(ds, 500*time.Microsecond+time.Duration(i*373%2800)*time.Microsecond)
	}
	b := New(Config{Name: "clock", Workers: 2, Queue: 16, ServiceTime: &sequence{ds: ds}})
	var mu sync.Mutex
	var ends []int64
	b.mu.Lock()
	b.trace = func(_, _, end int64) {
		mu.Lock()
		ends = append(ends, end)
		mu.Unlock()
	}
	b.mu.Unlock()
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c := newClient(t)
	url := b.URL() + "/"

	// Between requests the process idles for a 1 ms pause, whose own
	// lateness samples the machine's hiccups over the same span.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var late, hiccups []time.Duration
	for i := range ds {
		hiccups = append(hiccups, pause())
		a := get(context.Background(), c, url)
		got := time.Now()
		if a.err != nil || a.status != 200 {
			t.Fatalf("request %d: status %d, %v", i, a.status, a.err)
		}
		mu.Lock()
		end := ends[len(ends)-1]
		mu.Unlock()
		late = append(late, got.Sub(b.epoch.Add(time.Duration(end))))
	}
	slices.Sort(hiccups)
	h := hiccups[len(hiccups)*9/10]
	slices.Sort(late)
	p50, p90 := late[len(late)/2], late[len(late)*9/10]
	t.Logf("answers after the station's end: p50 %v p90 %v max %v; machine hiccup p90 %v",
		p50, p90, late[len(late)-1], h)
	if h > 200*time.Microsecond {
		t.Skipf("machine too busy: a 1ms sleep wakes %v late (p90); answers came p50 %v after their end", h, p50)
	}
	if bound := 250*time.Microsecond + h; p50 > bound {
		t.Errorf("answers leave p50 %v after the station's end, want under %v", p50, bound)
	}
}
