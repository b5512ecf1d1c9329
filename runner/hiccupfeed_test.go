package runner

import (
	"testing"
	"time"
)

// The first timed wait ending in a slot, not ended early, is the slot's
// sample; an idle loop is woken by the end of the first slot without one.
func TestHiccupFeedSlots(t *testing.T) {
	const I = hiccupInterval
	type wait struct{ deadline, woke time.Duration }
	for _, tc := range []struct {
		name  string
		waits []wait
		want  []hiccupSample
	}{
		{"on time", []wait{{I / 2, I/2 + 30*time.Microsecond}}, []hiccupSample{{I / 2, I/2 + 30*time.Microsecond}}},
		{"woken early by an event", []wait{{I / 2, I / 4}}, nil},
		{"one sample per slot", []wait{{I / 4, I / 4}, {I / 2, I/2 + time.Millisecond}, {I + 1, I + 2}},
			[]hiccupSample{{I / 4, I / 4}, {I + 1, I + 2}}},
		{"an early end leaves the slot open", []wait{{I / 4, I / 8}, {I / 2, I/2 + 7}}, []hiccupSample{{I / 2, I/2 + 7}}},
		{"a stall past slots", []wait{{I / 2, 4 * I}, {4*I + 1, 4*I + 1}}, []hiccupSample{{I / 2, 4 * I}, {4*I + 1, 4*I + 1}}},
		{"before the run's start", []wait{{-1, 0}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newHiccupFeed()
			for _, w := range tc.waits {
				f.waited(w.deadline, w.woke)
			}
			var got []hiccupSample
			f.drain(func(intended, woke time.Duration) { got = append(got, hiccupSample{intended, woke}) })
			if len(got) != len(tc.want) {
				t.Fatalf("samples %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("sample %d: %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestHiccupFeedWakeBy(t *testing.T) {
	const I = hiccupInterval
	f := newHiccupFeed()
	if got := f.wakeBy(I / 3); got != I-1 {
		t.Errorf("no sample yet: wake by %v, want the end of the slot %v", got, I-1)
	}
	f.waited(I/2, I/2)
	if got := f.wakeBy(I / 2); got != 2*I-1 {
		t.Errorf("slot sampled: wake by %v, want the end of the next %v", got, 2*I-1)
	}
	if got := f.wakeBy(3*I + 1); got != 4*I-1 {
		t.Errorf("later: wake by %v, want the end of now's slot %v", got, 4*I-1)
	}
}

// A full ring loses the newest samples, never the order; draining frees it.
func TestHiccupFeedRingFull(t *testing.T) {
	f := newHiccupFeed()
	for i := range hiccupRing + 10 {
		at := time.Duration(i) * hiccupInterval
		f.waited(at, at)
	}
	n, last := 0, time.Duration(-1)
	f.drain(func(intended, _ time.Duration) {
		if intended <= last {
			t.Fatalf("sample at %v after %v", intended, last)
		}
		last = intended
		n++
	})
	if n != hiccupRing {
		t.Errorf("%d samples drained, want the ring's %d", n, hiccupRing)
	}
	at := time.Duration(hiccupRing+20) * hiccupInterval
	f.waited(at, at)
	f.drain(func(intended, _ time.Duration) { n++ })
	if n != hiccupRing+1 {
		t.Errorf("after draining, a new sample was not taken")
	}
}
