package hrtimer

import (
	"testing"
	"time"
)

// TestGroupSleeps: a Group's sleeps, concurrent and of different lengths,
// all end and none early; their timers are kept for reuse.
func TestGroupSleeps(t *testing.T) {
	sleepMany(t, 30, NewGroup().Sleep)
	own.mu.Lock()
	inUse, idle, failed := own.inUse, len(own.idle), own.failed
	own.mu.Unlock()
	if inUse != 0 {
		t.Errorf("%d timers still held after every sleep ended", inUse)
	}
	if !failed && idle == 0 {
		t.Error("no timer kept for reuse")
	}
}

// TestGroupStop: Stop ends the sleeps in progress at once, reporting the
// stop, closes Done, and later sleeps return false at once. A timer that
// Stop fired is reused by another Group's sleep without ending it early.
func TestGroupStop(t *testing.T) {
	g := NewGroup()
	done := make(chan bool)
	for range 10 {
		go func() { done <- g.Sleep(time.Hour) }()
	}
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	g.Stop()
	g.Stop() // again: nothing
	for range 10 {
		select {
		case ok := <-done:
			if ok {
				t.Fatal("a stopped sleep reported its end")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Stop did not end a sleep in progress")
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the stopped sleeps took %v to end", took)
	}
	select {
	case <-g.Done():
	default:
		t.Error("Done not closed by Stop")
	}
	if g.Sleep(time.Hour) {
		t.Error("a sleep after Stop reported its end")
	}
	other := NewGroup()
	for range 20 {
		const d = 2 * time.Millisecond
		start := time.Now()
		if !other.Sleep(d) {
			t.Fatal("another Group's sleep reported a stop")
		}
		if got := time.Since(start); got < d {
			t.Fatalf("a reused timer slept %v of %v", got, d)
		}
	}
}

// TestGroupSleepAllocatesNothing: with a timer to reuse, a Group's sleep
// allocates nothing.
func TestGroupSleepAllocatesNothing(t *testing.T) {
	g := NewGroup()
	g.Sleep(time.Microsecond)
	if n := testing.AllocsPerRun(100, func() { g.Sleep(10 * time.Microsecond) }); n > 0.1 {
		t.Errorf("%.2f allocations per Sleep", n)
	}
}
