package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/http1"
	"github.com/ilities/ilities/sut/balancer"
)

// clientConn is the per-connection state, pooled between connections.
type clientConn struct {
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	ip   string
	req  http1.Request
	resp http1.Response
	buf  []byte
	sent bool // the 100 Continue went out for this request
	// deadline is the read deadline currently set on c.
	deadline time.Time
	// Reused per request so that nothing escapes to the heap.
	breq         balancer.Request
	upW, clientW sideWriter
	exclu        [4]*balancer.Upstream
	wait         waiter // the request's place at a gate, when it must wait
	// activeUp is the upstream connection of the exchange in progress, so
	// Close can abort it.
	activeUp atomic.Pointer[upConn]
}

var clientConnPool = sync.Pool{New: func() any {
	return &clientConn{
		br:   bufio.NewReaderSize(nil, 4<<10),
		bw:   bufio.NewWriterSize(nil, 8<<10),
		buf:  make([]byte, 16<<10),
		req:  http1.Request{Head: newHead()},
		resp: http1.Response{Head: newHead()},
	}
}}

func (p *Proxy) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		cs := clientConnPool.Get().(*clientConn)
		p.conns[c] = cs
		p.serving.Add(1)
		p.mu.Unlock()
		go p.serveConn(c, cs, nil)
	}
}

// serveConn serves the requests of one connection in turn. A connection
// taken over from an event loop first has resume run.
func (p *Proxy) serveConn(c net.Conn, cs *clientConn, resume func(*clientConn) bool) {
	defer crash.Guard() // run on a goroutine of its own
	cs.c = c
	cs.br.Reset(c)
	cs.bw.Reset(c)
	cs.deadline = time.Time{} // not the last connection's
	cs.ip = ""
	if pc, ok := c.(*prefixConn); ok {
		cs.ip = pc.ip
	} else if a := c.RemoteAddr(); a != nil {
		if h, _, err := net.SplitHostPort(a.String()); err == nil {
			cs.ip = h
		}
	}
	handed := false // to the HTTP/2 server, which closes it
	defer func() {
		if !handed {
			_ = c.Close()
		}
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		cs.br.Reset(nil)
		cs.bw.Reset(nil)
		cs.c = nil
		clientConnPool.Put(cs)
		p.serving.Done()
	}()
	lim := &p.cfg.Limits
	// Deadlines cost timer operations, so they are set only when they
	// matter: the idle deadline is renewed when less than three quarters of
	// it remain, and the head deadline only when the head has not arrived
	// whole (one segment holds a small request's head).
	first := true
	if resume != nil {
		if !resume(cs) {
			return
		}
		first = false
	} else if p.h2 != nil {
		if handed = p.takeH2(c, cs); handed {
			return
		}
	}
	for {
		now := time.Now()
		if first {
			cs.deadline = now.Add(lim.ReadHeaderTimeout)
			_ = c.SetReadDeadline(cs.deadline)
		} else if cs.br.Buffered() == 0 {
			if cs.deadline.Sub(now) < lim.IdleTimeout*3/4 {
				cs.deadline = now.Add(lim.IdleTimeout)
				_ = c.SetReadDeadline(cs.deadline)
			}
			if _, err := cs.br.Peek(1); err != nil {
				return
			}
		}
		if !first && !headBuffered(cs.br) {
			cs.deadline = time.Now().Add(lim.ReadHeaderTimeout)
			_ = c.SetReadDeadline(cs.deadline)
		}
		first = false
		if err := cs.req.Read(cs.br, headRules(lim.MaxHeaderBytes)); err != nil {
			if !isParseErr(err) {
				return // timeout (slowloris), reset or close: nothing to answer
			}
			p.stats.badRequests.Add(1)
			p.writeError(cs, statusOf(err), reasonOf(err), nil, 0, true)
			return
		}
		if !p.handle(cs) {
			return
		}
	}
}

// adopt serves a connection an event loop hands over, on its own goroutine:
// resume finishes what the loop had begun (and reports whether the
// connection may carry another request), then the connection is served as
// any other. It reports false, having done nothing, once the proxy is
// closed.
func (p *Proxy) adopt(c net.Conn, cs *clientConn, resume func(*clientConn) bool) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.conns[c] = cs
	p.serving.Add(1)
	p.mu.Unlock()
	go p.serveConn(c, cs, resume)
	return true
}

// prefixConn is a connection whose first bytes were already read (by an
// event loop): Read returns those before reading the connection.
type prefixConn struct {
	net.Conn
	pre []byte
	ip  string // the client's address, as the loop had it
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// headBuffered reports whether a complete request head is already in br.
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Index(b, []byte("\r\n\r\n")) >= 0
}

func (cs *clientConn) hasBody() bool { return cs.req.ContentLength > 0 || cs.req.Chunked }

// handle serves one parsed request and reports whether the connection may
// carry another.
func (p *Proxy) handle(cs *clientConn) bool {
	req := &cs.req
	p.stats.requests.Add(1)
	cs.sent = false
	// An early answer leaves a body unread: the connection must then close.
	early := func(status int, msg string, up *upstream, retryAfter int) bool {
		closeConn := cs.hasBody() || req.Close
		p.writeError(cs, status, msg, up, retryAfter, closeConn)
		return !closeConn
	}
	if p.isClosed() {
		return early(503, "proxy shutting down", nil, 1) && false
	}
	now := time.Now()
	if p.limiter != nil {
		if ok, wait := p.limiter.Allow(cs.ip, now); !ok {
			p.stats.rateLimited.Add(1)
			return early(429, "rate limit exceeded", nil, int(wait/time.Second)+1)
		}
	}
	if req.ContentLength > p.cfg.Limits.MaxBodyBytes {
		p.stats.badRequests.Add(1)
		return early(413, "request body too large", nil, 0)
	}
	pl := p.routeBytes(req.Host, req.Path)
	if pl == nil {
		p.stats.unrouted.Add(1)
		return early(404, "no pool matches this request", nil, 0)
	}
	if p.cfg.Retries > 0 {
		p.depositRetryToken()
	}
	excluded := cs.exclu[:0]
	cs.breq = balancer.Request{ClientIP: cs.ip, Header: req, Now: now}
	breq := &cs.breq
	up := p.pick(pl, breq, req.Path, excluded)
	if up == nil {
		p.stats.unavailable.Add(1)
		return early(503, "no upstream available in pool "+pl.cfg.Name, nil, 1)
	}
	for attempt := 0; ; attempt++ {
		known := p.cfg.Admission.SessionAware && balancer.CookieValue(req, p.cfg.Admission.SessionCookie) != ""
		switch up.gate.enter(up.node, &cs.wait, known, p.cfg.Admission.QueueTimeout) {
		case rejectedFull:
			up.counts.rejectedFull.Add(1)
			return early(503, "upstream "+up.cfg.Name+" is at capacity", up, retryAfterSeconds(p.cfg.Admission.QueueTimeout))
		case rejectedTimeout:
			up.counts.rejectedTimeout.Add(1)
			return early(503, "upstream "+up.cfg.Name+" queue timeout", up, retryAfterSeconds(p.cfg.Admission.QueueTimeout))
		}
		out := p.exchange(cs, pl, up)
		cs.activeUp.Store(nil)
		up.gate.leave(up.node)
		if out.done {
			return out.keep
		}
		// The exchange failed before anything reached the client.
		if attempt < p.cfg.Retries && len(excluded) < cap(excluded) && p.retryAllowed(out.fail, req, cs.hasBody()) {
			// With no other upstream to try, the client gets this
			// failure's own answer.
			if next := p.pick(pl, breq, req.Path, append(excluded, up.node)); next != nil {
				if out.uc != nil {
					_ = out.uc.c.Close() // the kept answer is dropped
				}
				p.stats.retries.Add(1)
				up.counts.retriesFrom.Add(1)
				excluded = append(excluded, up.node)
				up = next
				continue
			}
			p.refundRetryToken()
		}
		switch out.fail {
		case failTimeout:
			return early(504, "upstream "+up.cfg.Name+" timed out", up, 0)
		case failStatus:
			// A retryable answer that could not be retried was kept.
			return p.relayKept(cs, pl, up, out)
		}
		return early(502, "upstream "+up.cfg.Name+" failed", up, 0)
	}
}

func retryAfterSeconds(d time.Duration) int { return max(int((d+time.Second-1)/time.Second), 1) }

type failKind uint8

const (
	failNone failKind = iota
	failConnect
	failReset // reset, closed early, malformed answer
	failTimeout
	failStatus // a 502/503/504 answer, kept for relaying
)

type outcome struct {
	done bool // the client got an answer (or is gone)
	keep bool // the client connection may be reused
	fail failKind
	uc   *upConn // failStatus: the connection holding the unread answer
}

// retryAllowed applies the retry rules: connect failures always, others only
// for idempotent methods whose body was not sent; all within the budget.
func (p *Proxy) retryAllowed(f failKind, req *http1.Request, hasBody bool) bool {
	if f != failConnect && (!Idempotent(string(req.Method)) || hasBody) {
		return false
	}
	if !p.takeRetryToken() {
		p.stats.retryBudgetExhausted.Add(1)
		return false
	}
	return true
}

// Idempotent reports whether the proxy may retry a request of method m
// after a failure other than a refused connection (when it has no body).
func Idempotent(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// Retry budget: every request deposits RetryBudget retries (in thousandths)
// up to a cap; a retry withdraws one.
const retryTokenCap = 100 * 1000

func (p *Proxy) depositRetryToken() {
	if p.retryTok.Load() < retryTokenCap {
		p.retryTok.Add(int64(p.cfg.RetryBudget * 1000))
	}
}

// refundRetryToken gives back a token taken for a retry that found no
// upstream to go to.
func (p *Proxy) refundRetryToken() { p.retryTok.Add(1000) }

func (p *Proxy) takeRetryToken() bool {
	for {
		t := p.retryTok.Load()
		if t < 1000 {
			return false
		}
		if p.retryTok.CompareAndSwap(t, t-1000) {
			return true
		}
	}
}

// pick selects an upstream of pl, avoiding excluded ones (upstreams already
// tried for this request). With AllDown "panic" and nothing available it
// rotates over every member that is not draining.
func (p *Proxy) pick(pl *pool, breq *balancer.Request, path []byte, excluded []*balancer.Upstream) *upstream {
	view := pl.load()
	members := view.members
	if len(excluded) > 0 {
		members = make([]*balancer.Upstream, 0, len(view.members))
		for _, m := range view.members {
			skip := false
			for _, x := range excluded {
				skip = skip || m == x
			}
			if !skip {
				members = append(members, m)
			}
		}
	}
	if pl.needsPath {
		breq.Path = string(path)
	}
	node := pl.policy.Select(members, breq)
	if node == nil && p.cfg.AllDown == "panic" && len(members) > 0 {
		for range members {
			cand := members[pl.panicRR.Add(1)%uint64(len(members))]
			if up := view.byNode[cand]; up != nil && !up.health.Draining() {
				node = cand
				p.stats.panicRouted.Add(1)
				break
			}
		}
	}
	if node == nil {
		return nil
	}
	return view.byNode[node]
}

// exchange forwards the request to up and relays the answer. It retries
// once on a fresh connection when a reused one turns out to have been closed
// by the upstream before the request reached it.
func (p *Proxy) exchange(cs *clientConn, pl *pool, up *upstream) outcome {
	up.counts.requests.Add(1)
	for fresh := false; ; fresh = true {
		var uc *upConn
		var reused bool
		var err error
		if fresh {
			uc, err = up.dial()
		} else {
			uc, reused, err = up.getConn()
		}
		if err != nil {
			up.counts.connectFailures.Add(1)
			p.observe(pl, up, 0, true, time.Now())
			return outcome{fail: failConnect}
		}
		cs.activeUp.Store(uc)
		if p.isClosed() {
			_ = uc.c.Close()
		}
		start := time.Now()
		bodySent, err := p.sendRequest(cs, up, uc)
		if err != nil {
			_ = uc.c.Close()
			if err == errClientBody || err == http1.ErrBodyTooLarge {
				// The client's body was bad or too big: nothing to retry.
				status, msg := 400, "malformed request body"
				if err == http1.ErrBodyTooLarge {
					status, msg = 413, "request body too large"
				}
				p.stats.badRequests.Add(1)
				p.writeError(cs, status, msg, nil, 0, true)
				return outcome{done: true}
			}
			if reused && !bodySent {
				continue // stale keep-alive connection
			}
			up.counts.resets.Add(1)
			p.observe(pl, up, time.Since(start), true, time.Now())
			return outcome{fail: failReset}
		}
		_ = uc.c.SetReadDeadline(start.Add(p.cfg.Timeout))
		resp := &cs.resp
		err = readResponse(resp, uc.br, p.cfg.Limits.MaxHeaderBytes)
		if err != nil {
			_ = uc.c.Close()
			if reused && !bodySent && len(resp.Bytes) == 0 && staleErr(err) {
				continue
			}
			now := time.Now()
			if isTimeoutErr(err) {
				up.counts.timeouts.Add(1)
				p.observe(pl, up, now.Sub(start), true, now)
				return outcome{fail: failTimeout}
			}
			up.counts.resets.Add(1)
			if err == http1.ErrMalformedResponse {
				up.counts.protocolErrors.Add(1)
			}
			p.observe(pl, up, now.Sub(start), true, now)
			return outcome{fail: failReset}
		}
		now := time.Now()
		up.counts.responses.Add(1)
		p.noteLoad(up, resp)
		failed := resp.Status >= 500
		if failed {
			up.counts.status5xx.Add(1)
		}
		p.observe(pl, up, now.Sub(start), failed, now)
		if (resp.Status == 502 || resp.Status == 503 || resp.Status == 504) && p.cfg.Retries > 0 {
			return outcome{fail: failStatus, uc: uc}
		}
		if resp.Status == 101 && upgradeRequest(&cs.req) {
			return p.tunnel(cs, pl, up, uc)
		}
		return p.relay(cs, pl, up, uc)
	}
}

var errClientBody = errors.New("client body")

// staleErr reports whether err is what a keep-alive connection closed by the
// upstream gives on first use.
func staleErr(err error) bool {
	return err == io.EOF || err == io.ErrUnexpectedEOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// sendRequest writes the request head and body to the upstream. bodySent
// says whether any of the client's body was consumed.
func (p *Proxy) sendRequest(cs *clientConn, up *upstream, uc *upConn) (bodySent bool, err error) {
	req := &cs.req
	bw := uc.bw
	bw.Write(p.appendRequestHead(bw.AvailableBuffer(), req, up, cs.ip))
	if cs.hasBody() {
		if req.Expect100 && !cs.sent {
			cs.sent = true
			cs.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := cs.bw.Flush(); err != nil {
				return false, errClientBody
			}
		}
		cs.deadline = time.Now().Add(p.cfg.Timeout)
		_ = cs.c.SetReadDeadline(cs.deadline)
		bodySent = true
		w := &cs.upW
		*w = sideWriter{w: bw}
		if req.Chunked {
			rules := headRules(p.cfg.Limits.MaxHeaderBytes)
			rules.MaxBody = p.cfg.Limits.MaxBodyBytes
			err = copyChunked(bw, cs.br, true, rules)
		} else {
			_, err = copyN(w, cs.br, req.ContentLength, cs.buf)
		}
		if err != nil {
			if err == http1.ErrBodyTooLarge {
				return true, err
			}
			if w.err != nil || bw.Buffered() == 0 && isUpstreamErr(err) {
				return true, err // the upstream side failed
			}
			return true, errClientBody
		}
	}
	return bodySent, bw.Flush()
}

// appendRequestHead appends the head of req as forwarded to up: Host is the
// upstream's, hop-by-hop headers go, X-Forwarded-* are set.
func (p *Proxy) appendRequestHead(b []byte, req *http1.Request, up *upstream, ip string) []byte {
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, req.Target...)
	b = append(b, " HTTP/1.1\r\n"...)
	b = append(b, up.hostLine...)
	var priorXFF []byte
	for i := range req.Fields {
		f := &req.Fields[i]
		switch f.Kind {
		case http1.KindHost, http1.KindExpect:
			continue
		case http1.KindOther:
			switch ownKindOf(f.Name) {
			case ownXFProto, ownXFHost:
				continue
			case ownXFF:
				if p.cfg.TrustForwarded && priorXFF == nil {
					priorXFF = f.Value
				}
				continue
			}
		}
		if hopByHop(&req.Head, f) {
			continue
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, '\r', '\n')
	}
	if upgradeRequest(req) {
		b = appendUpgrade(b, upgradeValue(&req.Head))
	}
	if req.Chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	} else if req.ContentLength >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, req.ContentLength, 10)
		b = append(b, '\r', '\n')
	}
	b = append(b, "X-Forwarded-For: "...)
	if priorXFF != nil {
		b = append(b, priorXFF...)
		b = append(b, ", "...)
	}
	b = append(b, ip...)
	if p.cfg.TLS {
		b = append(b, "\r\nX-Forwarded-Proto: https\r\n"...)
	} else {
		b = append(b, "\r\nX-Forwarded-Proto: http\r\n"...)
	}
	if len(req.Host) > 0 {
		b = append(b, "X-Forwarded-Host: "...)
		b = append(b, req.Host...)
		b = append(b, '\r', '\n')
	}
	return append(b, '\r', '\n')
}

// sideWriter remembers whether a write error came from its side.
type sideWriter struct {
	w   io.Writer
	err error
}

func (s *sideWriter) Write(b []byte) (int, error) {
	n, err := s.w.Write(b)
	if err != nil {
		s.err = err
	}
	return n, err
}

func isUpstreamErr(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// relay copies the upstream's answer (head already read into cs.resp) to the
// client and returns the upstream connection to the pool when it is clean.
func (p *Proxy) relay(cs *clientConn, pl *pool, up *upstream, uc *upConn) outcome {
	req, resp := &cs.req, &cs.resp
	bw := cs.bw
	plan := planRelay(req, resp, p.isClosed())
	bw.Write(appendResponseHead(bw.AvailableBuffer(), req, resp, pl, up, &plan))
	var err error
	reusable := !resp.Close && !plan.untilClose
	cw := &cs.clientW
	*cw = sideWriter{w: bw}
	switch plan.body {
	case http1.ChunkedBody:
		err = copyChunked(bw, uc.br, plan.rechunk, headRules(p.cfg.Limits.MaxHeaderBytes))
	case http1.LengthBody:
		_, err = copyN(cw, uc.br, resp.ContentLength, cs.buf)
	case http1.CloseBody:
		err = copyUntilClose(bw, uc.br, plan.rechunk, cs.buf)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		_ = uc.c.Close()
		if cw.err == nil && !errors.Is(err, net.ErrClosed) && !isClientWriteErr(err) {
			// The upstream broke off mid-body; the client's framing cannot
			// be completed, so its connection closes. What did arrive is
			// passed on first: a client must see a truncated response, not
			// an empty connection it would silently retry.
			_ = bw.Flush()
			up.counts.resets.Add(1)
		}
		return outcome{done: true, keep: false}
	}
	if reusable && uc.br.Buffered() == 0 {
		// (Bytes past the response's framing would be taken for the next
		// response: such a connection is closed.)
		up.putConn(uc) // its read deadline is set again on next use
	} else {
		_ = uc.c.Close()
	}
	return outcome{done: true, keep: !plan.closeClient}
}

// relayPlan is how a response is passed on: how its body is delimited as
// it comes, its framing to the client and whether the client connection
// closes after it.
type relayPlan struct {
	body                                       http1.Body
	bodyless, untilClose, rechunk, closeClient bool
	// upgrade is a 101's Upgrade value (upgrade.go), nil otherwise.
	upgrade []byte
}

func planRelay(req *http1.Request, resp *http1.Response, closing bool) relayPlan {
	pl := relayPlan{body: resp.Body(string(req.Method) == "HEAD")}
	pl.bodyless = pl.body == http1.NoBody
	pl.untilClose = pl.body == http1.CloseBody
	pl.closeClient = req.Close || closing || (pl.untilClose && req.Minor == 0)
	pl.rechunk = (pl.body == http1.ChunkedBody || pl.untilClose) && req.Minor == 1
	if (pl.body == http1.ChunkedBody || pl.untilClose) && !pl.rechunk {
		// An HTTP/1.0 client gets the body unframed: its end is the close.
		pl.closeClient = true
	}
	return pl
}

// appendResponseHead appends the head of resp as passed on to the client:
// hop-by-hop headers go, the node is named, the sticky cookie is set when
// the client does not already carry this upstream's.
func appendResponseHead(b []byte, req *http1.Request, resp *http1.Response, pl *pool, up *upstream, plan *relayPlan) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(resp.Status), 10)
	b = append(b, ' ')
	b = append(b, resp.Reason...)
	b = append(b, '\r', '\n')
	sawNode := false
	for i := range resp.Fields {
		f := &resp.Fields[i]
		if hopByHop(&resp.Head, f) {
			continue
		}
		if f.Kind == http1.KindOther && ownKindOf(f.Name) == ownNode {
			sawNode = true
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, '\r', '\n')
	}
	if !sawNode {
		b = append(b, up.nodeLine...)
	}
	if pl.sticky != "" && balancer.CookieValue(req, pl.sticky) != up.cfg.Name {
		b = append(b, "Set-Cookie: "...)
		b = append(b, pl.sticky...)
		b = append(b, '=')
		b = append(b, up.cfg.Name...)
		b = append(b, "; Path=/; HttpOnly\r\n"...)
	}
	switch {
	case plan.rechunk:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case resp.ContentLength >= 0 && (!plan.bodyless || string(req.Method) == "HEAD" || resp.Status == 304):
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, resp.ContentLength, 10)
		b = append(b, '\r', '\n')
	}
	if plan.upgrade != nil {
		b = appendUpgrade(b, plan.upgrade)
	} else if plan.closeClient {
		b = append(b, "Connection: close\r\n"...)
	} else if req.Minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, '\r', '\n')
}

func isClientWriteErr(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// relayKept relays a retryable answer that was kept because no retry was
// possible after all.
func (p *Proxy) relayKept(cs *clientConn, pl *pool, up *upstream, out outcome) bool {
	return p.relay(cs, pl, up, out.uc).keep
}

// copyUntilClose copies a close-delimited body.
func copyUntilClose(bw *bufio.Writer, br *bufio.Reader, rechunk bool, buf []byte) error {
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if rechunk {
				b := bw.AvailableBuffer()
				b = strconv.AppendInt(b, int64(n), 16)
				b = append(b, '\r', '\n')
				bw.Write(b)
			}
			if _, werr := bw.Write(buf[:n]); werr != nil {
				return werr
			}
			if rechunk {
				bw.WriteString("\r\n")
			}
		}
		if err == io.EOF {
			if rechunk {
				_, werr := bw.WriteString("0\r\n\r\n")
				return werr
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// writeError answers with a short text body.
func (p *Proxy) writeError(cs *clientConn, status int, msg string, up *upstream, retryAfter int, closeConn bool) {
	bw := cs.bw
	bw.Write(appendError(bw.AvailableBuffer(), &cs.req, status, msg, up, retryAfter, closeConn))
	_ = bw.Flush()
}

// appendError appends a short text answer to req.
func appendError(b []byte, req *http1.Request, status int, msg string, up *upstream, retryAfter int, closeConn bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, statusText(status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(msg)+1), 10)
	b = append(b, '\r', '\n')
	if up != nil {
		b = append(b, up.nodeLine...)
	}
	if retryAfter > 0 {
		b = append(b, "Retry-After: "...)
		b = strconv.AppendInt(b, int64(retryAfter), 10)
		b = append(b, '\r', '\n')
	}
	if closeConn {
		b = append(b, "Connection: close\r\n"...)
	} else if req.Minor == 0 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, '\r', '\n')
	if string(req.Method) != "HEAD" {
		b = append(b, msg...)
		b = append(b, '\n')
	}
	return b
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 413:
		return "Content Too Large"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// noteLoad reads the upstream's load report, if any.
func (p *Proxy) noteLoad(up *upstream, resp *http1.Response) {
	for i := range resp.Fields {
		if f := &resp.Fields[i]; f.Kind == http1.KindOther && ownKindOf(f.Name) == ownLoad {
			if l, ok := balancer.ParseLoad(f.Value); ok {
				up.load.Store(&l)
			}
			return
		}
	}
}

// observe records a finished exchange for the stats, passive health and a
// learning strategy.
func (p *Proxy) observe(pl *pool, up *upstream, rtt time.Duration, failed bool, now time.Time) {
	if !failed {
		up.latency.observe(rtt)
	}
	p.passiveResult(up, failed, now)
	if pl.observe != nil {
		pl.observe.Observe(up.node, balancer.Observation{At: now, RTT: rtt, Failed: failed, Load: up.load.Load()})
	}
}

func (p *Proxy) isClosed() bool { return p.closing.Load() }
