package runner

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/evloop"
	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/internal/procs"
	"github.com/ilities/ilities/internal/timerheap"
)

// The event loop: a workload on one plain-HTTP/1.1 keep-alive target,
// driven by one goroutine on its own thread, without a goroutine, a channel
// hand-over or a runtime poller wake-up per request. An open-loop workload
// takes its arrivals from its pacer; a closed one's virtual users are
// entries in the loop's timer heap (evusers_linux.go).
//
// At high rates what a request costs is not its system calls but the
// thread wake-ups around it: each costs a context switch, which on a
// virtual machine is dear, and the runtime adds its own (a second thread
// woken for a goroutine made runnable, the system monitor woken on every
// return from a blocking call). The loop wakes once per dispatch quantum
// (quantum.go: none at low rates, up to 250µs past an arrival at high
// ones): it sends every arrival due by then, then reads every response
// that arrived meanwhile. A response's completion time is the kernel's receive
// timestamp of its last bytes (SO_TIMESTAMPNS), so reading it at the next
// wake-up rather than the instant it lands changes no measurement. Between
// wake-ups the thread sleeps in epoll_pwait2, issued as a raw system call:
// the runtime sees a running goroutine and does nothing; the goroutine
// keeps its processor meanwhile, which is why Run adds one processor per
// loop for the rest of the process. Preemption and the garbage collector
// reach it with a signal, which ends the wait with EINTR. The system calls
// are package evloop's, shared with the proxy's loops.
//
// Everything else is the worker path's behaviour, arrival by arrival: at
// most max_inflight requests in flight, an arrival that finds none free
// waits up to max_lateness and is dropped then, at most max_connections
// connections, a request waits for one up to its timeout, a kept-alive
// connection the server closed meanwhile is replaced and an idempotent
// request sent again, and the same failure classes.

const (
	// loopSocketWake: when the next wake-up is further away than this, the
	// loop also wakes for responses, so that the live figures stay current
	// and a connection the server closed is let go. Nearer, responses wait
	// for the next arrival's wake-up, which reads them before it sends (the
	// connections they free are there for it) and takes their times from
	// the kernel's timestamps: a wake-up per response would double the
	// wake-ups, and the CPU, at a few hundred requests a second.
	loopSocketWake = 25 * time.Millisecond
	// loopDirectReads bounds the exchanges in flight whose responses a
	// wake-up reads straight from their sockets rather than asking epoll
	// which are ready: past it, an answer still on its way would cost a
	// read for nothing on each of many sockets.
	loopDirectReads = 8
	// loopMaxWait bounds a wait, in case a signal is ever lost.
	loopMaxWait = 100 * time.Millisecond
	// loopScratch is the loop's one read buffer: every connection reads
	// into it, and only the bytes of a response that stop short of a whole
	// line are copied to a buffer of the connection's own (loopConnBuf,
	// pooled), so that an idle connection holds none.
	loopScratch = 64 << 10
	loopConnBuf = 8 << 10
	// loopSpareBufs bounds the connections' buffers kept for reuse.
	loopSpareBufs = 64
)

// holdProcs adds a processor for each of n loops (package procs).
func holdProcs(n int) func() { return procs.Hold(n) }

// eventLoopSupported reports whether this kernel has what the loop needs:
// epoll_pwait2 (a wait to the nanosecond) and TCP receive timestamps.
func eventLoopSupported() bool {
	return evloop.HasPwait2() && evloop.HasReceiveStamps()
}

// loopConn is one connection of the loop.
type loopConn struct {
	tag      evloop.Tag // in eventLoop.conns, and on its events
	out      bool       // registered for output
	fd       int
	state    connState
	reused   bool          // has carried a response: the server may close it meanwhile
	idleAt   time.Duration // when it last went idle
	pending  []byte        // request bytes not yet written
	buf      []byte        // received, not yet consumed: buf[start:filled]; nil when none (reads go to eventLoop.scratch)
	start    int
	filled   int
	x        *loopExchange // the exchange on it, nil when idle
	parser   respParser
	lastRx   int64 // kernel receive time (Unix ns) of the last bytes read, 0 if none
	received bool  // a byte of the current response has been read
}

type connState uint8

const (
	connFree connState = iota // closed, its slot reusable
	connConnecting
	connIdle
	connBusy
)

// loopExchange is one arrival handed over: in flight.
type loopExchange struct {
	intended time.Duration
	req      int
	held     bool // its arrival waited for an in-flight slot (arrival.held)
	sent     time.Duration
	deadline time.Duration
	attempt  int
	seq      uint64 // identifies it in the deadline queue
	// user is the closed loop's virtual user whose request it is; nil for
	// an open-loop arrival.
	user *loopUser
}

// eventLoop is the runtime state of one workload's loop. Only its own
// goroutine touches it, but for wake and aborted.
type eventLoop struct {
	e   *engine
	w   *workloadRun
	rec *recorder
	u   *userState

	sa      syscall.Sockaddr
	addr    *net.TCPAddr // sa, for the errors
	family  int
	wire    [][]byte // each request's bytes, head and body
	maxConn int

	poll *evloop.Poller  // the sockets, and the wake-up
	tick *evloop.Sleeper // the wake-up alone: waits that leave the sockets be
	rx   *evloop.Receiver

	conns    evloop.Table[loopConn]
	scratch  []byte   // every read's buffer (loopScratch)
	bufs     [][]byte // connections' buffers, free for reuse
	idle     []*loopConn
	open     int // connections open or connecting
	inflight int
	seq      uint64
	spare    []*loopExchange // ended, to reuse

	waiting   fifo[*loopExchange] // in flight, waiting for a connection
	backlog   fifo[arrival]       // due, waiting for an in-flight slot
	deadlines deadlineHeap        // exchanges on connections, earliest deadline first
	outWait   int                 // connections registered for output (opening or writing)
	// The backlog's arrivals counted in order, put in and taken out: the
	// first heldBefore of them were there when a dispatch found every
	// in-flight slot busy (arrival.held), without a mark on each.
	queued, taken, heldBefore uint64

	// The pacer's next arrival, drawn and not yet due, and the dispatch
	// quantum to wake by for it.
	rate    quantum
	quantum time.Duration
	// lead arms a wait that a send is timed by early, by the host's usual
	// oversleep, and the rest is spun: at rates the loop wakes for each
	// arrival (quantum 0), that oversleep would be in every latency.
	lead     hrtimer.Lead
	next     arrival
	index    int
	haveNext bool
	paced    bool // the pacer has no more arrivals
	stopped  bool
	aborted  atomic.Bool

	// Per wake-up: the wall and monotonic clocks read together, to place
	// kernel timestamps on the run's timeline.
	nowMono time.Duration
	nowWall int64
	// woke is when the last wait ended; polled, when the loop last asked
	// epoll about its sockets.
	woke, polled time.Duration
	counts       loopCounts

	// hiccups, when set, takes the loop's timed wake-ups as the apparatus
	// meter's samples (hiccupFeed).
	hiccups *hiccupFeed

	// Closed loop: the virtual users not in flight, each keyed by when it
	// next acts (its next step after thinking, or its span's start); a
	// user in flight is its exchange's. A user that does not think (no
	// think time, or a constant 0) goes to ready instead, no timer armed.
	users     timerheap.Heap[*loopUser]
	ready     fifo[*loopUser]
	thinkNone bool
	// samples are the loop's records since its last wait, handed to the
	// recorder at once (one lock per wake-up, not per request).
	samples []sample
}

// sampleHiccups makes the loop the run's hiccup sampler; before run.
func (l *eventLoop) sampleHiccups(f *hiccupFeed) { l.hiccups = f }

// deadlineHeap orders the exchanges on connections by deadline. An entry
// whose connection has moved on (its exchange ended, or was sent again) is
// stale, told by the sequence number, and skipped. Deadlines mostly come
// in order (the send time plus the workload's one timeout): those go to a
// queue, in O(1), and only one earlier than the queue's last (a request
// sent again, or one that waited for its connection) to the heap.
type deadlineHeap struct {
	h timerheap.Heap[deadlineEntry]
	q fifo[deadlineEntry]
	// fromQ: the entry live returned is the queue's, not the heap's.
	fromQ bool
}

type deadlineEntry struct {
	at  time.Duration
	c   *loopConn
	seq uint64
}

func (h *deadlineHeap) push(e deadlineEntry) {
	if h.q.len() == 0 || h.q.items[len(h.q.items)-1].at <= e.at {
		h.q.push(e)
		return
	}
	h.h.Push(int64(e.at), e)
}

// pop removes the entry live returned.
func (h *deadlineHeap) pop() {
	if h.fromQ {
		h.q.pop()
	} else {
		h.h.Pop()
	}
}

func (e deadlineEntry) stale() bool { return e.c.x == nil || e.c.x.seq != e.seq }

// live drops the stale entries on top and returns the earliest live one.
func (h *deadlineHeap) live() (deadlineEntry, bool) {
	for h.q.len() > 0 && h.q.peek().stale() {
		h.q.pop()
	}
	for {
		_, e, ok := h.h.Peek()
		if !ok || !e.stale() {
			break
		}
		h.h.Pop()
	}
	_, e, ok := h.h.Peek()
	if h.q.len() > 0 && (!ok || h.q.peek().at <= e.at) {
		h.fromQ = true
		return h.q.peek(), true
	}
	h.fromQ = false
	return e, ok
}

// fifo is a queue; pushes and pops are amortised O(1).
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }
func (q *fifo[T]) len() int { return len(q.items) - q.head }
func (q *fifo[T]) peek() T  { return q.items[q.head] }
func (q *fifo[T]) pop() T {
	v := q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
	return v
}

// newEventLoop prepares the loop for w, open or closed loop alike, or
// returns nil when w is not for the loop: requests rendered or checked per
// send (data.go), WebSocket sessions, several targets, HTTPS or HTTP/2, a connection per
// request, a kernel without what the loop needs, or a target whose address
// does not resolve now. It is the one rule for both models; Run adds that a
// run over several sites stays off the loop.
func newEventLoop(e *engine, w *workloadRun, rec *recorder) *eventLoop {
	if w.data != nil || w.client.ws != nil || len(w.client.targets) != 1 || !eventLoopSupported() {
		return nil
	}
	t := w.client.targets[0]
	if !t.lean || !t.keepAlive {
		return nil
	}
	addr, err := net.ResolveTCPAddr("tcp", hostPort(t.base))
	if err != nil {
		return nil
	}
	l := &eventLoop{e: e, w: w, rec: rec, u: newUserState(0, false), maxConn: w.maxConns, rx: evloop.NewReceiver(), scratch: make([]byte, loopScratch)}
	l.paced = w.closed // a closed loop has no pacer: its users send
	l.thinkNone = thinksNot(w.think)
	l.sa, l.family = evloop.Sockaddr(addr.AddrPort())
	l.addr = addr
	for _, r := range w.requests {
		b := append(append(append([]byte{}, r.wire[0]...), "\r\n"...), r.body...)
		l.wire = append(l.wire, b)
	}
	if l.poll, err = evloop.NewPoller(256); err != nil {
		return nil
	}
	if l.tick, err = l.poll.NewSleeper(); err != nil {
		l.closeAll()
		return nil
	}
	return l
}

// wake ends the loop's current wait (on stop and abort).
func (l *eventLoop) wake() { l.poll.Wake() }

// abort ends every exchange in flight at once, as aborted.
func (l *eventLoop) abort() {
	l.aborted.Store(true)
	l.wake()
}

// run is the loop. It returns when the pacer has no more arrivals, or the
// users are done (or the run was stopped), and every exchange has ended.
func (l *eventLoop) run() {
	// The thread is the loop's alone, and it ends with it: its timer slack
	// is set to the nanosecond so that wake-ups are on time.
	evloop.LockThread(evloop.PreciseSlack)
	defer l.closeAll()

	done := make(chan struct{})
	defer close(done)
	go func() {
		defer crash.Guard()
		select {
		case <-l.e.stop:
			l.wake()
		case <-done:
		}
	}()

	for l.step() {
	}
	l.flush()
	if l.e.loopCounts != nil {
		l.e.loopCounts(l.counts)
	}
}

// step is one turn of the loop: expire, send what is due, wait and read
// what arrived. It returns false when the loop is over.
func (l *eventLoop) step() bool {
	l.clock()
	if l.aborted.Load() {
		l.abortAll()
		return false
	}
	if !l.stopped {
		select {
		case <-l.e.stop:
			l.stop()
		default:
		}
	}
	l.expire()
	l.pace()
	l.dispatch()
	l.act()
	if l.finished() {
		return false
	}
	l.flush()
	l.wait()
	return true
}

// flush hands the samples recorded since the last wait to the recorder.
func (l *eventLoop) flush() {
	if len(l.samples) > 0 {
		l.rec.addAll(l.samples)
		clear(l.samples) // no error or string kept alive meanwhile
		l.samples = l.samples[:0]
	}
}

// clock reads the wall and monotonic clocks together.
func (l *eventLoop) clock() {
	now := time.Now()
	l.nowMono, l.nowWall = now.Sub(l.e.start), now.UnixNano()
}

func (l *eventLoop) finished() bool {
	return (l.paced || l.stopped) && l.backlog.len() == 0 && l.inflight == 0 && l.users.Len() == 0 && l.ready.len() == 0
}

// pace takes from the pacer every arrival due by now into the backlog.
func (l *eventLoop) pace() {
	w := l.w
	for !l.paced {
		if !l.haveNext {
			at, ok := w.pacer.Next()
			if !ok {
				l.paced = true
				return
			}
			req := w.pick()
			index := l.index
			l.index++
			if !l.e.segment.Has(index) {
				continue
			}
			l.next, l.haveNext = arrival{intended: at, req: req}, true
			l.quantum = l.rate.next(at)
		}
		if l.stopped {
			// Arrivals due before the stop and never sent are cut; the
			// ones after it are not part of the run.
			if l.next.intended >= l.e.stopAt {
				l.paced = true
				return
			}
			w.lastIntended, w.scheduledAny = l.next.intended, true
			l.miss(l.next, outCut)
			l.haveNext = false
			continue
		}
		if l.next.intended > l.nowMono {
			return
		}
		w.lastIntended, w.scheduledAny = l.next.intended, true
		l.backlog.push(l.next)
		l.queued++
		l.haveNext = false
	}
}

// stop ends the scheduling: the backlog is cut, the users not in flight
// are done and the others will be after their request.
func (l *eventLoop) stop() {
	l.stopped = true
	for l.backlog.len() > 0 {
		l.miss(l.takeArrival(), outCut)
	}
	l.users = timerheap.Heap[*loopUser]{}
	l.ready = fifo[*loopUser]{}
}

// takeArrival takes the oldest arrival out of the backlog, marked held
// when it waited there for an in-flight slot.
func (l *eventLoop) takeArrival() arrival {
	a := l.backlog.pop()
	a.held = l.taken < l.heldBefore
	l.taken++
	return a
}

// miss records an arrival never sent: dropped or cut.
func (l *eventLoop) miss(a arrival, o outcome) {
	l.samples = append(l.samples, sample{intended: a.intended, req: uint16(a.req), outcome: o, held: a.held})
}

// sendBy is the last instant arrival a may be sent (workloadRun.sendDeadline).
func (l *eventLoop) sendBy(a arrival) time.Duration {
	at, _ := l.w.sendDeadline(a.intended, l.e.duration)
	return at
}

// dispatch hands the backlog over while in-flight slots are free, and drops
// the arrivals that waited too long for one.
func (l *eventLoop) dispatch() {
	for l.backlog.len() > 0 {
		a := l.backlog.peek()
		if by, missed := l.w.sendDeadline(a.intended, l.e.duration); by < l.nowMono {
			l.miss(l.takeArrival(), missed)
			continue
		}
		if l.inflight >= l.w.maxInflight {
			// Every slot is held by a request not yet answered: the
			// workload's in-flight bound, not the loop, holds the backlog.
			l.heldBefore = l.queued
			return
		}
		a = l.takeArrival()
		l.inflight++
		l.seq++
		sent := l.e.since()
		x := l.exchange()
		*x = loopExchange{intended: a.intended, req: a.req, held: a.held, sent: sent, deadline: sent + l.w.timeout, seq: l.seq}
		l.start(x)
	}
}

// start puts x on a connection: an idle one, a new one, or the queue for
// the next to be free.
func (l *eventLoop) start(x *loopExchange) {
	// A connection idle since before the wake-up may have been closed by
	// the server meanwhile: when epoll was not asked since, it is, so that
	// its report lets such a connection go before a request is written on
	// it (the wake-up may have read its responses straight, readInFlight).
	if n := len(l.idle); n > 0 && l.idle[n-1].idleAt < l.woke && l.polled < l.woke {
		l.pollNow()
	}
	if n := len(l.idle); n > 0 {
		c := l.idle[n-1]
		l.idle = l.idle[:n-1]
		l.send(c, x)
		return
	}
	if l.open < l.maxConn {
		l.connect(x)
		return
	}
	l.waiting.push(x)
}

// connect opens a connection for x.
func (l *eventLoop) connect(x *loopExchange) {
	fd, err := evloop.Socket(l.family)
	if err != nil {
		l.finish(x, failure(nil, os.NewSyscallError("socket", err)))
		return
	}
	evloop.StampReceived(fd)
	pending, err := evloop.Connect(fd, l.sa)
	if err != nil {
		syscall.Close(fd)
		l.finish(x, failure(nil, &net.OpError{Op: "dial", Net: "tcp", Addr: l.addr, Err: os.NewSyscallError("connect", err)}))
		return
	}
	c := l.newConn(fd)
	l.open++
	c.x = x
	if !pending {
		c.state = connBusy
		l.ctl(syscall.EPOLL_CTL_ADD, c, false)
		l.write(c)
		return
	}
	c.state = connConnecting
	l.ctl(syscall.EPOLL_CTL_ADD, c, true)
	l.track(c)
}

func (l *eventLoop) newConn(fd int) *loopConn {
	c, tag := l.conns.Open()
	c.tag, c.fd, c.reused, c.buf, c.start, c.filled = tag, fd, false, nil, 0, 0
	return c
}

// ctl registers c with the loop's epoll (op: add, else modify), for output
// too while it connects or has request bytes left to write.
func (l *eventLoop) ctl(op int, c *loopConn, out bool) {
	mask := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
	if out {
		mask |= syscall.EPOLLOUT
	}
	if op == syscall.EPOLL_CTL_ADD {
		l.poll.Add(c.fd, mask, c.tag)
	} else {
		l.poll.Mod(c.fd, mask, c.tag)
	}
	if out != c.out {
		c.out = out
		if out {
			l.outWait++
		} else {
			l.outWait--
		}
	}
}

// track puts c's exchange in the deadline queue.
func (l *eventLoop) track(c *loopConn) {
	l.deadlines.push(deadlineEntry{at: c.x.deadline, c: c, seq: c.x.seq})
}

// send writes x's request on the idle connection c.
func (l *eventLoop) send(c *loopConn, x *loopExchange) {
	c.x, c.state = x, connBusy
	l.write(c)
}

// write sends the request of c's exchange, or what is left of it.
func (l *eventLoop) write(c *loopConn) {
	x := c.x
	first := c.pending == nil
	if first {
		c.pending = l.requestBytes(x)
		r, u := l.w.requests[x.req], l.u
		if x.user != nil {
			u = x.user.st
		}
		c.parser.reset(r, u)
		c.parser.cookieURL = r.std[0].URL
		c.lastRx, c.received = 0, false
		l.track(c)
	}
	n, errno := evloop.Write(c.fd, c.pending)
	c.pending = c.pending[n:]
	if errno != 0 {
		l.fail(c, &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)}, true)
		return
	}
	if len(c.pending) > 0 { // the socket is full: the rest when it drains
		if first || len(c.pending) == len(l.requestBytes(x)) {
			l.ctl(syscall.EPOLL_CTL_MOD, c, true)
		}
		return
	}
	c.pending = nil
	if !first {
		l.ctl(syscall.EPOLL_CTL_MOD, c, false)
	}
}

// requestBytes is what x sends: its request as built, or with the cookies
// of its user's session (loopUser.wire, built as it is sent).
func (l *eventLoop) requestBytes(x *loopExchange) []byte {
	if x.user != nil && x.user.st.jar != nil {
		return x.user.wire
	}
	return l.wire[x.req]
}

// connected finishes a connection's opening.
func (l *eventLoop) connected(c *loopConn) {
	x := c.x
	if err := evloop.ConnectError(c.fd); err != nil {
		l.closeConn(c)
		l.finish(x, failure(nil, &net.OpError{Op: "dial", Net: "tcp", Addr: l.addr, Err: os.NewSyscallError("connect", err)}))
		return
	}
	c.state = connBusy
	l.ctl(syscall.EPOLL_CTL_MOD, c, false)
	// write tracks the exchange again with the same deadline: the entry
	// made while connecting is skipped as stale by its sequence number.
	x.seq = l.nextSeq()
	l.write(c)
}

func (l *eventLoop) nextSeq() uint64 { l.seq++; return l.seq }

// read takes what c received and feeds its exchange's parser. The bytes
// go to the loop's scratch buffer; what the parser leaves of them (the
// start of a line) is kept in a buffer of c's own, which the next read
// appends to, until it is consumed and the buffer goes back to the spares.
func (l *eventLoop) read(c *loopConn) {
	for {
		kept := c.start < c.filled
		into := l.scratch
		if kept {
			if len(c.buf)-c.filled < 1024 {
				if c.start > 0 {
					c.filled = copy(c.buf, c.buf[c.start:c.filled])
					c.start = 0
				} else {
					c.buf = append(c.buf, make([]byte, len(c.buf))...)
				}
			}
			into = c.buf[c.filled:]
		}
		n, stamp, errno := l.rx.Read(c.fd, into)
		if errno == syscall.EAGAIN {
			return
		}
		if errno != 0 {
			l.fail(c, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}, !c.received)
			return
		}
		eof := n == 0
		if n > 0 {
			c.received = true
			c.lastRx = stamp
		}
		b := into[:n]
		if kept {
			c.filled += n
			b = c.buf[c.start:c.filled]
		}
		used, done, perr := c.parser.feed(b, eof)
		if kept {
			c.start += used
		} else if used < n {
			l.keep(c, b[used:])
		}
		if c.start == c.filled {
			l.dropBuf(c)
		}
		if perr != nil {
			l.fail(c, perr, perr == io.EOF)
			return
		}
		if done {
			l.complete(c)
			return
		}
		if eof {
			return
		}
	}
}

// keep gives c a buffer holding rest, the bytes its parser left.
func (l *eventLoop) keep(c *loopConn, rest []byte) {
	if n := len(l.bufs); n > 0 {
		c.buf = l.bufs[n-1]
		l.bufs[n-1] = nil
		l.bufs = l.bufs[:n-1]
	} else {
		c.buf = make([]byte, loopConnBuf)
	}
	if need := len(rest) + 1024; len(c.buf) < need {
		c.buf = make([]byte, max(need, 2*len(c.buf)))
	}
	c.start, c.filled = 0, copy(c.buf, rest)
}

// dropBuf takes c's buffer back, once nothing is left in it.
func (l *eventLoop) dropBuf(c *loopConn) {
	if c.buf == nil {
		return
	}
	if len(c.buf) == loopConnBuf && len(l.bufs) < loopSpareBufs {
		l.bufs = append(l.bufs, c.buf)
	}
	c.buf, c.start, c.filled = nil, 0, 0
}

// doneAt places c's last received bytes on the run's timeline: the kernel
// received them ago = wall now - their timestamp, which was at the
// monotonic now - ago; bounded by the exchange's send and the present. The
// clock is read only for bytes received after the wake-up's reading (the
// send was before the present, so was a time before that reading).
func (l *eventLoop) doneAt(c *loopConn) time.Duration {
	if c.lastRx == 0 {
		return l.e.since()
	}
	at := l.nowMono - time.Duration(l.nowWall-c.lastRx)
	if at <= l.nowMono {
		return max(at, c.x.sent)
	}
	return min(max(at, c.x.sent), l.e.since())
}

// complete records c's response and frees c (or closes it when it cannot
// carry another request).
func (l *eventLoop) complete(c *loopConn) {
	x, p := c.x, &c.parser
	ex := exchange{outcome: p.outcome(l.w.requests[x.req]), node: p.resp.node, station: p.resp.station, responded: true, status: uint16(p.resp.status)}
	done := l.doneAt(c)
	reusable := !p.resp.close && c.start == c.filled
	c.x = nil
	if reusable {
		c.reused = true
		l.release(c)
	} else {
		l.closeConn(c)
	}
	l.record(x, done, ex)
}

// fail ends c's exchange with err and closes c. untouched: not a byte of
// the response had arrived, so a request on a kept-alive connection the
// server closed meanwhile may be sent again on a new one, as net/http does.
func (l *eventLoop) fail(c *loopConn, err error, untouched bool) {
	x := c.x
	reused := c.reused
	responded, status := c.parser.phase > phaseHeaders, uint16(c.parser.resp.status)
	c.x = nil
	l.closeConn(c)
	if x == nil {
		return
	}
	if reused && untouched && x.attempt == 0 && l.w.requests[x.req].idempotent && l.e.since() < x.deadline {
		x.attempt++
		x.seq = l.nextSeq()
		l.start(x)
		return
	}
	ex := failure(nil, err)
	if ex.responded = responded; responded {
		ex.status = status
	}
	l.finish(x, ex)
}

// finish records x, which ended now.
func (l *eventLoop) finish(x *loopExchange, ex exchange) {
	l.record(x, l.e.since(), ex)
}

// exchange takes an exchange from the spares: none is allocated per
// request once the loop has seen its peak in flight.
func (l *eventLoop) exchange() *loopExchange {
	if n := len(l.spare); n > 0 {
		x := l.spare[n-1]
		l.spare = l.spare[:n-1]
		return x
	}
	return new(loopExchange)
}

// record ends x: it goes back to the spares, and its virtual user, if any,
// thinks before its next step.
func (l *eventLoop) record(x *loopExchange, done time.Duration, ex exchange) {
	l.spare = append(l.spare, x)
	l.inflight--
	l.samples = append(l.samples, sample{
		intended:  x.intended,
		sent:      x.sent,
		done:      done,
		node:      ex.node,
		station:   ex.station,
		outcome:   ex.outcome,
		responded: ex.responded,
		req:       uint16(x.req),
		status:    ex.status,
		err:       ex.err,
		held:      x.held,
		closed:    x.user != nil,
	})
	if x.user != nil {
		l.answered(x.user, ex.outcome == outSuccess)
	}
}

// release makes c idle, or gives it to the first exchange waiting for one.
func (l *eventLoop) release(c *loopConn) {
	for l.waiting.len() > 0 {
		x := l.waiting.pop()
		if x.deadline <= l.e.since() {
			l.record(x, l.e.since(), exchange{outcome: outTimeout})
			continue
		}
		l.send(c, x)
		return
	}
	c.state, c.idleAt = connIdle, l.nowMono
	l.idle = append(l.idle, c)
}

// closeConn closes c; a waiting exchange gets a new connection.
func (l *eventLoop) closeConn(c *loopConn) {
	if c.state == connIdle {
		for i, ic := range l.idle {
			if ic == c {
				l.idle = append(l.idle[:i], l.idle[i+1:]...)
				break
			}
		}
	}
	syscall.Close(c.fd) // also leaves the epoll set
	if c.out {
		c.out = false
		l.outWait--
	}
	c.state, c.fd, c.x, c.pending = connFree, -1, nil, nil
	c.start = c.filled
	l.dropBuf(c)
	l.conns.Release(c.tag)
	l.open--
	for l.waiting.len() > 0 && l.open < l.maxConn {
		x := l.waiting.pop()
		if x.deadline <= l.e.since() {
			l.record(x, l.e.since(), exchange{outcome: outTimeout})
			continue
		}
		l.connect(x)
	}
}

// expire ends the exchanges past their deadline as timeouts.
func (l *eventLoop) expire() {
	now := l.nowMono
	for {
		e, ok := l.deadlines.live()
		if !ok || e.at > now {
			break
		}
		l.deadlines.pop()
		c := e.c
		x := c.x
		c.x = nil
		l.closeConn(c)
		ex := exchange{outcome: outTimeout, responded: c.parser.phase > phaseHeaders}
		if ex.responded {
			ex.status = uint16(c.parser.resp.status)
		}
		l.record(x, now, ex)
	}
	for l.waiting.len() > 0 && l.waiting.peek().deadline <= now {
		l.record(l.waiting.pop(), now, exchange{outcome: outTimeout})
	}
}

// wakeAt is when the loop must next act.
func (l *eventLoop) wakeAt() time.Duration {
	at := l.nowMono + loopMaxWait
	if l.haveNext && !l.stopped {
		at = min(at, l.next.intended+l.quantum)
	}
	if l.backlog.len() > 0 {
		at = min(at, l.sendBy(l.backlog.peek())+1)
	}
	if e, ok := l.deadlines.live(); ok {
		at = min(at, e.at)
	}
	if l.waiting.len() > 0 {
		at = min(at, l.waiting.peek().deadline)
	}
	if next, _, ok := l.users.Peek(); ok {
		at = min(at, time.Duration(next))
	}
	if l.ready.len() > 0 {
		at = min(at, l.nowMono)
	}
	return at
}

// wait sleeps until the next thing to do and handles what happened to the
// connections meanwhile.
func (l *eventLoop) wait() {
	at := l.wakeAt()
	now := l.e.since()
	d := at - now
	// Responses are read at the next wake-up (their timestamps keep their
	// time) unless that is far, a connection is being opened or written, or
	// an arrival waits for the slot or the connection a response would free
	// (reading it late would make the generator, not the target, delay it).
	// A virtual user waits for its answer to go on: a closed loop reads
	// responses as they arrive.
	sockets := d > loopSocketWake || l.outWait > 0 || l.waiting.len() > 0 || l.backlog.len() > 0 || (l.w.closed && l.inflight > 0)
	if l.hiccups != nil && d > 0 {
		at = min(at, l.hiccups.wakeBy(now))
		d = at - now
	}
	// Either one wait on the sockets, or a sleep they cannot end and then
	// a look at them that does not wait (all there is when the time has
	// come already).
	if d > 0 {
		l.counts.wakeups++
	}
	arm := d
	if l.quantum == 0 {
		arm = l.lead.Arm(d)
	}
	if sockets && d > 0 {
		events := l.poll.Wait(arm)
		l.onTime(now, arm, at, len(events) == 0)
		l.polled = l.nowMono
		l.counts.polls++
		l.handle(events)
	} else {
		l.tick.Sleep(arm)
		l.onTime(now, arm, at, true)
		// The responses of the few exchanges in flight are read straight
		// from their sockets, without asking epoll which are ready: one
		// system call fewer per wake-up when they all are. A wake-up that
		// came early (the stop, or a signal), an exchange still unanswered,
		// or the sockets not asked for loopSocketWake (an idle connection
		// the server closed is let go by epoll's report) ask it after all.
		if l.nowMono < at || l.nowMono-l.polled > loopSocketWake || !l.readInFlight() {
			l.pollNow()
		}
	}
	if l.hiccups != nil && d > 0 {
		l.hiccups.waited(at, l.nowMono)
	}
}

// onTime reads the clock after a wait armed for arm from now, to be on time
// for at: a wait that its timer ended (not an event or a Wake) teaches the
// lead its oversleep, and one that woke early, by the lead, spins until at.
func (l *eventLoop) onTime(now, arm, at time.Duration, timed bool) {
	l.clock()
	if timed && l.nowMono-now >= arm {
		if arm > 0 {
			l.lead.Overslept(arm, l.nowMono-now)
		}
		if l.nowMono < at && at-l.nowMono <= l.lead.Get() {
			hrtimer.SpinUntil(at, l.e.since)
			l.clock()
		}
	}
	l.woke = l.nowMono
}

// pollNow asks epoll, without waiting, what happened to the sockets, and
// handles it.
func (l *eventLoop) pollNow() {
	l.polled = l.nowMono
	l.counts.polls++
	l.handle(l.poll.Wait(0))
}

// handle acts on the events of a wait.
func (l *eventLoop) handle(events []syscall.EpollEvent) {
	for i := range events {
		ev := &events[i]
		if l.poll.Woken(ev) {
			continue
		}
		// An event for a connection closed since it was queued is
		// dropped, even once its slot and descriptor carry another one.
		c := l.conns.Event(ev)
		if c == nil {
			continue
		}
		switch c.state {
		case connConnecting:
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
				l.connected(c)
			}
		case connBusy:
			if c.pending != nil && ev.Events&syscall.EPOLLOUT != 0 {
				l.write(c)
			}
			// A failed write closes c, and a waiting exchange may have
			// taken its slot and descriptor at once: the rest of the event
			// is not the newcomer's.
			if l.conns.Event(ev) == c && c.state == connBusy && ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
				l.read(c)
			}
		case connIdle:
			// The server closed it, or sent what nobody asked for.
			l.closeConn(c)
		}
	}
}

// readInFlight reads the response of every exchange in flight, when they
// are few (loopDirectReads), in the deadline queue's order, and tells
// whether each of them ended: false, and the rest are left to epoll, at
// the first one still waiting for bytes. The idle connections are left
// to start, which asks epoll before it writes on one idle since before
// the wake-up.
func (l *eventLoop) readInFlight() bool {
	q := &l.deadlines.q
	if l.inflight > loopDirectReads || l.deadlines.h.Len() > 0 {
		return false
	}
	for i, end := q.head, len(q.items); i < end; i++ {
		e := q.items[i]
		if e.stale() {
			continue
		}
		c := e.c
		if c.state != connBusy || c.pending != nil {
			return false
		}
		l.counts.directReads++
		l.read(c)
		if !e.stale() {
			l.counts.unanswered++
			return false
		}
	}
	return true
}

// abortAll ends every exchange as aborted.
func (l *eventLoop) abortAll() {
	now := l.e.since()
	for c := range l.conns.All() {
		if c.x != nil {
			x := c.x
			c.x = nil
			l.record(x, now, exchange{outcome: outAborted})
		}
	}
	for l.waiting.len() > 0 {
		l.record(l.waiting.pop(), now, exchange{outcome: outAborted})
	}
	for l.backlog.len() > 0 {
		l.miss(l.takeArrival(), outCut)
	}
}

func (l *eventLoop) closeAll() {
	for c := range l.conns.All() {
		syscall.Close(c.fd)
		c.state = connFree
		l.conns.Release(c.tag)
	}
	if l.tick != nil {
		l.tick.Close()
	}
	if l.poll != nil {
		l.poll.Close()
	}
}
