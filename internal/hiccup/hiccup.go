// Package hiccup measures how late the host wakes this process: the
// apparatus figure a test uses to justify a wall-clock bound on a shared or
// busy machine, instead of a bound that only holds on a quiet one.
//
// A Meter asks to sleep for a short tick, again and again, and records how
// late each wake-up came. A process kept waiting for a processor (other
// runnable threads, a parallel compile) sees the same delays around its own
// timers, reads and writes, so a test allows them in its bound, or skips
// with them printed when they leave nothing to measure.
package hiccup

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
)

// Tick is how long each probe asks to sleep.
const Tick = time.Millisecond

// Meter probes scheduling delay from Start until Stop.
type Meter struct {
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex
	late []time.Duration
}

// Start starts a meter.
func Start() *Meter {
	m := &Meter{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go m.probe()
	return m
}

func (m *Meter) probe() {
	defer crash.Guard() // run on a goroutine of its own
	defer close(m.done)
	t := time.NewTimer(Tick)
	defer t.Stop()
	for {
		asked := time.Now()
		t.Reset(Tick)
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		late := max(time.Since(asked)-Tick, 0)
		m.mu.Lock()
		m.late = append(m.late, late)
		m.mu.Unlock()
	}
}

// Figures are what a meter saw.
type Figures struct {
	// Span is the time measured; Probes the wake-ups seen.
	Span   time.Duration
	Probes int
	// P99 and Max are the wake-up lateness.
	P99, Max time.Duration
	// Waiting is the share of the span spent waking late (the sum of the
	// lateness over the span): the time a ready thread of this process
	// waited for a processor, 0 on an idle machine, towards 1 when the
	// process hardly ran.
	Waiting float64
}

// Stretch is how much longer than on an idle machine a task that needs the
// processor for a given time takes here: 1 / (1 − Waiting).
func (f Figures) Stretch() float64 {
	if f.Waiting >= 0.99 {
		return 100
	}
	return 1 / (1 - f.Waiting)
}

// Allow is d stretched by the waiting measured, plus the worst wake-up
// lateness seen: how long something that takes d on an idle machine may
// take here.
func (f Figures) Allow(d time.Duration) time.Duration {
	return time.Duration(float64(d)*f.Stretch()) + f.Max
}

func (f Figures) String() string {
	return fmt.Sprintf("scheduling delay over %v: %d wake-ups, p99 %v, max %v late; waiting %.0f%% of the time (stretch ×%.2f)",
		f.Span.Round(time.Millisecond), f.Probes, f.P99.Round(10*time.Microsecond), f.Max.Round(10*time.Microsecond), f.Waiting*100, f.Stretch())
}

// Figures returns what the meter saw so far; it keeps measuring.
func (m *Meter) Figures() Figures {
	m.mu.Lock()
	late := slices.Clone(m.late)
	m.mu.Unlock()
	f := Figures{Span: time.Since(m.start), Probes: len(late)}
	if len(late) == 0 {
		// Not a single wake-up: the whole span was one late wake-up.
		f.P99, f.Max, f.Waiting = f.Span, f.Span, 1
		return f
	}
	slices.Sort(late)
	f.P99, f.Max = late[len(late)*99/100], late[len(late)-1]
	var sum time.Duration
	for _, d := range late {
		sum += d
	}
	f.Waiting = min(float64(sum)/float64(f.Span), 1)
	return f
}

// Stop stops the meter and returns its figures.
func (m *Meter) Stop() Figures {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	return m.Figures()
}
