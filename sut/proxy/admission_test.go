package proxy

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/sut/balancer"
)

var resultNames = map[admitResult]string{admitted: "admitted", rejectedFull: "rejected full", rejectedTimeout: "timed out"}

// TestGateWakesWaiters drives the goroutine path's waiting: one request
// holds the only slot, the others arrive each on its own goroutine and
// block, and each is woken with what the rules decided for it.
func TestGateWakesWaiters(t *testing.T) {
	// A step is an arrival (known or new; then wait until queued requests
	// are queued), the first request finishing ("leave"), or waiting for
	// the result of arrival number of.
	type step struct {
		do     string
		known  bool
		queued int64
		of     int
		want   admitResult
	}
	arrive := func(known bool, queued int64) step { return step{do: "arrive", known: known, queued: queued} }
	result := func(of int, want admitResult) step { return step{do: "result", of: of, want: want} }
	leave := step{do: "leave"}
	for _, tc := range []struct {
		name    string
		queue   int
		timeout time.Duration
		steps   []step
		order   []int // the arrivals admitted, in the order they were
	}{
		{"a finishing request hands its slot over", 2, time.Minute,
			[]step{arrive(false, 1), arrive(false, 2), leave, result(1, admitted), result(2, admitted)}, []int{1, 2}},
		{"a known session is woken first", 2, time.Minute,
			[]step{arrive(false, 1), arrive(true, 2), leave, result(1, admitted), result(2, admitted)}, []int{2, 1}},
		{"a known session evicts the newest new one", 1, time.Minute,
			[]step{arrive(false, 1), arrive(true, 1), result(1, rejectedFull), leave, result(2, admitted)}, []int{2}},
		{"a waiter whose time is up leaves the queue", 2, 20 * time.Millisecond,
			[]step{arrive(false, 1), arrive(true, 2), result(1, rejectedTimeout), result(2, rejectedTimeout), leave}, nil},
		{"a full queue rejects at once", 0, time.Minute,
			[]step{arrive(true, 0), result(1, rejectedFull), leave}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate(AdmissionConfig{MaxInflight: 1, Queue: tc.queue})
			u := balancer.NewUpstream("u", 1)
			if res := g.enter(u, &waiter{}, false, tc.timeout); res != admitted {
				t.Fatalf("the first request: %s, want admitted", resultNames[res])
			}
			var (
				mu      sync.Mutex
				order   []int
				results []chan admitResult
			)
			for i, s := range tc.steps {
				switch s.do {
				case "arrive":
					n, res := len(results)+1, make(chan admitResult, 1)
					results = append(results, res)
					go func() {
						r := g.enter(u, &waiter{}, s.known, tc.timeout)
						if r == admitted {
							mu.Lock()
							order = append(order, n)
							mu.Unlock()
							g.leave(u)
						}
						res <- r
					}()
					// An earlier arrival that has its answer already (its
					// short timeout ran out while this one was starting, on a
					// busy host) has left the queue: the count can no longer
					// be the step's, and the results below judge the case.
					answered := func() bool {
						if tc.timeout >= time.Second {
							return false // nobody's time runs out in these cases
						}
						for _, r := range results[:len(results)-1] {
							if len(r) > 0 {
								return true
							}
						}
						return false
					}
					for deadline := time.Now().Add(10 * time.Second); u.Queued() != s.queued && !answered(); time.Sleep(time.Millisecond) {
						if time.Now().After(deadline) {
							t.Fatalf("step %d: %d queued, want %d", i+1, u.Queued(), s.queued)
						}
					}
				case "leave":
					g.leave(u)
				case "result":
					if got := <-results[s.of-1]; got != s.want {
						t.Fatalf("step %d: arrival %d %s, want %s", i+1, s.of, resultNames[got], resultNames[s.want])
					}
				}
			}
			if !slices.Equal(order, tc.order) {
				t.Fatalf("admitted in the order %v, want %v", order, tc.order)
			}
			if u.Inflight() != 0 || u.Queued() != 0 {
				t.Fatalf("at the end: %d in flight, %d queued; want none", u.Inflight(), u.Queued())
			}
		})
	}
}

// TestGateUnderContention: connections sending requests through a gate at
// once, each reusing its one waiter, never exceed its limit; each request
// is admitted, rejected or timed out, and nothing is left counted after.
func TestGateUnderContention(t *testing.T) {
	const limit, conns, perConn = 3, 60, 10
	g := newGate(AdmissionConfig{MaxInflight: limit, Queue: 16})
	u := balancer.NewUpstream("u", 1)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[admitResult]int{}
		over   int64
	)
	for c := range conns {
		wg.Go(func() {
			var w waiter
			for i := range perConn {
				r := g.enter(u, &w, (c+i)%3 == 0, 2*time.Millisecond)
				if r == admitted {
					if n := u.Inflight(); n > limit {
						mu.Lock()
						over = max(over, n)
						mu.Unlock()
					}
					time.Sleep(200 * time.Microsecond)
					g.leave(u)
				}
				if len(w.ch) != 0 {
					t.Errorf("connection %d, request %d: %s with a wake-up left in its waiter", c, i, resultNames[r])
				}
				mu.Lock()
				counts[r]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("admitted %d, rejected full %d, timed out %d", counts[admitted], counts[rejectedFull], counts[rejectedTimeout])
	if over > 0 {
		t.Fatalf("%d in flight at once, limit %d", over, limit)
	}
	if counts[admitted] == 0 || counts[admitted]+counts[rejectedFull]+counts[rejectedTimeout] != conns*perConn {
		t.Fatalf("results %v of %d requests", counts, conns*perConn)
	}
	if u.Inflight() != 0 || u.Queued() != 0 {
		t.Fatalf("at the end: %d in flight, %d queued; want none", u.Inflight(), u.Queued())
	}
}

// TestGateAdmitsWithoutAllocating: a request admitted at once, with or
// without a limit, allocates nothing at the gate.
func TestGateAdmitsWithoutAllocating(t *testing.T) {
	for _, limit := range []int{0, 4} {
		g := newGate(AdmissionConfig{MaxInflight: limit, Queue: 8})
		u := balancer.NewUpstream("u", 1)
		var w waiter
		g.enter(u, &w, false, time.Second) // the waiter's channel, once per connection
		g.leave(u)
		allocs := testing.AllocsPerRun(1000, func() {
			if g.enter(u, &w, true, time.Second) != admitted {
				t.Fatal("not admitted")
			}
			g.leave(u)
		})
		if allocs != 0 {
			t.Fatalf("limit %d: %v allocations per request, want 0", limit, allocs)
		}
	}
}
