package balancer

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// pool builds upstreams named a, b, c, ... with the given weights.
func pool(weights ...int) []*Upstream {
	p := make([]*Upstream, len(weights))
	for i, w := range weights {
		p[i] = NewUpstream(string(rune('a'+i)), w)
	}
	return p
}

// picks runs n selections and returns the chosen names concatenated
// ("." for nil).
func picks(t *testing.T, p Policy, up []*Upstream, n int) string {
	t.Helper()
	var b strings.Builder
	for i := range n {
		u := p.Select(up, req(i))
		if u == nil {
			b.WriteByte('.')
			continue
		}
		b.WriteString(u.Name)
	}
	return b.String()
}

// req is the i-th request of a test sequence: distinct client IPs and paths,
// so hash strategies spread them.
func req(i int) *Request {
	return &Request{ClientIP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), Path: fmt.Sprintf("/item/%d", i)}
}

func mustNew(t *testing.T, name string, seed int64) Policy {
	t.Helper()
	p, err := New(name, seed)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// strategies is the conformance table: every registered strategy has one row
// saying how it shares sequential picks (nothing in flight) over a pool with
// weights 2:1:1.
var strategies = []struct {
	name string
	// shares expected for weights {2,1,1} over 100k sequential picks.
	shares []float64
	tol    float64 // relative tolerance on each nonzero share
	// seeded strategies give different sequences for different seeds.
	seeded bool
	// loadBlind strategies pick from their own state alone (not from what
	// is in flight, nor the time): picks made concurrently land exactly
	// as as many sequential picks do.
	loadBlind bool
}{
	{name: "round-robin", shares: []float64{1. / 3, 1. / 3, 1. / 3}, loadBlind: true},
	{name: "weighted-round-robin", shares: []float64{.5, .25, .25}, loadBlind: true},
	{name: "random", shares: []float64{.5, .25, .25}, tol: 0.02, seeded: true, loadBlind: true},
	// (0+1)/2 < (0+1)/1: with nothing in flight the heaviest always wins.
	{name: "least-connections", shares: []float64{1, 0, 0}},
	// a wins whenever drawn (2 of 3 pairs); b and c tie otherwise and the
	// first drawn wins.
	{name: "power-of-two", shares: []float64{2. / 3, 1. / 6, 1. / 6}, tol: 0.02, seeded: true},
	// Pairs drawn by weight 2:1:1: a is in 5 of 6 and always wins; b and c
	// tie otherwise and the first drawn wins.
	{name: "least-request", shares: []float64{5. / 6, 1. / 12, 1. / 12}, tol: 0.03, seeded: true},
	// No samples: equal estimates, so weight decides as for least-connections.
	{name: "least-response-time", shares: []float64{1, 0, 0}},
	{name: "ip-hash", shares: []float64{.5, .25, .25}, tol: 0.03, loadBlind: true},
	{name: "consistent-hash", shares: []float64{.5, .25, .25}, tol: 0.06},
	// No cookie: the weighted round-robin fallback.
	{name: "cookie", shares: []float64{.5, .25, .25}, loadBlind: true},
	// Nothing reported: weights stand in for capacity.
	{name: "resource-aware", shares: []float64{1, 0, 0}},
}

func TestEveryRegisteredStrategyHasARow(t *testing.T) {
	var rows []string
	for _, s := range strategies {
		rows = append(rows, s.name)
	}
	slices.Sort(rows)
	if got := Names(); !slices.Equal(got, rows) {
		t.Fatalf("Names() = %v, conformance table has %v", got, rows)
	}
	if _, err := New("no-such-strategy", 1); err == nil {
		t.Fatal("New accepted an unknown name")
	}
}

func TestConformance(t *testing.T) {
	for _, s := range strategies {
		t.Run(s.name, func(t *testing.T) {
			t.Run("nil on empty and all-unhealthy pools", func(t *testing.T) {
				p := mustNew(t, s.name, 1)
				if u := p.Select(nil, &Request{}); u != nil {
					t.Fatalf("empty pool: got %s", u.Name)
				}
				up := pool(1, 2, 3)
				for _, u := range up {
					u.SetHealthy(false)
				}
				if got := picks(t, p, up, 10); got != ".........." {
					t.Fatalf("all unhealthy: got %q", got)
				}
			})
			t.Run("unhealthy never picked, healthy all used", func(t *testing.T) {
				p := mustNew(t, s.name, 1)
				up := pool(1, 1, 1, 1)
				up[1].SetHealthy(false)
				up[3].SetHealthy(false)
				seq := picks(t, p, up, 1000)
				if strings.ContainsAny(seq, "bd.") {
					t.Fatalf("picked an unhealthy upstream or nil: %q", seq[:40])
				}
				if !strings.Contains(seq, "a") || !strings.Contains(seq, "c") {
					t.Fatalf("a healthy upstream was never used: %q", seq[:40])
				}
				// Back to healthy: it is used again.
				up[1].SetHealthy(true)
				if seq := picks(t, p, up, 100); !strings.Contains(seq, "b") {
					t.Fatalf("recovered upstream never used: %q", seq)
				}
			})
			t.Run("sequential shares", func(t *testing.T) {
				p := mustNew(t, s.name, 7)
				up := pool(2, 1, 1)
				const n = 100_000
				count := map[string]int{}
				for i := range n {
					count[p.Select(up, req(i)).Name]++
				}
				for i, want := range s.shares {
					got := float64(count[up[i].Name]) / n
					if want == 0 {
						if got != 0 {
							t.Errorf("%s: share %.4f, want 0", up[i].Name, got)
						}
						continue
					}
					if math.Abs(got/want-1) > s.tol+1e-4 {
						t.Errorf("%s: share %.4f, want %.4f ±%.0f%%", up[i].Name, got, want, s.tol*100)
					}
				}
			})
			t.Run("same seed same sequence", func(t *testing.T) {
				up := pool(3, 1, 2)
				a := picks(t, mustNew(t, s.name, 42), up, 500)
				b := picks(t, mustNew(t, s.name, 42), up, 500)
				if a != b {
					t.Fatalf("same seed, different sequences:\n%s\n%s", a[:60], b[:60])
				}
				c := picks(t, mustNew(t, s.name, 43), up, 500)
				if s.seeded && a == c {
					t.Fatal("different seeds gave the same sequence")
				}
			})
			t.Run("pool changes between calls", func(t *testing.T) {
				p := mustNew(t, s.name, 1)
				up := pool(1, 2, 3, 4)
				for i := range 200 {
					cur := up[:1+i%len(up)]
					if i%7 == 0 {
						cur = []*Upstream{up[3], up[1]}
					}
					u := p.Select(cur, &Request{})
					if !slices.Contains(cur, u) {
						t.Fatalf("call %d: picked %v, not in the pool", i, u)
					}
				}
			})
			// Concurrent picks must balance every upstream's in-flight
			// count and, for a load-blind strategy, add up to exactly what
			// as many sequential picks give: a lost update of the policy's
			// state breaks that. Such an update is only lost when two
			// picks truly overlap, which a busy host seldom schedules, so
			// the check that does not depend on luck is the race
			// detector's: .ci/run runs this package under -race (its
			// -short tests include this one).
			t.Run("concurrent use", func(t *testing.T) {
				const goroutines, each = 8, 2000
				p := mustNew(t, s.name, 1)
				up := pool(1, 2, 3)
				got := make([]atomic.Int64, len(up))
				var wg sync.WaitGroup
				for range goroutines {
					wg.Go(func() {
						for range each {
							u := p.Select(up, &Request{})
							u.Acquire()
							got[u.Name[0]-'a'].Add(1)
							u.Release()
						}
					})
				}
				wg.Wait()
				for _, u := range up {
					if u.Inflight() != 0 {
						t.Fatalf("%s: inflight %d after all released", u.Name, u.Inflight())
					}
				}
				if !s.loadBlind {
					return
				}
				want := make([]int64, len(up))
				sequential := mustNew(t, s.name, 1)
				for range goroutines * each {
					want[sequential.Select(up, &Request{}).Name[0]-'a']++
				}
				for i, u := range up {
					if got[i].Load() != want[i] {
						t.Errorf("%s: picked %d times by %d concurrent callers, %d times by one caller",
							u.Name, got[i].Load(), goroutines, want[i])
					}
				}
			})
		})
	}
}

func TestWeightedRoundRobinNginxSequence(t *testing.T) {
	p := mustNew(t, "weighted-round-robin", 0)
	if got, want := picks(t, p, pool(5, 1, 1), 14), "aabacaa"+"aabacaa"; got != want {
		t.Fatalf("weights 5:1:1 gave %q, want %q", got, want)
	}
}

// With weights 3:1, every window of 4k consecutive picks, wherever it
// starts, holds exactly 3k picks of a.
func TestWeightedRoundRobinExactSharesInEveryWindow(t *testing.T) {
	p := mustNew(t, "weighted-round-robin", 0)
	seq := picks(t, p, pool(3, 1), 20_000)
	prefix := make([]int, len(seq)+1) // prefix[i] = number of a in seq[:i]
	for i := range len(seq) {
		prefix[i+1] = prefix[i]
		if seq[i] == 'a' {
			prefix[i+1]++
		}
	}
	for _, k := range []int{1, 2, 5, 250, 1000} {
		size := 4 * k
		for start := 0; start+size <= len(seq); start++ {
			if got := prefix[start+size] - prefix[start]; got != 3*k {
				t.Fatalf("window [%d,%d): %d picks of a, want %d", start, start+size, got, 3*k)
			}
		}
	}
}

func TestWeightedRoundRobinMembershipChange(t *testing.T) {
	p := mustNew(t, "weighted-round-robin", 0)
	up := pool(5, 1, 1)
	picks(t, p, up, 3) // leave state mid-cycle
	// a leaves: the remaining 1:1 pool alternates from the first pick on.
	if seq := picks(t, p, up[1:], 6); seq != "bcbcbc" {
		t.Fatalf("after removal: %q", seq)
	}
	// d joins with weight 2: the smooth sequence restarts.
	d := NewUpstream("d", 2)
	if seq := picks(t, p, []*Upstream{up[1], up[2], d}, 8); seq != "dbcd"+"dbcd" {
		t.Fatalf("after join: %q", seq)
	}
	// d goes down mid-cycle, then comes back: each change restarts.
	picks(t, p, []*Upstream{up[1], up[2], d}, 1)
	d.SetHealthy(false)
	if seq := picks(t, p, []*Upstream{up[1], up[2], d}, 4); seq != "bcbc" {
		t.Fatalf("with d down: %q", seq)
	}
	d.SetHealthy(true)
	if seq := picks(t, p, []*Upstream{up[1], up[2], d}, 4); seq != "dbcd" {
		t.Fatalf("with d back: %q", seq)
	}
}

func TestRoundRobinRotation(t *testing.T) {
	p := mustNew(t, "round-robin", 0)
	up := pool(1, 5, 1) // weights ignored
	if got := picks(t, p, up, 7); got != "abcabca" {
		t.Fatalf("got %q", got)
	}
	up[1].SetHealthy(false)
	seq := picks(t, p, up, 100)
	if strings.Count(seq, "a") != 50 || strings.Count(seq, "c") != 50 {
		t.Fatalf("with b unhealthy a and c must share evenly: %q", seq)
	}
}

func TestRandomSeededShares(t *testing.T) {
	up := pool(1, 1, 1, 1)
	a := picks(t, mustNew(t, "random", 1), up, 1000)
	if b := picks(t, mustNew(t, "random", 1), up, 1000); a != b {
		t.Fatal("same seed gave different sequences")
	}
	if c := picks(t, mustNew(t, "random", 2), up, 1000); a == c {
		t.Fatal("different seeds gave the same sequence")
	}
	const n = 100_000
	for _, tc := range []struct {
		weights []int
		shares  []float64
	}{
		{[]int{1, 1, 1, 1}, []float64{.25, .25, .25, .25}},
		{[]int{3, 1}, []float64{.75, .25}},
	} {
		p := mustNew(t, "random", 99)
		up := pool(tc.weights...)
		seq := picks(t, p, up, n)
		for i, want := range tc.shares {
			got := float64(strings.Count(seq, up[i].Name)) / n
			t.Logf("weights %v: %s share %.4f (want %.4f)", tc.weights, up[i].Name, got, want)
			if math.Abs(got/want-1) > 0.02 {
				t.Errorf("weights %v: %s share %.4f, want %.4f ±2%%", tc.weights, up[i].Name, got, want)
			}
		}
	}
}

func TestLeastConnections(t *testing.T) {
	type node struct {
		weight   int
		inflight int
		down     bool
	}
	for _, tc := range []struct {
		name  string
		nodes []node
		want  string // picks over len(want) calls, nothing released in between
	}{
		{"fewer in flight wins", []node{{1, 3, false}, {1, 1, false}, {1, 2, false}}, "b"},
		// a: (3+1)/4 = 1 beats b: (1+1)/1 = 2.
		{"weight counts", []node{{4, 3, false}, {1, 1, false}}, "a"},
		{"ties rotate", []node{{1, 0, false}, {1, 0, false}, {1, 0, false}}, "abcabc"},
		{"ties rotate among the least loaded only", []node{{1, 0, false}, {1, 5, false}, {1, 0, false}}, "acacac"},
		{"weighted tie", []node{{2, 1, false}, {1, 0, false}}, "ab"},
		{"unhealthy skipped even if idle", []node{{1, 0, true}, {1, 9, false}}, "bb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, "least-connections", 0)
			up := make([]*Upstream, len(tc.nodes))
			for i, n := range tc.nodes {
				up[i] = NewUpstream(string(rune('a'+i)), n.weight)
				up[i].inflight.Store(int64(n.inflight))
				up[i].SetHealthy(!n.down)
			}
			if got := picks(t, p, up, len(tc.want)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Acquiring on each pick without releasing, least-connections fills the
// upstreams in proportion to their weights.
func TestLeastConnectionsFillsByWeight(t *testing.T) {
	p := mustNew(t, "least-connections", 0)
	up := pool(3, 1)
	for range 400 {
		p.Select(up, &Request{}).Acquire()
	}
	if a, b := up[0].Inflight(), up[1].Inflight(); a != 300 || b != 100 {
		t.Fatalf("in flight a=%d b=%d, want 300/100", a, b)
	}
}
