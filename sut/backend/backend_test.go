package backend

import (
	"cmp"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
)

type constant time.Duration

func (c constant) Sample(*rand.Rand) time.Duration { return time.Duration(c) }

// sequence serves its durations in order, then repeats the last one.
type sequence struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sequence) Sample(*rand.Rand) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.ds[0]
	if len(s.ds) > 1 {
		s.ds = s.ds[1:]
	}
	return d
}

type exponential time.Duration

func (e exponential) Sample(r *rand.Rand) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(e))
}

// start runs a backend on 127.0.0.1:0 and closes it when the test ends.
func start(t *testing.T, cfg Config) *Backend {
	t.Helper()
	b := New(cfg)
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

type answer struct {
	status  int
	node    string
	queue   time.Duration
	service time.Duration
	err     error
}

func get(ctx context.Context, c *http.Client, url string) answer {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	a := answer{status: resp.StatusCode, node: resp.Header.Get(headers.Node)}
	a.queue, a.service = parseServerTiming(resp.Header.Get(headers.ServerTiming))
	return a
}

// parseServerTiming reads "queue;dur=1.5, service;dur=10.2" (milliseconds).
func parseServerTiming(h string) (queue, service time.Duration) {
	for _, part := range strings.Split(h, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(part), ";dur=")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(dur, 64)
		if err != nil {
			continue
		}
		d := time.Duration(v * 1e6)
		switch name {
		case "queue":
			queue = d
		case "service":
			service = d
		}
	}
	return queue, service
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// A deadline for a condition that holds soon on any host, only there
	// to end a test that would otherwise hang: it bounds no measurement.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServesAndNamesItself(t *testing.T) {
	b := start(t, Config{Name: "app-1", Workers: 2, Queue: 4, ServiceTime: constant(2 * time.Millisecond)})
	c := newClient(t)
	resp, err := c.Post(b.URL()+"/cart", "application/json", strings.NewReader(`{"sku":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(headers.Node) != "app-1" || string(body) != "ok app-1\n" {
		t.Fatalf("got %d %q body %q", resp.StatusCode, resp.Header.Get(headers.Node), body)
	}
	q, s := parseServerTiming(resp.Header.Get(headers.ServerTiming))
	if q != 0 || s != 2*time.Millisecond {
		t.Fatalf("Server-Timing %q: queue %v service %v", resp.Header.Get(headers.ServerTiming), q, s)
	}
	if st := b.Stats(); st.Served != 1 || st.Name != "app-1" || st.Workers != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRejectsWhenQueueFull(t *testing.T) {
	b := start(t, Config{Name: "solo", Workers: 1, Queue: 0, ServiceTime: constant(300 * time.Millisecond)})
	c := newClient(t)
	first := make(chan answer, 1)
	go func() { first <- get(context.Background(), c, b.URL()) }()
	waitFor(t, "first request in service", func() bool { return b.Stats().InService == 1 })

	second := get(context.Background(), c, b.URL())
	if second.err != nil || second.status != http.StatusServiceUnavailable || second.node != "solo" {
		t.Fatalf("second request: %+v, want 503 from solo", second)
	}
	if a := <-first; a.err != nil || a.status != 200 || a.node != "solo" {
		t.Fatalf("first request: %+v", a)
	}
	if st := b.Stats(); st.Served != 1 || st.Rejected != 1 {
		t.Fatalf("stats: served %d rejected %d, want 1/1", st.Served, st.Rejected)
	}
}

func TestQueueIsFIFO(t *testing.T) {
	// The first request holds the worker long enough for the others to
	// queue one by one. A host that slows this process so much that
	// queueing them takes longer than that hold drains the queue early,
	// and the order cannot be read: the hold grows and the check runs again.
	for hold := time.Second; ; hold *= 4 {
		took, full := queueIsFIFO(t, hold)
		if full {
			return
		}
		if hold >= 16*time.Second {
			t.Skipf("queueing the requests one by one took %v, longer than the first one's %v service: this host is too slow for the check", took, hold)
		}
		t.Logf("the first service (%v) ended before the queue was full (%v spent queueing); again with a longer one", hold, took)
	}
}

// queueIsFIFO queues requests behind one held for hold and checks they are
// served first in, first out; full is false when the hold ended before the
// queue was full (nothing checked), took how long the queueing took.
func queueIsFIFO(t *testing.T, hold time.Duration) (took time.Duration, full bool) {
	const waiting = 8
	// After the first request, each takes 10 ms.
	service := &sequence{ds: []time.Duration{hold, 10 * time.Millisecond}}
	// The order is read on the station's clock (arrival, start and end of
	// each service), not from when client goroutines happen to see their
	// responses: on a busy host those wake up in any order.
	b := New(Config{Name: "fifo", Workers: 1, Queue: waiting, ServiceTime: service})
	var (
		mu     sync.Mutex
		traced [][3]int64
		wg     sync.WaitGroup
	)
	b.trace = func(arrive, start, end int64) {
		mu.Lock()
		traced = append(traced, [3]int64{arrive, start, end})
		mu.Unlock()
	}
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	c := newClient(t)
	fire := func(i int) {
		wg.Go(func() {
			a := get(context.Background(), c, b.URL())
			if a.err != nil || a.status != 200 {
				t.Errorf("request %d: %+v", i, a)
			}
		})
	}
	began := time.Now()
	fire(0)
	waitFor(t, "request 0 in service", func() bool { return b.Stats().InService == 1 })
	for i := 1; i <= waiting; i++ {
		fire(i)
		waitFor(t, "request queued or the first served", func() bool { st := b.Stats(); return st.Queued == i || st.Served > 0 })
		if b.Stats().Served > 0 {
			wg.Wait()
			return time.Since(began), false
		}
	}
	took = time.Since(began)
	// The queue is full now: one more is rejected.
	if a := get(context.Background(), c, b.URL()); a.status != http.StatusServiceUnavailable {
		if b.Stats().Served > 0 {
			wg.Wait()
			return time.Since(began), false
		}
		t.Fatalf("request beyond the queue: %+v", a)
	}
	wg.Wait()
	// Request i arrived i-th (each was queued before the next was sent), so
	// FIFO with one worker is: sorted by arrival, each service starts when
	// the one before ended.
	mu.Lock()
	defer mu.Unlock()
	if len(traced) != waiting+1 {
		t.Fatalf("%d services traced, want %d", len(traced), waiting+1)
	}
	slices.SortFunc(traced, func(x, y [3]int64) int { return cmp.Compare(x[0], y[0]) })
	for i := 1; i < len(traced); i++ {
		if traced[i][1] != traced[i-1][2] {
			t.Errorf("request %d started at %v, not when request %d ended (%v): station times %v",
				i, time.Duration(traced[i][1]), i-1, time.Duration(traced[i-1][2]), traced)
		}
	}
	return took, true
}

func TestClientLeavingTheQueue(t *testing.T) {
	b := start(t, Config{Name: "q", Workers: 1, Queue: 1, ServiceTime: constant(200 * time.Millisecond)})
	c := newClient(t)
	first := make(chan answer, 1)
	go func() { first <- get(context.Background(), c, b.URL()) }()
	waitFor(t, "first in service", func() bool { return b.Stats().InService == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan answer, 1)
	go func() { gone <- get(ctx, c, b.URL()) }()
	waitFor(t, "second queued", func() bool { return b.Stats().Queued == 1 })
	cancel()
	if a := <-gone; !errors.Is(a.err, context.Canceled) {
		t.Fatalf("cancelled request: %+v", a)
	}
	waitFor(t, "queue emptied", func() bool { st := b.Stats(); return st.Queued == 0 && st.Abandoned == 1 })

	// The freed place in the queue is usable.
	if a := get(context.Background(), c, b.URL()); a.status != 200 {
		t.Fatalf("third request: %+v", a)
	}
	<-first
	if st := b.Stats(); st.Served != 2 || st.Rejected != 0 || st.Abandoned != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServiceTimesReproducibleFromSeed(t *testing.T) {
	services := func(seed int64) []time.Duration {
		b := start(t, Config{Name: "s", Workers: 1, Queue: 10, ServiceTime: exponential(time.Millisecond), Seed: seed})
		c := newClient(t)
		var out []time.Duration
		for range 20 {
			out = append(out, get(context.Background(), c, b.URL()).service)
		}
		return out
	}
	a, b, other := services(5), services(5), services(6)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed: request %d served %v vs %v", i, a[i], b[i])
		}
	}
	same := 0
	for i := range a {
		if a[i] == other[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatal("different seeds gave the same service times")
	}
	// The draws are the sampler's, in order.
	r := rand.New(rand.NewSource(5))
	for i := range a {
		want := exponential(time.Millisecond).Sample(r)
		if d := a[i] - want; d < -time.Microsecond || d > time.Microsecond {
			t.Fatalf("request %d: service %v, want draw %v", i, a[i], want)
		}
	}
}

func TestUtilisation(t *testing.T) {
	const service = 20 * time.Millisecond
	b := start(t, Config{Name: "u", Workers: 2, Queue: 100, ServiceTime: constant(service)})
	c := newClient(t)
	get(context.Background(), c, b.URL()) // open a connection before measuring

	// In progress: half-way through a 400 ms service, about 0.2 s is busy.
	slow := start(t, Config{Name: "slow", Workers: 1, ServiceTime: constant(400 * time.Millisecond)})
	done := make(chan answer, 1)
	go func() { done <- get(context.Background(), c, slow.URL()) }()
	waitFor(t, "slow in service", func() bool { return slow.Stats().InService == 1 })
	time.Sleep(200 * time.Millisecond)
	if st := slow.Stats(); st.BusySeconds < 0.19 || st.BusySeconds > 0.4 {
		t.Fatalf("busy seconds of a service in progress: %.3f, want about 0.2", st.BusySeconds)
	}
	<-done

	// 50 requests/s of 20 ms on 2 workers for 2 s: 2 busy seconds, utilisation 0.5.
	b.ResetStats()
	began := time.Now()
	var wg sync.WaitGroup
	for i := range 100 {
		time.Sleep(time.Until(began.Add(time.Duration(i) * 20 * time.Millisecond)))
		wg.Go(func() { get(context.Background(), c, b.URL()) })
	}
	wg.Wait()
	st := b.Stats()
	elapsed := time.Since(began).Seconds()
	t.Logf("served %d busy %.4fs over %.3fs: utilisation %.4f", st.Served, st.BusySeconds, st.ElapsedSeconds, st.Utilisation)
	if st.Served != 100 || st.BusySeconds < 1.999 || st.BusySeconds > 2.001 {
		t.Fatalf("served %d busy %.4fs, want 100 and 2.000s", st.Served, st.BusySeconds)
	}
	if want := 2 / (2 * elapsed); st.Utilisation < want*0.98 || st.Utilisation > want*1.02 || st.Utilisation > 0.5 {
		t.Fatalf("utilisation %.4f, want %.4f (at most 0.5)", st.Utilisation, want)
	}
	b.ResetStats()
	if st := b.Stats(); st.Served != 0 || st.BusySeconds != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestCloseStopsPromptly(t *testing.T) {
	b := New(Config{Name: "c", Workers: 1, Queue: 5, ServiceTime: constant(time.Minute)})
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	c := newClient(t)
	results := make(chan answer, 3)
	for range 3 {
		go func() { results <- get(context.Background(), c, b.URL()) }()
	}
	waitFor(t, "one served, two queued", func() bool { st := b.Stats(); return st.InService == 1 && st.Queued == 2 })

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while requests were in service and queued")
	}
	for range 3 {
		if a := <-results; a.status == 200 {
			t.Fatalf("a request was answered 200 during shutdown: %+v", a)
		}
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("listener still accepting after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
