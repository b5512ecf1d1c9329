package backend

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
)

// httpTier is a pool of one backend called over loopback HTTP, as package
// sut's clients call theirs: a failure is the pool's unless the answer
// names the pool below where it started. log, when set, records the
// calls in the order they were made.
type httpTier struct {
	name   string
	b      *Backend
	client *http.Client
	mu     *sync.Mutex
	log    *[]string
}

func (d httpTier) Call(ctx context.Context, write bool) (string, bool) {
	if d.log != nil {
		d.mu.Lock()
		*d.log = append(*d.log, d.name)
		d.mu.Unlock()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.b.URL()+"/", nil)
	resp, err := d.client.Do(req)
	if err != nil {
		return d.name, false
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		if below := resp.Header.Get(headers.FailedTier); below != "" {
			return below, false
		}
		return d.name, false
	}
	return "", true
}

func tier(t *testing.T, name string, b *Backend) httpTier {
	return httpTier{name: name, b: b, client: newClient(t)}
}

// traced records a backend's completed services: arrival, start and the
// end of the slot's hold, on its clock, in the order they ended.
func traced(b *Backend) func() [][3]int64 {
	var mu sync.Mutex
	var out [][3]int64
	b.mu.Lock()
	b.trace = func(arrive, start, end int64) {
		mu.Lock()
		out = append(out, [3]int64{arrive, start, end})
		mu.Unlock()
	}
	b.mu.Unlock()
	return func() [][3]int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(out)
	}
}

// A caller with one worker holds it through its own service and its call:
// with a downstream of a constant 20 ms, each request holds the worker at
// least 5 + 20 ms, the next starts the instant the calls ended (on the
// station's clock), and the throughput is at most 1 / 25 ms.
func TestCallsHoldTheWorker(t *testing.T) {
	const (
		own, below = 5 * time.Millisecond, 20 * time.Millisecond
		requests   = 12
	)
	db := start(t, Config{Name: "db-1", Workers: 8, Queue: 64, ServiceTime: constant(below)})
	app := start(t, Config{Name: "app-1", Pool: "app", Workers: 1, Queue: 64, ServiceTime: constant(own),
		Calls: []Call{{To: tier(t, "db", db), Times: 1, Probability: 1}}})
	services := traced(app)
	c := newClient(t)
	answers := make([]answer, requests)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() { answers[i] = get(context.Background(), c, app.URL()+"/") })
	}
	wg.Wait()
	for i, a := range answers {
		if a.err != nil || a.status != 200 {
			t.Fatalf("request %d: status %d, %v", i, a.status, a.err)
		}
		if a.queue != 0 || a.service != own {
			t.Errorf("request %d: Server-Timing queue %v service %v, want no queue (a caller's wait is the host's too) and the own service %v", i, a.queue, a.service, own)
		}
	}
	trace := services()
	slices.SortFunc(trace, func(a, b [3]int64) int { return int(a[1] - b[1]) })
	for k, s := range trace {
		if hold := time.Duration(s[2] - s[1]); hold < own+below {
			t.Errorf("service %d held its worker %v, less than its own %v and its call's %v", k, hold, own, below)
		}
		if k > 0 {
			prev := trace[k-1]
			if s[0] <= prev[2] && s[1] != prev[2] {
				t.Errorf("service %d, waiting since %d, started at %d, not when the one before ended its calls, at %d (station ns)", k, s[0], s[1], prev[2])
			}
			if s[1] < prev[2] {
				t.Errorf("service %d started at %d, while the one before held the only worker until %d", k, s[1], prev[2])
			}
		}
	}
	span := time.Duration(trace[len(trace)-1][2] - trace[0][1])
	if bound := time.Duration(requests) * (own + below); span < bound {
		t.Errorf("%d requests served in %v: faster than one worker held %v each allows (%v)", requests, span, own+below, bound)
	}
	st := app.Stats()
	if st.Served != requests || st.ServiceSeconds != (requests*own).Seconds() || st.CallSeconds < (requests*below).Seconds() {
		t.Errorf("stats: served %d, service %.4fs, calls %.4fs; want %d, %.4fs, at least %.4fs",
			st.Served, st.ServiceSeconds, st.CallSeconds, requests, (requests * own).Seconds(), (requests * below).Seconds())
	}
	if st.BusySeconds < st.ServiceSeconds+st.CallSeconds-1e-6 {
		t.Errorf("busy %.4fs is less than the services and calls it held the worker for (%.4fs)", st.BusySeconds, st.ServiceSeconds+st.CallSeconds)
	}
}

// Calls go in the pool's order, times after times, each drawn with its
// probability from the request's own seeded stream: the same seed makes
// the same calls.
func TestCallsInOrderAndReproducible(t *testing.T) {
	a := start(t, Config{Name: "a-1", Workers: 4})
	b := start(t, Config{Name: "b-1", Workers: 4})
	c := start(t, Config{Name: "c-1", Workers: 4})
	run := func(seed int64) []string {
		var mu sync.Mutex
		var log []string
		logged := func(name string, be *Backend) httpTier {
			d := tier(t, name, be)
			d.mu, d.log = &mu, &log
			return d
		}
		caller := New(Config{Name: "app-1", Workers: 1, Seed: seed, Calls: []Call{
			{To: logged("a", a), Times: 2, Probability: 1},
			{To: logged("b", b), Times: 1, Probability: 0.5},
			{To: logged("c", c), Times: 1, Probability: 1},
		}})
		t.Cleanup(func() { _ = caller.Close() })
		for range 40 {
			if _, _, err := caller.visit(caller.now())(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			log = append(log, "|")
			mu.Unlock()
		}
		return log
	}
	first := run(7)
	withB := 0
	for i, request := range strings.Split(strings.Trim(strings.Join(first, ""), "|"), "|") {
		switch request {
		case "aabc":
			withB++
		case "aac":
		default:
			t.Fatalf("request %d made the calls %q, want aac or aabc", i, request)
		}
	}
	if withB < 8 || withB > 32 {
		t.Errorf("%d of 40 requests called b with probability 50%%", withB)
	}
	if again := run(7); !slices.Equal(first, again) {
		t.Errorf("the same seed made other calls:\n%v\n%v", first, again)
	}
	if other := run(8); slices.Equal(first, other) {
		t.Errorf("another seed made the very same calls: %v", other)
	}
}

// A cache answers hits alone: its hit ratio is honoured, and only its
// misses call the tier below.
func TestCacheHitsAndMisses(t *testing.T) {
	const requests, ratio = 2000, 0.7
	db := start(t, Config{Name: "db-1", Workers: 4})
	cache := New(Config{Name: "cache-1", Pool: "cache", Workers: 4, Seed: 3, Cache: true, HitRatio: ratio,
		Calls: []Call{{To: tier(t, "db", db), Times: 1, Probability: 1}}})
	t.Cleanup(func() { _ = cache.Close() })
	for range requests {
		if _, _, err := cache.visit(cache.now())(); err != nil {
			t.Fatal(err)
		}
	}
	st := cache.Stats()
	if st.Hits+st.Misses != requests {
		t.Fatalf("%d hits + %d misses, want %d requests", st.Hits, st.Misses, requests)
	}
	// Four standard deviations of the binomial count.
	if sd := math.Sqrt(requests * ratio * (1 - ratio)); math.Abs(float64(st.Hits)-requests*ratio) > 4*sd {
		t.Errorf("%d hits of %d, want %.0f ± %.0f", st.Hits, requests, requests*ratio, 4*sd)
	}
	if served := db.Stats().Served; served != st.Misses {
		t.Errorf("the tier below served %d calls, want one per miss (%d)", served, st.Misses)
	}
}

// A failed call ends the request with 502 naming the pool where the
// failure started; a pool's own failure counts under its own name.
func TestFailedCallsNameTheirTier(t *testing.T) {
	cases := []struct {
		name    string
		breakDB func(db, disk *Backend)
		timeout time.Duration
		want    string
	}{
		{"refused", func(db, _ *Backend) { db.Crash() }, 0, "db"},
		{"5xx", func(db, _ *Backend) { db.UpdateFaults(func(f *Faults) { f.ErrorRate = 1 }) }, 0, "db"},
		{"no answer within the timeout", func(db, _ *Backend) { db.UpdateFaults(func(f *Faults) { f.Hang = true }) }, 50 * time.Millisecond, "db"},
		{"started further down", func(_, disk *Backend) { disk.Crash() }, 0, "disk"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			disk := start(t, Config{Name: "disk-1", Pool: "disk", Workers: 2})
			db := start(t, Config{Name: "db-1", Pool: "db", Workers: 2,
				Calls: []Call{{To: tier(t, "disk", disk), Probability: 1}}})
			app := start(t, Config{Name: "app-1", Pool: "app", Workers: 2,
				Calls: []Call{{To: tier(t, "db", db), Probability: 1, Timeout: tc.timeout}}})
			c := newClient(t)
			if a := get(context.Background(), c, app.URL()+"/"); a.status != 200 {
				t.Fatalf("before the failure: status %d, %v", a.status, a.err)
			}
			tc.breakDB(db, disk)
			req, _ := http.NewRequest(http.MethodGet, app.URL()+"/", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get(headers.FailedTier); resp.StatusCode != http.StatusBadGateway || got != tc.want {
				t.Errorf("status %d, %s %q; want 502 naming %q", resp.StatusCode, headers.FailedTier, got, tc.want)
			}
			if got := app.Stats().Failures; got[tc.want] != 1 || len(got) != 1 {
				t.Errorf("app's failures %v, want one started in %s", got, tc.want)
			}
			db.UpdateFaults(func(f *Faults) { f.Hang = false }) // lets Close end a hung call
		})
	}
}

// A backend's own failed answers count under its own pool.
func TestOwnFailuresCountUnderTheOwnPool(t *testing.T) {
	b := start(t, Config{Name: "web-1", Pool: "web", Workers: 1})
	b.UpdateFaults(func(f *Faults) { f.ErrorRate = 1 })
	c := newClient(t)
	for range 3 {
		if a := get(context.Background(), c, b.URL()+"/"); a.status != 500 {
			t.Fatalf("status %d, %v; want the injected 500", a.status, a.err)
		}
	}
	if got := b.Stats().Failures; got["web"] != 3 || len(got) != 1 {
		t.Errorf("failures %v, want 3 of web's own", got)
	}
}

// Watch is told when the backend goes down and comes back, once each.
func TestWatchSeesDownAndUp(t *testing.T) {
	var mu sync.Mutex
	var told []bool
	b := start(t, Config{Name: "db-1", Workers: 1, Watch: func(up bool) {
		mu.Lock()
		told = append(told, up)
		mu.Unlock()
	}})
	b.Crash()
	b.Crash()
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	b.UpdateFaults(func(f *Faults) { f.Hang = true })
	b.UpdateFaults(func(f *Faults) { f.Slow = constant(time.Millisecond) })
	b.UpdateFaults(func(f *Faults) { f.Hang = false })
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{false, true, false, true}; !slices.Equal(told, want) {
		t.Errorf("told %v, want %v", told, want)
	}
}
