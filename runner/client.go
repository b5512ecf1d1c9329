package runner

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/scenario"
)

// failoverHold is how long a target that refused a connection is passed
// over before it is tried again.
const failoverHold = time.Second

// bodyCheckLimit bounds how much of a response body is kept to look for
// expect.body_contains.
const bodyCheckLimit = 1 << 20

// request is one request of a mix or one session step, prepared once for
// every target: each arrival or step sends it without building anything.
type request struct {
	name       string
	method     string
	path       string // path and query, appended to each target's base path
	header     http.Header
	host       string // Host header override, "" for the target's own
	body       []byte
	expect     expectation
	idempotent bool
	// tmpl, when set, renders the path, header values or body per send
	// (templated.go); checks are expect's JSON and header checks and the
	// step's extractions (checks.go). Both nil for most requests.
	tmpl   *templated
	checks *responseChecks
	// ws, when set, makes the request a WebSocket session (websocket.go).
	ws *wsRequest

	// wire[i] is the HTTP/1.1 request line and headers for target i, each
	// line ending in CRLF, without the blank line: the lean client writes
	// it, then any Cookie line, then CRLF and the body.
	wire [][]byte
	// std[i] is the request for target i on the net/http path.
	std []*http.Request
}

// newRequest builds one of a workload's requests; userAgent is its
// User-Agent unless the scenario's headers name one.
func newRequest(sc *scenario.Scenario, r scenario.Request, expect scenario.Expect, userAgent string) (*request, error) {
	path := r.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	body, err := sc.ReadBody(r)
	if err != nil {
		return nil, fmt.Errorf("request %s %s: body_file: %w", method, r.Path, err)
	}
	if r.Expect != nil {
		expect = *r.Expect
	}
	req := &request{
		name:       r.Name,
		method:     method,
		path:       path,
		header:     http.Header{},
		body:       body,
		expect:     newExpectation(expect.Status, expect.BodyContains),
		idempotent: idempotentMethod(method),
	}
	if req.name == "" {
		req.name = method + " " + r.Path
	}
	for k, v := range r.Headers {
		if textproto.CanonicalMIMEHeaderKey(k) == "Host" {
			req.host = v
			continue
		}
		req.header.Set(k, v)
	}
	if req.header.Get("User-Agent") == "" {
		req.header.Set("User-Agent", userAgent)
	}
	if r.Templates != nil {
		req.tmpl = newTemplated(r.Templates, req.header)
	}
	req.checks = newResponseChecks(expect, r.Extract)
	if r.WebSocket != nil {
		req.ws = newWSRequest(r)
	}
	return req, nil
}

func idempotentMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// prepare builds the request's per-target forms.
func (r *request) prepare(targets []*target) error {
	if r.tmpl != nil {
		return r.prepareTemplated(targets)
	}
	r.wire = make([][]byte, len(targets))
	r.std = make([]*http.Request, len(targets))
	for i, t := range targets {
		std, err := r.stdRequest(strings.TrimRight(t.base.String(), "/")+r.path, r.body)
		if err != nil {
			return err
		}
		r.std[i] = std
		if t.lean {
			r.wire[i] = r.serialize(std, t.keepAlive)
		}
	}
	return nil
}

// serialize writes the HTTP/1.1 request line and headers of std.
func (r *request) serialize(std *http.Request, keepAlive bool) []byte {
	b := append([]byte(r.method+" "), std.URL.RequestURI()...)
	b = appendFields(append(b, " HTTP/1.1\r\n"...), std)
	return appendTrailer(b, r.method, len(r.body), keepAlive)
}

// target is one address of the system under test.
type target struct {
	base      *url.URL
	lean      bool // plain http with HTTP/1.1: the lean client
	keepAlive bool
	conns     targetConns
	// downUntil is when a target that refused a connection is tried again
	// (UnixNano; 0 when up).
	downUntil atomic.Int64
}

func (t *target) down(now int64) bool { return t.downUntil.Load() > now }

// targetConns is one target's connections and how a request goes over them.
type targetConns interface {
	// roundTrip sends r and reads its response by deadline. connectFailed
	// is true when no connection could be made at all: the request was not
	// sent and may go to another target.
	roundTrip(r *request, ti int, u *userState, deadline time.Time) (ex exchange, connectFailed bool)
	// abort makes every exchange in flight end at once, as aborted.
	abort()
	close()
}

// exchange is what became of one request that was sent.
type exchange struct {
	outcome   outcome
	node      string // the response's headers.Node, "" when none
	responded bool   // a status line came back
	station   stationTiming
	status    uint16 // the response's status code, 0 when none came back
	err       error  // why it failed, when an error says (failure)
}

// sample records the exchange of the workload's request req, intended for
// intended, sent at sent and done at done.
func (ex *exchange) sample(intended, sent, done time.Duration, req int) sample {
	return sample{
		intended:  intended,
		sent:      sent,
		done:      done,
		node:      ex.node,
		station:   ex.station,
		outcome:   ex.outcome,
		responded: ex.responded,
		req:       uint16(req),
		status:    ex.status,
		err:       ex.err,
	}
}

// userState is what one worker or virtual user carries from request to
// request: its place in the rotation over the targets, its cookies, a
// buffer for body checks and the node names it has seen.
type userState struct {
	next  int
	jar   *cookiejar.Jar // nil: no cookies are kept
	body  []byte
	nodes map[string]string
	data  *userData // rows, variables and render buffers (data.go); nil when not needed
	// cookieLine is the Cookie line's buffer, reused from request to request.
	cookieLine []byte
}

func newUserState(first int, cookies bool) *userState {
	u := &userState{next: first}
	if cookies {
		u.resetCookies()
	}
	return u
}

func (u *userState) resetCookies() {
	u.jar, _ = cookiejar.New(nil) // New never fails without options
}

// intern returns the node name v as a string, allocating it only the first
// time this user sees it.
func (u *userState) intern(v []byte) string {
	if s, ok := u.nodes[string(v)]; ok {
		return s
	}
	s := string(v)
	if u.nodes == nil {
		u.nodes = map[string]string{} // made for the first node seen: none for a target that names none
	}
	u.nodes[s] = s
	return s
}

// client spreads requests over the targets, one after the other, and
// fails over: a target that cannot be connected to is passed over for
// failoverHold, and the request goes to the next one. A request that was
// sent is never sent again elsewhere.
type client struct {
	targets []*target
	timeout time.Duration
	// ws dials the WebSocket sessions, nil when the workload has none.
	ws *wsClient
}

func (c *client) do(r *request, u *userState) exchange {
	return c.doWithin(r, u, 0, len(c.targets))
}

// doWithin sends r to one of the targets from first up to end, spread
// and failed over between them as do does over all.
func (c *client) doWithin(r *request, u *userState, first, end int) exchange {
	deadline := time.Now().Add(c.timeout)
	n := end - first
	if n == 1 {
		ex, _ := c.targets[first].conns.roundTrip(r, first, u, deadline)
		return ex
	}
	targets := c.targets[first:end]
	now := time.Now().UnixNano()
	start := nextUp(targets, u.next, now)
	u.next++
	var last exchange
	for i := range n {
		ti := (start + i) % n
		t := targets[ti]
		// A target known to be down is tried only as the last resort.
		if i > 0 && t.down(now) && i < n-1 {
			continue
		}
		ex, connectFailed := t.conns.roundTrip(r, first+ti, u, deadline)
		if !connectFailed {
			return ex
		}
		if ex.outcome != outAborted {
			t.downUntil.Store(time.Now().Add(failoverHold).UnixNano())
		}
		last = ex
		if ex.outcome == outTimeout || ex.outcome == outAborted || !time.Now().Before(deadline) {
			break
		}
	}
	return last
}

// nextUp is the index of the k-th of targets that is up (round the list),
// so that the load is spread evenly over the targets that are up; when
// none is up, the k-th target.
func nextUp(targets []*target, k int, now int64) int {
	up := 0
	for _, t := range targets {
		if !t.down(now) {
			up++
		}
	}
	if up == 0 {
		return k % len(targets)
	}
	k %= up
	for i, t := range targets {
		if !t.down(now) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return 0
}

func (c *client) abort() {
	for _, t := range c.targets {
		t.conns.abort()
	}
	if c.ws != nil {
		c.ws.cancel()
	}
}

func (c *client) close() {
	for _, t := range c.targets {
		t.conns.close()
	}
	if c.ws != nil {
		c.ws.cancel()
	}
}

// clientConfig is what newClient needs beside the URLs.
type clientConfig struct {
	spec        scenario.Client
	timeout     time.Duration
	connections int // per target
	// forceStd sends plain HTTP/1.1 through net/http too (for tests that
	// compare the two paths).
	forceStd bool
}

func newClient(urls []string, cfg clientConfig) (*client, error) {
	if len(urls) == 0 {
		return nil, fmt.Errorf("runner: no target URL")
	}
	c := &client{timeout: cfg.timeout}
	for _, raw := range urls {
		base, err := url.Parse(raw)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("runner: target URL %q: want http://host[:port][/prefix] or https://...", raw)
		}
		t := &target{
			base:      base,
			keepAlive: cfg.spec.KeepsAlive(),
			lean:      base.Scheme == "http" && cfg.spec.HTTP != scenario.HTTP2 && !cfg.forceStd && base.User == nil,
		}
		if t.lean {
			t.conns = newH1Pool(hostPort(base), cfg.connections, t.keepAlive)
		} else {
			t.conns = newStdConns(base, cfg)
		}
		c.targets = append(c.targets, t)
	}
	return c, nil
}

// hostPort is the URL's host with its port made explicit.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}
