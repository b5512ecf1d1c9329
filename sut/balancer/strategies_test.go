package balancer

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// With every pair drawn, P2C never takes the busier of its two: the busiest
// node is never picked, the idlest whenever drawn.
func TestPowerOfTwoNeverPicksTheBusierOfItsTwo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inflight []int64
		weights  []int
		shares   []float64
	}{
		{"two nodes: always the idle one", []int64{5, 0}, []int{1, 1}, []float64{0, 1}},
		{"three nodes", []int64{0, 1, 2}, []int{1, 1, 1}, []float64{2. / 3, 1. / 3, 0}},
		// b: (3+1)/4 = 1 < a: (1+1)/1 = 2, c: (9+1)/1: b beats both.
		{"weight counts", []int64{1, 3, 9}, []int{1, 4, 1}, []float64{1. / 3, 2. / 3, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, "power-of-two", 3)
			up := pool(tc.weights...)
			for i, n := range tc.inflight {
				up[i].inflight.Store(n)
			}
			const n = 30_000
			count := make([]int, len(up))
			for i := range n {
				u := p.Select(up, req(i))
				for k := range up {
					if up[k] == u {
						count[k]++
					}
				}
			}
			for k, want := range tc.shares {
				got := float64(count[k]) / n
				if (want == 0) != (count[k] == 0) || (want > 0 && (got < want-0.02 || got > want+0.02)) {
					t.Errorf("%s: share %.4f, want %.4f", up[k].Name, got, want)
				}
			}
		})
	}
}

// A simulated run: every 10 ms of virtual time 20 requests are balanced, each
// observed with its node's latency. Node b becomes 20× slower at t=5s; within
// a few seconds it must get almost no traffic, and the fast nodes take it.
func TestPeakEWMAMovesTrafficAwayFromASlowNode(t *testing.T) {
	p := NewPeakEWMA(time.Second, 0)
	up := pool(1, 1, 1)
	latency := map[*Upstream]time.Duration{up[0]: 5 * time.Millisecond, up[1]: 5 * time.Millisecond, up[2]: 5 * time.Millisecond}
	start := time.Unix(1000, 0)
	share := func(from, to time.Duration) float64 {
		var b, all int
		for at := from; at < to; at += 10 * time.Millisecond {
			now := start.Add(at)
			var picked []*Upstream
			for range 20 {
				u := p.Select(up, &Request{Now: now})
				u.Acquire()
				picked = append(picked, u)
				if u == up[1] {
					b++
				}
				all++
			}
			for _, u := range picked {
				u.Release()
				p.Observe(u, Observation{At: now.Add(latency[u]), RTT: latency[u]})
			}
		}
		return float64(b) / float64(all)
	}
	before := share(0, 5*time.Second)
	latency[up[1]] = 100 * time.Millisecond
	during := share(5*time.Second, 6*time.Second)
	after := share(6*time.Second, 8*time.Second)
	t.Logf("b's share: before %.3f, first second slow %.3f, next two seconds %.3f", before, during, after)
	if before < 0.25 || before > 0.42 {
		t.Errorf("before the slowdown b's share is %.3f, want about 1/3", before)
	}
	if after > 0.05 {
		t.Errorf("2 s after the slowdown b still gets %.3f of the traffic, want < 5%%", after)
	}
	if est := p.Estimate(up[1], start.Add(8*time.Second)); est < 20*time.Millisecond {
		t.Errorf("b's estimate %v does not reflect its slowness", est)
	}
	// Idle time decays the estimate, so b is probed again later.
	if est := p.Estimate(up[1], start.Add(30*time.Second)); est > 5*time.Millisecond {
		t.Errorf("b's estimate after 22 s idle is %v, want decayed below 5ms", est)
	}
}

func TestPeakEWMADefaultRTTAndPeak(t *testing.T) {
	p := NewPeakEWMA(10*time.Second, 30*time.Millisecond)
	a := NewUpstream("a", 1)
	now := time.Unix(0, 0)
	if got := p.Estimate(a, now); got != 30*time.Millisecond {
		t.Fatalf("before samples: %v, want the default 30ms", got)
	}
	p.Observe(a, Observation{At: now, RTT: 10 * time.Millisecond})
	p.Observe(a, Observation{At: now.Add(time.Millisecond), RTT: 80 * time.Millisecond})
	if got := p.Estimate(a, now.Add(time.Millisecond)); got != 80*time.Millisecond {
		t.Fatalf("a slower sample sets the peak at once: %v, want 80ms", got)
	}
	p.Observe(a, Observation{At: now.Add(time.Second), RTT: 10 * time.Millisecond})
	got := p.Estimate(a, now.Add(time.Second))
	// w = exp(-1s/10s) ≈ 0.905: 80·0.905 + 10·0.095 ≈ 73.3ms.
	if got < 72*time.Millisecond || got > 75*time.Millisecond {
		t.Fatalf("faster sample after 1s: %v, want ≈73.3ms", got)
	}
	p.Observe(a, Observation{At: now.Add(2 * time.Second), RTT: time.Millisecond, Failed: true})
	if got := p.Estimate(a, now.Add(2*time.Second)); got < failurePenalty {
		t.Fatalf("a failure counts as the penalty: %v", got)
	}
}

// keysOf maps n keys to node names.
func keysOf(p Policy, up []*Upstream, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = p.Select(up, &Request{Path: fmt.Sprintf("/user/%d", i)}).Name
	}
	return out
}

func TestConsistentHashMovesAboutOneNthOfKeys(t *testing.T) {
	for _, method := range []string{"ring", "rendezvous"} {
		t.Run(method, func(t *testing.T) {
			p, err := NewWithOptions("consistent-hash", Options{HashMethod: method})
			if err != nil {
				t.Fatal(err)
			}
			const keys = 20_000
			up := pool(1, 1, 1, 1)
			before := keysOf(p, up, keys)
			grown := append(up[:4:4], NewUpstream("e", 1))
			after := keysOf(p, grown, keys)
			moved := 0
			for i := range keys {
				if before[i] != after[i] {
					moved++
					if after[i] != "e" {
						t.Fatalf("key %d moved from %s to %s, not to the new node", i, before[i], after[i])
					}
				}
			}
			frac := float64(moved) / keys
			t.Logf("%s: adding a 5th node moved %.3f of the keys (ideal 0.200)", method, frac)
			if frac < 0.15 || frac > 0.25 {
				t.Errorf("moved %.3f of the keys, want ≈ 1/5", frac)
			}
			// A node going down moves only its keys, and they come back.
			up[1].SetHealthy(false)
			down := keysOf(p, up, keys)
			for i := range keys {
				if before[i] != "b" && down[i] != before[i] {
					t.Fatalf("key %d moved from %s while only b was down", i, before[i])
				}
			}
			up[1].SetHealthy(true)
			if back := keysOf(p, up, keys); fmt.Sprint(back) != fmt.Sprint(before) {
				t.Fatal("keys did not return when b recovered")
			}
		})
	}
}

func TestConsistentHashKeySources(t *testing.T) {
	for _, tc := range []struct {
		spec string
		mk   func(v string) *Request
	}{
		{"path", func(v string) *Request { return &Request{Path: "/" + v} }},
		{"header:X-User", func(v string) *Request {
			return &Request{Path: "/x", Header: http.Header{"X-User": {v}}}
		}},
		{"cookie:sid", func(v string) *Request {
			return &Request{Path: "/x", Header: http.Header{"Cookie": {"a=1; sid=" + v}}}
		}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			p, err := NewWithOptions("consistent-hash", Options{HashKey: tc.spec})
			if err != nil {
				t.Fatal(err)
			}
			up := pool(1, 1, 1, 1)
			seen := map[string]bool{}
			for i := range 200 {
				v := fmt.Sprint("k", i)
				first := p.Select(up, tc.mk(v))
				for range 3 {
					if again := p.Select(up, tc.mk(v)); again != first {
						t.Fatalf("key %s went to %s then %s", v, first.Name, again.Name)
					}
				}
				seen[first.Name] = true
			}
			if len(seen) != 4 {
				t.Fatalf("200 keys used only %v", seen)
			}
		})
	}
	if _, err := NewWithOptions("consistent-hash", Options{HashKey: "query:x"}); err == nil {
		t.Fatal("an unknown key source was accepted")
	}
	if _, err := NewWithOptions("consistent-hash", Options{BoundedLoad: 0.5}); err == nil {
		t.Fatal("a bounded-load factor below 1 was accepted")
	}
}

// With bounded loads, acquiring every pick and never releasing, no node
// exceeds ceil(c × mean) even when every key hashes to one node.
func TestConsistentHashBoundedLoad(t *testing.T) {
	for _, method := range []string{"ring", "rendezvous"} {
		p, err := NewWithOptions("consistent-hash", Options{HashMethod: method, BoundedLoad: 1.25})
		if err != nil {
			t.Fatal(err)
		}
		up := pool(1, 1, 1, 1)
		for i := range 400 {
			u := p.Select(up, &Request{Path: "/same-key"})
			u.Acquire()
			var total, most int64
			for _, x := range up {
				total += x.Inflight()
				most = max(most, x.Inflight())
			}
			if limit := int64(1.25*float64(total)/4) + 1; most > limit {
				t.Fatalf("%s: after %d picks a node holds %d, above the bound %d", method, i+1, most, limit)
			}
		}
	}
}

func TestCookieStickinessUntilTheNodeFails(t *testing.T) {
	p := mustNew(t, "cookie", 0)
	if name := p.(Sticky).CookieName(); name != DefaultCookieName {
		t.Fatalf("cookie name %q", name)
	}
	up := pool(1, 1, 1)
	withCookie := func(v string) *Request {
		return &Request{Header: http.Header{"Cookie": {"x=1; " + DefaultCookieName + "=" + v}}}
	}
	for range 50 {
		if u := p.Select(up, withCookie("b")); u != up[1] {
			t.Fatalf("cookie b went to %s", u.Name)
		}
	}
	up[1].SetHealthy(false)
	moved := p.Select(up, withCookie("b"))
	if moved == nil || moved == up[1] {
		t.Fatalf("with b down the request went to %v", moved)
	}
	// The proxy would now set the cookie to moved: the client stays there
	// even after b recovers.
	up[1].SetHealthy(true)
	for range 20 {
		if u := p.Select(up, withCookie(moved.Name)); u != moved {
			t.Fatalf("after re-pick the client went to %s, not %s", u.Name, moved.Name)
		}
	}
	// Unknown values and no cookie are balanced.
	if seq := picks(t, p, up, 6); seq != "abcabc" {
		t.Fatalf("without cookies: %q", seq)
	}
	if u := p.Select(up, withCookie("gone")); u == nil {
		t.Fatal("unknown cookie value gave nil")
	}
}

func TestIPHashIsStableAndMovesOnlyTheFailedNodesClients(t *testing.T) {
	p := mustNew(t, "ip-hash", 0)
	up := pool(1, 1, 1)
	before := make([]*Upstream, 3000)
	for i := range before {
		before[i] = p.Select(up, req(i))
		if again := p.Select(up, req(i)); again != before[i] {
			t.Fatal("same IP, different node")
		}
	}
	up[2].SetHealthy(false)
	for i := range before {
		if u := p.Select(up, req(i)); before[i] != up[2] && u != before[i] {
			t.Fatalf("client %d moved from %s though its node is up", i, before[i].Name)
		}
	}
}

// Unequal backends report their load; acquiring each pick without release,
// the in-flight split follows the reported worker counts 8:2 without weights.
func TestResourceAwareFollowsReportedCapacity(t *testing.T) {
	p := NewResourceAware()
	up := pool(1, 1)
	now := time.Unix(0, 0)
	p.Observe(up[0], Observation{At: now, Load: &Load{Inflight: 0, Workers: 8}})
	p.Observe(up[1], Observation{At: now, Load: &Load{Inflight: 0, Workers: 2}})
	for range 100 {
		p.Select(up, &Request{Now: now}).Acquire()
	}
	if a, b := up[0].Inflight(), up[1].Inflight(); a != 80 || b != 20 {
		t.Fatalf("in flight a=%d b=%d, want 80/20", a, b)
	}
	// A reported queue counts as load while fresh, and is ignored once stale.
	q := pool(1, 1)
	p.Observe(q[0], Observation{At: now, Load: &Load{Workers: 4, Queue: 10}})
	p.Observe(q[1], Observation{At: now, Load: &Load{Workers: 4}})
	if u := p.Select(q, &Request{Now: now.Add(100 * time.Millisecond)}); u != q[1] {
		t.Fatalf("fresh queue report ignored: picked %s", u.Name)
	}
	later := &Request{Now: now.Add(2 * time.Second)}
	if a, b := p.Select(q, later), p.Select(q, later); a == b {
		t.Fatalf("stale queue report still counted: picked %s twice", a.Name)
	}
}

// Without a worker count, capacity is learned as the highest concurrency
// seen while the upstream had a queue.
func TestResourceAwareLearnsCapacity(t *testing.T) {
	p := NewResourceAware()
	a := NewUpstream("a", 1)
	now := time.Unix(0, 0)
	for _, l := range []Load{{Inflight: 2}, {Inflight: 6, Queue: 3}, {Inflight: 5, Queue: 1}, {Inflight: 3}} {
		p.Observe(a, Observation{At: now, Load: &l})
	}
	if c := p.Capacity(a); c != 6 {
		t.Fatalf("learned capacity %d, want 6", c)
	}
}
