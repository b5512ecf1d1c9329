package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/evloop"
	"github.com/ilities/ilities/internal/hiccup"
)

// The event loops (loop_linux.go) against the goroutine path (serve.go):
// the same scripted exchanges through a proxy of each kind must give the
// client the same bytes, the upstream the same bytes, and the same
// counters.

// ---- a scripted upstream ----

// upReply is what the scripted upstream does with one request.
type upReply struct {
	delay      time.Duration // wait this long before answering
	raw        string        // written as is (may be empty)
	more       string        // written moreAfter after raw, if set
	moreAfter  time.Duration //
	close      bool          // close the connection after writing
	closeAfter time.Duration // close the connection this long after writing
	// cork holds the last write back (TCP_CORK) so that, with close, it
	// leaves in one segment with the FIN: the proxy sees the data and the
	// end of stream in one readiness event.
	cork bool
}

// upScript answers the upstream's i-th request (0-based, over all its
// connections), given as received.
type upScript func(i int, req string) upReply

// scriptedUpstream is a raw TCP server on 127.0.0.1:0 that reads each
// request (head and body), records it, and answers as its script says.
type scriptedUpstream struct {
	ln     net.Listener
	addr   string
	script upScript
	done   chan struct{}
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  []net.Conn
	reqs   []string // requests as received, in order
	connOf []int    // the connection (in accept order) each came on
}

func startScripted(t *testing.T, script upScript) *scriptedUpstream {
	t.Helper()
	u, err := newScripted(script)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.close)
	return u
}

// newScripted starts a scripted upstream; the caller closes it.
func newScripted(script upScript) (*scriptedUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &scriptedUpstream{ln: ln, addr: ln.Addr().String(), script: script, done: make(chan struct{})}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			if u.closed {
				u.mu.Unlock()
				_ = c.Close()
				return
			}
			id := len(u.conns)
			u.conns = append(u.conns, c)
			u.mu.Unlock()
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				u.serve(c, id)
			}()
		}
	}()
	return u, nil
}

func (u *scriptedUpstream) serve(c net.Conn, id int) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		u.mu.Lock()
		i := len(u.reqs)
		u.reqs = append(u.reqs, req)
		u.connOf = append(u.connOf, id)
		u.mu.Unlock()
		r := u.script(i, req)
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-u.done:
				return
			}
		}
		for j, part := range []string{r.raw, r.more} {
			if j == 1 {
				if part == "" {
					break
				}
				select {
				case <-time.After(r.moreAfter):
				case <-u.done:
					return
				}
			}
			if r.cork && (j == 1 || r.more == "") {
				if err := setCork(c); err != nil {
					return
				}
			}
			if part != "" {
				if _, err := io.WriteString(c, part); err != nil {
					return
				}
			}
		}
		if r.close {
			return
		}
		if r.closeAfter > 0 {
			time.AfterFunc(r.closeAfter, func() { _ = c.Close() })
		}
	}
}

// close stops the upstream and waits for its goroutines.
func (u *scriptedUpstream) close() {
	select {
	case <-u.done:
		return
	default:
	}
	close(u.done)
	_ = u.ln.Close()
	u.mu.Lock()
	u.closed = true
	for _, c := range u.conns {
		_ = c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// record returns the requests received, in order, and the number of
// connections accepted.
func (u *scriptedUpstream) record() ([]string, []int, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.reqs...), append([]int(nil), u.connOf...), len(u.conns)
}

// readRawRequest reads one request, head and body (Content-Length or
// chunked), and returns its bytes as received.
func readRawRequest(br *bufio.Reader) (string, error) {
	var b strings.Builder
	cl, chunked := -1, false
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return "", err
		}
		if line == "\r\n" || line == "\n" {
			if first {
				continue
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			cl, _ = strconv.Atoi(value)
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		}
	}
	switch {
	case chunked:
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil {
				return "", err
			}
			size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
			if err != nil {
				return "", err
			}
			if size == 0 {
				for { // trailers
					line, err := br.ReadString('\n')
					b.WriteString(line)
					if err != nil {
						return "", err
					}
					if line == "\r\n" {
						return b.String(), nil
					}
				}
			}
			data := make([]byte, size+2)
			if _, err := io.ReadFull(br, data); err != nil {
				return "", err
			}
			b.Write(data)
		}
	case cl > 0:
		data := make([]byte, cl)
		if _, err := io.ReadFull(br, data); err != nil {
			return "", err
		}
		b.Write(data)
	}
	return b.String(), nil
}

// setCork sets TCP_CORK on c: small writes wait for the cork to go or for
// the connection's FIN, and leave with it.
func setCork(c net.Conn) error {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1)
	}); err != nil {
		return err
	}
	return serr
}

// deadAddr is an address on which nothing listens: a socket bound there
// but not listening (which refuses connections and keeps the port from
// being given to another listener) until release.
func deadAddr() (addr string, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	release = func() { _ = syscall.Close(fd) }
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		release()
		return "", nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		release()
		return "", nil, err
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port), release, nil
}

// Scripts and replies.

func always(r upReply) upScript { return func(int, string) upReply { return r } }

// okReply answers 200 with body, kept alive.
func okReply(body string) upReply {
	return upReply{raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body}
}

// requestLine is the first line of a raw request, without CRLF.
func requestLine(req string) string {
	line, _, _ := strings.Cut(req, "\r\n")
	return line
}

// echoLine answers 200 with the request line as the body.
func echoLine(_ int, req string) upReply { return okReply("you sent " + requestLine(req) + "\n") }

// ---- a raw client ----

// step is one thing the client does: after `after` complete responses
// arrived and `sleep` passed, it writes `write` (and then shuts its
// sending side down if closeWrite; with cork, write and FIN leave in one
// segment).
type step struct {
	after      int
	sleep      time.Duration
	write      string
	closeWrite bool
	cork       bool
}

// clientResult is everything a client got, and how its connection ended:
// "eof", "reset" or "open" (the quiet period passed).
type clientResult struct {
	got []byte
	end string
}

const (
	quietPeriod = 100 * time.Millisecond // no more bytes once the expected responses are in
	stallLimit  = 3 * time.Second        // no byte at all while waiting for an expected response
)

// parsedResponses parses the responses in b: the status lines of those
// whose head arrived and how many are complete. methods[i] is the method
// of the i-th request (GET when missing).
func parsedResponses(b []byte, methods []string) (status []string, complete int) {
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		m := "GET"
		if len(status) < len(methods) && methods[len(status)] != "" {
			m = methods[len(status)]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			return status, complete
		}
		status = append(status, resp.Proto+" "+resp.Status)
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return status, complete
		}
		complete++
	}
}

// clientOpts say how a client reads.
type clientOpts struct {
	methods                 []string // of the requests in turn, for framing (GET when missing)
	wantHeads, wantComplete int
	readDelay               time.Duration // before the first read
	// smallBuffers: a 4 KiB receive buffer, and reads of 2 KiB 2 ms apart.
	smallBuffers bool
}

// setBuffer sets a socket buffer (SO_RCVBUF or SO_SNDBUF) to 4 KiB.
func setBuffer(rc syscall.RawConn, opt int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096) }); err != nil {
		return err
	}
	return serr
}

// runClient connects to addr, performs the steps, and reads everything it
// gets until the proxy closes the connection, or until quietPeriod passes
// without a byte once wantHeads response heads and wantComplete complete
// responses arrived (stallLimit before that).
func runClient(addr string, steps []step, o clientOpts) (clientResult, error) {
	var d net.Dialer
	if o.smallBuffers {
		d.Control = func(_, _ string, rc syscall.RawConn) error { return setBuffer(rc, syscall.SO_RCVBUF) }
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return clientResult{}, err
	}
	defer c.Close()
	var completed atomic.Int64
	readerDone := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		writeErr <- func() error {
			for _, s := range steps {
				for limit := time.Now().Add(stallLimit); completed.Load() < int64(s.after); {
					select {
					case <-readerDone:
						return fmt.Errorf("the connection ended before step %q", s.write)
					case <-time.After(time.Millisecond):
					}
					if time.Now().After(limit) {
						return fmt.Errorf("%d responses never came before step %q", s.after, s.write)
					}
				}
				time.Sleep(s.sleep)
				if s.cork {
					if err := setCork(c); err != nil {
						return err
					}
				}
				if _, err := io.WriteString(c, s.write); err != nil {
					return fmt.Errorf("write %q: %w", s.write, err)
				}
				if s.closeWrite {
					_ = c.(*net.TCPConn).CloseWrite()
				}
			}
			return nil
		}()
	}()
	var res clientResult
	func() {
		defer close(readerDone)
		time.Sleep(o.readDelay)
		buf := make([]byte, 256<<10)
		if o.smallBuffers {
			buf = buf[:2048]
		}
		heads, complete := 0, 0
		for {
			wait := stallLimit
			if heads >= o.wantHeads && complete >= o.wantComplete {
				wait = quietPeriod
			}
			if o.smallBuffers {
				time.Sleep(2 * time.Millisecond)
			}
			_ = c.SetReadDeadline(time.Now().Add(wait))
			n, err := c.Read(buf)
			if n > 0 {
				res.got = append(res.got, buf[:n]...)
				st, cp := parsedResponses(res.got, o.methods)
				heads, complete = len(st), cp
				completed.Store(int64(complete))
			}
			if err != nil {
				var ne net.Error
				switch {
				case errors.As(err, &ne) && ne.Timeout():
					res.end = "open"
				case errors.Is(err, io.EOF):
					res.end = "eof"
				case errors.Is(err, syscall.ECONNRESET):
					res.end = "reset"
				default:
					res.end = "error: " + err.Error()
				}
				return
			}
		}
	}()
	_ = c.SetWriteDeadline(time.Now()) // a write still blocked ends
	if err := <-writeErr; err != nil && res.end == "open" {
		return res, err
	}
	return res, nil
}

// ---- the differential test ----

// upSpec is one upstream of a case, in pool order: scripted, or dead (a
// port nothing listens on).
type upSpec struct {
	name   string
	dead   bool
	script upScript
}

type loopCase struct {
	name string
	ups  []upSpec
	// pools, when set, builds the pools from the upstreams' URLs; else one
	// pool "app" on "/" with all of them.
	pools   func(url map[string]string) []PoolConfig
	retries int
	timeout time.Duration
	limits  Limits
	mod     func(*Config) // further configuration

	steps     []step
	methods   []string
	readDelay time.Duration
	// smallBuffers: 4 KiB socket buffers on the proxy's client side (send)
	// and the client's (receive), and a client that reads 2 KiB at a time:
	// output waits in the proxy.
	smallBuffers bool
	// want are the status lines of the responses the client gets (heads);
	// the last is incomplete when truncated.
	want      []string
	truncated bool
	closed    bool // the proxy ends the connection
	// endDiffers explains why the connection may end with a reset on the
	// goroutine path where the loop path ends it cleanly.
	endDiffers string
	// upConnsDiffer explains why the number of upstream connections may
	// differ between the paths (their idle pools are separate).
	upConnsDiffer string
	// check makes further assertions on the loop path's result.
	check func(t *testing.T, r *sideResult)
}

// counters are the Stats compared between the paths.
type counters struct {
	Requests, BadRequests, Unrouted, Unavailable, RateLimited, Retries int64
	Ups                                                                []upCounters
}

type upCounters struct {
	Name                                                                              string
	Requests, Responses, ConnectFailures, Resets, Timeouts, ProtocolErrors, Status5xx int64
}

func countersOf(s Stats) counters {
	c := counters{Requests: s.Requests, BadRequests: s.BadRequests, Unrouted: s.Unrouted, Unavailable: s.Unavailable, RateLimited: s.RateLimited, Retries: s.Retries}
	for _, u := range s.Upstreams {
		c.Ups = append(c.Ups, upCounters{u.Name, u.Requests, u.Responses, u.ConnectFailures, u.Resets, u.Timeouts, u.ProtocolErrors, u.Status5xx})
	}
	return c
}

// sideResult is what one proxy (loops or goroutines) made of a case.
type sideResult struct {
	client  clientResult
	status  []string
	ups     map[string][]string // requests each upstream received (addresses normalised)
	upConns map[string][]int    // the connection each came on
	nconns  map[string]int
	stats   counters
	loops   int
	ring    bool // the loops batch their reads and writes through io_uring
}

func (tc *loopCase) config(url map[string]string) Config {
	cfg := Config{Retries: tc.retries, Timeout: tc.timeout, Limits: tc.limits}
	if tc.pools != nil {
		cfg.Pools = tc.pools(url)
	} else {
		var ups []UpstreamConfig
		for _, u := range tc.ups {
			ups = append(ups, UpstreamConfig{Name: u.name, URL: url[u.name]})
		}
		cfg.Pools = []PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: ups}}
	}
	if tc.mod != nil {
		tc.mod(&cfg)
	}
	return cfg
}

// run plays the case through a fresh proxy (and fresh upstreams) on the
// loop path or the goroutine path.
func (tc *loopCase) run(loops bool, io string) (*sideResult, error) {
	url := map[string]string{}
	scripted := map[string]*scriptedUpstream{}
	defer func() {
		for _, s := range scripted {
			s.close()
		}
	}()
	for _, u := range tc.ups {
		if u.dead {
			addr, release, err := deadAddr()
			if err != nil {
				return nil, err
			}
			defer release()
			url[u.name] = "http://" + addr
			continue
		}
		s, err := newScripted(u.script)
		if err != nil {
			return nil, err
		}
		scripted[u.name] = s
		url[u.name] = "http://" + s.addr
	}
	cfg := tc.config(url)
	cfg.IO = io
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	p.noLoops = !loops
	if err := p.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	defer p.Close()
	r := &sideResult{loops: len(p.evloops), ring: len(p.evloops) > 0 && p.evloops[0].ring != nil, ups: map[string][]string{}, upConns: map[string][]int{}, nconns: map[string]int{}}
	heads, complete := len(tc.want), len(tc.want)
	if tc.truncated {
		complete--
	}
	if tc.smallBuffers {
		// Accepted sockets inherit the listener's send buffer size.
		rc, err := p.ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			return nil, err
		}
		if err := setBuffer(rc, syscall.SO_SNDBUF); err != nil {
			return nil, err
		}
	}
	r.client, err = runClient(p.Addr(), tc.steps, clientOpts{tc.methods, heads, complete, tc.readDelay, tc.smallBuffers})
	if err != nil {
		return nil, err
	}
	// Close waits until nothing is being served, so the counters are final.
	if err := p.Close(); err != nil {
		return nil, err
	}
	r.stats = countersOf(p.Stats())
	r.status, _ = parsedResponses(r.client.got, tc.methods)
	for name, s := range scripted {
		s.close()
		reqs, connOf, n := s.record()
		for i := range reqs {
			for other, o := range scripted {
				reqs[i] = strings.ReplaceAll(reqs[i], o.addr, "<"+other+">")
			}
		}
		r.ups[name], r.upConns[name], r.nconns[name] = reqs, connOf, n
	}
	return r, nil
}

// scriptStepSpacing is the closest two steps of a loop-versus-goroutine
// script are timed (a write 20 ms after another).
const scriptStepSpacing = 20 * time.Millisecond

func TestLoopMatchesGoroutinePath(t *testing.T) {
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	ok := "HTTP/1.1 200 OK"
	one := func(name string, script upScript) []upSpec { return []upSpec{{name: name, script: script}} }
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB
	byPath := func(answers map[string]upReply, dflt upScript) upScript {
		return func(i int, req string) upReply {
			f := strings.Fields(requestLine(req))
			if r, ok := answers[f[1]]; ok {
				return r
			}
			return dflt(i, req)
		}
	}
	bodyIs := func(i int, want string) func(*testing.T, *sideResult) {
		return func(t *testing.T, r *sideResult) {
			resps := splitResponses(t, r.client.got, nil)
			if len(resps) <= i || resps[i].body != want {
				t.Errorf("response %d body: want %q, got %+v", i, want, resps)
			}
		}
	}
	cases := []loopCase{
		{
			name:  "keep-alive, two requests in sequence",
			ups:   one("a", echoLine),
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: bodyIs(1, "you sent GET /two HTTP/1.1\n"),
		},
		{
			name:  "two pipelined GETs in one write",
			ups:   one("a", echoLine),
			steps: []step{{write: get("/one") + get("/two")}},
			want:  []string{ok, ok},
			check: bodyIs(1, "you sent GET /two HTTP/1.1\n"),
		},
		{
			name: "HEAD, then GET",
			ups: one("a", func(i int, req string) upReply {
				if strings.HasPrefix(req, "HEAD ") {
					return upReply{raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n"}
				}
				return echoLine(i, req)
			}),
			steps:   []step{{write: "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"}, {after: 1, write: get("/g")}},
			methods: []string{"HEAD", "GET"},
			want:    []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if !bytes.Contains(r.client.got, []byte("Content-Length: 11\r\n")) {
					t.Errorf("the HEAD answer lost its Content-Length: %q", r.client.got)
				}
			},
		},
		{
			name:   "HTTP/1.0 without keep-alive",
			ups:    one("a", echoLine),
			steps:  []step{{write: "GET /old HTTP/1.0\r\n\r\n"}},
			want:   []string{ok},
			closed: true,
		},
		{
			name: "HTTP/1.0 with keep-alive",
			ups:  one("a", echoLine),
			steps: []step{
				{write: "GET /old1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
				{after: 1, write: "GET /old2 HTTP/1.0\r\nConnection: keep-alive\r\nHost: old.example\r\n\r\n"},
			},
			want: []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if bytes.Count(r.client.got, []byte("Connection: keep-alive\r\n")) != 2 {
					t.Errorf("HTTP/1.0 keep-alive answers without Connection: keep-alive: %q", r.client.got)
				}
			},
		},
		{
			name:   "Connection: close",
			ups:    one("a", echoLine),
			steps:  []step{{write: "GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}},
			want:   []string{ok},
			closed: true,
		},
		{
			name: "GET, POST with Content-Length, GET: the loop holds the body",
			ups:  one("a", echoLine),
			steps: []step{
				{write: get("/first")},
				{after: 1, write: "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world"},
				{after: 2, write: get("/last")},
			},
			want:  []string{ok, ok, ok},
			check: bodyIs(2, "you sent GET /last HTTP/1.1\n"),
		},
		{
			name: "POST with its body in three pieces",
			ups:  one("a", echoLine),
			steps: []step{
				{write: "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhel"},
				{sleep: 50 * time.Millisecond, write: "lo wo"},
				{sleep: 50 * time.Millisecond, write: "rld"},
				{after: 1, write: get("/last")},
			},
			want:  []string{ok, ok},
			check: bodyIs(1, "you sent GET /last HTTP/1.1\n"),
		},
		{
			name: "POST with a 100 KiB body: handed over",
			ups:  one("a", echoLine),
			steps: []step{
				{write: "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 102400\r\n\r\n" + strings.Repeat("b", 100<<10)},
				{after: 1, write: get("/last")},
			},
			want:          []string{ok, ok},
			upConnsDiffer: "the loop's upstream connection stays in the loop's idle pool; the goroutine that takes the client over dials its own",
		},
		{
			name: "POST with Expect: 100-continue: handed over, 100 Continue sent",
			ups:  one("a", echoLine),
			steps: []step{
				{write: "POST /ask HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"},
				{sleep: 100 * time.Millisecond, write: "hello"},
			},
			want: []string{"HTTP/1.1 100 Continue", ok},
		},
		{
			name:  "POST with Content-Length and GET pipelined",
			ups:   one("a", echoLine),
			steps: []step{{write: "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + get("/after")}},
			want:  []string{ok, ok},
			check: bodyIs(1, "you sent GET /after HTTP/1.1\n"),
		},
		{
			name: "POST with a chunked body, then GET",
			ups:  one("a", echoLine),
			steps: []step{
				{write: "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"},
				{after: 1, write: get("/after")},
			},
			want: []string{ok, ok},
		},
		{
			name:    "Expect: 100-continue",
			ups:     one("a", echoLine),
			steps:   []step{{write: "POST /ask HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"}},
			methods: []string{"POST", "POST"},
			want:    []string{"HTTP/1.1 100 Continue", ok},
		},
		{
			name: "upstream answers chunked (re-chunked), then a second GET",
			ups: one("a", byPath(map[string]upReply{
				"/chunked": {raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"},
			}, echoLine)),
			steps: []step{{write: get("/chunked")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if !bytes.Contains(r.client.got, []byte("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")) {
					t.Errorf("not re-chunked: %q", r.client.got)
				}
			},
		},
		{
			name: "upstream answers close-delimited to HTTP/1.1 (re-chunked), then a second GET",
			ups: one("a", byPath(map[string]upReply{
				"/eof": {raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", close: true},
			}, echoLine)),
			steps: []step{{write: get("/eof")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if !bytes.Contains(r.client.got, []byte("Transfer-Encoding: chunked\r\n\r\nd\r\nuntil the end\r\n0\r\n\r\n")) {
					t.Errorf("not re-chunked: %q", r.client.got)
				}
			},
		},
		{
			name:   "upstream answers close-delimited to HTTP/1.0",
			ups:    one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", close: true})),
			steps:  []step{{write: "GET /eof HTTP/1.0\r\n\r\n"}},
			want:   []string{ok},
			closed: true,
			check: func(t *testing.T, r *sideResult) {
				if !bytes.HasSuffix(r.client.got, []byte("Connection: close\r\n\r\nuntil the end")) {
					t.Errorf("close-delimited answer: %q", r.client.got)
				}
			},
		},
		{
			name: "upstream answers 204 and 304",
			ups: one("a", byPath(map[string]upReply{
				"/204": {raw: "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"},
				"/304": {raw: "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 42\r\n\r\n"},
			}, echoLine)),
			steps: []step{{write: get("/204")}, {after: 1, write: get("/304")}, {after: 2, write: get("/after")}},
			want:  []string{"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified", ok},
			check: bodyIs(2, "you sent GET /after HTTP/1.1\n"),
		},
		{
			name: "3 MiB Content-Length body to a client that reads late, then a GET",
			ups: one("a", byPath(map[string]upReply{
				"/big": okReply(string(big)),
			}, echoLine)),
			steps:     []step{{write: get("/big")}, {after: 1, write: get("/small")}},
			readDelay: 200 * time.Millisecond,
			want:      []string{ok, ok},
			check:     bodyIs(0, string(big)),
		},
		{
			name:   "bare LF: 400",
			ups:    one("a", echoLine),
			steps:  []step{{write: "GET / HTTP/1.1\nHost: x\n\n"}},
			want:   []string{"HTTP/1.1 400 Bad Request"},
			closed: true,
		},
		{
			name:   "Content-Length and Transfer-Encoding: 400",
			ups:    one("a", echoLine),
			steps:  []step{{write: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}},
			want:   []string{"HTTP/1.1 400 Bad Request"},
			closed: true,
		},
		{
			name:   "oversized head: 431",
			ups:    one("a", echoLine),
			limits: Limits{MaxHeaderBytes: 4096},
			steps:  []step{{write: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\n\r\n"}},
			want:   []string{"HTTP/1.1 431 Request Header Fields Too Large"},
			closed: true,
			endDiffers: "the loop reads up to MaxHeaderBytes+4 KiB and so has read the whole 5 KiB head when it closes (FIN); " +
				"the goroutine path's 4 KiB reader stops at the limit and closes with the rest unread, which makes the kernel send a reset",
		},
		{
			name:   "HTTP/2.0 request line: 505",
			ups:    one("a", echoLine),
			steps:  []step{{write: "GET / HTTP/2.0\r\nHost: x\r\n\r\n"}},
			want:   []string{"HTTP/1.1 505 HTTP Version Not Supported"},
			closed: true,
		},
		{
			name:   "a good request, then a malformed one: 200, 400",
			ups:    one("a", echoLine),
			steps:  []step{{write: get("/good")}, {after: 1, write: "GET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"}},
			want:   []string{ok, "HTTP/1.1 400 Bad Request"},
			closed: true,
		},
		{
			name: "unknown host and path: 404, then routed requests on the same connection",
			ups:  []upSpec{{name: "a", script: echoLine}, {name: "b", script: echoLine}},
			pools: func(url map[string]string) []PoolConfig {
				return []PoolConfig{
					{Name: "shop", Host: "shop.example", PathPrefix: "/", Upstreams: []UpstreamConfig{{Name: "a", URL: url["a"]}}},
					{Name: "api", PathPrefix: "/api/", Upstreams: []UpstreamConfig{{Name: "b", URL: url["b"]}}},
				}
			},
			steps: []step{
				{write: "GET /x HTTP/1.1\r\nHost: unknown.example\r\n\r\n"},
				{after: 1, write: "GET /api/v HTTP/1.1\r\nHost: unknown.example\r\n\r\n"},
				{after: 2, write: "GET /x HTTP/1.1\r\nHost: SHOP.example:8080\r\n\r\n"},
			},
			want: []string{"HTTP/1.1 404 Not Found", ok, ok},
		},
		{
			name: "a pool without upstreams: 503",
			ups:  []upSpec{{name: "a", script: echoLine}},
			pools: func(url map[string]string) []PoolConfig {
				return []PoolConfig{
					{Name: "empty", PathPrefix: "/", Upstreams: nil},
					{Name: "app", PathPrefix: "/app/", Upstreams: []UpstreamConfig{{Name: "a", URL: url["a"]}}},
				}
			},
			steps: []step{{write: get("/nothing")}, {after: 1, write: get("/app/x")}},
			want:  []string{"HTTP/1.1 503 Service Unavailable", ok},
		},
		{
			name:  "GET /.ilities/stats is routed like any path (the stats are on the admin listener)",
			ups:   one("a", echoLine),
			steps: []step{{write: get(StatsPath)}, {after: 1, write: get("/after")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if len(r.ups["a"]) != 2 || requestLine(r.ups["a"][0]) != "GET "+StatsPath+" HTTP/1.1" {
					t.Errorf("upstream got %q", r.ups["a"])
				}
			},
		},
		{
			name:   "a TLS ClientHello on the plain port: 400 at once, closed",
			ups:    one("a", echoLine),
			steps:  []step{{write: "\x16\x03\x01\x00\x04\x01\x00\x00\x00"}},
			want:   []string{"HTTP/1.1 400 Bad Request"},
			closed: true,
			check: func(t *testing.T, r *sideResult) {
				if r.stats.BadRequests != 1 || len(r.ups["a"]) != 0 {
					t.Errorf("bad requests %d, upstream got %q", r.stats.BadRequests, r.ups["a"])
				}
			},
		},
		{
			name:  "upstream refuses connections, no retries: 502",
			ups:   []upSpec{{name: "a", dead: true}},
			steps: []step{{write: get("/")}, {after: 1, write: get("/again")}},
			want:  []string{"HTTP/1.1 502 Bad Gateway", "HTTP/1.1 502 Bad Gateway"},
			check: func(t *testing.T, r *sideResult) {
				if !bytes.Contains(r.client.got, []byte("X-Ilities-Backend: a\r\n")) || !bytes.Contains(r.client.got, []byte("upstream a failed\n")) {
					t.Errorf("502 does not name the upstream: %q", r.client.got)
				}
				if u := r.stats.Ups[0]; u.ConnectFailures != 2 || u.Requests != 2 {
					t.Errorf("counters %+v", u)
				}
			},
		},
		{
			name:    "one upstream refuses, retried on the other: 200",
			ups:     []upSpec{{name: "dead", dead: true}, {name: "live", script: echoLine}},
			retries: 1,
			steps:   []step{{write: get("/")}},
			want:    []string{ok},
			check: func(t *testing.T, r *sideResult) {
				if r.stats.Retries != 1 || r.stats.Ups[0].ConnectFailures != 1 || r.stats.Ups[1].Responses != 1 {
					t.Errorf("counters %+v", r.stats)
				}
			},
		},
		{
			name:  "upstream accepts and closes without answering: 502",
			ups:   one("a", always(upReply{close: true})),
			steps: []step{{write: get("/")}},
			want:  []string{"HTTP/1.1 502 Bad Gateway"},
			check: func(t *testing.T, r *sideResult) {
				if u := r.stats.Ups[0]; u.Resets != 1 {
					t.Errorf("counters %+v", u)
				}
			},
		},
		{
			name:    "upstream answers past Timeout: 504",
			ups:     one("a", func(i int, req string) upReply { r := echoLine(i, req); r.delay = time.Second; return r }),
			timeout: 200 * time.Millisecond,
			steps:   []step{{write: get("/slow")}},
			want:    []string{"HTTP/1.1 504 Gateway Timeout"},
			check: func(t *testing.T, r *sideResult) {
				if u := r.stats.Ups[0]; u.Timeouts != 1 || !bytes.Contains(r.client.got, []byte("upstream a timed out\n")) {
					t.Errorf("counters %+v, answer %q", u, r.client.got)
				}
			},
		},
		{
			name: "upstream answers 503, retried on the other: 200",
			ups: []upSpec{
				{name: "busy", script: always(upReply{raw: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"})},
				{name: "fine", script: echoLine},
			},
			retries: 1,
			steps:   []step{{write: get("/")}},
			want:    []string{ok},
			check: func(t *testing.T, r *sideResult) {
				if r.stats.Retries != 1 || r.stats.Ups[0].Status5xx != 1 || !bytes.Contains(r.client.got, []byte("X-Ilities-Backend: fine\r\n")) {
					t.Errorf("counters %+v, answer %q", r.stats, r.client.got)
				}
			},
		},
		{
			name:    "the only upstream answers 503 with retries on: its answer passes, no retry counted",
			ups:     one("busy", always(upReply{raw: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"})),
			retries: 1,
			steps:   []step{{write: get("/")}},
			want:    []string{"HTTP/1.1 503 Service Unavailable"},
			check: func(t *testing.T, r *sideResult) {
				if r.stats.Retries != 0 || r.stats.Unavailable != 0 || !bytes.HasSuffix(r.client.got, []byte("\r\n\r\nbusy\n")) {
					t.Errorf("counters %+v, answer %q", r.stats, r.client.got)
				}
			},
		},
		{
			name:    "the only upstream refuses with retries on: 502 naming it, not 503",
			ups:     []upSpec{{name: "dead", dead: true}},
			retries: 2,
			steps:   []step{{write: get("/")}},
			want:    []string{"HTTP/1.1 502 Bad Gateway"},
			check: func(t *testing.T, r *sideResult) {
				if r.stats.Retries != 0 || r.stats.Unavailable != 0 || !bytes.Contains(r.client.got, []byte("upstream dead failed\n")) {
					t.Errorf("counters %+v, answer %q", r.stats, r.client.got)
				}
			},
		},
		{
			name: "upstream closes a kept-alive connection between requests: replaced",
			ups: one("a", func(i int, req string) upReply {
				r := echoLine(i, req)
				if i == 0 {
					r.closeAfter = 50 * time.Millisecond
				}
				return r
			}),
			steps: []step{{write: get("/one")}, {after: 1, sleep: 150 * time.Millisecond, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if r.nconns["a"] != 2 {
					t.Errorf("upstream connections: %d, want 2", r.nconns["a"])
				}
			},
		},
		{
			name:      "upstream sends 4 of 10 body bytes and closes, the FIN in the same segment",
			ups:       one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", close: true, cork: true})),
			steps:     []step{{write: get("/")}},
			want:      []string{ok},
			truncated: true,
			closed:    true,
		},
		{
			name:   "client half-closes after its request",
			ups:    one("a", echoLine),
			steps:  []step{{write: get("/"), closeWrite: true}},
			want:   []string{ok},
			closed: true,
		},
		{
			name:   "client half-closes after its request, the FIN in the same segment",
			ups:    one("a", echoLine),
			steps:  []step{{write: get("/"), closeWrite: true, cork: true}},
			want:   []string{ok},
			closed: true,
		},
		{
			name: "upstream sends its head in two pieces, then a body in two pieces",
			ups: one("a", byPath(map[string]upReply{
				"/pieces": {raw: "HTTP/1.1 200 OK\r\nContent-", more: "Length: 4\r\n\r\nabcd", moreAfter: 30 * time.Millisecond},
			}, func(i int, req string) upReply {
				return upReply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", more: "efghij", moreAfter: 30 * time.Millisecond}
			})),
			steps: []step{{write: get("/pieces")}, {after: 1, write: get("/later")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				resps := splitResponses(t, r.client.got, nil)
				if len(resps) != 2 || resps[0].body != "abcd" || resps[1].body != "abcdefghij" {
					t.Errorf("responses %+v", resps)
				}
			},
		},
		{
			name:      "upstream sends 4 of 10 body bytes, later 2 more and closes, the FIN in the same segment",
			ups:       one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", more: "ef", moreAfter: 30 * time.Millisecond, cork: true, close: true})),
			steps:     []step{{write: get("/")}},
			want:      []string{ok},
			truncated: true,
			closed:    true,
			check: func(t *testing.T, r *sideResult) {
				if !bytes.HasSuffix(r.client.got, []byte("\r\n\r\nabcdef")) {
					t.Errorf("answer %q", r.client.got)
				}
			},
		},
		{
			name: "upstream closes a reused connection when the next request arrives: sent again on a new one",
			ups: one("a", func(i int, req string) upReply {
				if i == 1 {
					return upReply{close: true}
				}
				return echoLine(i, req)
			}),
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if !slices.Equal(r.upConns["a"], []int{0, 0, 1}) || r.stats.Ups[0].Resets != 0 {
					t.Errorf("connections per request %v, counters %+v", r.upConns["a"], r.stats.Ups[0])
				}
			},
		},
		{
			name: "upstream answers HTTP/1.0 with Content-Length: its connection is not reused",
			ups: one("a", func(i int, req string) upReply {
				return upReply{raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}
			}),
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if r.nconns["a"] != 2 {
					t.Errorf("upstream connections: %d, want 2", r.nconns["a"])
				}
			},
		},
		{
			name: "upstream answers Connection: close with Content-Length and keeps the connection: not reused",
			ups: one("a", func(i int, req string) upReply {
				return upReply{raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"}
			}),
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if r.nconns["a"] != 2 {
					t.Errorf("upstream connections: %d, want 2", r.nconns["a"])
				}
			},
		},
		{
			name:  "upstream sends 103 Early Hints before its answer",
			ups:   one("a", always(upReply{raw: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})),
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
		},
		{
			name:  "malformed upstream status line: 502",
			ups:   one("a", always(upReply{raw: "HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok"})),
			steps: []step{{write: get("/")}},
			want:  []string{"HTTP/1.1 502 Bad Gateway"},
			check: func(t *testing.T, r *sideResult) {
				if u := r.stats.Ups[0]; u.ProtocolErrors != 1 || u.Resets != 1 {
					t.Errorf("counters %+v", u)
				}
			},
		},
		{
			name: "hop-by-hop and forwarded headers, both ways",
			ups: one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nConnection: X-Resp\r\nX-Resp: 1\r\nKeep-Alive: timeout=5\r\n" +
				"X-Kept: yes\r\nContent-Length: 2\r\n\r\nok"})),
			steps: []step{{write: "GET /h?q=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: X-Secret, keep-alive\r\nX-Secret: 1\r\n" +
				"Keep-Alive: timeout=9\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n" +
				"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: ftp\r\nX-Forwarded-Host: evil\r\nX-End: kept\r\n\r\n"}},
			want: []string{ok},
			check: func(t *testing.T, r *sideResult) {
				want := "GET /h?q=1 HTTP/1.1\r\nHost: <a>\r\nX-End: kept\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\n\r\n"
				if len(r.ups["a"]) != 1 || r.ups["a"][0] != want {
					t.Errorf("the upstream got %q, want %q", r.ups["a"], want)
				}
				if bytes.Contains(r.client.got, []byte("X-Resp")) || bytes.Contains(r.client.got, []byte("Keep-Alive")) || !bytes.Contains(r.client.got, []byte("X-Kept: yes\r\n")) {
					t.Errorf("answer %q", r.client.got)
				}
			},
		},
		{
			name:  "absolute-form target",
			ups:   one("a", echoLine),
			steps: []step{{write: "GET http://abs.example/p?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n"}},
			want:  []string{ok},
			check: func(t *testing.T, r *sideResult) {
				if len(r.ups["a"]) != 1 || !strings.HasPrefix(r.ups["a"][0], "GET /p?x=1 HTTP/1.1\r\n") || !strings.Contains(r.ups["a"][0], "X-Forwarded-Host: abs.example\r\n") {
					t.Errorf("the upstream got %q", r.ups["a"])
				}
			},
		},
		{
			name: "a request head arriving in pieces",
			ups:  one("a", echoLine),
			steps: []step{
				{write: "GET /pie"},
				{sleep: 20 * time.Millisecond, write: "ces HTTP/1.1\r\nHo"},
				{sleep: 20 * time.Millisecond, write: "st: x\r\n\r"},
				{sleep: 20 * time.Millisecond, write: "\n"},
			},
			want:  []string{ok},
			check: bodyIs(0, "you sent GET /pieces HTTP/1.1\n"),
		},
		{
			name:  "a 10 KiB request head",
			ups:   one("a", echoLine),
			steps: []step{{write: "GET /big-head HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 10<<10) + "\r\n\r\n"}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
		},
		{
			name:  "pipelined GET, POST, GET in one write",
			ups:   one("a", echoLine),
			steps: []step{{write: get("/a") + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + get("/c")}},
			want:  []string{ok, ok, ok},
			check: bodyIs(2, "you sent GET /c HTTP/1.1\n"),
		},
		{
			name: "pipelined 3 MiB GET and POST to a client that reads late: unsent output handed over",
			ups: one("a", byPath(map[string]upReply{
				"/big": okReply(string(big)),
			}, echoLine)),
			steps:         []step{{write: get("/big") + "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}},
			readDelay:     200 * time.Millisecond,
			want:          []string{ok, ok},
			upConnsDiffer: "the loop's upstream connection stays in the loop's idle pool; the goroutine that takes the client over dials its own",
			check: func(t *testing.T, r *sideResult) {
				resps := splitResponses(t, r.client.got, nil)
				if len(resps) != 2 || resps[0].body != string(big) || resps[1].body != "you sent POST /b HTTP/1.1\n" {
					t.Errorf("%d responses", len(resps))
				}
			},
		},
		{
			name: "pipelined GET and POST, small socket buffers, a client that reads late and slowly: unsent output handed over with the client",
			ups: one("a", byPath(map[string]upReply{
				"/mid": okReply(string(big[:40<<10])),
			}, echoLine)),
			steps:         []step{{write: get("/mid") + "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}},
			readDelay:     100 * time.Millisecond,
			smallBuffers:  true,
			want:          []string{ok, ok},
			upConnsDiffer: "the loop's upstream connection stays in the loop's idle pool; the goroutine that takes the client over dials its own",
			check:         bodyIs(0, string(big[:40<<10])),
		},
		{
			name: "pipelined GET and GET answered chunked, small socket buffers, a client that reads late and slowly: unsent output handed over with the relay",
			ups: one("a", byPath(map[string]upReply{
				"/mid":     okReply(string(big[:40<<10])),
				"/chunked": {raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
			}, echoLine)),
			steps:        []step{{write: get("/mid") + get("/chunked")}},
			readDelay:    100 * time.Millisecond,
			smallBuffers: true,
			want:         []string{ok, ok},
			check:        bodyIs(1, "hello"),
		},
		{
			name: "unknown host with Connection: close: 404, closed",
			ups:  one("a", echoLine),
			pools: func(url map[string]string) []PoolConfig {
				return []PoolConfig{{Name: "shop", Host: "shop.example", PathPrefix: "/", Upstreams: []UpstreamConfig{{Name: "a", URL: url["a"]}}}}
			},
			steps:  []step{{write: "GET / HTTP/1.1\r\nHost: elsewhere\r\nConnection: close\r\n\r\n"}},
			want:   []string{"HTTP/1.1 404 Not Found"},
			closed: true,
		},
		{
			name:   "HTTP/1.0 to a refusing upstream: 502, closed",
			ups:    []upSpec{{name: "a", dead: true}},
			steps:  []step{{write: "GET / HTTP/1.0\r\n\r\n"}},
			want:   []string{"HTTP/1.1 502 Bad Gateway"},
			closed: true,
		},
		{
			name: "bodyless POST answered 503 chunked: not retried, the kept answer relayed",
			ups: []upSpec{
				{name: "busy", script: always(upReply{raw: "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nbusy\n\r\n0\r\n\r\n"})},
				{name: "fine", script: echoLine},
			},
			retries: 1,
			steps:   []step{{write: "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"}, {after: 1, write: get("/after")}},
			methods: []string{"POST"},
			want:    []string{"HTTP/1.1 503 Service Unavailable", ok},
			check: func(t *testing.T, r *sideResult) {
				if r.stats.Retries != 0 || r.stats.Ups[0].Status5xx != 1 || !bytes.Contains(r.client.got, []byte("\r\n\r\n5\r\nbusy\n\r\n0\r\n\r\n")) {
					t.Errorf("counters %+v, answer %q", r.stats, r.client.got)
				}
			},
		},
		{
			name:  "rate limited: 429",
			ups:   one("a", echoLine),
			mod:   func(c *Config) { c.RateLimit = RateLimit{Rate: 0.5, Burst: 1} },
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, "HTTP/1.1 429 Too Many Requests"},
		},
		{
			name: "cookie strategy: the sticky cookie set, not set again",
			ups:  []upSpec{{name: "a", script: echoLine}, {name: "b", script: echoLine}},
			mod:  func(c *Config) { c.Strategy = "cookie" },
			steps: []step{
				{write: get("/one")},
				{after: 1, write: "GET /two HTTP/1.1\r\nHost: x\r\nCookie: ilities_node=b\r\n\r\n"},
			},
			want: []string{ok, ok},
		},
		{
			name:   "Connection: close, upstream answers chunked",
			ups:    one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"})),
			steps:  []step{{write: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}},
			want:   []string{ok},
			closed: true,
		},
		{
			name:   "two pipelined GETs and the client's FIN in one segment",
			ups:    one("a", echoLine),
			steps:  []step{{write: get("/one") + get("/two"), closeWrite: true, cork: true}},
			want:   []string{ok, ok},
			closed: true,
		},
		{
			name:   "HTTP/1.0 keep-alive client, upstream answers chunked",
			ups:    one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"})),
			steps:  []step{{write: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"}},
			want:   []string{ok},
			closed: true, // an HTTP/1.0 client gets the unframed body ended by the close
		},
		{
			name: "upstream sends more than its Content-Length, then the next request",
			ups: one("a", func(i int, req string) upReply {
				if i == 0 {
					return upReply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"}
				}
				return echoLine(i, req)
			}),
			steps: []step{{write: get("/one")}, {after: 1, write: get("/two")}},
			want:  []string{ok, ok},
			check: func(t *testing.T, r *sideResult) {
				if !slices.Equal(r.upConns["a"], []int{0, 1}) {
					t.Errorf("connections per request %v, want [0 1]: a connection with unframed bytes was reused", r.upConns["a"])
				}
			},
		},
		{
			name:      "upstream sends 4 of 10 body bytes and closes",
			ups:       one("a", always(upReply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", close: true})),
			steps:     []step{{write: get("/")}},
			want:      []string{ok},
			truncated: true,
			closed:    true,
			check: func(t *testing.T, r *sideResult) {
				if !bytes.HasSuffix(r.client.got, []byte("\r\n\r\nabcd")) || r.stats.Ups[0].Resets != 1 {
					t.Errorf("answer %q, counters %+v", r.client.got, r.stats.Ups[0])
				}
			},
		},
	}
	for i := range cases {
		tc := &cases[i]
		t.Run(tc.name, func(t *testing.T) {
			// The loops with each IO path, beside the goroutines.
			var lp, rp, gp *sideResult
			var lerr, rerr, gerr error
			ring := evloop.HasRing()
			var wg sync.WaitGroup
			wg.Add(3)
			meter := hiccup.Start()
			go func() { defer wg.Done(); lp, lerr = tc.run(true, IOEpoll) }()
			go func() {
				defer wg.Done()
				if ring {
					rp, rerr = tc.run(true, IOUring)
				}
			}()
			go func() { defer wg.Done(); gp, gerr = tc.run(false, "") }()
			wg.Wait()
			host := meter.Stop()
			if lerr != nil || rerr != nil || gerr != nil {
				t.Fatalf("loop path: %v; with io_uring: %v; goroutine path: %v", lerr, rerr, gerr)
			}
			if lp.loops == 0 || lp.ring || gp.loops != 0 || (ring && !rp.ring) {
				t.Fatalf("loops: %d on the loop path (io_uring %v), %d on the goroutine path; io_uring here: %v", lp.loops, lp.ring, gp.loops, ring)
			}
			diffs := compareSides(t, tc, lp, gp)
			sides := []struct {
				name string
				r    *sideResult
			}{{"loop", lp}, {"goroutine", gp}}
			if ring {
				for _, d := range compareSides(t, tc, rp, gp) {
					diffs = append(diffs, "with io_uring: "+d)
				}
				sides = append(sides, struct {
					name string
					r    *sideResult
				}{"io_uring loop", rp})
			}
			missed := map[string][]string{}
			for _, side := range sides {
				r := side.r
				if !slices.Equal(r.status, tc.want) {
					missed[side.name] = append(missed[side.name], fmt.Sprintf("%s path: status lines %q, want %q", side.name, r.status, tc.want))
				}
				if closed := r.client.end != "open"; closed != tc.closed {
					missed[side.name] = append(missed[side.name], fmt.Sprintf("%s path: connection ended %q, want closed=%v", side.name, r.client.end, tc.closed))
				}
			}
			// The scripts order their steps as little as 20 ms apart: a host
			// that delays this process by more can reorder them on one side.
			problems := diffs
			for _, side := range sides {
				problems = append(problems, missed[side.name]...)
			}
			if len(problems) > 0 {
				msg := strings.Join(problems, "\n")
				if host.Max > scriptStepSpacing {
					t.Skipf("%s\nnot a failure: the host delayed this process by %v, past the %v the scripts' timing tolerates (%v)", msg, host.Max, scriptStepSpacing, host)
				}
				t.Error(msg)
			}
			if tc.check != nil {
				tc.check(t, lp)
				if ring {
					tc.check(t, rp)
				}
			}
		})
	}
}

// compareSides reports every difference between the loop path's result
// and the goroutine path's.
func compareSides(t *testing.T, tc *loopCase, lp, gp *sideResult) (diffs []string) {
	t.Helper()
	differ := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	if !bytes.Equal(lp.client.got, gp.client.got) {
		differ("the client got different bytes:\n%s", describeDiff(lp.client.got, gp.client.got))
	}
	if lp.client.end != gp.client.end {
		msg := fmt.Sprintf("the client connection ended differently: loop %q, goroutine %q", lp.client.end, gp.client.end)
		if tc.endDiffers != "" && lp.client.end == "eof" && gp.client.end == "reset" {
			t.Logf("%s: %s", msg, tc.endDiffers)
		} else {
			differ("%s", msg)
		}
	}
	for _, u := range tc.ups {
		if u.dead {
			continue
		}
		l, g := lp.ups[u.name], gp.ups[u.name]
		if !slices.Equal(l, g) {
			differ("upstream %s received different requests:\nloop:      %q\ngoroutine: %q", u.name, l, g)
		}
		if lp.nconns[u.name] != gp.nconns[u.name] || !slices.Equal(lp.upConns[u.name], gp.upConns[u.name]) {
			msg := fmt.Sprintf("upstream %s: connections per request: loop %v (%d accepted), goroutine %v (%d accepted)",
				u.name, lp.upConns[u.name], lp.nconns[u.name], gp.upConns[u.name], gp.nconns[u.name])
			if tc.upConnsDiffer == "" {
				differ("%s", msg)
			} else {
				t.Logf("%s: %s", msg, tc.upConnsDiffer)
			}
		}
	}
	if ls, gs := fmt.Sprintf("%+v", lp.stats), fmt.Sprintf("%+v", gp.stats); ls != gs {
		differ("counters differ:\nloop:      %s\ngoroutine: %s", ls, gs)
	}
	return diffs
}

type parsedResponse struct {
	status, contentType, body string
}

// splitResponses parses the complete responses in b.
func splitResponses(t *testing.T, b []byte, methods []string) []parsedResponse {
	t.Helper()
	var out []parsedResponse
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		m := "GET"
		if len(out) < len(methods) && methods[len(out)] != "" {
			m = methods[len(out)]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			return out
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return out
		}
		out = append(out, parsedResponse{resp.Proto + " " + resp.Status, resp.Header.Get("Content-Type"), string(body)})
	}
}

// describeDiff shows where two byte strings part.
func describeDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(i-200, 0)
	clip := func(x []byte) []byte { return x[from:min(len(x), i+200)] }
	return fmt.Sprintf("lengths loop %d, goroutine %d; first difference at byte %d\nloop:      %q\ngoroutine: %q", len(a), len(b), i, clip(a), clip(b))
}

// ---- timeouts, Close, allocation ----

// startLoopProxy starts a proxy with cfg that must run on event loops.
func startLoopProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if len(p.evloops) == 0 {
		t.Fatal("the proxy does not run on event loops")
	}
	if ring := p.evloops[0].ring != nil; ring != (p.cfg.IO == IOUring && evloop.HasRing()) {
		t.Fatalf("io %q: the loops batch through io_uring: %v", p.cfg.IO, ring)
	}
	return p
}

func onePoolAt(addr string) []PoolConfig {
	return []PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: []UpstreamConfig{{Name: "a", URL: "http://" + addr}}}}
}

// awaitClose reads c until the proxy closes it (or limit passes) and
// returns how it ended and any bytes that came.
func awaitClose(c net.Conn, limit time.Duration) (end string, got []byte) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return "open", got
			case errors.Is(err, io.EOF):
				return "eof", got
			case errors.Is(err, syscall.ECONNRESET):
				return "reset", got
			}
			return "error: " + err.Error(), got
		}
	}
}

// getOK sends a GET on c and reads its 200 answer.
func getOK(c net.Conn, br *bufio.Reader, path string) error {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// waitFor polls cond every 5 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func TestLoopClosesIdleAndSlowClients(t *testing.T) {
	const headTimeout, idleTimeout = 300 * time.Millisecond, 400 * time.Millisecond
	u := startScripted(t, echoLine)
	p := startLoopProxy(t, Config{Pools: onePoolAt(u.addr), Limits: Limits{ReadHeaderTimeout: headTimeout, IdleTimeout: idleTimeout}})
	meter := hiccup.Start()
	defer meter.Stop()

	type closing struct {
		name     string
		after    time.Duration // from when the clock for the timeout started, at the latest
		min, max time.Duration
		end      string
		got      []byte
		err      error
	}
	results := make(chan closing, 3)
	connected := make(chan struct{}, 3)
	dial := func() (net.Conn, *bufio.Reader, error) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return nil, nil, err
		}
		return c, bufio.NewReader(c), nil
	}
	// Half a head: closed ReadHeaderTimeout after it connected.
	go func() {
		r := closing{name: "half a head", min: headTimeout - 10*time.Millisecond, max: 2 * time.Second}
		defer func() { results <- r }()
		start := time.Now()
		c, _, err := dial()
		if r.err = err; err != nil {
			return
		}
		defer c.Close()
		if _, r.err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); r.err != nil {
			return
		}
		connected <- struct{}{}
		r.end, r.got = awaitClose(c, 3*time.Second)
		r.after = time.Since(start)
	}()
	// A request, then nothing: closed IdleTimeout after its answer.
	go func() {
		r := closing{name: "idle after a request", min: idleTimeout - 50*time.Millisecond, max: 2 * time.Second}
		defer func() { results <- r }()
		c, br, err := dial()
		if r.err = err; err != nil {
			return
		}
		defer c.Close()
		if r.err = getOK(c, br, "/idle"); r.err != nil {
			return
		}
		answered := time.Now()
		connected <- struct{}{}
		r.end, r.got = awaitClose(c, 3*time.Second)
		r.after = time.Since(answered)
	}()
	// A request, then after a pause half of the next head: closed
	// ReadHeaderTimeout after the half head (later than the idle timeout
	// of the first answer would have been).
	go func() {
		r := closing{name: "half of the second head", min: headTimeout - 10*time.Millisecond, max: 2 * time.Second}
		defer func() { results <- r }()
		c, br, err := dial()
		if r.err = err; err != nil {
			return
		}
		defer c.Close()
		if r.err = getOK(c, br, "/first"); r.err != nil {
			return
		}
		connected <- struct{}{}
		time.Sleep(idleTimeout / 2)
		start := time.Now()
		if _, r.err = io.WriteString(c, "GET /second HTTP/1.1\r\n"); r.err != nil {
			return
		}
		r.end, r.got = awaitClose(c, 3*time.Second)
		r.after = time.Since(start)
	}()
	for range 3 {
		select {
		case <-connected:
		case r := <-results:
			t.Fatalf("%s: %v", r.name, r.err)
		}
	}
	if !waitFor(200*time.Millisecond, func() bool { return p.Stats().Connections == 3 }) {
		t.Errorf("connections: %d, want 3", p.Stats().Connections)
	}
	for range 3 {
		r := <-results
		// A client the host held back starts its clock late, by up to the
		// longest stall this process saw: the close then looks early.
		host := meter.Figures()
		t.Logf("%s: closed (%s) after %v; host %v", r.name, r.end, r.after, host)
		switch {
		case r.err != nil:
			t.Errorf("%s: %v", r.name, r.err)
		case r.end != "eof" && r.end != "reset":
			t.Errorf("%s: the connection ended %q, want closed by the proxy", r.name, r.end)
		case len(r.got) > 0:
			t.Errorf("%s: got %q, want nothing", r.name, r.got)
		case r.after < r.min-host.Max || r.after > r.max:
			t.Errorf("%s: closed after %v, want within [%v, %v] (less the host's longest stall, %v)", r.name, r.after, r.min, r.max, host.Max)
		}
	}
	if !waitFor(time.Second, func() bool { return p.Stats().Connections == 0 }) {
		t.Errorf("connections: %d after every client was closed, want 0", p.Stats().Connections)
	}
	if reqs, _, _ := u.record(); len(reqs) != 2 {
		t.Errorf("the upstream got %d requests, want 2: %q", len(reqs), reqs)
	}
}

func TestLoopCloseAbortsAndCountsConnections(t *testing.T) {
	const idle, busy = 40, 10
	procsBefore := runtime.GOMAXPROCS(0)
	u := startScripted(t, func(i int, req string) upReply {
		if strings.HasPrefix(req, "GET /hang ") {
			return upReply{delay: time.Minute, raw: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"} // cut short by Close
		}
		return echoLine(i, req)
	})
	p, err := New(Config{Pools: onePoolAt(u.addr)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = p.Close()
		}
	})
	if len(p.evloops) == 0 {
		t.Fatal("the proxy does not run on event loops")
	}
	if got := runtime.GOMAXPROCS(0); got != procsBefore+len(p.evloops) {
		t.Errorf("GOMAXPROCS %d while %d loops run, want %d", got, len(p.evloops), procsBefore+len(p.evloops))
	}
	addr := p.Addr()
	conns := make([]net.Conn, idle+busy)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		if err := getOK(c, bufio.NewReader(c), fmt.Sprintf("/c%d", i)); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	if n := p.Stats().Connections; n != idle+busy {
		t.Errorf("connections: %d, want %d", n, idle+busy)
	}
	// Some clients wait for an answer when the proxy closes.
	for _, c := range conns[idle:] {
		if _, err := io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	hanging := func() int {
		reqs, _, _ := u.record()
		n := 0
		for _, r := range reqs {
			if strings.HasPrefix(r, "GET /hang ") {
				n++
			}
		}
		return n
	}
	if !waitFor(2*time.Second, func() bool { return hanging() == busy }) {
		t.Fatalf("%d requests reached the upstream, want %d", hanging(), busy)
	}
	s := p.Stats()
	if s.Connections != idle+busy || s.Upstreams[0].Inflight != busy {
		t.Errorf("connections %d, in flight %d; want %d and %d", s.Connections, s.Upstreams[0].Inflight, idle+busy, busy)
	}

	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		closed = true
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return within 2 s")
	}
	t.Logf("Close took %v", time.Since(start))
	for i, c := range conns {
		end, got := awaitClose(c, 2*time.Second)
		if (end != "eof" && end != "reset") || len(got) > 0 {
			t.Errorf("connection %d: ended %q after %q, want closed without an answer", i, end, got)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("the listen address is still taken after Close: %v", err)
	} else {
		_ = ln.Close()
	}
	if got := runtime.GOMAXPROCS(0); got != procsBefore {
		t.Errorf("GOMAXPROCS %d after Close, want %d", got, procsBefore)
	}
	s = p.Stats()
	if s.Connections != 0 || s.Upstreams[0].Inflight != 0 {
		t.Errorf("after Close: connections %d, in flight %d; want 0", s.Connections, s.Upstreams[0].Inflight)
	}
	if s.Requests != idle+2*busy || s.Upstreams[0].Responses != idle+busy {
		t.Errorf("requests %d, responses %d; want %d and %d", s.Requests, s.Upstreams[0].Responses, idle+2*busy, idle+busy)
	}
}

func TestLoopAllocatesNothingPerRequest(t *testing.T) {
	const warm, measured = 1000, 10000
	response := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var upWG sync.WaitGroup
	var upConns sync.Map
	t.Cleanup(func() {
		_ = ln.Close()
		upConns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
		upWG.Wait()
	})
	upWG.Add(1)
	go func() {
		defer upWG.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			upConns.Store(c, nil)
			upWG.Add(1)
			go func() {
				defer upWG.Done()
				ServeTiny(c, response)
			}()
		}
	}()
	p := startLoopProxy(t, Config{Pools: onePoolAt(ln.Addr().String())})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	request := []byte("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(c, 4096)
	status, contentLength := []byte("HTTP/1.1 200 "), []byte("content-length:")
	var errBadAnswer = errors.New("bad answer")
	roundTrip := func() error {
		// A hang guard per exchange: how long the 11,000 take is the host's.
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Write(request); err != nil {
			return err
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(line, status) {
			return errBadAnswer
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return err
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
				n = 0
				for _, b := range bytes.TrimSpace(line[len(contentLength):]) {
					n = n*10 + int(b-'0')
				}
			}
		}
		if n != 5 {
			return errBadAnswer
		}
		_, err = br.Discard(n)
		return err
	}
	for i := range warm {
		if err := roundTrip(); err != nil {
			t.Fatalf("warm-up request %d: %v", i, err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range measured {
		if err := roundTrip(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	runtime.ReadMemStats(&after)
	perRequest := float64(after.Mallocs-before.Mallocs) / measured
	t.Logf("%.4f allocations per request (%d in all)", perRequest, after.Mallocs-before.Mallocs)
	if perRequest >= 0.05 {
		t.Errorf("%.4f allocations per request, want < 0.05", perRequest)
	}
	if s := p.Stats(); s.Requests != warm+measured || s.Upstreams[0].Responses != warm+measured {
		t.Errorf("requests %d, responses %d; want %d", s.Requests, s.Upstreams[0].Responses, warm+measured)
	}
}

// TestLoopHandedOverConnectionsIdleOut: a connection handed over to a
// goroutine after its response head (chunked answer) must still be closed
// IdleTimeout after its last answer.
func TestLoopHandedOverConnectionsIdleOut(t *testing.T) {
	const idleTimeout = 250 * time.Millisecond
	u := startScripted(t, always(upReply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}))
	p := startLoopProxy(t, Config{Pools: onePoolAt(u.addr), Limits: Limits{IdleTimeout: idleTimeout}})
	chunked := func() (net.Conn, error) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return nil, err
		}
		if err := getOK(c, bufio.NewReader(c), "/chunked"); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	for round := range 8 {
		// Connections that close at once leave clientConns whose deadline
		// lies almost IdleTimeout ahead in the pool...
		var done []net.Conn
		for range 8 {
			c, err := chunked()
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, c)
		}
		for _, c := range done {
			c.Close()
		}
		time.Sleep(10 * time.Millisecond)
		// ... and the next hand-over takes one.
		c, err := chunked()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		end, _ := awaitClose(c, idleTimeout+time.Second)
		c.Close()
		if end == "open" {
			t.Fatalf("round %d: an idle handed-over connection still open %v after its answer (IdleTimeout %v)", round, time.Since(start), idleTimeout)
		}
	}
}
