package proxy_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/sut/proxy"
)

// echoUpstream answers every request with the headers and body length it
// received, and counts requests.
func echoUpstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, _ := io.ReadAll(r.Body)
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Connection", "X-Resp-Secret")
		w.Header().Set("X-Resp-Secret", "hop")
		w.Header().Set("Keep-Alive", "timeout=5")
		_ = json.NewEncoder(w).Encode(map[string]any{"headers": h, "body": len(body), "te": r.TransferEncoding})
	}))
	t.Cleanup(s.Close)
	return s, &n
}

func startWith(t *testing.T, cfg proxy.Config) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func onePool(ups ...proxy.UpstreamConfig) []proxy.PoolConfig {
	return []proxy.PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: ups}}
}

// raw sends raw bytes on a new connection and returns the status of the
// first response, and whether the proxy then closed the connection.
func raw(t *testing.T, addr, req string) (status int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to %q: %v", req, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = br.ReadByte()
	return resp.StatusCode, err != nil && !isTimeout(err) // EOF, or a reset when input was left unread
}

func TestSmugglingAndMalformedRequestsAreRejected(t *testing.T) {
	up, seen := echoUpstream(t)
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL})})
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400},
		{"two different CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd", 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd", 400},
		{"TE chunked twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400},
		{"TE lookalike", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400},
		{"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", 400},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400},
		{"unknown expectation", "GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", 417},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := seen.Load()
			status, closed := raw(t, p.Addr(), tc.req)
			if status != tc.status || !closed {
				t.Fatalf("status %d closed %v, want %d and closed", status, closed, tc.status)
			}
			if tc.name != "bad chunk size" && seen.Load() != before {
				t.Fatal("the upstream saw the request")
			}
		})
	}
	// A well-formed chunked request still works after all that.
	status, _ := raw(t, p.Addr(), "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if status != 200 {
		t.Fatalf("valid chunked request: %d", status)
	}
	if p.Stats().BadRequests < 17 {
		t.Fatalf("bad requests counted: %d", p.Stats().BadRequests)
	}
}

func TestOversizedHeaderGets431(t *testing.T) {
	up, seen := echoUpstream(t)
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL}), Limits: proxy.Limits{MaxHeaderBytes: 4096}})
	big := strings.Repeat("a", 5000)
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n", // one long line
		"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: "+big[:100]+"\r\n", 50) + "\r\n",
		"GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		if status, closed := raw(t, p.Addr(), req); status != 431 || !closed {
			t.Fatalf("status %d closed %v, want 431 and closed", status, closed)
		}
	}
	if seen.Load() != 0 {
		t.Fatal("the upstream saw an oversized request")
	}
	// Just under the limit passes.
	if status, _ := raw(t, p.Addr(), "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+big[:3900]+"\r\n\r\n"); status != 200 {
		t.Fatalf("a request under the limit got %d", status)
	}
}

func TestSlowlorisConnectionClosedAfterTheTimeout(t *testing.T) {
	up, seen := echoUpstream(t)
	const timeout = 300 * time.Millisecond
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL}), Limits: proxy.Limits{ReadHeaderTimeout: timeout}})
	meter := hiccup.Start()
	// From before the dial: the proxy's timeout starts at its accept, which
	// may come before this goroutine runs again after the dial.
	start := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A byte every 50 ms: the head never completes.
	closedAt := time.Duration(0)
	for i := 0; i < 100; i++ {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nX-Slow: "[i%10 : i%10+1])); err != nil {
			closedAt = time.Since(start)
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closedAt = time.Since(start)
			break
		}
	}
	host := meter.Stop()
	// Never before the timeout; after it, within 2 s on an idle host,
	// stretched by this one's delay.
	limit := host.Allow(timeout + 2*time.Second)
	t.Logf("slow client disconnected after %v (timeout %v, limit %v; %v)", closedAt, timeout, limit, host)
	if closedAt == 0 || closedAt < timeout || closedAt > limit {
		t.Fatalf("connection closed after %v, want shortly after %v (limit %v)", closedAt, timeout, limit)
	}
	if seen.Load() != 0 {
		t.Fatal("the upstream saw the slow request")
	}
	// Keep-alive idling is governed by the idle timeout, not the head one:
	// a normal client still works.
	if a := get(t, newClient(t), p.URL()); a.status != 200 {
		t.Fatalf("normal request after slowloris: %d", a.status)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestHopByHopStrippedAndForwardedHeadersSet(t *testing.T) {
	up, _ := echoUpstream(t)
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL})})
	req, _ := http.NewRequest("GET", p.URL()+"/x?q=1", nil)
	req.Host = "shop.example"
	req.Header.Set("Connection", "X-Secret")
	req.Header.Set("X-Secret", "1")
	req.Header.Set("Keep-Alive", "timeout=9")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Te", "trailers")
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-End-To-End", "kept")
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Headers http.Header }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	h := got.Headers
	for _, name := range []string{"X-Secret", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te"} {
		if v := h.Get(name); v != "" {
			t.Errorf("hop-by-hop %s reached the upstream: %q", name, v)
		}
	}
	for name, want := range map[string]string{
		"X-End-To-End": "kept", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "shop.example",
	} {
		if v := h.Get(name); v != want {
			t.Errorf("upstream saw %s: %q, want %q", name, v, want)
		}
	}
	for _, name := range []string{"X-Resp-Secret", "Keep-Alive"} {
		if v := resp.Header.Get(name); v != "" {
			t.Errorf("hop-by-hop response header %s reached the client: %q", name, v)
		}
	}
	if resp.Header.Get(headers.Node) != "a" {
		t.Errorf("node header %q", resp.Header.Get(headers.Node))
	}
}

func TestBodiesAndFramings(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d:%s", len(b), b)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := range 5 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush() // chunked to the proxy
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		c, brw, _ := w.(http.Hijacker).Hijack()
		brw.WriteString("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close body")
		brw.Flush()
		c.Close()
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	up := httptest.NewServer(mux)
	defer up.Close()
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL}), Limits: proxy.Limits{MaxBodyBytes: 1000}})
	c := newClient(t)
	body := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if s, b := body(c.Post(p.URL()+"/echo", "text/plain", strings.NewReader("hello"))); s != 200 || b != "5:hello" {
		t.Errorf("content-length body: %d %q", s, b)
	}
	// An io.Reader of unknown length goes chunked.
	if s, b := body(c.Post(p.URL()+"/echo", "text/plain", io.MultiReader(strings.NewReader("chu"), strings.NewReader("nked")))); s != 200 || b != "7:chunked" {
		t.Errorf("chunked body: %d %q", s, b)
	}
	req, _ := http.NewRequest("POST", p.URL()+"/echo", strings.NewReader("expecting"))
	req.Header.Set("Expect", "100-continue")
	if s, b := body(c.Do(req)); s != 200 || b != "9:expecting" {
		t.Errorf("expect 100-continue: %d %q", s, b)
	}
	if s, _ := body(c.Post(p.URL()+"/echo", "text/plain", strings.NewReader(strings.Repeat("x", 2000)))); s != 413 {
		t.Errorf("body over the limit: %d, want 413", s)
	}
	if s, _ := body(c.Post(p.URL()+"/echo", "text/plain", io.MultiReader(strings.NewReader(strings.Repeat("x", 2000))))); s != 413 {
		t.Errorf("chunked body over the limit: %d, want 413", s)
	}
	if s, b := body(c.Get(p.URL() + "/stream")); s != 200 || b != "part0;part1;part2;part3;part4;" {
		t.Errorf("chunked response: %d %q", s, b)
	}
	if s, b := body(c.Get(p.URL() + "/close")); s != 200 || b != "until-close body" {
		t.Errorf("close-delimited response: %d %q", s, b)
	}
	if s, b := body(c.Get(p.URL() + "/empty")); s != 204 || b != "" {
		t.Errorf("204: %d %q", s, b)
	}
	if s, b := body(c.Head(p.URL() + "/echo")); s != 200 || b != "" {
		t.Errorf("HEAD: %d %q", s, b)
	}
	// HTTP/1.0 client and pipelining on one connection.
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /stream HTTP/1.0\r\n\r\n")
	br := bufio.NewReader(conn)
	for i, want := range []string{"0:", "2:hi", "part0;part1;part2;part3;part4;"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("pipelined response %d: %q, want %q", i, b, want)
		}
	}
}

func TestRateLimitPerClient(t *testing.T) {
	up, _ := echoUpstream(t)
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL}), RateLimit: proxy.RateLimit{Rate: 5, Burst: 5}})
	c := newClient(t)
	codes := map[int]int{}
	var retryAfter string
	start := time.Now()
	for range 20 {
		resp, err := c.Get(p.URL())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retryAfter = resp.Header.Get("Retry-After")
		}
	}
	took := time.Since(start)
	// 5 of burst, and at most the tokens refilled while the loop ran: up to
	// 2 on an idle host, as many as the host's delays let refill here.
	most := max(7, 5+int(math.Ceil(took.Seconds()*5)))
	if most >= 20 && codes[429] == 0 {
		t.Skipf("statuses %v: the 20 requests took %v, long enough at 5/s to refill a token for each; nothing to limit", codes, took)
	}
	if codes[200] < 5 || codes[200] > most || codes[200]+codes[429] != 20 || retryAfter == "" {
		t.Fatalf("statuses %v (Retry-After %q) in %v, want 5-%d OK and the rest 429", codes, retryAfter, took, most)
	}
	if p.Stats().RateLimited != int64(codes[429]) {
		t.Fatalf("stats count %d rate-limited, clients saw %d", p.Stats().RateLimited, codes[429])
	}
}

func TestTLSTermination(t *testing.T) {
	up, _ := echoUpstream(t)
	p, err := proxy.New(proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL}), TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.HasPrefix(p.URL(), "https://") {
		t.Fatalf("URL %s", p.URL())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Headers http.Header }
	_ = json.NewDecoder(resp.Body).Decode(&got)
	if resp.StatusCode != 200 || got.Headers.Get("X-Forwarded-Proto") != "https" || resp.TLS == nil {
		t.Fatalf("status %d, proto %q", resp.StatusCode, got.Headers.Get("X-Forwarded-Proto"))
	}
	// A client that checks certificates refuses the self-signed one.
	if _, err := http.Get(p.URL()); err == nil {
		t.Fatal("the self-signed certificate was accepted by a verifying client")
	}
}

func TestStatsEndpoint(t *testing.T) {
	up, _ := echoUpstream(t)
	p := startWith(t, proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL, Weight: 3})})
	c := newClient(t)
	for range 3 {
		get(t, c, p.URL())
	}
	s := adminStats(t, c, p)
	if len(s.Upstreams) != 1 {
		t.Fatalf("stats: %+v", s)
	}
	u := s.Upstreams[0]
	if u.Name != "a" || u.Requests != 3 || u.Responses != 3 || !u.Healthy || u.Weight != 3 || u.LatencyEWMAMillis <= 0 {
		t.Fatalf("upstream stats: %+v", u)
	}
}
