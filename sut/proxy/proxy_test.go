package proxy_test

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/sut/backend"
	"github.com/ilities/ilities/sut/proxy"
)

type constant time.Duration

func (c constant) Sample(*rand.Rand) time.Duration { return time.Duration(c) }

// startBackend runs a simulated backend on 127.0.0.1:0 for the test.
func startBackend(t *testing.T, name string, workers int, service time.Duration) *backend.Backend {
	t.Helper()
	b := backend.New(backend.Config{Name: name, Workers: workers, Queue: 1024, ServiceTime: constant(service)})
	if err := b.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// startProxy runs a one-pool proxy on 127.0.0.1:0 for the test.
func startProxy(t *testing.T, strategy string, seed int64, timeout time.Duration, ups ...proxy.UpstreamConfig) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New(proxy.Config{
		Strategy: strategy, Seed: seed, Timeout: timeout,
		Pools: []proxy.PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: ups}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func up(name, url string, weight int) proxy.UpstreamConfig {
	return proxy.UpstreamConfig{Name: name, URL: url, Weight: weight}
}

func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type answer struct {
	status int
	node   string
	body   string
}

func get(t *testing.T, c *http.Client, url string) answer {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get(headers.Node), string(body)}
}

func TestProxiesAndNamesTheBackend(t *testing.T) {
	b1 := startBackend(t, "b1", 2, time.Millisecond)
	b2 := startBackend(t, "b2", 2, time.Millisecond)
	p := startProxy(t, "round-robin", 0, 0, up("b1", b1.URL(), 1), up("b2", b2.URL(), 1))
	c := newClient(t)
	for i, want := range []string{"b1", "b2", "b1", "b2"} {
		a := get(t, c, p.URL()+"/products?page=2")
		if a.status != 200 || a.node != want || a.body != "ok "+want+"\n" {
			t.Fatalf("request %d: %+v, want 200 from %s", i, a, want)
		}
	}
	st := p.Stats()
	if len(st.Upstreams) != 2 || st.Upstreams[0].Requests != 2 || st.Upstreams[1].Requests != 2 || st.Upstreams[0].Inflight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// An upstream that does not name itself is named by the proxy, and the
// request arrives with its path, query and forwarding headers.
func TestForwardsRequestAndNamesForeignUpstream(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s xff=%s proto=%s body=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), body)
	}))
	defer echo.Close()
	p := startProxy(t, "", 0, 0, up("echo", echo.URL, 1))
	c := newClient(t)
	resp, err := c.Post(p.URL()+"/cart?x=1", "text/plain", strings.NewReader("sku"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "POST /cart?x=1 xff=127.0.0.1 proto=http body=sku"; string(body) != want {
		t.Fatalf("upstream saw %q, want %q", body, want)
	}
	if resp.Header.Get(headers.Node) != "echo" {
		t.Fatalf("node header %q, want echo", resp.Header.Get(headers.Node))
	}
}

func TestWeightedRoundRobinExactShares(t *testing.T) {
	a := startBackend(t, "a", 4, 0)
	b := startBackend(t, "b", 4, 0)
	p := startProxy(t, "weighted-round-robin", 0, 0, up("a", a.URL(), 3), up("b", b.URL(), 1))
	c := newClient(t)
	count := map[string]int{}
	for range 4000 {
		ans := get(t, c, p.URL())
		if ans.status != 200 {
			t.Fatalf("%+v", ans)
		}
		count[ans.node]++
	}
	if count["a"] != 3000 || count["b"] != 1000 {
		t.Fatalf("shares %v, want a=3000 b=1000", count)
	}
	if sa, sb := a.Stats().Served, b.Stats().Served; sa != 3000 || sb != 1000 {
		t.Fatalf("backends served a=%d b=%d", sa, sb)
	}
}

// Closed-loop load from 8 clients on a fast (5 ms) and a 4x slower (20 ms)
// backend: least-connections keeps the in-flight counts level, so the slow
// one gets far less than half; round-robin on the same pair gives half.
func TestLeastConnectionsAvoidsSlowBackend(t *testing.T) {
	fast := startBackend(t, "fast", 32, 5*time.Millisecond)
	slow := startBackend(t, "slow", 32, 20*time.Millisecond)
	lc := startProxy(t, "least-connections", 0, 0, up("fast", fast.URL(), 1), up("slow", slow.URL(), 1))
	rr := startProxy(t, "round-robin", 0, 0, up("fast", fast.URL(), 1), up("slow", slow.URL(), 1))
	c := newClient(t)

	share := func(p *proxy.Proxy) (float64, int) {
		var (
			mu    sync.Mutex
			count = map[string]int{}
			wg    sync.WaitGroup
		)
		stop := time.Now().Add(2 * time.Second)
		for range 8 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					resp, err := c.Get(p.URL())
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					count[resp.Header.Get(headers.Node)]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		total := count["fast"] + count["slow"]
		return float64(count["slow"]) / float64(total), total
	}
	var lcShare, rrShare float64
	var lcN, rrN int
	var wg sync.WaitGroup
	meter := hiccup.Start()
	wg.Go(func() { lcShare, lcN = share(lc) })
	wg.Go(func() { rrShare, rrN = share(rr) })
	wg.Wait()
	host := meter.Stop()
	t.Logf("slow backend share: least-connections %.1f%% of %d, round-robin %.1f%% of %d; %v", lcShare*100, lcN, rrShare*100, rrN, host)
	// The host's delays add to both backends' times alike: delays as long
	// as the fast one's 5 ms service leave the slow one far less than 4x
	// slower as the proxy sees it.
	const tolerated = 5 * time.Millisecond
	if lcShare >= 0.35 {
		failOrSkip(t, host, host.P99, tolerated, "least-connections sent %.1f%% to the 4x slower backend, want < 35%%", lcShare*100)
	}
	if rrShare < 0.45 || rrShare > 0.55 {
		failOrSkip(t, host, host.P99, tolerated, "round-robin sent %.1f%% to the slow backend, want about 50%%", rrShare*100)
	}
}

func TestDeadUpstreamGives502NamingIt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	live := startBackend(t, "live", 2, 0)
	p := startProxy(t, "round-robin", 0, 0, up("live", live.URL(), 1), up("dead", deadURL, 1))
	c := newClient(t)
	for i := range 6 {
		a := get(t, c, p.URL())
		if i%2 == 0 && (a.status != 200 || a.node != "live") {
			t.Fatalf("request %d: %+v, want 200 from live", i, a)
		}
		if i%2 == 1 && (a.status != http.StatusBadGateway || a.node != "dead") {
			t.Fatalf("request %d: %+v, want 502 naming dead", i, a)
		}
	}
	st := p.Stats().Upstreams
	if st[1].Failures != 3 || st[1].Timeouts != 0 || st[0].Failures != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSlowUpstreamGives504NamingIt(t *testing.T) {
	slow := startBackend(t, "slow", 1, 5*time.Second)
	p := startProxy(t, "round-robin", 0, 100*time.Millisecond, up("slow", slow.URL(), 1))
	a := get(t, newClient(t), p.URL())
	if a.status != http.StatusGatewayTimeout || a.node != "slow" {
		t.Fatalf("%+v, want 504 naming slow", a)
	}
	if st := p.Stats().Upstreams[0]; st.Failures != 1 || st.Timeouts != 1 || st.Inflight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoAvailableUpstreamGives503(t *testing.T) {
	b := startBackend(t, "b", 1, 0)
	p := startProxy(t, "least-connections", 0, 0, up("b", b.URL(), 1))
	c := newClient(t)
	if !p.SetHealthy("b", false) {
		t.Fatal("SetHealthy did not find b")
	}
	if a := get(t, c, p.URL()); a.status != http.StatusServiceUnavailable || a.node != "" {
		t.Fatalf("%+v, want 503 without a node", a)
	}
	p.SetHealthy("b", true)
	if a := get(t, c, p.URL()); a.status != 200 || a.node != "b" {
		t.Fatalf("%+v, want 200 from b", a)
	}
	if st := p.Stats(); st.Unavailable != 1 || st.Upstreams[0].Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
	if p.SetHealthy("nobody", false) {
		t.Fatal("SetHealthy found an upstream that does not exist")
	}
}

func TestRandomIsReproducibleFromSeed(t *testing.T) {
	bs := []*backend.Backend{startBackend(t, "x", 2, 0), startBackend(t, "y", 2, 0), startBackend(t, "z", 2, 0)}
	c := newClient(t)
	sequence := func(seed int64) string {
		p := startProxy(t, "random", seed, 0, up("x", bs[0].URL(), 1), up("y", bs[1].URL(), 1), up("z", bs[2].URL(), 1))
		var s strings.Builder
		for range 300 {
			s.WriteString(get(t, c, p.URL()).node)
		}
		return s.String()
	}
	a, b, other := sequence(7), sequence(7), sequence(8)
	if a != b {
		t.Fatal("same seed, different backend sequences")
	}
	if a == other {
		t.Fatal("different seeds, same backend sequence")
	}
	for _, n := range []string{"x", "y", "z"} {
		if k := strings.Count(a, n); k < 70 || k > 130 {
			t.Errorf("%s got %d of 300", n, k)
		}
	}
}

func TestRoutesByPathPrefixAndHost(t *testing.T) {
	web := startBackend(t, "web", 1, 0)
	api := startBackend(t, "api", 1, 0)
	admin := startBackend(t, "admin", 1, 0)
	p, err := proxy.New(proxy.Config{Pools: []proxy.PoolConfig{
		{Name: "web", PathPrefix: "/", Upstreams: []proxy.UpstreamConfig{up("web", web.URL(), 1)}},
		{Name: "api", PathPrefix: "/api/", Upstreams: []proxy.UpstreamConfig{up("api", api.URL(), 1)}},
		{Name: "admin", Host: "admin.example", PathPrefix: "/", Upstreams: []proxy.UpstreamConfig{up("admin", admin.URL(), 1)}},
		{Name: "static", PathPrefix: "/static/"}, // no upstreams
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	for _, tc := range []struct {
		host, path string
		status     int
		node       string
	}{
		{"", "/", 200, "web"},
		{"", "/api/orders", 200, "api"},
		{"", "/apix", 200, "web"},
		{"admin.example:8080", "/", 200, "admin"},
		{"admin.example", "/api/x", 200, "api"}, // the longer prefix wins
		{"", "/static/app.js", 503, ""},
	} {
		r, _ := http.NewRequest(http.MethodGet, p.URL()+tc.path, nil)
		if tc.host != "" {
			r.Host = tc.host
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get(headers.Node) != tc.node {
			t.Errorf("%s%s: %d from %q, want %d from %q", tc.host, tc.path, resp.StatusCode, resp.Header.Get(headers.Node), tc.status, tc.node)
		}
	}

	only, err := proxy.New(proxy.Config{Pools: []proxy.PoolConfig{
		{Name: "api", PathPrefix: "/api/", Upstreams: []proxy.UpstreamConfig{up("api", api.URL(), 1)}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := only.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if a := get(t, c, only.URL()+"/other"); a.status != http.StatusNotFound || only.Stats().Unrouted != 1 {
		t.Fatalf("unrouted request: %d, stats %+v", a.status, only.Stats())
	}
	_ = p.Close()
	_ = only.Close()
}

func TestNewRejectsBadConfig(t *testing.T) {
	ok := []proxy.UpstreamConfig{up("a", "http://127.0.0.1:1", 1)}
	for _, tc := range []struct {
		name string
		cfg  proxy.Config
		want string
	}{
		{"no pools", proxy.Config{}, "no pools"},
		{"unknown strategy", proxy.Config{Strategy: "fastest", Pools: []proxy.PoolConfig{{Name: "p", Upstreams: ok}}}, "fastest"},
		{"unnamed pool", proxy.Config{Pools: []proxy.PoolConfig{{Upstreams: ok}}}, "no name"},
		{"bad url", proxy.Config{Pools: []proxy.PoolConfig{{Name: "p", Upstreams: []proxy.UpstreamConfig{up("a", "127.0.0.1:80", 1)}}}}, "not an absolute"},
		{"duplicate", proxy.Config{Pools: []proxy.PoolConfig{{Name: "p", Upstreams: append(ok, ok...)}}}, "twice"},
		{"negative weight", proxy.Config{Pools: []proxy.PoolConfig{{Name: "p", Upstreams: []proxy.UpstreamConfig{up("a", "http://h", -1)}}}}, "negative"},
	} {
		if _, err := proxy.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestCloseAbortsExchangesAndReleasesPort(t *testing.T) {
	slow := startBackend(t, "slow", 1, time.Minute)
	p, err := proxy.New(proxy.Config{Pools: []proxy.PoolConfig{{Name: "app", Upstreams: []proxy.UpstreamConfig{up("slow", slow.URL(), 1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := p.Addr()
	c := newClient(t)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Get(p.URL())
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Upstreams[0].Inflight != 1 {
		if time.Now().After(deadline) {
			t.Fatal("request never reached the upstream")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { _ = p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on an exchange in progress")
	}
	if err := <-done; err == nil {
		t.Fatal("the client got an answer although the proxy closed mid-exchange")
	}
	if p.Stats().Upstreams[0].Inflight != 0 {
		t.Fatal("in-flight count not released")
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("proxy still accepting after Close")
	}
}

// An upstream that breaks off mid-body: the client gets the head and the
// bytes that arrived, then the connection closes, so it sees a truncated
// response rather than an empty connection it would silently retry.
func TestUpstreamCutMidBodyReachesTheClientTruncated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part"))
			}(c)
		}
	}()
	p := startProxy(t, "round-robin", 0, 2*time.Second, up("cut", "http://"+ln.Addr().String(), 1))
	conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading: %v (got %q)", err, got)
	}
	text := string(got)
	if !strings.HasPrefix(text, "HTTP/1.1 200 OK\r\n") || !strings.Contains(text, "Content-Length: 100\r\n") || !strings.HasSuffix(text, "only-part") {
		t.Fatalf("client saw %q, want the head and the 9 bytes that arrived", text)
	}
}
