package runner

import (
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// tally is an Observer that counts what it is told.
type tally struct {
	names    []string
	begun    int
	early    bool // an observation came before Begin
	fates    map[int]map[Fate]int64
	classes  map[string]int64
	paced    map[int]int64
	statuses map[int]int64
	negative int64 // sent arrivals with a latency or send lag below zero
}

func (t *tally) Begin(names []string) {
	t.begun++
	t.names = names
	t.fates, t.classes, t.paced, t.statuses = map[int]map[Fate]int64{}, map[string]int64{}, map[int]int64{}, map[int]int64{}
}

func (t *tally) Observe(o Observation) {
	if t.begun == 0 {
		t.early = true
		return
	}
	if t.fates[o.Workload] == nil {
		t.fates[o.Workload] = map[Fate]int64{}
	}
	t.fates[o.Workload][o.Fate]++
	if o.Fate == FateFailed {
		t.classes[o.Class]++
	}
	if o.Paced {
		t.paced[o.Workload]++
	}
	if o.Status != 0 {
		t.statuses[o.Status]++
	}
	if (o.Fate == FateSucceeded || o.Fate == FateFailed) && (o.Latency < 0 || o.SendLag < 0) {
		t.negative++
	}
}

// totals is what the tally saw of workload wl (-1: all), as report.Totals.
func (t *tally) totals(wl int) report.Totals {
	var tot report.Totals
	for i, f := range t.fates {
		if wl >= 0 && i != wl {
			continue
		}
		tot.Succeeded += f[FateSucceeded]
		tot.Failed += f[FateFailed]
		tot.Dropped += f[FateDropped]
		tot.CutAtEnd += f[FateCut]
		tot.Exhausted += f[FateExhausted]
	}
	tot.Scheduled = tot.Succeeded + tot.Failed + tot.Dropped + tot.CutAtEnd + tot.Exhausted
	return tot
}

// TestObserverSeesEveryArrival runs an open and a closed workload against a
// server that fails every third request, and checks that the observer was
// told of every arrival the result counts, warm-up included, with the
// failures' classes and the open workload's send lag.
func TestObserverSeesEveryArrival(t *testing.T) {
	var n atomic.Int64
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	for _, warmup := range []time.Duration{0, time.Second} {
		t.Run("warm-up "+warmup.String(), func(t *testing.T) {
			sc := newScenario(2*time.Second, openWorkload("open", 50), closedWorkload("closed", 2))
			sc.Warmup = scenario.Duration(warmup)
			obs := &tally{}
			res := run(t, sc, Options{URL: srv.URL, Observer: obs})

			if obs.begun != 1 || obs.early || !slices.Equal(obs.names, []string{"open", "closed"}) {
				t.Fatalf("Begin called %d time(s) with %q (observation before it: %v), want once with [open closed]", obs.begun, obs.names, obs.early)
			}
			want, wantErrors := res.Totals, res.Errors
			if res.Warmup != nil {
				w := res.Warmup.Totals
				want.Scheduled += w.Scheduled
				want.Succeeded += w.Succeeded
				want.Failed += w.Failed
				want.Dropped += w.Dropped
				want.CutAtEnd += w.CutAtEnd
				want.Exhausted += w.Exhausted
				wantErrors = map[string]int64{}
				for _, m := range []map[string]int64{res.Errors, res.Warmup.Errors} {
					for class, c := range m {
						wantErrors[class] += c
					}
				}
			}
			want.Late = 0
			if got := obs.totals(-1); got != want || got.Failed == 0 {
				t.Errorf("observed %+v, result (with its warm-up) %+v; want equal, with failures", got, want)
			}
			if len(obs.classes) != len(wantErrors) || obs.classes[Class5xx] != wantErrors[Class5xx] {
				t.Errorf("observed failure classes %v, result %v", obs.classes, wantErrors)
			}
			if warmup == 0 && (len(obs.statuses) != 2 || obs.statuses[200] != res.StatusCodes[200] || obs.statuses[503] != res.StatusCodes[503]) {
				t.Errorf("observed status codes %v, result %v; want 200 and 503, equal", obs.statuses, res.StatusCodes)
			}
			if warmup == 0 {
				for i, w := range res.Workloads {
					wantW := w.Totals
					wantW.Late = 0
					if got := obs.totals(i); got != wantW {
						t.Errorf("workload %s: observed %+v, result %+v", w.Name, got, wantW)
					}
				}
			}
			if sent := obs.fates[0][FateSucceeded] + obs.fates[0][FateFailed]; obs.paced[0] != sent || obs.paced[1] != 0 {
				t.Errorf("paced observations: open %d of %d sent, closed %d; want every open one and no closed one", obs.paced[0], sent, obs.paced[1])
			}
			if obs.negative > 0 {
				t.Errorf("%d sent arrivals with a negative latency or send lag", obs.negative)
			}
		})
	}
}

// TestObservingAllocatesNothing: the observer adds no allocation to the
// collector's work per sample.
func TestObservingAllocatesNothing(t *testing.T) {
	for _, s := range []sample{
		{intended: time.Millisecond, sent: 2 * time.Millisecond, done: 3 * time.Millisecond, outcome: outSuccess, responded: true},
		{intended: time.Millisecond, sent: 2 * time.Millisecond, done: 3 * time.Millisecond, outcome: out5xx, responded: true},
		{intended: time.Millisecond, outcome: outDropped},
	} {
		c := newCollector([]int{1}, time.Second, 0)
		c.observer = nopObserver{}
		c.add(&s, 0) // the window's first sample creates it
		if allocs := testing.AllocsPerRun(100, func() { c.add(&s, 0) }); allocs != 0 {
			t.Errorf("outcome %d: %.1f allocations per observed sample, want 0", s.outcome, allocs)
		}
	}
}

type nopObserver struct{}

func (nopObserver) Begin([]string)      {}
func (nopObserver) Observe(Observation) {}

// TestObservationOfEachOutcome: every outcome maps to its fate, and a sent
// arrival's status code and class come with it.
func TestObservationOfEachOutcome(t *testing.T) {
	tests := []struct {
		s    sample
		want Observation
	}{
		{sample{outcome: outSuccess, status: 200, done: 3}, Observation{Fate: FateSucceeded, Status: 200, Latency: 3, Paced: true}},
		{sample{outcome: out5xx, status: 503, done: 2}, Observation{Fate: FateFailed, Class: Class5xx, Status: 503, Latency: 2, Paced: true}},
		{sample{outcome: outRefused, done: 1}, Observation{Fate: FateFailed, Class: ClassRefused, Latency: 1, Paced: true}},
		{sample{outcome: outDropped}, Observation{Fate: FateDropped}},
		{sample{outcome: outCut}, Observation{Fate: FateCut}},
		{sample{outcome: outExhausted}, Observation{Fate: FateExhausted}},
	}
	for _, tt := range tests {
		if got := observation(&tt.s, 0); got != tt.want {
			t.Errorf("outcome %d: observed %+v, want %+v", tt.s.outcome, got, tt.want)
		}
	}
}
