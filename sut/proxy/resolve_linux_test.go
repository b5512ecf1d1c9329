package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// stallingResolver is a DNS resolver that fails at once, or, once stall is
// set, holds every query until release is closed.
type stallingResolver struct {
	resolver *net.Resolver
	queries  atomic.Int64
	stall    atomic.Bool
	release  chan struct{}
}

func newStallingResolver() *stallingResolver {
	s := &stallingResolver{release: make(chan struct{})}
	s.resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		s.queries.Add(1)
		if s.stall.Load() {
			<-s.release
		}
		return nil, errors.New("no DNS server in this test")
	}}
	return s
}

// getStatus sends GET path on c and returns the response's status.
func getStatus(c net.Conn, br *bufio.Reader, path string, limit time.Duration) (int, error) {
	_ = c.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// A name's lookup runs off the event loop: while it hangs, the loop keeps
// serving every other connection, and the name's own requests get their
// answer from the last lookup (a failed one here: 502).
func TestNameLookupNeverStallsTheLoop(t *testing.T) {
	// One loop, so that the stalled lookup and the other connections
	// share it. Restored after the proxy's Close gives its processors back.
	procs := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	u := startScripted(t, echoLine)
	_, port, _ := net.SplitHostPort(u.addr)
	dns := newStallingResolver()
	p := startLoopProxy(t, Config{Resolver: dns.resolver, Pools: []PoolConfig{
		{Name: "named", PathPrefix: "/named", Upstreams: []UpstreamConfig{{Name: "named", URL: "http://upstream.test:" + port}}},
		{Name: "literal", PathPrefix: "/", Upstreams: []UpstreamConfig{{Name: "literal", URL: "http://" + u.addr}}},
	}})
	// Runs before the proxy's Close, which waits for its loops.
	t.Cleanup(func() { close(dns.release) })
	if len(p.evloops) != 1 {
		t.Fatalf("%d event loops, want 1", len(p.evloops))
	}
	if dns.queries.Load() == 0 {
		t.Skip("this host looks names up without DNS (see /etc/nsswitch.conf): no lookup to stall")
	}
	kept, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptReader := bufio.NewReader(kept)
	if status, err := getStatus(kept, keptReader, "/", 10*time.Second); status != 200 {
		t.Fatalf("before the lookup stalls: status %d, %v", status, err)
	}

	// The failed lookup is retried after a second, on the next request
	// for the name: from then on it hangs.
	dns.stall.Store(true)
	asked := dns.queries.Load()
	for end := time.Now().Add(10 * time.Second); dns.queries.Load() == asked; {
		if time.Now().After(end) {
			t.Fatal("no second lookup of the name within 10s")
		}
		if c, err := net.Dial("tcp", p.Addr()); err == nil {
			_, _ = getStatus(c, bufio.NewReader(c), "/named", 200*time.Millisecond)
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}

	cases := []struct {
		name string
		path string
		conn func() (net.Conn, *bufio.Reader, error)
		want int
	}{
		{"a kept-alive connection", "/", func() (net.Conn, *bufio.Reader, error) { return kept, keptReader, nil }, 200},
		{"a new connection", "/", newConn(p.Addr()), 200},
		{"a request for the name", "/named", newConn(p.Addr()), 502},
	}
	for _, tc := range cases {
		c, br, err := tc.conn()
		if err != nil {
			t.Fatal(err)
		}
		status, err := getStatus(c, br, tc.path, 10*time.Second)
		if status != tc.want {
			t.Errorf("%s, GET %s while the lookup hangs: status %d (%v), want %d", tc.name, tc.path, status, err, tc.want)
		}
		if c != kept {
			c.Close()
		}
	}
	named := p.pools[0].load()
	if up := named.byNode[named.members[0]]; !up.resolving.Load() {
		t.Error("the lookup ended before the release: the requests above did not run while it hung")
	}
}

// newConn returns a function that connects to addr.
func newConn(addr string) func() (net.Conn, *bufio.Reader, error) {
	return func() (net.Conn, *bufio.Reader, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to the proxy: %w", err)
		}
		return c, bufio.NewReader(c), nil
	}
}

// An IP address is never looked up: the resolver is not asked, whatever
// the form of the address.
func TestLiteralAddressesAreNotLookedUp(t *testing.T) {
	cases := []struct{ host, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::1]:8080", "[::1]:8080"},
		{"[::ffff:127.0.0.1]:8080", "127.0.0.1:8080"},
	}
	for _, tc := range cases {
		dns := newStallingResolver()
		p, err := New(Config{Resolver: dns.resolver, Pools: []PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: []UpstreamConfig{{Name: "a", URL: "http://" + tc.host}}}}})
		if err != nil {
			t.Fatal(err)
		}
		up := p.pools[0].load().byNode[p.pools[0].load().members[0]]
		ap, ok := up.resolve(time.Now().Add(time.Hour))
		if !ok || ap.String() != tc.want || dns.queries.Load() != 0 || up.resolving.Load() {
			t.Errorf("%s: resolved to %v (ok %v), %d DNS queries, lookup running %v; want %s and no lookup",
				tc.host, ap, ok, dns.queries.Load(), up.resolving.Load(), tc.want)
		}
		close(dns.release)
	}
}
