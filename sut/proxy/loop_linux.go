package proxy

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/evloop"
	"github.com/ilities/ilities/internal/http1"
	"github.com/ilities/ilities/internal/procs"
	"github.com/ilities/ilities/internal/timerheap"
	"github.com/ilities/ilities/sut/balancer"
)

// The event loops: plain HTTP/1.1 proxying without a goroutine per
// connection. Each loop is one goroutine on its own thread with its own
// epoll set, accepting from the shared listener (EPOLLEXCLUSIVE) and
// keeping its own keep-alive connections to the upstreams. Sockets are
// registered once, edge-triggered, for input and output; a read that
// returns less than it asked for means the socket is drained, so a request
// costs its reads and writes and no read that only finds nothing.
//
// A request body of up to loopBodyBuffer is read whole before the request
// is forwarded. Where the goroutine path's blocking, buffered style is far
// simpler and the case is not the common one, the loop hands the connection
// over: a larger or chunked request body, one awaiting 100 Continue, or a
// request to switch protocols (a WebSocket handshake, whose tunnel is two
// blocking copies: upgrade.go) goes to a goroutine before anything is done
// with the request, a response
// that is chunked or delimited by the upstream closing goes to one after
// its head was read and accounted. The goroutine serves the connection from then on. The loop
// runs only when no admission limit is set (admission makes requests wait
// for a slot, which the goroutine path does) and without TLS.
//
// A loop sleeps in epoll_pwait issued as a raw system call: the runtime
// sees a running goroutine, which keeps its processor; GOMAXPROCS is raised
// by one per loop while the proxy runs (package procs). The system calls
// are package evloop's, shared with the load generator's loop; the reads
// and writes of an iteration go through io_uring in batches unless
// Config.IO is "epoll" (ring_linux.go).

const (
	loopMaxEvents = 256
	loopReadBuf   = 32 << 10
	// loopOutLimit: above this much unsent output the loop reads no further
	// pipelined request from the client.
	loopOutLimit = 64 << 10
	loopInBuf    = 4 << 10
	// loopBodyBuffer: request bodies up to this size are read whole by the
	// loop; larger ones are handed over.
	loopBodyBuffer = 64 << 10
	loopUpBuf      = 8 << 10
	acceptBatch    = 64
	// loopSweepEvery: idle connections of removed upstreams are closed at
	// this period, and the stop signal re-checked.
	loopSweepEvery = time.Second
)

type lkind uint8

const (
	lClient lkind = iota
	lUpstream
)

type lstate uint8

const (
	cHead    lstate = iota // waiting for (the rest of) a request head
	cBody                  // waiting for the rest of a request body
	cBusy                  // an exchange is in progress
	cClosing               // writing its last bytes, then closing
	uConnecting
	uSending
	uAwaiting // the request is sent; waiting for the response head
	uBody     // relaying a Content-Length body
	uIdle
)

// lconn is one connection of a loop: a client's or an upstream's.
type lconn struct {
	// tag: in the loop's table, on its events, timers and idle lists; stale
	// once the connection is released, so they are told apart from its
	// slot's next user.
	tag   evloop.Tag
	fd    int
	kind  lkind
	state lstate
	// Edge-triggered readiness: set by an event, cleared by a read that
	// finds the socket drained.
	readable bool
	// hup: the peer closed (or the socket failed). No event will follow,
	// so reads go on past a short one until they meet the end.
	hup bool
	// With the ring (IO "uring"): the result of a read the loop made for
	// c in its batch, its bytes already in c.in, which c's next fill
	// returns rather than read (pre as fill's n, preErr as its errno);
	// flushing: c's output waits for the loop's batch of writes.
	preSet, flushing bool
	pre              int
	preErr           syscall.Errno

	in           []byte // received bytes not yet used are in[inOff:inLen]
	reader       http1.SliceReader
	inOff, inLen int
	out          []byte // bytes to write are out[outOff:]
	outOff       int
	deadline     int64 // loop clock; 0: none
	heapAt       int64 // deadline of this connection's live timer entry, 0: none

	// client
	ip            string
	req           *http1.Request
	resp          *http1.Response
	bodyLen       int  // the request body held in c.in from inOff
	headTimer     bool // the request head deadline is in force
	parsedPartial bool // in holds an incomplete head already parsed once
	queued        bool // in the loop's ready list
	pl            *pool
	up            *upstream
	uc            *lconn // the upstream connection of the exchange
	holding       bool   // the exchange holds a slot of up
	attempt       int
	excl          [4]*balancer.Upstream
	nexcl         int
	breq          balancer.Request
	keep          bool  // the connection may carry another request after this one
	bodyLeft      int64 // response body bytes still to relay
	upReusable    bool

	// upstream
	owner  *lconn
	target *upstream
	reused bool
	got    bool // a response byte arrived
	start  time.Time
}

// loop is one event loop.
type loop struct {
	p             *Proxy
	poll          *evloop.Poller
	lnFd          int
	conns         evloop.Table[lconn]
	timers        timerheap.Heap[evloop.Tag]
	idle          map[*upstream][]evloop.Tag
	ready         []*lconn
	rbuf, scratch []byte
	base          time.Time
	now           time.Time
	nowNs         int64
	acceptResume  int64 // the listener is paused (descriptors ran out) until then
	nextSweep     int64

	// ring, when set, batches the reads and writes of each iteration
	// (ring_linux.go); nil: each is a system call of its own.
	ring    *evloop.Ring
	ops     []evloop.Op
	opConns []evloop.Tag
	flushQ  []evloop.Tag // connections with output for the batch of writes
}

// listenerTag is the shared listener's tag on a loop's events.
var listenerTag = evloop.Tag{Slot: -2}

// loopSupported: the loops are built on epoll, which every Linux has.
func loopSupported() bool { return true }

// startLoops serves ln with event loops, one per processor (not counting
// those held by other loops). It reports
// false, having started nothing, if the loops cannot be set up.
func (p *Proxy) startLoops(ln net.Listener) bool {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return false
	}
	n := max(procs.Base(), 1)
	var loops []*loop
	fail := func() bool {
		for _, l := range loops {
			l.closeFds()
		}
		return false
	}
	for range n {
		l := &loop{p: p, lnFd: -1, idle: map[*upstream][]evloop.Tag{}, base: time.Now()}
		loops = append(loops, l)
		rc, err := tl.SyscallConn()
		if err != nil {
			return fail()
		}
		var dupErr error
		if err := rc.Control(func(fd uintptr) {
			l.lnFd, dupErr = syscall.Dup(int(fd))
		}); err != nil || dupErr != nil {
			l.lnFd = -1
			return fail()
		}
		syscall.CloseOnExec(l.lnFd)
		if syscall.SetNonblock(l.lnFd, true) != nil {
			return fail()
		}
		if l.poll, err = evloop.NewPoller(loopMaxEvents); err != nil {
			return fail()
		}
		if !l.listen(true) {
			return fail()
		}
		l.rbuf = make([]byte, loopReadBuf)
		l.scratch = make([]byte, 0, 16<<10)
		l.ring = newRing(p.cfg.IO)
	}
	p.evloops = loops
	p.releaseProcs = procs.Hold(n)
	for _, l := range loops {
		p.loops.Add(1)
		go func() {
			defer crash.Guard()
			defer p.loops.Done()
			l.run()
		}()
	}
	return true
}

// listen adds the listener to the loop's epoll set, or takes it out.
func (l *loop) listen(on bool) bool {
	if !on {
		return l.poll.Del(l.lnFd) == nil
	}
	return l.poll.Add(l.lnFd, syscall.EPOLLIN|evloop.Exclusive, listenerTag) == nil
}

// wake ends the loop's current wait (on Close).
func (l *loop) wake() { l.poll.Wake() }

// closeFds closes the loop's descriptors, when it ends and again from
// Close (which does nothing then); a wake after it does nothing.
func (l *loop) closeFds() {
	if l.lnFd >= 0 {
		syscall.Close(l.lnFd)
		l.lnFd = -1
	}
	if l.poll != nil {
		l.poll.Close()
	}
	if l.ring != nil {
		l.ring.Close()
	}
}

func (l *loop) stopped() bool {
	select {
	case <-l.p.stop:
		return true
	default:
		return false
	}
}

func (l *loop) run() {
	evloop.LockThread(0) // its waits are in milliseconds: the default slack
	defer l.shutdown()
	l.clock()
	l.nextSweep = l.nowNs + int64(loopSweepEvery)
	for !l.stopped() {
		l.wait()
		l.expire()
		for i := 0; i < len(l.ready); i++ {
			c := l.ready[i]
			l.ready[i] = nil
			c.queued = false
			l.resume(c)
		}
		l.ready = l.ready[:0]
		l.flushAll()
		if l.nowNs >= l.nextSweep {
			l.sweep()
			l.nextSweep = l.nowNs + int64(loopSweepEvery)
		}
	}
}

// shutdown closes every connection (aborting the exchanges in progress)
// and the loop's own descriptors.
func (l *loop) shutdown() {
	for c := range l.conns.All() {
		if c.kind == lClient && c.holding {
			c.up.gate.leave(c.up.node)
			c.holding = false
		}
		l.closeConn(c)
	}
	l.closeFds()
}

func (l *loop) clock() {
	l.now = time.Now()
	l.nowNs = int64(l.now.Sub(l.base))
}

// wait sleeps until an event or the next deadline and handles the events.
func (l *loop) wait() {
	next := l.nextSweep
	if t, _, ok := l.timers.Peek(); ok && t < next {
		next = t
	}
	if l.acceptResume > 0 && l.acceptResume < next {
		next = l.acceptResume
	}
	d := time.Duration(next - l.nowNs)
	if len(l.ready) > 0 {
		d = 0 // connections wait for the loop: only a look at the sockets
	}
	events := l.poll.WaitMillis(d)
	l.clock()
	if l.acceptResume > 0 && l.nowNs >= l.acceptResume {
		l.acceptResume = 0
		l.listen(true)
	}
	noted := l.ring != nil
	if noted {
		l.readAhead(events)
	}
	l.handle(events, noted)
}

// handle handles a wait's events in order; noted: their readiness is
// already recorded (readAhead).
func (l *loop) handle(events []syscall.EpollEvent, noted bool) {
	for i := range events {
		ev := &events[i]
		if l.poll.Woken(ev) {
			continue
		}
		if evloop.TagOf(ev) == listenerTag {
			l.accept()
			continue
		}
		c := l.conns.Event(ev)
		if c == nil {
			continue // an event for a connection closed meanwhile
		}
		if !noted {
			noteEvent(c, ev.Events)
		}
		l.dispatch(c, ev.Events)
	}
}

// noteEvent records the readiness an event reports.
func noteEvent(c *lconn, mask uint32) {
	if mask&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		c.readable = true
	}
	if mask&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		c.hup = true
	}
}

// dispatch continues c after an event.
func (l *loop) dispatch(c *lconn, mask uint32) {
	writable := mask&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	if c.kind == lClient {
		if writable && c.outOff < len(c.out) {
			l.flushClient(c)
		}
		if c.fd >= 0 && c.hasInput() {
			switch c.state {
			case cHead:
				l.readHead(c)
			case cBody:
				l.readBody(c)
			}
		}
		return
	}
	switch c.state {
	case uConnecting:
		if writable {
			l.connected(c)
		}
	case uSending:
		if writable || c.readable {
			l.flushUp(c)
		}
	case uAwaiting:
		if c.hasInput() {
			l.readResponse(c)
		}
	case uBody:
		if c.readable {
			l.pumpBody(c)
		}
	case uIdle:
		if c.readable {
			l.closeConn(c) // the upstream closed it, or spoke unasked
		}
	}
}

// resume continues a client that was waiting for the loop: more requests
// already received, or a relay held up by unsent output.
func (l *loop) resume(c *lconn) {
	if c.fd < 0 {
		return
	}
	switch {
	case c.state == cHead:
		l.readHead(c)
	case c.state == cBody:
		l.readBody(c)
	case c.state == cBusy && c.uc != nil && c.uc.state == uBody:
		l.pumpBody(c.uc)
	}
}

func (l *loop) schedule(c *lconn) {
	if !c.queued {
		c.queued = true
		l.ready = append(l.ready, c)
	}
}

func (l *loop) accept() {
	for range acceptBatch {
		fd, sa, err := evloop.Accept(l.lnFd)
		if err != nil {
			switch err {
			case syscall.EINTR, syscall.ECONNABORTED:
				continue
			case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
				// Out of descriptors: stop accepting for a moment rather
				// than spin on a listener that stays readable.
				l.listen(false)
				l.acceptResume = l.nowNs + int64(20*time.Millisecond)
			}
			return
		}
		c := l.newConn(fd, lClient)
		c.ip = sockaddrIP(sa)
		if c.req == nil {
			c.req = &http1.Request{Head: newHead()}
			c.resp = &http1.Response{Head: newHead()}
		}
		c.state = cHead
		c.headTimer = true
		l.setDeadline(c, l.nowNs+int64(l.p.cfg.Limits.ReadHeaderTimeout))
		l.p.loopClients.Add(1)
		if !l.register(c) {
			l.closeConn(c)
		}
	}
}

func sockaddrIP(sa syscall.Sockaddr) string {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrFrom4(a.Addr).String()
	case *syscall.SockaddrInet6:
		return netip.AddrFrom16(a.Addr).Unmap().String()
	}
	return ""
}

func (l *loop) newConn(fd int, kind lkind) *lconn {
	c, tag := l.conns.Open()
	c.tag, c.fd, c.kind, c.readable, c.hup = tag, fd, kind, false, false
	c.preSet, c.flushing = false, false
	c.inOff, c.inLen, c.out, c.outOff = 0, 0, c.out[:0], 0
	c.deadline, c.heapAt = 0, 0
	c.headTimer, c.parsedPartial, c.queued = false, false, false
	c.pl, c.up, c.uc, c.holding, c.owner, c.target = nil, nil, nil, false, nil, nil
	c.reused, c.got = false, false
	return c
}

// register adds c to the epoll set, edge-triggered, for input and output.
func (l *loop) register(c *lconn) bool {
	return l.poll.Add(c.fd, syscall.EPOLLIN|syscall.EPOLLOUT|syscall.EPOLLRDHUP|evloop.EdgeTriggered, c.tag) == nil
}

// closeConn closes c's socket and frees its slot.
func (l *loop) closeConn(c *lconn) {
	if c.fd < 0 {
		return
	}
	syscall.Close(c.fd)
	l.release(c)
}

// release frees c's slot (its socket is closed or handed over).
func (l *loop) release(c *lconn) {
	if c.kind == lClient {
		l.p.loopClients.Add(-1)
	}
	c.fd = -1
	c.preSet, c.flushing = false, false
	c.deadline, c.heapAt = 0, 0
	c.uc, c.owner, c.pl, c.up, c.target = nil, nil, nil, nil, nil
	c.breq = balancer.Request{}
	c.excl = [4]*balancer.Upstream{}
	// A free slot keeps no buffers: the loop's memory follows the
	// connections open, not the most it ever had.
	c.in, c.out, c.req, c.resp = nil, nil, nil, nil
	c.bodyLen = 0
	c.reader.Reset(nil)
	l.conns.Release(c.tag)
}

// ---- reading and writing ----

// fill reads what c's socket has into c.in. It returns the bytes read,
// 0 when there were none (c is drained), or -1 at end of stream or on an
// error (errno then says which; 0 for end of stream). A read the loop's
// batch made for c is returned instead, once.
func (l *loop) fill(c *lconn, limit int) (int, syscall.Errno) {
	if c.preSet {
		c.preSet = false
		return c.pre, c.preErr
	}
	space, errno := l.inSpace(c, limit)
	if errno != 0 {
		return -1, errno
	}
	n, errno := evloop.Read(c.fd, space)
	return c.took(len(space), n, errno)
}

// inSpace makes room in c.in, up to limit bytes in all, and returns it.
func (l *loop) inSpace(c *lconn, limit int) ([]byte, syscall.Errno) {
	if c.inOff == c.inLen {
		c.inOff, c.inLen = 0, 0
	}
	if c.inLen == len(c.in) {
		switch {
		case c.inOff > 0:
			c.inLen = copy(c.in, c.in[c.inOff:c.inLen])
			c.inOff = 0
		case len(c.in) < limit:
			size := loopInBuf
			if c.kind == lUpstream {
				size = loopUpBuf
			}
			grown := make([]byte, max(size, 2*len(c.in)))
			copy(grown, c.in[:c.inLen])
			c.in = grown
		default:
			return nil, syscall.EMSGSIZE
		}
	}
	return c.in[c.inLen:], 0
}

// took accounts a read of n bytes (or errno) into the room inSpace gave,
// and returns it as fill does.
func (c *lconn) took(room, n int, errno syscall.Errno) (int, syscall.Errno) {
	switch {
	case errno == syscall.EAGAIN:
		c.readable = false
		return 0, 0
	case errno != 0:
		return -1, errno
	case n == 0:
		return -1, 0
	}
	if n < room && !c.hup {
		c.readable = false
	}
	c.inLen += n
	return n, 0
}

// hasInput reports whether c has input to take: its socket is readable,
// or a batch's read for it waits in c.in.
func (c *lconn) hasInput() bool { return c.readable || c.preSet }

// inLimit is the most c.in may hold in c's state: a request head, a
// request head and body, or a response head, each with a buffer's slack.
func (l *loop) inLimit(c *lconn) int {
	lim := l.p.cfg.Limits.MaxHeaderBytes
	switch c.state {
	case cBody:
		return lim + loopBodyBuffer + loopInBuf
	case uAwaiting:
		return lim + loopUpBuf
	}
	return lim + loopInBuf
}

// send queues b for the client and writes what the socket takes now. It
// reports false if the client is gone (c is then closed).
func (l *loop) send(c *lconn, b []byte) bool {
	if c.outOff < len(c.out) || l.ring != nil {
		if l.ring != nil {
			l.queueFlush(c)
		}
		c.out = append(c.out, b...)
		return true
	}
	n, errno := evloop.Write(c.fd, b)
	if errno != 0 {
		l.clientGone(c)
		return false
	}
	if n < len(b) {
		c.out = append(c.out[:0], b[n:]...)
		c.outOff = 0
	}
	return true
}

// flushClient writes the client's queued output and continues what waited
// for it.
func (l *loop) flushClient(c *lconn) {
	if l.ring != nil {
		l.queueFlush(c)
		return
	}
	n, errno := evloop.Write(c.fd, c.out[c.outOff:])
	l.clientWrote(c, n, errno)
}

// clientWrote continues a client after n bytes of its output were written,
// or errno failed it.
func (l *loop) clientWrote(c *lconn, n int, errno syscall.Errno) {
	if errno != 0 {
		l.clientGone(c)
		return
	}
	c.outOff += n
	if c.outOff < len(c.out) {
		return
	}
	c.out, c.outOff = c.out[:0], 0
	if cap(c.out) > loopOutLimit {
		c.out = nil // a large response's buffer is not kept by an idle connection
	}
	switch c.state {
	case cClosing:
		l.closeConn(c)
	case cHead, cBusy:
		l.schedule(c)
	}
}

// clientGone ends a client whose socket failed, aborting its exchange.
func (l *loop) clientGone(c *lconn) {
	if uc := c.uc; uc != nil {
		l.closeConn(uc)
	}
	l.leaveGate(c)
	l.closeConn(c)
}

func (l *loop) leaveGate(c *lconn) {
	if c.holding {
		c.holding = false
		c.up.gate.leave(c.up.node)
	}
}

// ---- the client side ----

// readHead reads and serves the client's requests until it has to wait.
func (l *loop) readHead(c *lconn) {
	lim := &l.p.cfg.Limits
	limit := l.inLimit(c)
	for c.fd >= 0 && c.state == cHead {
		if c.outOff < len(c.out) && len(c.out)-c.outOff > loopOutLimit {
			return // flushClient schedules c once the client has read
		}
		if c.inLen > c.inOff && !c.parsedPartial {
			r := &c.reader // kept in c: as a LineReader it would escape
			r.Reset(c.in[c.inOff:c.inLen])
			err := c.req.Read(r, headRules(lim.MaxHeaderBytes))
			switch err {
			case nil:
				c.inOff += r.Consumed()
				c.headTimer = false
				c.deadline = 0
				l.serve(c)
				continue
			case io.EOF, io.ErrUnexpectedEOF:
				c.parsedPartial = true
				if !c.headTimer {
					c.headTimer = true
					l.setDeadline(c, l.nowNs+int64(lim.ReadHeaderTimeout))
				}
			default:
				if maybe, _ := isH2Preface(c.in[c.inOff:c.inLen]); maybe && l.p.h2 != nil {
					l.handOverH2(c)
					return
				}
				l.p.stats.badRequests.Add(1)
				l.reply(c, appendError(l.scratch[:0], c.req, statusOf(err), reasonOf(err), nil, 0, true), false)
				return
			}
		}
		if !c.hasInput() {
			return
		}
		n, _ := l.fill(c, limit)
		switch {
		case n > 0:
			c.parsedPartial = false
		case n == 0:
			if !c.readable {
				return
			}
		default: // end of stream or error: nothing to answer
			if c.outOff < len(c.out) {
				c.state = cClosing
				l.setDeadline(c, l.nowNs+int64(lim.IdleTimeout))
				return
			}
			l.closeConn(c)
			return
		}
	}
}

// reply sends a complete answer of the loop's own (an error) and
// ends the request.
func (l *loop) reply(c *lconn, b []byte, keep bool) {
	l.scratch = b[:0]
	if !l.send(c, b) {
		return
	}
	l.endRequest(c, keep)
}

// endRequest readies c for its next request, or closes it once its output
// is written.
func (l *loop) endRequest(c *lconn, keep bool) {
	c.pl, c.up = nil, nil
	c.inOff += c.bodyLen // the body was held until now, for retries
	c.bodyLen = 0
	if !keep {
		c.state = cClosing
		if c.outOff >= len(c.out) {
			l.closeConn(c)
			return
		}
		l.setDeadline(c, l.nowNs+int64(l.p.cfg.Limits.IdleTimeout))
		return
	}
	c.state = cHead
	c.parsedPartial = false
	l.setDeadline(c, l.nowNs+int64(l.p.cfg.Limits.IdleTimeout))
	if c.inLen > c.inOff || c.hasInput() {
		l.schedule(c)
	}
}

// early answers the request itself, the connection kept as handle would.
func (l *loop) early(c *lconn, status int, msg string, up *upstream, retryAfter int) {
	closeConn := c.req.Close || c.bodyLen > 0
	l.reply(c, appendError(l.scratch[:0], c.req, status, msg, up, retryAfter, closeConn), !closeConn)
}

// serve handles a parsed request as Proxy.handle does, up to sending it.
func (l *loop) serve(c *lconn) {
	p := l.p
	req := c.req
	// A body the loop can hold is read whole before anything else is done
	// (as nginx buffers request bodies); a larger or chunked one, or one
	// awaiting 100 Continue, goes with the connection to a goroutine, and
	// so does a request to switch protocols (upgrade.go says why).
	if req.Chunked || req.Expect100 || req.ContentLength > min(loopBodyBuffer, p.cfg.Limits.MaxBodyBytes) || upgradeRequest(req) {
		l.handOverClient(c)
		return
	}
	if req.ContentLength > 0 {
		c.bodyLen = int(req.ContentLength)
		if c.inLen-c.inOff < c.bodyLen {
			c.state = cBody
			l.setDeadline(c, l.nowNs+int64(p.cfg.Timeout))
			l.readBody(c)
			return
		}
	}
	l.serveWhole(c)
}

// readBody reads the rest of a request body the loop holds.
func (l *loop) readBody(c *lconn) {
	limit := l.inLimit(c)
	for c.inLen-c.inOff < c.bodyLen {
		if !c.hasInput() {
			return
		}
		n, _ := l.fill(c, limit)
		if n < 0 {
			l.bodyFailed(c)
			return
		}
		if n == 0 && !c.readable {
			return
		}
	}
	c.deadline = 0
	l.serveWhole(c)
}

// bodyFailed answers a request whose body did not arrive whole (the
// client closed, or took longer than Config.Timeout) as the goroutine path
// does: the request is counted, refused with 400 and the connection closed.
func (l *loop) bodyFailed(c *lconn) {
	c.state = cBusy
	l.p.stats.requests.Add(1)
	l.p.stats.badRequests.Add(1)
	l.reply(c, appendError(l.scratch[:0], c.req, 400, "malformed request body", nil, 0, true), false)
}

// serveWhole handles a request whose head (and body) is in c.in.
func (l *loop) serveWhole(c *lconn) {
	p := l.p
	req := c.req
	c.state = cBusy
	p.stats.requests.Add(1)
	if p.isClosed() {
		l.reply(c, appendError(l.scratch[:0], req, 503, "proxy shutting down", nil, 1, true), false)
		return
	}
	if p.limiter != nil {
		if ok, wait := p.limiter.Allow(c.ip, l.now); !ok {
			p.stats.rateLimited.Add(1)
			l.early(c, 429, "rate limit exceeded", nil, int(wait/time.Second)+1)
			return
		}
	}
	pl := p.routeBytes(req.Host, req.Path)
	if pl == nil {
		p.stats.unrouted.Add(1)
		l.early(c, 404, "no pool matches this request", nil, 0)
		return
	}
	if p.cfg.Retries > 0 {
		p.depositRetryToken()
	}
	c.pl, c.attempt, c.nexcl = pl, 0, 0
	c.breq = balancer.Request{ClientIP: c.ip, Header: req, Now: l.now}
	l.tryUpstream(c)
}

// tryUpstream picks an upstream for c's request and starts the exchange.
func (l *loop) tryUpstream(c *lconn) {
	p := l.p
	up := p.pick(c.pl, &c.breq, c.req.Path, c.excl[:c.nexcl])
	if up == nil {
		p.stats.unavailable.Add(1)
		l.early(c, 503, "no upstream available in pool "+c.pl.cfg.Name, nil, 1)
		return
	}
	l.startOn(c, up)
}

// startOn starts c's exchange with up.
func (l *loop) startOn(c *lconn, up *upstream) {
	up.gate.enter(up.node, nil, false, 0) // no admission limit with loops: a slot at once
	c.up, c.holding = up, true
	up.counts.requests.Add(1)
	l.connectUp(c, false)
}

// failed ends an exchange that got no usable answer: a retry on another
// upstream where allowed, else the error answer (or the kept 5xx).
func (l *loop) failed(c *lconn, f failKind) {
	p := l.p
	up := c.up
	l.leaveGate(c)
	if c.attempt < p.cfg.Retries && c.nexcl < len(c.excl) && p.retryAllowed(f, c.req, c.bodyLen > 0) {
		// With no other upstream to try, the client gets this failure's
		// own answer.
		c.excl[c.nexcl] = up.node
		if next := p.pick(c.pl, &c.breq, c.req.Path, c.excl[:c.nexcl+1]); next != nil {
			if c.uc != nil {
				l.closeConn(c.uc) // the kept answer is dropped
				c.uc = nil
			}
			p.stats.retries.Add(1)
			up.counts.retriesFrom.Add(1)
			c.nexcl++
			c.attempt++
			l.startOn(c, next)
			return
		}
		c.excl[c.nexcl] = nil
		p.refundRetryToken()
	}
	switch f {
	case failTimeout:
		l.early(c, 504, "upstream "+up.cfg.Name+" timed out", up, 0)
	case failStatus:
		l.relay(c)
	default:
		l.early(c, 502, "upstream "+up.cfg.Name+" failed", up, 0)
	}
}

// ---- the upstream side ----

// connectUp sends c's request to c.up on an idle connection or a new one
// (fresh: always a new one).
func (l *loop) connectUp(c *lconn, fresh bool) {
	up := c.up
	var uc *lconn
	if !fresh {
		uc = l.takeIdle(up)
	}
	reused := uc != nil
	if uc == nil {
		if uc = l.dial(up); uc == nil {
			up.counts.connectFailures.Add(1)
			l.p.observe(c.pl, up, 0, true, l.now)
			l.failed(c, failConnect)
			return
		}
	}
	uc.owner, uc.reused, uc.got = c, reused, false
	uc.inOff, uc.inLen, uc.preSet = 0, 0, false
	c.uc = uc
	uc.out = l.p.appendRequestHead(uc.out[:0], c.req, up, c.ip)
	uc.out = append(uc.out, c.in[c.inOff:c.inOff+c.bodyLen]...)
	uc.outOff = 0
	if uc.state == uConnecting {
		l.setDeadline(uc, l.nowNs+int64(l.p.cfg.DialTimeout))
		return
	}
	l.beginSend(uc)
}

func (l *loop) beginSend(uc *lconn) {
	uc.start = l.now
	uc.state = uSending
	l.setDeadline(uc, l.nowNs+int64(l.p.cfg.Timeout))
	l.flushUp(uc)
}

// dial opens a connection to up, or returns nil if that failed at once.
func (l *loop) dial(up *upstream) *lconn {
	ap, ok := up.resolve(l.now)
	if !ok {
		return nil
	}
	sa, family := evloop.Sockaddr(ap)
	fd, err := evloop.Socket(family)
	if err != nil {
		return nil
	}
	pending, err := evloop.Connect(fd, sa)
	if err != nil {
		syscall.Close(fd)
		return nil
	}
	uc := l.newConn(fd, lUpstream)
	uc.target = up
	uc.state = uSending
	if pending {
		uc.state = uConnecting
	}
	if !l.register(uc) {
		l.closeConn(uc)
		return nil
	}
	return uc
}

// connected completes a connection attempt.
func (l *loop) connected(uc *lconn) {
	if evloop.ConnectError(uc.fd) == nil {
		l.beginSend(uc)
		return
	}
	l.upFailed(uc, failConnect)
}

// upFailed ends the exchange on uc, which gave no usable response: the
// failure is counted against the upstream and observed, then the request is
// retried or answered (failed).
func (l *loop) upFailed(uc *lconn, f failKind) {
	c, up := uc.owner, uc.target
	rtt := l.now.Sub(uc.start)
	l.closeConn(uc)
	c.uc = nil
	switch f {
	case failConnect:
		up.counts.connectFailures.Add(1)
		rtt = 0
	case failTimeout:
		up.counts.timeouts.Add(1)
	default:
		up.counts.resets.Add(1)
	}
	l.p.observe(c.pl, up, rtt, true, l.now)
	l.failed(c, f)
}

// bodyBroke ends an exchange whose upstream failed mid-body: the client's
// framing cannot be completed, so it gets what arrived and its connection
// closes.
func (l *loop) bodyBroke(uc *lconn) {
	c := uc.owner
	uc.target.counts.resets.Add(1)
	l.closeConn(uc)
	c.uc = nil
	l.leaveGate(c)
	l.endRequest(c, false)
}

// flushUp writes the request; once it is all out, the response is awaited.
func (l *loop) flushUp(uc *lconn) {
	if l.ring != nil {
		l.queueFlush(uc)
		return
	}
	n, errno := evloop.Write(uc.fd, uc.out[uc.outOff:])
	l.upWrote(uc, n, errno)
}

// upWrote continues an upstream connection after n bytes of the request
// were written, or errno failed it.
func (l *loop) upWrote(uc *lconn, n int, errno syscall.Errno) {
	uc.outOff += n
	if errno != 0 {
		l.upBroke(uc, true)
		return
	}
	if uc.outOff < len(uc.out) {
		return
	}
	uc.state = uAwaiting
	if uc.hasInput() {
		l.readResponse(uc)
	}
}

// upBroke handles an upstream connection that failed before a complete
// response head: a reused connection the upstream had closed is replaced
// and the request sent again, anything else is a reset.
func (l *loop) upBroke(uc *lconn, stale bool) {
	if stale && uc.reused && !uc.got && uc.owner.bodyLen == 0 {
		c := uc.owner
		l.closeConn(uc)
		c.uc = nil
		l.connectUp(c, true)
		return
	}
	l.upFailed(uc, failReset)
}

// readResponse reads the response head.
func (l *loop) readResponse(uc *lconn) {
	c := uc.owner
	lim := l.p.cfg.Limits.MaxHeaderBytes
	for {
		n, errno := l.fill(uc, l.inLimit(uc))
		if n == 0 {
			return
		}
		if n < 0 {
			stale := errno == 0 || errno == syscall.ECONNRESET || errno == syscall.EPIPE
			l.upBroke(uc, stale)
			return
		}
		uc.got = true
		r := &uc.reader
		r.Reset(uc.in[uc.inOff:uc.inLen])
		switch err := readResponse(c.resp, r, lim); err {
		case nil:
			uc.inOff += r.Consumed()
			l.gotResponse(uc)
			return
		case io.EOF, io.ErrUnexpectedEOF:
			continue
		default:
			if err == http1.ErrMalformedResponse {
				uc.target.counts.protocolErrors.Add(1)
			}
			l.upFailed(uc, failReset)
			return
		}
	}
}

// gotResponse accounts a response head as exchange does and relays it.
func (l *loop) gotResponse(uc *lconn) {
	p := l.p
	c, up := uc.owner, uc.target
	resp := c.resp
	up.counts.responses.Add(1)
	p.noteLoad(up, resp)
	failed := resp.Status >= 500
	if failed {
		up.counts.status5xx.Add(1)
	}
	p.observe(c.pl, up, l.now.Sub(uc.start), failed, l.now)
	if (resp.Status == 502 || resp.Status == 503 || resp.Status == 504) && p.cfg.Retries > 0 {
		l.failed(c, failStatus)
		return
	}
	l.relay(c)
}

// relay passes the response on: the head, then a Content-Length body.
// Other framings go to a goroutine.
func (l *loop) relay(c *lconn) {
	uc, resp := c.uc, c.resp
	plan := planRelay(c.req, resp, l.p.isClosed())
	if !plan.bodyless && (resp.Chunked || plan.untilClose) {
		l.handOverRelay(c)
		return
	}
	c.keep = !plan.closeClient
	c.upReusable = !resp.Close
	c.bodyLeft = 0
	if !plan.bodyless {
		c.bodyLeft = resp.ContentLength
	}
	b := appendResponseHead(l.scratch[:0], c.req, resp, c.pl, c.up, &plan)
	take := min(int64(uc.inLen-uc.inOff), c.bodyLeft)
	b = append(b, uc.in[uc.inOff:uc.inOff+int(take)]...)
	uc.inOff += int(take)
	c.bodyLeft -= take
	if uc.inOff < uc.inLen {
		c.upReusable = false // the upstream sent more than it framed
	}
	l.scratch = b[:0]
	if !l.send(c, b) {
		return
	}
	if c.bodyLeft == 0 {
		l.relayDone(c)
		return
	}
	uc.state = uBody
	if uc.readable {
		l.pumpBody(uc)
	}
}

// pumpBody relays body bytes as the client takes them.
func (l *loop) pumpBody(uc *lconn) {
	c := uc.owner
	for c.bodyLeft > 0 {
		if c.outOff < len(c.out) || !uc.readable {
			return // flushClient or the next event brings it back
		}
		n, errno := evloop.Read(uc.fd, l.rbuf)
		switch {
		case errno == syscall.EAGAIN:
			uc.readable = false
			return
		case errno != 0 || n == 0:
			l.bodyBroke(uc)
			return
		}
		if int(n) < len(l.rbuf) && !uc.hup {
			uc.readable = false
		}
		take := min(int64(n), c.bodyLeft)
		if int64(n) > take {
			c.upReusable = false
		}
		c.bodyLeft -= take
		if !l.send(c, l.rbuf[:take]) {
			return
		}
	}
	l.relayDone(c)
}

// relayDone ends an exchange whose response was all relayed (the client
// may still be taking it): the upstream connection goes back to the pool.
func (l *loop) relayDone(c *lconn) {
	uc, up := c.uc, c.up
	c.uc = nil
	l.leaveGate(c)
	if c.upReusable && !uc.hup && !up.health.Draining() {
		l.putIdle(uc)
	} else {
		l.closeConn(uc)
	}
	l.endRequest(c, c.keep)
}

func (l *loop) takeIdle(up *upstream) *lconn {
	refs := l.idle[up]
	for len(refs) > 0 {
		uc := l.conns.Get(refs[len(refs)-1])
		refs = refs[:len(refs)-1]
		if uc != nil && uc.state == uIdle {
			l.idle[up] = refs
			if up.health.Draining() {
				l.closeConn(uc)
				continue
			}
			return uc
		}
	}
	l.idle[up] = refs
	return nil
}

func (l *loop) putIdle(uc *lconn) {
	up := uc.target
	refs := l.idle[up]
	if len(refs) >= maxIdlePerUpstream {
		// Drop the stale references first; close if it is really full.
		live := refs[:0]
		for _, r := range refs {
			if c := l.conns.Get(r); c != nil && c.state == uIdle {
				live = append(live, r)
			}
		}
		refs = live
		if len(refs) >= maxIdlePerUpstream {
			l.idle[up] = refs
			l.closeConn(uc)
			return
		}
	}
	uc.state, uc.owner, uc.deadline = uIdle, nil, 0
	uc.inOff, uc.inLen, uc.preSet = 0, 0, false
	l.idle[up] = append(refs, uc.tag)
}

// sweep closes the idle connections of upstreams being removed.
func (l *loop) sweep() {
	for up, refs := range l.idle {
		if !up.health.Draining() {
			continue
		}
		for _, r := range refs {
			if c := l.conns.Get(r); c != nil && c.state == uIdle {
				l.closeConn(c)
			}
		}
		delete(l.idle, up)
	}
}

// ---- hand-over to the goroutine path ----

// detach takes c out of the loop without closing its socket, and returns
// the socket as a net.Conn that first yields the bytes c had received but
// not used.
func (l *loop) detach(c *lconn) (net.Conn, error) {
	l.poll.Del(c.fd)
	f := os.NewFile(uintptr(c.fd), "")
	conn, err := net.FileConn(f) // a duplicate, in the runtime's poller
	_ = f.Close()
	pre := append([]byte(nil), c.in[c.inOff:c.inLen]...)
	ip := c.ip
	l.release(c)
	if err != nil {
		return nil, err
	}
	return &prefixConn{Conn: conn, pre: pre, ip: ip}, nil
}

// handOverClient gives a client whose request has a body the loop does not
// hold (too large, chunked, or awaiting 100 Continue) to a goroutine, which
// handles that request (already parsed) and the connection's later ones.
func (l *loop) handOverClient(c *lconn) {
	p := l.p
	pending := append([]byte(nil), c.out[c.outOff:]...)
	cs := clientConnPool.Get().(*clientConn)
	cs.req, *c.req = *c.req, cs.req
	conn, err := l.detach(c)
	if err != nil {
		clientConnPool.Put(cs)
		return
	}
	resume := func(cs *clientConn) bool {
		cs.bw.Write(pending)
		return p.handle(cs)
	}
	if !p.adopt(conn, cs, resume) {
		_ = conn.Close()
		clientConnPool.Put(cs)
	}
}

// handOverH2 gives a client that opened with HTTP/2's preface to the
// HTTP/2 server, with the bytes it sent so far.
func (l *loop) handOverH2(c *lconn) {
	conn, err := l.detach(c)
	if err != nil {
		return
	}
	if !l.p.h2.serve(conn) {
		_ = conn.Close()
	}
}

// handOverRelay gives an exchange whose response is chunked or delimited
// by the upstream closing to a goroutine, which relays it as relay does
// and then serves the connection's later requests.
func (l *loop) handOverRelay(c *lconn) {
	p := l.p
	uc := c.uc
	pl, up, holding := c.pl, c.up, c.holding
	c.holding = false
	c.inOff += c.bodyLen
	c.bodyLen = 0
	pending := append([]byte(nil), c.out[c.outOff:]...)
	cs := clientConnPool.Get().(*clientConn)
	cs.req, *c.req = *c.req, cs.req
	cs.resp, *c.resp = *c.resp, cs.resp
	upConnRaw, upErr := l.detach(uc)
	conn, err := l.detach(c)
	abandon := func() {
		if upErr == nil {
			_ = upConnRaw.Close()
		}
		if err == nil {
			_ = conn.Close()
		}
		if holding {
			up.gate.leave(up.node)
		}
		clientConnPool.Put(cs)
	}
	if err != nil || upErr != nil {
		abandon()
		return
	}
	upc := &upConn{c: upConnRaw, br: bufio.NewReaderSize(upConnRaw, 8<<10), bw: bufio.NewWriterSize(upConnRaw, 8<<10)}
	_ = upConnRaw.SetReadDeadline(uc.start.Add(p.cfg.Timeout))
	resume := func(cs *clientConn) bool {
		cs.bw.Write(pending)
		cs.activeUp.Store(upc)
		out := p.relay(cs, pl, up, upc)
		cs.activeUp.Store(nil)
		if holding {
			up.gate.leave(up.node)
		}
		return out.keep
	}
	if !p.adopt(conn, cs, resume) {
		abandon()
	}
}

// ---- deadlines ----

// setDeadline sets c's deadline (0: none). The timer heap keeps at most
// one live entry per connection that is no later than its deadline; an
// entry that fires early is pushed again for the rest.
func (l *loop) setDeadline(c *lconn, at int64) {
	c.deadline = at
	if at != 0 && (c.heapAt == 0 || at < c.heapAt) {
		c.heapAt = at
		l.timers.Push(at, c.tag)
	}
}

// expire handles the deadlines that have passed.
func (l *loop) expire() {
	for {
		at, tag, ok := l.timers.Peek()
		if !ok || at > l.nowNs {
			return
		}
		l.timers.Pop()
		c := l.conns.Get(tag)
		if c == nil || c.heapAt != at {
			continue // the connection moved on, or has an earlier entry
		}
		c.heapAt = 0
		switch {
		case c.deadline == 0:
		case c.deadline > l.nowNs:
			c.heapAt = c.deadline
			l.timers.Push(c.deadline, c.tag)
		default:
			c.deadline = 0
			l.timeout(c)
		}
	}
}

// timeout handles a connection whose deadline passed.
func (l *loop) timeout(c *lconn) {
	switch c.state {
	case cHead, cClosing:
		l.closeConn(c) // slowloris, idle keep-alive, or a client not reading its last answer
	case cBody:
		l.bodyFailed(c)
	case uConnecting:
		l.upFailed(c, failConnect)
	case uSending, uAwaiting:
		l.upFailed(c, failTimeout)
	case uBody:
		l.bodyBroke(c) // as the goroutine path's read deadline does mid-body
	}
}
