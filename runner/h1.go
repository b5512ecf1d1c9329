package runner

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// The lean HTTP/1.1 client: plain http with keep-alive (or a connection per
// request), written on net.Conn so that a request costs two system calls and
// no allocation. Each connection has its own read and write buffers and
// response reader (respParser); request bytes are built once per target
// (request.wire); responses are read in place in the read buffer.

// h1BufSize bounds a response's status line, each header line and each
// line of chunked framing: it is the read buffer's size.
const h1BufSize = 16 << 10

type h1Conn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	parser respParser
	reused bool // has carried a request before: it may have been closed by the server meanwhile
}

// h1Pool holds one target's connections: at most max of them open, idle
// ones kept for reuse.
type h1Pool struct {
	addr      string
	keepAlive bool
	idle      chan *h1Conn
	slots     chan struct{} // one token per open connection
	dialer    net.Dialer

	mu      sync.Mutex
	open    map[*h1Conn]struct{}
	aborted atomic.Bool
}

func newH1Pool(addr string, maxConns int, keepAlive bool) *h1Pool {
	maxConns = max(maxConns, 1)
	return &h1Pool{
		addr:      addr,
		keepAlive: keepAlive,
		idle:      make(chan *h1Conn, maxConns),
		slots:     make(chan struct{}, maxConns),
		dialer:    net.Dialer{KeepAlive: 30 * time.Second},
		open:      map[*h1Conn]struct{}{},
	}
}

// get returns an idle connection, or dials a new one while fewer than max
// are open, or waits for one to come back until deadline.
func (p *h1Pool) get(deadline time.Time) (*h1Conn, error) {
	select {
	case c := <-p.idle:
		return c, nil
	default:
	}
	select {
	case c := <-p.idle:
		return c, nil
	case p.slots <- struct{}{}:
		return p.dial(deadline)
	default:
	}
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case c := <-p.idle:
		return c, nil
	case p.slots <- struct{}{}:
		return p.dial(deadline)
	case <-wait.C:
		return nil, errWaitTimeout
	}
}

// errWaitTimeout: no connection became free before the request's deadline.
var errWaitTimeout = &net.OpError{Op: "wait", Net: "tcp", Err: timeoutError{}}

type timeoutError struct{}

func (timeoutError) Error() string   { return "no free connection before the deadline" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (p *h1Pool) dial(deadline time.Time) (*h1Conn, error) {
	d := p.dialer
	d.Deadline = deadline
	nc, err := d.Dial("tcp", p.addr)
	if err != nil {
		<-p.slots
		return nil, err
	}
	c := &h1Conn{nc: nc, br: bufio.NewReaderSize(nc, h1BufSize), bw: bufio.NewWriterSize(nc, 4<<10)}
	p.mu.Lock()
	p.open[c] = struct{}{}
	aborted := p.aborted.Load()
	p.mu.Unlock()
	if aborted {
		p.discard(c)
		return nil, errAborted
	}
	return c, nil
}

var errAborted = errors.New("the run was aborted")

// put returns a connection after an exchange: kept when reusable.
func (p *h1Pool) put(c *h1Conn, reusable bool) {
	if reusable && p.keepAlive && !p.aborted.Load() {
		c.reused = true
		select {
		case p.idle <- c:
			return
		default:
		}
	}
	p.discard(c)
}

func (p *h1Pool) discard(c *h1Conn) {
	c.nc.Close()
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	<-p.slots
}

func (p *h1Pool) abort() {
	p.aborted.Store(true)
	p.mu.Lock()
	for c := range p.open {
		c.nc.SetDeadline(time.Unix(1, 0)) // wakes every read and write at once
	}
	p.mu.Unlock()
}

func (p *h1Pool) close() {
	for {
		select {
		case c := <-p.idle:
			p.discard(c)
		default:
			return
		}
	}
}

func (p *h1Pool) roundTrip(r *request, ti int, u *userState, deadline time.Time) (exchange, bool) {
	if r = r.rendered(ti, u, true, p.keepAlive); r == nil {
		return exchange{outcome: outOther}, false
	}
	for attempt := 0; ; attempt++ {
		c, err := p.get(deadline)
		if err != nil {
			if p.aborted.Load() {
				return exchange{outcome: outAborted}, false
			}
			var op *net.OpError
			connectFailed := errors.As(err, &op) && op.Op == "dial"
			return failure(nil, err), connectFailed
		}
		reused := c.reused
		ex, reusable, untouched, err := p.exchange(c, r, ti, u, deadline)
		p.put(c, err == nil && reusable)
		if err == nil {
			return ex, false
		}
		// A kept-alive connection the server closed meanwhile fails before
		// any byte of the response: the request is sent again on a fresh
		// connection when that is safe (as net/http does).
		if reused && untouched && r.idempotent && attempt == 0 && !p.aborted.Load() && time.Now().Before(deadline) {
			continue
		}
		switch {
		case p.aborted.Load():
			ex.outcome = outAborted
		default:
			ex.outcome, ex.err = classifyError(nil, err), err
		}
		return ex, false
	}
}

// exchange writes r on c and reads the response to its end. untouched is
// true when not a byte of the response arrived.
func (p *h1Pool) exchange(c *h1Conn, r *request, ti int, u *userState, deadline time.Time) (ex exchange, reusable, untouched bool, err error) {
	if err = c.nc.SetDeadline(deadline); err != nil {
		return ex, false, true, err
	}
	bw := c.bw
	bw.Write(r.wire[ti])
	if u.jar != nil {
		writeCookies(bw, r.std[ti].URL, u)
	}
	bw.WriteString("\r\n")
	bw.Write(r.body)
	if err = bw.Flush(); err != nil {
		return ex, false, true, err
	}

	rp := &c.parser
	rp.reset(r, u)
	rp.cookieURL = r.std[ti].URL
	err = rp.readFrom(c.br)
	ex.responded = rp.answered
	if rp.answered {
		ex.status = uint16(rp.resp.status)
	}
	if rp.phase > phaseHeaders {
		ex.node, ex.station = rp.resp.node, rp.resp.station
	}
	if err != nil {
		return ex, false, !rp.touched, err
	}
	ex.outcome = rp.outcome(r)
	return ex, !rp.resp.close, false, nil
}

// writeCookies adds the user's cookies for the target as one Cookie line.
func writeCookies(bw *bufio.Writer, target *url.URL, u *userState) {
	u.cookieLine = appendCookies(u.cookieLine[:0], target, u)
	bw.Write(u.cookieLine)
}

// appendCookies appends the user's cookies for the target to b as one
// Cookie line, nothing when it has none.
func appendCookies(b []byte, target *url.URL, u *userState) []byte {
	cookies := u.jar.Cookies(target)
	if len(cookies) == 0 {
		return b
	}
	b = append(b, "Cookie: "...)
	for i, c := range cookies {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(append(append(b, c.Name...), '='), c.Value...)
	}
	return append(b, "\r\n"...)
}

func setCookies(target *url.URL, u *userState, lines []string) {
	cookies := make([]*http.Cookie, 0, len(lines))
	for _, l := range lines {
		if c, err := http.ParseSetCookie(l); err == nil {
			cookies = append(cookies, c)
		}
	}
	u.jar.SetCookies(target, cookies)
}
