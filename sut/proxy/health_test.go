package proxy_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/sut/proxy"
)

// switchable is an upstream on a fixed address that can die (stop
// listening, drop its connections), come back, or answer 500.
type switchable struct {
	t       *testing.T
	name    string
	addr    string
	mu      sync.Mutex
	srv     *http.Server
	failing atomic.Bool
	served  atomic.Int64
}

func newSwitchable(t *testing.T, name string) *switchable {
	s := &switchable{t: t, name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.kill)
	return s
}

func (s *switchable) URL() string { return "http://" + s.addr }

func (s *switchable) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set(headers.Node, s.name)
		if s.failing.Load() {
			http.Error(w, "failing", 500)
			return
		}
		if r.Header.Get("User-Agent") != "ilities-health-check" {
			s.served.Add(1)
		}
		_, _ = io.WriteString(w, "ok")
	})}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (s *switchable) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

func (s *switchable) revive() {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

// waitEvent waits for the first event about name with the given health
// after since, and returns it. limit holds on an idle host; the delay
// measured over the wait stretches it.
func waitEvent(t *testing.T, p *proxy.Proxy, name string, healthy bool, since time.Time, limit time.Duration) proxy.HealthEvent {
	t.Helper()
	meter := hiccup.Start()
	defer meter.Stop()
	start := time.Now()
	for {
		for _, e := range p.Events() {
			if e.Upstream == name && e.Healthy == healthy && !e.At.Before(since) {
				return e
			}
		}
		if waited := time.Since(start); waited > limit {
			if host := meter.Figures(); waited > host.Allow(limit) {
				t.Fatalf("no event %s healthy=%v within %v (%v on this host: %v); events: %+v", name, healthy, limit, host.Allow(limit), host, p.Events())
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shareOf sends n sequential requests and returns the fraction answered by
// name.
func shareOf(t *testing.T, c *http.Client, url, name string, n int) float64 {
	hits := 0
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Header.Get(headers.Node) == name {
			hits++
		}
	}
	return float64(hits) / float64(n)
}

// shareUntil is shareOf, stopping early at until: the share answered by
// name of the requests sent (at most n), and how many were.
func shareUntil(t *testing.T, c *http.Client, url, name string, n int, until time.Time) (float64, int) {
	hits, sent := 0, 0
	for ; sent < n && time.Now().Before(until); sent++ {
		if get(t, c, url).node == name {
			hits++
		}
	}
	if sent == 0 {
		return 0, 0
	}
	return float64(hits) / float64(sent), sent
}

// Active checks every 50 ms, fall 2: a dead node is out within
// 2 × interval + timeout (+ scheduling slack); after it comes back (rise 2)
// its share climbs through slow start.
func TestActiveHealthEjectsAndReadmitsWithSlowStart(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	a, b := newSwitchable(t, "a"), newSwitchable(t, "b")
	hc := proxy.HealthConfig{Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond, Fall: 2, Rise: 2}
	started := time.Now()
	p := startWith(t, proxy.Config{
		Strategy: "weighted-round-robin", Health: hc, SlowStart: 2 * time.Second,
		Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: a.URL()}, proxy.UpstreamConfig{Name: "b", URL: b.URL()}),
	})
	c := newClient(t)
	// Both ramp from the start: a at full weight before b's ramp is judged.
	time.Sleep(time.Until(started.Add(2 * time.Second)))
	// A check answered later than its timeout fails: a host that delays
	// this process that long takes healthy nodes out, and shares move.
	meter := hiccup.Start()
	defer meter.Stop()
	tolerated := hc.Timeout
	if s := shareOf(t, c, p.URL(), "b", 100); s < 0.45 || s > 0.55 {
		host := meter.Figures()
		failOrSkip(t, host, host.Max, tolerated, "healthy share of b %.2f; events %+v", s, p.Events())
		return
	}
	died := time.Now()
	b.kill()
	ev := waitEvent(t, p, "b", false, died, 3*time.Second)
	detect := ev.At.Sub(died)
	t.Logf("b died; detected after %v (%s)", detect, ev.Reason)
	if host := meter.Figures(); detect > host.Allow(2*hc.Interval+hc.Timeout+250*time.Millisecond) {
		t.Errorf("detection took %v, bound %v on this host (%v)", detect, host.Allow(2*hc.Interval+hc.Timeout+250*time.Millisecond), host)
	}
	if !strings.HasPrefix(ev.Reason, "active check") {
		t.Errorf("reason %q", ev.Reason)
	}
	if s := shareOf(t, c, p.URL(), "b", 50); s != 0 {
		t.Fatalf("ejected b still got %.2f of requests", s)
	}
	back := time.Now()
	b.revive()
	ev = waitEvent(t, p, "b", true, back, 3*time.Second)
	t.Logf("b back; re-admitted after %v (%s)", ev.At.Sub(back), ev.Reason)
	// Only requests in the first half of the ramp count (b's weight at most
	// 55% of a's, its share at most 0.36): a slowed host sends fewer of them
	// there, never a higher share. 50 give b a few turns at 10% weight.
	const fewestRamping = 50
	early, ramping := shareUntil(t, c, p.URL(), "b", 200, ev.At.Add(time.Second))
	time.Sleep(time.Until(ev.At.Add(2100 * time.Millisecond)))
	late := shareOf(t, c, p.URL(), "b", 200)
	host := meter.Stop()
	t.Logf("b's share during slow start %.3f of %d, after %.3f; %v", early, ramping, late, host)
	if ramping < fewestRamping {
		t.Skipf("only %d requests sent in the first second of b's slow start, fewer than the %d the check needs (%v)", ramping, fewestRamping, host)
	}
	if early >= 0.4 || early <= 0 || late < 0.45 || late > 0.55 {
		failOrSkip(t, host, host.Max, tolerated, "slow start not visible: share %.3f while ramping, %.3f after (want < 0.4, then ≈ 0.5); events %+v", early, late, p.Events())
	}
}

// Passive ejection: 3 consecutive 500s eject the node for EjectFor; it is
// re-admitted after that, ejected for twice as long if it still fails, and
// keeps its traffic once it works again.
func TestPassiveEjectionWithBackoff(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	a, b := newSwitchable(t, "a"), newSwitchable(t, "b")
	p := startWith(t, proxy.Config{
		Strategy: "round-robin",
		Passive:  proxy.PassiveConfig{ConsecutiveFailures: 3, EjectFor: 300 * time.Millisecond, MaxEjectFor: 2 * time.Second, MaxEjectedPercent: 50},
		Pools:    onePool(proxy.UpstreamConfig{Name: "a", URL: a.URL()}, proxy.UpstreamConfig{Name: "b", URL: b.URL()}),
	})
	c := newClient(t)
	meter := hiccup.Start()
	defer meter.Stop()
	b.failing.Store(true)
	start := time.Now()
	shareOf(t, c, p.URL(), "b", 6) // b answers 500 three times
	ev := waitEvent(t, p, "b", false, start, time.Second)
	t.Logf("ejected: %s", ev.Reason)
	if !strings.Contains(ev.Reason, "passive: 3 consecutive failures") {
		t.Errorf("reason %q", ev.Reason)
	}
	// The ejection runs 300 ms from the proxy's clock reading, which its
	// event time follows by up to the host's delay: an answer from b before
	// then is a bug, after it maybe not, and no request is sent after it.
	ejected := 0
	for until := ev.At.Add(300*time.Millisecond - meter.Figures().Max); ejected < 20 && time.Now().Before(until); ejected++ {
		if a := get(t, c, p.URL()); a.node == "b" && time.Now().Before(until) {
			t.Fatalf("ejected b answered request %d, %v after the ejection (%v)", ejected, time.Since(ev.At), meter.Figures())
		}
	}
	if ejected == 0 {
		t.Skipf("no request sent while b was ejected: the ejection was seen %v after it began (%v)", time.Since(ev.At), meter.Figures())
	}
	back := waitEvent(t, p, "b", true, ev.At, 2*time.Second)
	// The same lag may shorten what the events show.
	if host, d := meter.Figures(), back.At.Sub(ev.At); d < 300*time.Millisecond-host.Max || d > host.Allow(600*time.Millisecond) {
		t.Errorf("first ejection lasted %v, want ≈300ms (%v)", d, host)
	}
	// Still failing: ejected again, for longer.
	shareOf(t, c, p.URL(), "b", 6)
	ev2 := waitEvent(t, p, "b", false, back.At, time.Second)
	if !strings.Contains(ev2.Reason, "ejected for 600ms") {
		// Backoff applies within MaxEjectFor + EjectFor of the last ejection.
		if gap := ev2.At.Sub(ev.At); gap >= 2300*time.Millisecond {
			t.Skipf("second ejection %v after the first, past the 2.3s backoff span: %q (%v)", gap, ev2.Reason, meter.Figures())
		}
		t.Errorf("second ejection: %q, want backoff to 600ms", ev2.Reason)
	}
	b.failing.Store(false)
	back2 := waitEvent(t, p, "b", true, ev2.At, 2*time.Second)
	if host, d := meter.Figures(), back2.At.Sub(ev2.At); d < 600*time.Millisecond-host.Max {
		t.Errorf("second ejection lasted %v, want ≥600ms (%v)", d, host)
	}
	if s := shareOf(t, c, p.URL(), "b", 100); s < 0.45 {
		t.Errorf("recovered b gets %.2f", s)
	}
	if st := p.Stats().Upstreams[1]; st.Ejections != 2 || st.Status5xx < 6 {
		t.Errorf("stats: ejections %d, 5xx %d", st.Ejections, st.Status5xx)
	}
}

// Max ejected percent: with 50% of a two-node pool, only one may be out.
func TestPassiveEjectionRespectsMaxEjectedPercent(t *testing.T) {
	a, b := newSwitchable(t, "a"), newSwitchable(t, "b")
	a.failing.Store(true)
	b.failing.Store(true)
	p := startWith(t, proxy.Config{
		Passive: proxy.PassiveConfig{ConsecutiveFailures: 2, EjectFor: time.Minute, MaxEjectedPercent: 50},
		Pools:   onePool(proxy.UpstreamConfig{Name: "a", URL: a.URL()}, proxy.UpstreamConfig{Name: "b", URL: b.URL()}),
	})
	c := newClient(t)
	shareOf(t, c, p.URL(), "a", 12)
	ejected := 0
	for _, u := range p.Stats().Upstreams {
		if u.Ejected {
			ejected++
		}
	}
	if ejected != 1 {
		t.Fatalf("%d of 2 ejected, want 1", ejected)
	}
}

func TestAllDownFailFastOrPanic(t *testing.T) {
	a := newSwitchable(t, "a")
	for _, mode := range []string{"fail", "panic"} {
		p := startWith(t, proxy.Config{AllDown: mode, Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: a.URL()})})
		p.SetHealthy("a", false)
		got := get(t, newClient(t), p.URL())
		switch mode {
		case "fail":
			if got.status != 503 || got.node != "" {
				t.Errorf("fail: %d from %q, want 503 from nobody", got.status, got.node)
			}
		case "panic":
			if got.status != 200 || got.node != "a" || p.Stats().PanicRouted != 1 {
				t.Errorf("panic: %d from %q", got.status, got.node)
			}
		}
	}
}

func TestRetriesGoToAnotherUpstream(t *testing.T) {
	live := newSwitchable(t, "live")
	dead := newSwitchable(t, "dead")
	dead.kill()
	flaky := newSwitchable(t, "flaky")
	flaky.failing.Store(true)
	p := startWith(t, proxy.Config{
		Strategy: "round-robin", Retries: 1, RetryBudget: 1,
		Pools: onePool(proxy.UpstreamConfig{Name: "dead", URL: dead.URL()}, proxy.UpstreamConfig{Name: "flaky", URL: flaky.URL()}, proxy.UpstreamConfig{Name: "live", URL: live.URL()}),
	})
	c := newClient(t)
	// A 500 is an answer and is relayed; connect failures are retried, on
	// flaky or live.
	codes := map[int]int{}
	for range 30 {
		codes[get(t, c, p.URL()).status]++
	}
	if codes[502] != 0 || codes[500] < 5 || codes[500] > 20 || codes[200]+codes[500] != 30 {
		t.Errorf("GET statuses %v, want no 502 (dead retried) and 5-20 relayed 500s", codes)
	}
	// POST with a body to a dead node is retried (connect failure: nothing
	// was sent).
	for range 6 {
		resp, err := c.Post(p.URL(), "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 502 {
			t.Fatal("POST after a connect failure was not retried")
		}
	}
	if s := p.Stats(); s.Retries < 12 {
		t.Errorf("retries counted %d", s.Retries)
	}
}

func TestRetryBudgetBoundsRetries(t *testing.T) {
	dead := newSwitchable(t, "dead")
	dead.kill()
	dead2 := newSwitchable(t, "dead2")
	dead2.kill()
	p := startWith(t, proxy.Config{
		Retries: 1, RetryBudget: 0.1,
		Pools: onePool(proxy.UpstreamConfig{Name: "dead", URL: dead.URL()}, proxy.UpstreamConfig{Name: "dead2", URL: dead2.URL()}),
	})
	c := newClient(t)
	const n = 400
	for range n {
		get(t, c, p.URL())
	}
	s := p.Stats()
	// 100 initial tokens plus 10% of requests.
	if s.Retries > 100+n/10+1 || s.RetryBudgetExhausted == 0 {
		t.Fatalf("retries %d, exhausted %d: budget not applied", s.Retries, s.RetryBudgetExhausted)
	}
}

func TestDynamicAddAndGracefulRemove(t *testing.T) {
	a := newSwitchable(t, "a")
	slow := startBackend(t, "slow", 4, 300*time.Millisecond)
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: a.URL()})})
	if err := p.AddUpstream("app", proxy.UpstreamConfig{Name: "slow", URL: slow.URL()}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddUpstream("app", proxy.UpstreamConfig{Name: "a", URL: a.URL()}); err == nil {
		t.Fatal("duplicate name accepted")
	}
	if err := p.AddUpstream("nope", proxy.UpstreamConfig{Name: "x", URL: a.URL()}); err == nil {
		t.Fatal("unknown pool accepted")
	}
	c := newClient(t)
	// Two requests in flight at slow, then remove it with a drain long
	// enough: both finish with 200.
	var wg sync.WaitGroup
	results := make(chan answer, 4)
	for range 4 {
		wg.Go(func() { results <- get(t, c, p.URL()) })
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.Stats().Upstreams[1].Inflight < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	removed := make(chan error, 1)
	go func() { removed <- p.RemoveUpstream("slow", 2*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	if got := get(t, c, p.URL()); got.node != "a" {
		t.Fatalf("a new request went to %q while slow drains", got.node)
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.status != 200 {
			t.Fatalf("in-flight request during drain: %d", r.status)
		}
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if n := len(p.Stats().Upstreams); n != 1 {
		t.Fatalf("%d upstreams after removal", n)
	}
	var kinds []string
	for _, e := range p.Events() {
		kinds = append(kinds, e.Upstream+":"+e.Reason)
	}
	if got := strings.Join(kinds, ","); !strings.Contains(got, "slow:added") || !strings.Contains(got, "slow:draining") || !strings.Contains(got, "slow:removed") {
		t.Fatalf("events %s", got)
	}
	if err := p.RemoveUpstream("slow", 0); err == nil {
		t.Fatal("removing twice succeeded")
	}
}
