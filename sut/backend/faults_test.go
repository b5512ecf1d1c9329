package backend

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
)

// outcome is what a client saw of one request, in the generator's words.
type outcome string

const (
	sawOK        outcome = "ok"
	saw5xx       outcome = "5xx"
	saw4xx       outcome = "4xx"
	sawRefused   outcome = "refused"
	sawReset     outcome = "reset"
	sawTruncated outcome = "truncated"
	sawTimeout   outcome = "timeout"
)

// fetch sends one GET on a fresh connection and names what came back.
func fetch(url string, timeout time.Duration) (outcome, *http.Response) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return classify(ctx, err), nil
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return sawTruncated, resp
		}
		return classify(ctx, err), resp
	}
	switch {
	case resp.StatusCode >= 500:
		return saw5xx, resp
	case resp.StatusCode >= 400:
		return saw4xx, resp
	}
	return sawOK, resp
}

func classify(ctx context.Context, err error) outcome {
	switch {
	case ctx.Err() != nil:
		return sawTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return sawRefused
	case errors.Is(err, syscall.ECONNRESET):
		return sawReset
	}
	return outcome("other: " + err.Error())
}

// TestFaultSwitches checks, per switch, what a client talking to the
// backend directly sees, and that the backend's own counters add up:
// every request is either served, or answered by the fault.
func TestFaultSwitches(t *testing.T) {
	slow := constant(150 * time.Millisecond)
	cases := []struct {
		name   string
		faults Faults
		want   outcome
		// check runs on the backend's stats after the requests.
		check func(t *testing.T, st Stats, n int)
	}{
		{"none", Faults{}, sawOK, func(t *testing.T, st Stats, n int) {
			if st.Served != int64(n) {
				t.Errorf("served %d of %d", st.Served, n)
			}
		}},
		{"errors 500", Faults{ErrorRate: 1}, saw5xx, func(t *testing.T, st Stats, n int) {
			if st.InjectedErrors != int64(n) || st.Served != 0 {
				t.Errorf("injected %d served %d of %d", st.InjectedErrors, st.Served, n)
			}
		}},
		{"errors 503", Faults{ErrorRate: 1, ErrorStatus: 503}, saw5xx, nil},
		{"reset", Faults{ResetRate: 1}, sawReset, func(t *testing.T, st Stats, n int) {
			if st.Resets != int64(n) || st.Served != int64(n) {
				t.Errorf("resets %d served %d of %d", st.Resets, st.Served, n)
			}
		}},
		{"truncate", Faults{TruncateRate: 1}, sawTruncated, func(t *testing.T, st Stats, n int) {
			if st.Truncated != int64(n) {
				t.Errorf("truncated %d of %d", st.Truncated, n)
			}
		}},
		{"hang", Faults{Hang: true}, sawTimeout, func(t *testing.T, st Stats, n int) {
			if st.Served != 0 || st.InService != 0 {
				t.Errorf("a hung backend served %d, %d in service", st.Served, st.InService)
			}
		}},
		{"slow", Faults{Slow: slow}, sawOK, func(t *testing.T, st Stats, n int) {
			if st.BusySeconds < 0.15*float64(n)*0.99 {
				t.Errorf("busy %.3fs for %d slow services of 150ms", st.BusySeconds, n)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := start(t, Config{Name: "f", Workers: 2, Queue: 10, ServiceTime: constant(time.Millisecond),
				ResponseSize: fixedSize(1000)})
			b.UpdateFaults(func(f *Faults) { *f = tc.faults })
			const n = 4
			for i := range n {
				got, resp := fetch(b.URL()+"/x", 500*time.Millisecond)
				if got != tc.want {
					t.Fatalf("request %d: saw %s, want %s", i, got, tc.want)
				}
				if resp != nil && resp.Header.Get(headers.Node) != "f" {
					t.Errorf("request %d: %s %q", i, headers.Node, resp.Header.Get(headers.Node))
				}
				if tc.faults.ErrorStatus != 0 && resp.StatusCode != tc.faults.ErrorStatus {
					t.Errorf("status %d, want %d", resp.StatusCode, tc.faults.ErrorStatus)
				}
			}
			if tc.check != nil {
				waitFor(t, "handlers done", func() bool { return b.Stats().InService == 0 })
				tc.check(t, b.Stats(), n)
			}
			// Lifted, the backend serves normally again.
			b.UpdateFaults(func(f *Faults) { *f = Faults{} })
			if got, _ := fetch(b.URL()+"/x", 2*time.Second); got != sawOK {
				t.Fatalf("after lifting: saw %s", got)
			}
		})
	}
}

type fixedSize int64

func (s fixedSize) SampleSize(*rand.Rand) int64 { return int64(s) }

func TestHangReleasedWhenLifted(t *testing.T) {
	b := start(t, Config{Name: "h", Workers: 1, ServiceTime: constant(time.Millisecond)})
	b.UpdateFaults(func(f *Faults) { f.Hang = true })
	got := make(chan outcome, 1)
	go func() { o, _ := fetch(b.URL(), 5*time.Second); got <- o }()
	time.Sleep(100 * time.Millisecond)
	select {
	case o := <-got:
		t.Fatalf("answered during the hang: %s", o)
	default:
	}
	b.UpdateFaults(func(f *Faults) { f.Hang = false })
	if o := <-got; o != sawOK {
		t.Fatalf("after the hang: %s", o)
	}
}

func TestDegradeLimitsConcurrency(t *testing.T) {
	// The first service lasts long enough for the three others to arrive
	// while it holds the only slot, even when a busy host delays them.
	b := start(t, Config{Name: "d", Workers: 4, Queue: 100, ServiceTime: &sequence{ds: []time.Duration{3 * time.Second, 300 * time.Millisecond}}})
	b.UpdateFaults(func(f *Faults) { f.Workers = 1 })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if o, _ := fetch(b.URL(), 10*time.Second); o != sawOK {
				t.Errorf("saw %s", o)
			}
		})
	}
	waitFor(t, "one in service, three queued", func() bool { st := b.Stats(); return st.InService == 1 && st.Queued == 3 })
	b.UpdateFaults(func(f *Faults) { f.Workers = 0 })
	waitFor(t, "all four in service once restored", func() bool { st := b.Stats(); return st.InService+int(st.Served) == 4 && st.Queued == 0 })
	wg.Wait()
}

func TestCrashAndRestart(t *testing.T) {
	b := start(t, Config{Name: "c", Workers: 1, Queue: 5, ServiceTime: constant(2 * time.Second), Sessions: true})
	addr := b.Addr()

	// A request in service and one queued when it crashes.
	results := make(chan outcome, 2)
	for range 2 {
		go func() { o, _ := fetch(b.URL(), 10*time.Second); results <- o }()
	}
	waitFor(t, "one in service, one queued", func() bool { st := b.Stats(); return st.InService == 1 && st.Queued == 1 })
	began := time.Now()
	b.Crash()
	if d := time.Since(began); d > time.Second {
		t.Errorf("crash took %v", d)
	}
	for range 2 {
		if o := <-results; o != sawReset {
			t.Errorf("request open during the crash: saw %s, want reset", o)
		}
	}
	if o, _ := fetch(b.URL(), time.Second); o != sawRefused {
		t.Fatalf("while down: saw %s, want refused", o)
	}
	if st := b.Stats(); !st.Down || st.Crashes != 1 || st.InService != 0 || st.Queued != 0 {
		t.Fatalf("stats while down: %+v", st)
	}
	// Down, its port is no other server's to take.
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another server could listen on the crashed backend's %s", addr)
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if b.Addr() != addr {
		t.Fatalf("restarted on %s, was %s", b.Addr(), addr)
	}
	b.UpdateFaults(func(f *Faults) { f.Slow = nil })
	if o, _ := fetch(b.URL(), 5*time.Second); o != sawOK {
		t.Fatalf("after the restart: saw %s", o)
	}
}

func TestSessions(t *testing.T) {
	a := start(t, Config{Name: "a", Workers: 2, Sessions: true})
	other := start(t, Config{Name: "b", Workers: 2, Sessions: true})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	status := func(url string) (int, string) {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get(headers.Session)
	}
	// Same host for both backends, so the jar sends a's cookie to b.
	bURL := "http://" + other.Addr()
	if code, _ := status(a.URL()); code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if code, _ := status(a.URL()); code != 200 {
		t.Fatalf("second request on the same session: %d", code)
	}
	if code, mark := status(bURL); code != http.StatusConflict || mark != "lost" {
		t.Fatalf("another node's session: %d %q, want 409 lost", code, mark)
	}
	// b issued a new session with its 409: the next request is fine there.
	if code, _ := status(bURL); code != 200 {
		t.Fatalf("after a new session: %d", code)
	}
	if st := other.Stats(); st.SessionsLost != 1 || st.SessionsCreated != 1 {
		t.Fatalf("b's session counts: %+v", st)
	}
	// A crash loses every session.
	jar, _ = cookiejar.New(nil)
	c.Jar = jar
	if code, _ := status(a.URL()); code != 200 {
		t.Fatalf("a, new session: %d", code)
	}
	a.Crash()
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	if code, mark := status(a.URL()); code != http.StatusConflict || mark != "lost" {
		t.Fatalf("a after its crash: %d %q, want 409 lost", code, mark)
	}
}

func TestStartupDelay(t *testing.T) {
	b := start(t, Config{Name: "s", Workers: 1, StartupDelay: 300 * time.Millisecond})
	o, resp := fetch(b.URL(), time.Second)
	if o != saw5xx || resp.StatusCode != 503 || resp.Header.Get(headers.Starting) != "1" {
		t.Fatalf("during start-up: %s", o)
	}
	time.Sleep(350 * time.Millisecond)
	if o, _ := fetch(b.URL(), time.Second); o != sawOK {
		t.Fatalf("after start-up: %s", o)
	}
	b.Crash()
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if o, _ := fetch(b.URL(), time.Second); o != saw5xx {
		t.Fatalf("right after a restart: %s, want 503 (cold start again)", o)
	}
	if st := b.Stats(); st.Starting != 2 {
		t.Fatalf("starting %d, want 2", st.Starting)
	}
}

func TestResponseSize(t *testing.T) {
	for _, size := range []int64{0, 5, 100_000} {
		b := start(t, Config{Name: "r", ResponseSize: fixedSize(size)})
		resp, err := http.Get(b.URL())
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || int64(len(body)) != size || resp.Header.Get("Content-Length") != strconv.FormatInt(size, 10) {
			t.Fatalf("size %d: got %d bytes, Content-Length %q, err %v", size, len(body), resp.Header.Get("Content-Length"), err)
		}
	}
}

func TestControlStats(t *testing.T) {
	b := start(t, Config{Name: "ctl", Workers: 3, Control: true})
	fetch(b.URL(), time.Second)
	resp, err := http.Get(b.URL() + ControlPath + "stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "ctl" || st.Workers != 3 || st.Served != 1 {
		t.Fatalf("stats %+v", st)
	}
	_ = net.IPv4len
}
