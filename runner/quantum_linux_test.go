package runner

import (
	"slices"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/evloop"
)

// At a low rate the loop wakes for each arrival on time: the send lag's
// median is the machine's wake-up delay, not that plus a dispatch quantum.
// The wake-up delay is measured the way the loop waits, before and after
// the run, so that a busy machine does not fail the test; one too noisy to
// tell skips it.
func TestLoopLowRateNotQuantised(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	srv := okServer(t, 0, nil)
	sc := newScenario(time.Second, openWorkload("low", 200))
	requireLoop(t, sc, srv.URL)
	before := wakeDelay(t)
	res := run(t, sc, Options{URL: srv.URL})
	after := wakeDelay(t)
	// The run's own hiccups count too: a host busy during the run only
	// delays the loop's wake-ups as much.
	during := time.Duration(0)
	if a := res.Apparatus; a != nil {
		during = time.Duration(a.HiccupMS.P50 * float64(time.Millisecond))
	}
	hiccup := max(before, after, during)
	lag := time.Duration(res.Generator.SendLagMS.P50 * float64(time.Millisecond))
	t.Logf("send lag p50 %v, p99 %.3f ms; the machine's wake-up delay p50 %v before, %v after, hiccup p50 %v during the run; a %v quantum would add %v",
		lag, res.Generator.SendLagMS.P99, before, after, during, maxQuantum, maxQuantum)
	if hiccup > 2*maxQuantum {
		t.Skipf("the machine wakes %v late at the median: too noisy to tell a %v quantum", hiccup, maxQuantum)
	}
	if lag >= hiccup+maxQuantum/2 {
		t.Fatalf("send lag p50 %v at 200/s, wake-up delay %v: quantised (a quantum would make it about %v)", lag, hiccup, hiccup+maxQuantum)
	}
}

// wakeDelay is the median lateness of 1 ms waits in epoll_pwait2 on a
// thread with the loop's timer slack.
func wakeDelay(t *testing.T) time.Duration {
	t.Helper()
	late := make(chan []time.Duration)
	go func() {
		// The thread's slack changes, so it ends with the goroutine.
		evloop.LockThread(evloop.PreciseSlack)
		p, err := evloop.NewPoller(1)
		if err != nil {
			late <- nil
			return
		}
		defer p.Close()
		var d []time.Duration
		for range 50 {
			start := time.Now()
			p.Wait(time.Millisecond)
			d = append(d, time.Since(start)-time.Millisecond)
		}
		late <- d
	}()
	d := <-late
	if d == nil {
		t.Skip("no epoll")
	}
	slices.Sort(d)
	return d[len(d)/2]
}
