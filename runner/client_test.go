package runner

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
)

// scriptServer answers each request with the next of its responses,
// written as raw bytes, and counts the connections it accepted. A response
// ending in "<close>" is written and the connection closed.
type scriptServer struct {
	url      string
	accepted atomic.Int64
	seen     chan string // request heads, in order
}

func newScriptServer(t *testing.T, responses ...string) *scriptServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &scriptServer{url: "http://" + ln.Addr().String(), seen: make(chan string, 100)}
	var next atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						head.WriteString(line)
						if line == "\r\n" {
							break
						}
					}
					s.seen <- head.String()
					resp := responses[int(next.Add(1)-1)%len(responses)]
					closeAfter := strings.HasSuffix(resp, "<close>")
					io.WriteString(c, strings.TrimSuffix(resp, "<close>"))
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return s
}

// framingCase is a response as the server writes it, and what a client
// must make of it, three times over.
type framingCase struct {
	name     string
	method   string
	response string
	expect   scenario.Expect
	want     outcome
	node     string
	conns    int64 // connections for 3 requests
}

// request is the case's request to GET (or its method) /x.
func (tc framingCase) request(t *testing.T) *request {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodGet
	}
	r, err := newRequest(&scenario.Scenario{}, scenario.Request{Method: method, Path: "/x"}, tc.expect, "ilities/dev")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var framingCases = []framingCase{
	{name: "content-length", response: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Ilities-Backend: app-1\r\n\r\nhello", want: outSuccess, node: "app-1", conns: 1},
	{name: "chunked with extensions and trailers", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
		expect: scenario.Expect{BodyContains: "hello world"}, want: outSuccess, conns: 1},
	{name: "chunked, text split across chunks, not found", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		expect: scenario.Expect{BodyContains: "xyz"}, want: outUnexpectedBody, conns: 1},
	{name: "no length: body to the end of the connection", response: "HTTP/1.1 200 OK\r\n\r\nuntil close<close>",
		expect: scenario.Expect{BodyContains: "until close"}, want: outSuccess, conns: 3},
	{name: "connection: close", response: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok<close>", want: outSuccess, conns: 3},
	{name: "HTTP/1.0 closes by default", response: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok<close>", want: outSuccess, conns: 3},
	{name: "HTTP/1.0 with keep-alive", response: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", want: outSuccess, conns: 1},
	{name: "100 Continue before the response", response: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", want: outSuccess, conns: 1},
	{name: "204 has no body", response: "HTTP/1.1 204 No Content\r\n\r\n", want: outSuccess, conns: 1},
	{name: "HEAD has no body", method: http.MethodHead, response: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", want: outSuccess, conns: 1},
	{name: "503", response: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", want: out5xx, conns: 1},
	{name: "malformed status line", response: "HTTP/1.1 2x0 OK\r\n\r\n<close>", want: outOther, conns: 3},
	{name: "malformed content-length", response: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n<close>", want: outOther, conns: 3},
	{name: "truncated body", response: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort<close>", want: outTruncated, conns: 3},
	{name: "truncated chunked body", response: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort<close>", want: outTruncated, conns: 3},
	{name: "header line too long", response: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", h1BufSize) + "\r\n\r\n<close>", want: outOther, conns: 3},
}

// The lean client reads every framing of a response body, keeps a
// connection only when the response allows it, and reports malformed
// responses as protocol errors.
func TestLeanClientFraming(t *testing.T) {
	for _, tc := range framingCases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScriptServer(t, tc.response)
			r := tc.request(t)
			c, err := newClient([]string{srv.url}, clientConfig{spec: scenario.Client{HTTP: scenario.HTTP1}, timeout: 2 * time.Second, connections: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if err := r.prepare(c.targets); err != nil {
				t.Fatal(err)
			}
			if !c.targets[0].lean {
				t.Fatal("plain http with HTTP/1.1 must take the lean client")
			}
			u := newUserState(0, false)
			for i := range 3 {
				ex := c.do(r, u)
				if ex.outcome != tc.want || ex.node != tc.node {
					t.Fatalf("request %d: outcome %q node %q, want %q node %q", i, ex.outcome.class(), ex.node, tc.want.class(), tc.node)
				}
			}
			if got := srv.accepted.Load(); got != tc.conns {
				t.Errorf("%d connections for 3 requests, want %d", got, tc.conns)
			}
		})
	}
}

// The request bytes: method, path and query, Host, the headers, a body
// with its length, and Connection: close without keep-alive.
func TestLeanClientRequestBytes(t *testing.T) {
	srv := newScriptServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	keepAlive := false
	c, err := newClient([]string{srv.url + "/api"}, clientConfig{spec: scenario.Client{HTTP: scenario.HTTP1, KeepAlive: &keepAlive}, timeout: time.Second, connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	r, err := newRequest(&scenario.Scenario{}, scenario.Request{Method: "GET", Path: "/items?id=7", Headers: map[string]string{"Host": "shop.example", "X-A": "1"}}, scenario.Expect{}, "ilities/dev")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.prepare(c.targets); err != nil {
		t.Fatal(err)
	}
	if ex := c.do(r, newUserState(0, false)); ex.outcome != outSuccess {
		t.Fatalf("outcome %q", ex.outcome.class())
	}
	want := "GET /api/items?id=7 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: ilities/dev\r\nX-A: 1\r\nConnection: close\r\n\r\n"
	if got := <-srv.seen; got != want {
		t.Errorf("request\n%q\nwant\n%q", got, want)
	}
}

// A kept-alive connection that the server closed while idle is replaced
// without failing the request.
func TestLeanClientRetriesAStaleConnection(t *testing.T) {
	// Every response closes the connection after it without saying so.
	srv := newScriptServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok<close>")
	c, err := newClient([]string{srv.url}, clientConfig{spec: scenario.Client{HTTP: scenario.HTTP1}, timeout: time.Second, connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	r, _ := newRequest(&scenario.Scenario{}, scenario.Request{Method: "GET", Path: "/"}, scenario.Expect{}, "ilities/dev")
	r.prepare(c.targets)
	u := newUserState(0, false)
	for i := range 5 {
		time.Sleep(10 * time.Millisecond) // let the close arrive
		if ex := c.do(r, u); ex.outcome != outSuccess {
			t.Fatalf("request %d: %q", i, ex.outcome.class())
		}
	}
}

// Several URLs share the load, and a URL that refuses connections is
// passed over: no request fails for it.
func TestSeveralURLsWithFailover(t *testing.T) {
	counting := func() (*httptest.Server, *atomic.Int64) {
		var n atomic.Int64
		srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1) })
		return srv, &n
	}
	for _, path := range clientPaths {
		t.Run(path.name, func(t *testing.T) {
			a, na := counting()
			b, nb := counting()
			dead := "http://" + closedAddr(t)
			opts := path.opts
			opts.URLs = []string{a.URL, dead, b.URL}
			res := run(t, newScenario(time.Second, openWorkload("w", 200)), opts)
			checkAccounting(t, res)
			t.Logf("a %d, b %d, totals %+v errors %v", na.Load(), nb.Load(), res.Totals, res.Errors)
			if res.Totals.Failed != 0 {
				t.Fatalf("totals %+v errors %v: the dead URL must be passed over", res.Totals, res.Errors)
			}
			if res.Totals.Succeeded != 200 {
				// Arrivals dropped by a generator the host held back.
				skipWhenHostDelayed(t, res, hostDelayForExactCounts)
				t.Fatalf("totals %+v errors %v: want every arrival sent and served", res.Totals, res.Errors)
			}
			if na.Load() < 80 || nb.Load() < 80 {
				t.Errorf("a served %d, b %d: want the load spread over both", na.Load(), nb.Load())
			}
		})
	}
}

// When a replica dies during the run, the load moves to the others.
func TestFailoverWhenAReplicaDies(t *testing.T) {
	var nb atomic.Int64
	a := okServer(t, 0, nil)
	b := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) { nb.Add(1) })
	time.AfterFunc(500*time.Millisecond, a.Close)
	res := run(t, newScenario(1500*time.Millisecond, openWorkload("w", 200)), Options{URLs: []string{a.URL, b.URL}})
	checkAccounting(t, res)
	t.Logf("b served %d; totals %+v errors %v", nb.Load(), res.Totals, res.Errors)
	if res.Totals.Failed > 10 || nb.Load() < 200 {
		// A generator the host held back sends its late arrivals in a
		// bunch: more of them are in flight when the replica dies.
		skipWhenHostDelayed(t, res, hostDelayForExactCounts)
	}
	if res.Totals.Failed > 10 {
		t.Errorf("%d failures: only requests in flight at the crash may fail", res.Totals.Failed)
	}
	if nb.Load() < 200 {
		t.Errorf("b served %d of 300 arrivals, want it to take over after the crash", nb.Load())
	}
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Protocols: HTTP/2 over TLS (with insecure for a self-signed
// certificate), cleartext HTTP/2 with prior knowledge, connection per
// request, and a bound on connections.
func TestProtocols(t *testing.T) {
	// Connections are counted as the server's connection states report
	// them: a client port may be reused once the server has closed the
	// connection before it, so remote addresses would undercount.
	type seen struct {
		proto    int
		conns    int // connections opened
		open     int // connections open now
		peakOpen int
		conc     concurrency
		mu       sync.Mutex
	}
	handler := func(s *seen) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.conc.enter()
			defer s.conc.leave()
			time.Sleep(5 * time.Millisecond)
			s.mu.Lock()
			s.proto = r.ProtoMajor
			s.mu.Unlock()
		}
	}
	connState := func(s *seen) func(net.Conn, http.ConnState) {
		return func(_ net.Conn, state http.ConnState) {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch state {
			case http.StateNew:
				s.conns++
				s.open++
				s.peakOpen = max(s.peakOpen, s.open)
			case http.StateClosed, http.StateHijacked:
				s.open--
			}
		}
	}
	noKeepAlive := false
	cases := []struct {
		name     string
		start    func(*httptest.Server)
		client   scenario.Client
		wantOK   bool
		proto    int
		maxConns int // connections open at once at most (0: no check)
		// connPerRequest: the server sees a new connection per request.
		connPerRequest bool
		maxConc        int64
	}{
		{name: "http/2 over tls, insecure", start: startTLS, client: scenario.Client{HTTP: scenario.HTTP2, Insecure: true}, wantOK: true, proto: 2},
		{name: "tls without insecure fails verification", start: startTLS, client: scenario.Client{HTTP: scenario.HTTP2}},
		{name: "https with http/1.1", start: startTLS, client: scenario.Client{HTTP: scenario.HTTP1, Insecure: true}, wantOK: true, proto: 1},
		{name: "cleartext http/2, prior knowledge", start: startH2C, client: scenario.Client{HTTP: scenario.HTTP2}, wantOK: true, proto: 2},
		{name: "connection per request", start: (*httptest.Server).Start, client: scenario.Client{HTTP: scenario.HTTP1, KeepAlive: &noKeepAlive}, wantOK: true, proto: 1, connPerRequest: true},
		{name: "max connections", start: (*httptest.Server).Start, client: scenario.Client{HTTP: scenario.HTTP1, MaxConnections: 2}, wantOK: true, proto: 1, maxConns: 2, maxConc: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &seen{}
			srv := httptest.NewUnstartedServer(handler(s))
			srv.Config.ConnState = connState(s)
			tc.start(srv)
			t.Cleanup(srv.Close)
			w := closedWorkload("w", 4)
			w.Client = tc.client
			res, err := Run(t.Context(), newScenario(300*time.Millisecond, w), Options{URL: srv.URL})
			if res == nil {
				t.Fatal(err)
			}
			checkAccounting(t, res)
			// A handshake or a request that a starved host stretches past
			// the workload's timeout fails as a timeout, whatever the case.
			skipWhenHostDelayed(t, res, hostDelayForExactCounts)
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Logf("totals %+v errors %v proto %d connections %d (at once %d) peak requests %d", res.Totals, res.Errors, s.proto, s.conns, s.peakOpen, s.conc.peak.Load())
			if !tc.wantOK {
				if res.Totals.Succeeded != 0 || res.Errors[ClassOther] == 0 {
					t.Fatalf("totals %+v errors %v, want every request to fail", res.Totals, res.Errors)
				}
				return
			}
			// How many requests 4 users complete in 300 ms depends on the
			// host; that they all succeed does not.
			if res.Totals.Failed != 0 || res.Totals.Succeeded == 0 {
				t.Fatalf("totals %+v errors %v", res.Totals, res.Errors)
			}
			if s.proto != tc.proto {
				t.Errorf("server saw HTTP/%d, want HTTP/%d", s.proto, tc.proto)
			}
			if tc.connPerRequest && int64(s.conns) < res.Totals.Succeeded {
				t.Errorf("%d connections for %d requests, want one per request", s.conns, res.Totals.Succeeded)
			}
			if tc.maxConns > 0 && s.peakOpen > tc.maxConns {
				t.Errorf("%d connections open at once, want at most %d", s.peakOpen, tc.maxConns)
			}
			if tc.maxConc > 0 && s.conc.peak.Load() > tc.maxConc {
				t.Errorf("%d requests at once, want at most %d", s.conc.peak.Load(), tc.maxConc)
			}
		})
	}
}

func startTLS(srv *httptest.Server) {
	srv.EnableHTTP2 = true
	// The certificate-failure case is expected to fail handshakes: keep
	// them out of the test output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
}

func startH2C(srv *httptest.Server) {
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
}

// The lean client allocates nothing per request (the benchmark shows it
// too; this keeps it true).
func TestLeanClientDoesNotAllocate(t *testing.T) {
	url := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"+headers.Node+": a\r\n\r\nok")
	c, err := newClient([]string{url}, clientConfig{spec: scenario.Client{HTTP: scenario.HTTP1}, timeout: time.Second, connections: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	r, _ := newRequest(&scenario.Scenario{}, scenario.Request{Method: "GET", Path: "/"}, scenario.Expect{}, "ilities/dev")
	r.prepare(c.targets)
	u := newUserState(0, false)
	c.do(r, u) // connect and learn the node name
	allocs := testing.AllocsPerRun(200, func() {
		if ex := c.do(r, u); ex.outcome != outSuccess || ex.node != "a" {
			t.Fatalf("exchange %+v", ex)
		}
	})
	if allocs > 0.1 {
		t.Errorf("%.2f allocations per request, want none", allocs)
	}
}
