package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/crash"
)

// HTTP/2 on the proxy's front: h2 chosen by ALPN on TLS, and h2c with prior
// knowledge (a cleartext connection that opens with the HTTP/2 preface).
// The standard library's HTTP/2 server frames the connection, keeps its
// streams' limits and refuses floods of reset streams (it runs at most
// MaxConcurrentStreams handlers at once and closes a connection whose
// queue of new streams outgrows them). Each stream is then one HTTP/1.1
// request through the proxy's own path, on a connection of its own in
// memory: every stream is routed, balanced, admitted, retried and counted
// on its own, exactly as a request of HTTP/1.1, and goes to the upstreams
// as HTTP/1.1.

// h2Preface opens every HTTP/2 connection (RFC 9113, 3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// DefaultMaxConcurrentStreams is the streams one HTTP/2 connection may have
// open at once, as HAProxy's and nginx's defaults allow about as many.
const DefaultMaxConcurrentStreams = 100

// HTTP2Config is HTTP/2 on the proxy's front.
type HTTP2Config struct {
	// Off turns HTTP/2 off: TLS offers http/1.1 alone, and a cleartext
	// preface is a bad request.
	Off bool
	// MaxConcurrentStreams bounds each connection's open streams. Default
	// DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
}

// alpn is what TLS offers: h2 first unless HTTP/2 is off.
func (p *Proxy) alpn() []string {
	if p.cfg.HTTP2.Off {
		return []string{"http/1.1"}
	}
	return []string{"h2", "http/1.1"}
}

var discardLog = log.New(io.Discard, "", 0)

// h2Front serves the HTTP/2 connections the proxy's listener hands it.
type h2Front struct {
	p   *Proxy
	srv *http.Server
	ln  *handedListener
}

func (p *Proxy) startH2() {
	if p.cfg.HTTP2.Off {
		return
	}
	f := &h2Front{p: p, ln: newHandedListener(p.ln.Addr())}
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	f.srv = &http.Server{
		Handler:           f,
		Protocols:         &protocols,
		MaxHeaderBytes:    p.cfg.Limits.MaxHeaderBytes,
		ReadHeaderTimeout: p.cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       p.cfg.Limits.IdleTimeout,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      p.cfg.HTTP2.MaxConcurrentStreams,
			MaxDecoderHeaderTableSize: 4096,
			MaxEncoderHeaderTableSize: 4096,
		},
		ErrorLog: discardLog,
	}
	p.h2 = f
	p.loops.Add(1)
	go func() {
		defer crash.Guard()
		defer p.loops.Done()
		_ = f.srv.Serve(f.ln)
	}()
}

// serve takes over c, an HTTP/2 connection (TLS with h2 negotiated, or
// cleartext opening with the preface, its first bytes put back). It reports
// false when the proxy is closing, c then being the caller's to close.
func (f *h2Front) serve(c net.Conn) bool {
	if f == nil || !f.ln.hand(c) {
		return false
	}
	f.p.stats.h2Conns.Add(1)
	return true
}

func (f *h2Front) close() {
	if f == nil {
		return
	}
	_ = f.srv.Close() // its listener and every connection
}

// ServeHTTP carries one stream through the proxy as an HTTP/1.1 request on
// a connection of its own in memory, and the answer back.
func (f *h2Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := f.p
	p.stats.h2Streams.Add(1)
	ours, theirs := net.Pipe()
	ip := ""
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = h
	}
	cs := clientConnPool.Get().(*clientConn)
	served := &endNotifier{Conn: theirs, ended: make(chan struct{})}
	if !p.adopt(&prefixConn{Conn: served, ip: ip}, cs, nil) {
		clientConnPool.Put(cs)
		_ = ours.Close()
		_ = theirs.Close()
		http.Error(w, "proxy shutting down", http.StatusServiceUnavailable)
		return
	}
	// The handler returns only once the proxy's side has ended, its
	// exchange with the upstream included: the HTTP/2 server counts a
	// stream against max_concurrent_streams until its handler returns, so
	// streams reset at once (rapid reset) never leave more exchanges at the
	// upstreams than that.
	defer func() {
		_ = ours.Close()
		<-served.ended
	}()
	// A reset stream (or a gone client) ends the exchange at once.
	stopAbort := context.AfterFunc(r.Context(), func() { _ = ours.Close() })
	defer stopAbort()

	var sent chan error // nil: the request went out whole already
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		// A head alone is written here: the proxy's side reads the whole
		// head before it answers, so the write returns without a goroutine.
		if err := writeH1Request(ours, r); err != nil {
			if r.Context().Err() == nil {
				http.Error(w, "proxy failed to take the request", http.StatusBadGateway)
			}
			return
		}
	} else {
		// A body is written beside the answer's reading: the upstream may
		// answer before it has read all of it.
		sent = make(chan error, 1)
		go func() {
			defer crash.Guard() // run on a goroutine of its own
			sent <- writeH1Request(ours, r)
		}()
	}
	br := bufio.NewReaderSize(ours, 8<<10)
	resp, err := http.ReadResponse(br, &http.Request{Method: r.Method})
	if err != nil {
		if r.Context().Err() == nil {
			http.Error(w, "proxy failed to answer", http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for name, values := range resp.Header {
		if h2HopByHop(name) {
			continue
		}
		h[name] = values
	}
	if resp.ContentLength >= 0 && r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	buf := h2Buffers.Get().(*[]byte)
	if resp.ContentLength >= 0 && resp.ContentLength <= int64(len(*buf)) {
		// A small body of known length goes out with the handler's end,
		// which the server writes with the frames of other streams ready
		// then: one write for many streams, not one each.
		_, _ = io.CopyBuffer(w, resp.Body, *buf)
	} else {
		_, _ = io.CopyBuffer(flushWriter{w}, resp.Body, *buf)
	}
	h2Buffers.Put(buf)
	if sent != nil {
		select {
		case <-sent:
		case <-r.Context().Done():
		}
	}
}

var h2Buffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// flushWriter sends each piece of a body as it comes, as the HTTP/1.1 path
// relays it.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err == nil {
		err = http.NewResponseController(f.w).Flush()
	}
	return n, err
}

// writeH1Request writes r in HTTP/1.1 to w: its own fields (the
// pseudo-header :authority as Host), and its body with its length, or
// chunked when the stream did not say it.
func writeH1Request(w io.Writer, r *http.Request) error {
	var b bytes.Buffer
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(r.URL.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(r.Host)
	b.WriteString("\r\n")
	for name, values := range r.Header {
		if h2HopByHop(name) || name == "Host" || name == "Content-Length" {
			continue
		}
		for _, v := range values {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	chunked := r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody
	switch {
	case r.ContentLength > 0:
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.FormatInt(r.ContentLength, 10))
		b.WriteString("\r\n")
	case chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	}
	b.WriteString("\r\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	switch {
	case chunked:
		cw := httputil.NewChunkedWriter(w)
		if _, err := io.Copy(cw, r.Body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\r\n")
		return err
	case r.ContentLength > 0:
		_, err := io.Copy(w, io.LimitReader(r.Body, r.ContentLength))
		return err
	}
	return nil
}

// h2HopByHop reports the fields that belong to one connection, which
// neither HTTP/2 nor the next hop may carry (RFC 9113, 8.2.2).
func h2HopByHop(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer":
		return true
	}
	return false
}

// isH2Preface reports whether b, the first bytes of a cleartext
// connection, are (so far) HTTP/2's preface; whole is whether all of it
// is there.
func isH2Preface(b []byte) (maybe, whole bool) {
	n := min(len(b), len(h2Preface))
	if n == 0 || string(b[:n]) != h2Preface[:n] {
		return false, false
	}
	return true, n == len(h2Preface)
}

// takeH2 hands c to the HTTP/2 server when it is HTTP/2: TLS that chose
// h2, or cleartext opening with the preface (the bytes read put back).
func (p *Proxy) takeH2(c net.Conn, cs *clientConn) bool {
	timeout := p.cfg.Limits.ReadHeaderTimeout
	if isTLS, h2, err := negotiatedH2(c, timeout); isTLS {
		return err == nil && h2 && p.h2.serve(c)
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	if !startsH2(cs.br) {
		return false // the loop sets the head's deadline again
	}
	_ = c.SetReadDeadline(time.Time{})
	pre, _ := cs.br.Peek(cs.br.Buffered())
	ip := cs.ip
	if pc, ok := c.(*prefixConn); ok {
		pre = append(pre[:len(pre):len(pre)], pc.pre...) // what it still held
		c = pc.Conn
	}
	return p.h2.serve(&prefixConn{Conn: c, pre: append([]byte(nil), pre...), ip: ip})
}

// startsH2 reads from br while the bytes that came are HTTP/2's preface, and
// reports whether all of it came. It waits for more only while they match,
// so an HTTP/1.1 request is never kept waiting.
func startsH2(br *bufio.Reader) bool {
	for n := 1; n <= len(h2Preface); n++ {
		b, err := br.Peek(n)
		if err != nil || b[n-1] != h2Preface[n-1] {
			return false
		}
	}
	return true
}

// negotiatedH2 completes c's TLS handshake, within the head timeout, and
// reports whether it chose h2.
func negotiatedH2(c net.Conn, timeout time.Duration) (isTLS, h2 bool, err error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return false, false, nil
	}
	_ = tc.SetDeadline(time.Now().Add(timeout))
	err = tc.Handshake()
	_ = tc.SetDeadline(time.Time{})
	return true, err == nil && tc.ConnectionState().NegotiatedProtocol == "h2", err
}

// endNotifier is a connection that says when it was closed: the proxy
// closes a stream's connection once it has served it.
type endNotifier struct {
	net.Conn
	ended chan struct{}
	once  sync.Once
}

func (c *endNotifier) Close() error {
	c.once.Do(func() { close(c.ended) })
	return c.Conn.Close()
}

// handedListener is the HTTP/2 server's listener: it accepts the
// connections the proxy hands it.
type handedListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newHandedListener(addr net.Addr) *handedListener {
	return &handedListener{addr: addr, conns: make(chan net.Conn, 64), done: make(chan struct{})}
}

var errListenerClosed = errors.New("proxy: HTTP/2 listener closed")

func (l *handedListener) hand(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, errListenerClosed
	}
}

func (l *handedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handedListener) Addr() net.Addr { return l.addr }
