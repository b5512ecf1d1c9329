package backend

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
)

// server serves a handler (the backend) over HTTP/1.1, a goroutine per
// connection that reads each request (http.ReadRequest) and runs the
// handler itself. It is net/http's server without the read it keeps
// pending on every connection while a handler runs: that read costs each
// request a goroutine, a system call and two goroutine switches (a thread
// woken, often) to tell a client gone, which the station needs only while
// a request waits (queued for a worker, or held by a hang). Here the
// request's context starts such a read when, and only when, something asks
// for its Done channel.
//
// What it answers as net/http does: keep-alive unless the request asks
// otherwise (HTTP/1.0, Connection: close), a Content-Length for a body the
// handler did not size, no body to HEAD, 100 Continue before a body the
// client waits to send, 400 and a close for a request it cannot read, and a
// closed connection for a handler that panics with http.ErrAbortHandler.
// The response writer flushes and hijacks (http.Flusher, http.Hijacker).
// A request's head must arrive within headTimeout, as net/http's
// ReadHeaderTimeout asks: from the connection's start for its first
// request, from a later request's first byte for the others (a kept-alive
// connection may idle). No deadline is set per request: a sweep once a
// second closes the connections past their time, so that clients that
// connect and send nothing, or a head byte by byte, cannot hold the
// process's descriptors and goroutines.
type server struct {
	h           http.Handler
	track       func(net.Conn, http.ConnState)
	headTimeout time.Duration
	epoch       time.Time // the origin of serverConn.headSince

	mu       sync.Mutex
	closed   bool
	ln       net.Listener
	conns    map[net.Conn]*serverConn
	sweeping bool
	done     chan struct{} // closed by Close: the sweep ends
}

// headTimeout is the time a request's head may take to arrive.
const headTimeout = 10 * time.Second

func newServer(h http.Handler, track func(net.Conn, http.ConnState)) *server {
	return &server{h: h, track: track, headTimeout: headTimeout, epoch: time.Now(), conns: map[net.Conn]*serverConn{}, done: make(chan struct{})}
}

// since is the time since the server's epoch, never 0 (0 marks no head
// awaited).
func (s *server) since() int64 { return int64(time.Since(s.epoch)) | 1 }

// sweep closes, every interval until the server closes, the connections
// whose head is overdue.
func (s *server) sweep() {
	defer crash.Guard()
	interval := min(time.Second, s.headTimeout/2)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := s.since()
		s.mu.Lock()
		for c, sc := range s.conns {
			if at := sc.headSince.Load(); at != 0 && time.Duration(now-at) > s.headTimeout {
				_ = c.Close()
			}
		}
		s.mu.Unlock()
	}
}

// Serve accepts connections on ln until Close.
func (s *server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	closed := s.closed
	s.mu.Unlock()
	if closed {
		_ = ln.Close()
		return http.ErrServerClosed
	}
	defer ln.Close()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return http.ErrServerClosed
		}
		sc := &serverConn{s: s, c: c}
		sc.headSince.Store(s.since())
		s.conns[c] = sc
		if !s.sweeping {
			s.sweeping = true
			go s.sweep()
		}
		s.mu.Unlock()
		s.track(c, http.StateNew)
		go s.serveConn(sc)
	}
}

// Close closes the listener and every connection; handlers still running
// see their connections gone.
func (s *server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	var err error
	if s.ln != nil {
		if err = s.ln.Close(); errors.Is(err, net.ErrClosed) {
			err = nil
		}
	}
	for c := range s.conns {
		_ = c.Close()
	}
	return err
}

// forget takes c out of the server's connections: closed, or hijacked.
func (s *server) forget(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.track(c, state)
}

// serverConn is one connection. Its reads go through read, which hands out
// first the byte a pending read took, if any.
type serverConn struct {
	s  *server
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer

	// headSince is when the wait for the next head began (server.since),
	// 0 while none is awaited or while the connection idles between
	// requests.
	headSince atomic.Int64

	// budget is what a request's head may still take (-1: no bound, while
	// its body is read).
	budget int

	// The read a request's context started (watch), its byte and outcome.
	watching bool
	watched  chan struct{} // closed when the watching read returned
	ending   atomic.Bool   // stopWatch ends the read: not a client gone
	one      [1]byte
	saved    bool // one holds a byte of the next request
}

// maxHead bounds a request's head, as net/http's default does.
const maxHead = http.DefaultMaxHeaderBytes + 4096

var errHeadTooLarge = errors.New("request head too large")

func (sc *serverConn) Read(p []byte) (int, error) {
	if sc.saved && len(p) > 0 {
		sc.saved = false
		p[0] = sc.one[0]
		return 1, nil
	}
	if sc.budget < 0 {
		return sc.c.Read(p)
	}
	if sc.budget == 0 {
		return 0, errHeadTooLarge
	}
	if len(p) > sc.budget {
		p = p[:sc.budget]
	}
	n, err := sc.c.Read(p)
	sc.budget -= n
	return n, err
}

func (s *server) serveConn(sc *serverConn) {
	defer crash.Guard()
	c := sc.c
	sc.br = bufio.NewReaderSize(sc, 4<<10)
	sc.bw = bufio.NewWriterSize(c, 4<<10)
	hijacked := false
	defer func() {
		if !hijacked {
			_ = c.Close()
			s.forget(c, http.StateClosed)
		}
	}()
	for first := true; ; first = false {
		sc.budget = maxHead
		if !first {
			// Kept alive: idle until the next head's first byte.
			if _, err := sc.br.Peek(1); err != nil {
				return
			}
			sc.headSince.Store(s.since())
		}
		req, err := http.ReadRequest(sc.br)
		sc.headSince.Store(0)
		sc.budget = -1
		if errors.Is(err, errHeadTooLarge) {
			_, _ = io.WriteString(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isConnError(err) {
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 11\r\n\r\nBad Request")
			}
			return
		}
		var keep bool
		keep, hijacked = sc.serve(req)
		if !keep {
			return
		}
	}
}

// isConnError reports whether err is the connection's (a reset), not the
// request's.
func isConnError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

// serve answers one request; keep is false when the connection is to be
// closed, hijacked true when the handler took it.
func (sc *serverConn) serve(req *http.Request) (keep, hijacked bool) {
	req.RemoteAddr = sc.c.RemoteAddr().String()
	ctx := &connContext{sc: sc}
	if req.Body != nil && req.Body != http.NoBody {
		ctx.body = &eofBody{ReadCloser: req.Body}
		req.Body = ctx.body
	}
	req = req.WithContext(ctx)
	w := &response{sc: sc, req: req, header: make(http.Header, 8)}
	if req.Method == http.MethodHead {
		w.noBody = true
	}
	if req.ProtoAtLeast(1, 1) && req.ContentLength != 0 && strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		_, _ = sc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if sc.bw.Flush() != nil {
			return false, false
		}
	}
	if sc.call(w, req) {
		sc.stopWatch()
		return false, w.hijacked // aborted: the connection closes short
	}
	sc.stopWatch()
	if w.hijacked {
		return false, true
	}
	if !w.finish() {
		return false, false
	}
	// What the handler left of the body is read and dropped, up to a
	// bound, so that the next request can be read.
	if req.Body != nil && req.Body != http.NoBody {
		if _, err := io.CopyN(io.Discard, req.Body, 256<<10); err != io.EOF { // CopyN returns io.EOF itself
			return false, false
		}
	}
	return !w.closeAfter, false
}

// call runs the handler; aborted is true when it panicked with
// http.ErrAbortHandler (the connection is to close short).
func (sc *serverConn) call(w *response, req *http.Request) (aborted bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			if !w.hijacked {
				_ = sc.bw.Flush()
			}
			aborted = true
		}
	}()
	sc.s.h.ServeHTTP(w, req)
	return false
}

// watch starts the read that tells a client gone: its outcome closes
// ctx's done when the connection ended, and keeps the byte it read when a
// next request began.
func (sc *serverConn) watch(ctx *connContext) {
	sc.watching = true
	sc.watched = make(chan struct{})
	sc.ending.Store(false)
	go func() {
		defer crash.Guard()
		defer close(sc.watched)
		n, err := sc.c.Read(sc.one[:])
		switch {
		case n == 1:
			sc.saved = true
		case err != nil && !sc.ending.Load():
			ctx.cancel()
		}
	}()
}

// stopWatch ends a watching read, if one runs, and waits for it.
func (sc *serverConn) stopWatch() {
	if !sc.watching {
		return
	}
	sc.watching = false
	select {
	case <-sc.watched:
		return
	default:
	}
	sc.ending.Store(true)
	_ = sc.c.SetReadDeadline(time.Unix(1, 0))
	<-sc.watched
	_ = sc.c.SetReadDeadline(time.Time{})
}

// connContext is a request's context: canceled when its client goes away,
// which it watches from the first call of Done once the request's body was
// read to its end (before, a read would take the body's bytes; the backend
// reads every body first).
type connContext struct {
	sc   *serverConn
	body *eofBody // nil: the request has none
	once sync.Once
	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (c *connContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *connContext) Value(any) any               { return nil }

func (c *connContext) Done() <-chan struct{} {
	c.once.Do(func() {
		c.mu.Lock()
		c.done = make(chan struct{})
		c.mu.Unlock()
		if c.body == nil || c.body.eof {
			c.sc.watch(c)
		}
	})
	return c.done
}

func (c *connContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *connContext) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = context.Canceled
		close(c.done)
	}
}

var _ context.Context = (*connContext)(nil)

// eofBody is a request's body that tells whether it was read to its end.
type eofBody struct {
	io.ReadCloser
	eof bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF { // a body ends with io.EOF itself
		b.eof = true
	}
	return n, err
}

// response is a request's http.ResponseWriter. A body whose length the
// handler set streams through the connection's buffer; one it did not is
// kept until the handler returns and sent with its length.
type response struct {
	sc     *serverConn
	req    *http.Request
	header http.Header

	status     int  // 0 until WriteHeader
	sent       bool // the head is in sc.bw
	body       []byte
	noBody     bool // HEAD, or a status without a body
	closeAfter bool
	hijacked   bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.status != 0 || w.hijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.writeHead(code, false)
		_ = w.sc.bw.Flush()
		return
	}
	w.status = code
	if code == http.StatusNoContent || code == http.StatusNotModified {
		w.noBody = true
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return len(p), nil
	}
	if !w.sent {
		if v := w.header.Get("Content-Length"); v != "" {
			w.sendHead()
		} else {
			w.body = append(w.body, p...)
			return len(p), nil
		}
	}
	return w.sc.bw.Write(p)
}

// Flush sends what was written; a body not yet sized then ends with the
// connection.
func (w *response) Flush() {
	if w.hijacked {
		return
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		w.sendHead()
	}
	_ = w.sc.bw.Flush()
}

func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.sc.stopWatch()
	if w.status != 0 && !w.sent {
		w.sendHead()
	}
	if err := w.sc.bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	w.sc.s.forget(w.sc.c, http.StateHijacked)
	return w.sc.c, bufio.NewReadWriter(w.sc.br, w.sc.bw), nil
}

// sendHead writes the head: with the Content-Length the handler set, or
// the body kept so far's, once the handler returned (final), or none, and
// then the connection closes after the body.
func (w *response) sendHead() { w.writeHead(w.status, true) }

func (w *response) writeHead(code int, final bool) {
	bw := w.sc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
	for k, vs := range w.header {
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if !final {
		bw.WriteString("\r\n")
		return
	}
	w.sent = true
	if w.header.Get("Content-Length") == "" && !w.noBody && code != http.StatusSwitchingProtocols {
		w.closeAfter = true // the body ends with the connection
	}
	if w.req.Close || w.header.Get("Connection") == "close" {
		w.closeAfter = true
	}
	if w.closeAfter && w.header.Get("Connection") == "" {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

// finish completes the response after the handler returned; false when
// the connection failed.
func (w *response) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sent {
		if w.header.Get("Content-Length") == "" && !w.noBody && w.status != http.StatusSwitchingProtocols {
			w.header["Content-Length"] = []string{strconv.Itoa(len(w.body))}
		}
		w.sendHead()
		if !w.noBody {
			_, _ = w.sc.bw.Write(w.body)
		}
	}
	return w.sc.bw.Flush() == nil
}
