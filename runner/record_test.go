package runner

import (
	"testing"
	"time"
)

func TestWindowsAreSummarisedAndFreed(t *testing.T) {
	c := newCollector(2, 3*time.Second, 0)
	recA, recB := c.newRecorder(0), c.newRecorder(1)
	for win := range 5 {
		base := time.Duration(win) * time.Second
		for i := 1; i <= 100; i++ {
			intended := base + time.Duration(i)*time.Millisecond
			// Latency i ms, of which 1 ms waiting to be sent.
			recA.add(sample{intended: intended, sent: intended + time.Millisecond,
				done: intended + time.Duration(i)*time.Millisecond, outcome: outSuccess, responded: true, node: "a"})
		}
		recB.add(sample{intended: base, outcome: outDropped})
		recB.add(sample{intended: base, sent: base, done: base + time.Millisecond, outcome: out5xx, responded: true})
	}
	c.harvest()
	c.closeWindows(5 * time.Second) // windows ending by 2 s have settled
	if c.closedBefore != 2 {
		t.Fatalf("%d windows closed at 5 s with 3 s to settle, want 2", c.closedBefore)
	}
	for i, w := range c.windows {
		if closed := i < 2; w.closed != closed || (w.lat == nil) != closed {
			t.Errorf("window %d: closed %v, histogram kept %v", i, w.closed, w.lat != nil)
		}
	}
	s := c.windows[0].summary
	if s.P50 < 49.9 || s.P50 > 50.1 || s.P99 < 98.9 || s.P99 > 99.1 || s.Max < 99.9 || s.Max > 100.1 {
		t.Errorf("window 0 latency summary %+v, want p50 50, p99 99, max 100 (the 5xx's 1 ms included)", s)
	}

	// A straggler for a closed window still counts, without touching the
	// freed histogram.
	recA.add(sample{intended: 500 * time.Millisecond, sent: time.Second, done: 2 * time.Second, outcome: outTimeout, responded: false})
	c.harvest()
	c.closeWindows(-1)
	if c.closedBefore != 5 {
		t.Fatalf("%d windows closed at the end, want 5", c.closedBefore)
	}
	if got := c.windows[0].counts; got[outSuccess] != 100 || got[outDropped] != 1 || got[out5xx] != 1 || got[outTimeout] != 1 {
		t.Errorf("window 0 counts %v", got)
	}
	tot := c.run.totals()
	if tot.Scheduled != 5*102+1 || tot.Succeeded != 500 || tot.Failed != 6 || tot.Dropped != 5 || tot.Late != 1 {
		t.Errorf("run totals %+v", tot)
	}
	if a, b := c.workloads[0].totals(), c.workloads[1].totals(); a.Scheduled != 501 || b.Scheduled != 10 {
		t.Errorf("workload totals %+v and %+v", a, b)
	}
	if c.nodes["a"] != 500 || c.responses != 505 {
		t.Errorf("nodes %v, responses %d", c.nodes, c.responses)
	}
	// Sending 1 ms late is within the tolerance; the straggler, 500 ms late, is not.
	if c.run.late != 1 {
		t.Errorf("late %d, want 1", c.run.late)
	}
}

func TestRecorderDoubleBuffers(t *testing.T) {
	r := &recorder{}
	r.add(sample{intended: 1})
	spare := make([]sample, 0, 8)
	full := r.swap(spare)
	if len(full) != 1 || len(r.buf) != 0 || cap(r.buf) != 8 {
		t.Fatalf("swap: full %d, buffer len %d cap %d", len(full), len(r.buf), cap(r.buf))
	}
	r.add(sample{intended: 2})
	again := r.swap(full)
	if len(again) != 1 || again[0].intended != 2 || cap(r.buf) != cap(full) {
		t.Fatalf("second swap: %v, buffer cap %d", again, cap(r.buf))
	}
}
