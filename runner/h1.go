package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/headers"
)

// The lean HTTP/1.1 client: plain http with keep-alive (or a connection per
// request), written on net.Conn so that a request costs two system calls and
// no allocation. Each connection has its own read and write buffers; request
// bytes are built once per target (request.wire); response headers are
// scanned in place in the read buffer for the few that matter.

// h1BufSize bounds a response's status line and each header line.
const h1BufSize = 16 << 10

// errProtocol is a response that is not well-formed HTTP/1.x.
var errProtocol = errors.New("malformed HTTP/1.1 response")

type h1Conn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
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
	for attempt := 0; ; attempt++ {
		c, err := p.get(deadline)
		if err != nil {
			if p.aborted.Load() {
				return exchange{outcome: outAborted}, false
			}
			var op *net.OpError
			connectFailed := errors.As(err, &op) && op.Op == "dial"
			return exchange{outcome: classifyError(nil, err)}, connectFailed
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
			ex.outcome = classifyError(nil, err)
		}
		return ex, false
	}
}

// exchange writes r on c and reads the response to its end. untouched is
// true when not a byte of the response arrived.
func (p *h1Pool) exchange(c *h1Conn, r *request, ti int, u *userState, deadline time.Time) (ex exchange, reusable, untouched bool, err error) {
	untouched = true
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

	br := c.br
	var resp h1Response
	for {
		if err = resp.readHead(br, u, func() { untouched = false }); err != nil {
			return ex, false, untouched, err
		}
		ex.responded = true
		// 1xx responses before the final one (100 Continue, 103 Early Hints).
		if resp.status < 200 && resp.status != http.StatusSwitchingProtocols {
			continue
		}
		break
	}
	ex.node, ex.station = resp.node, resp.station
	if u.jar != nil && len(resp.cookies) > 0 {
		setCookies(r.std[ti].URL, u, resp.cookies)
	}
	capture := r.expect.body != nil
	if capture {
		u.body = u.body[:0]
	}
	noBody := r.method == http.MethodHead || resp.status == http.StatusNoContent ||
		resp.status == http.StatusNotModified || resp.status < 200
	switch {
	case noBody:
	case resp.chunked:
		err = readChunked(br, u, capture)
	case resp.length >= 0:
		err = readN(br, resp.length, u, capture)
	default:
		// No length: the body runs to the end of the connection.
		err = readToEOF(br, u, capture)
		resp.close = true
	}
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errTruncated
		}
		return ex, false, false, err
	}
	ex.outcome = r.expect.classify(response{status: resp.status, body: u.body, session: resp.session})
	return ex, !resp.close, false, nil
}

// h1Response is what the lean client keeps of a response head.
type h1Response struct {
	status  int
	length  int64 // -1 when not given
	chunked bool
	close   bool
	node    string
	session string
	station stationTiming
	cookies []string
}

// readHead reads the status line and the headers. got is called once the
// first byte of the response has arrived.
func (h *h1Response) readHead(br *bufio.Reader, u *userState, got func()) error {
	line, err := br.ReadSlice('\n')
	if len(line) > 0 {
		got()
	}
	if err != nil {
		return lineError(err)
	}
	http10, err := h.parseStatusLine(line)
	if err != nil {
		return err
	}
	keepAlive10 := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return lineError(err)
		}
		line = trimCRLF(line)
		if len(line) == 0 {
			break
		}
		if err := h.parseHeaderLine(line, u, &keepAlive10); err != nil {
			return err
		}
	}
	if http10 && !keepAlive10 {
		h.close = true
	}
	return nil
}

// parseStatusLine starts a response head with its status line ("HTTP/1.1
// 200 OK", line ending included or not).
func (h *h1Response) parseStatusLine(line []byte) (http10 bool, err error) {
	*h = h1Response{length: -1}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return false, fmt.Errorf("%w: status line %q", errProtocol, trimCRLF(line))
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return false, fmt.Errorf("%w: status line %q", errProtocol, trimCRLF(line))
		}
		code = code*10 + int(c-'0')
	}
	h.status = code
	return line[7] == '0', nil
}

// parseHeaderLine takes one header line, without its line ending, keeping
// what the client needs; keepAlive10 is set by "Connection: keep-alive".
func (h *h1Response) parseHeaderLine(line []byte, u *userState, keepAlive10 *bool) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return fmt.Errorf("%w: header line %q", errProtocol, line)
	}
	key, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	switch {
	case bytes.EqualFold(key, []byte("Content-Length")):
		n, ok := parseLength(value)
		if !ok {
			return fmt.Errorf("%w: Content-Length %q", errProtocol, value)
		}
		h.length = n
	case bytes.EqualFold(key, []byte("Transfer-Encoding")):
		h.chunked = containsFold(value, "chunked")
	case bytes.EqualFold(key, []byte("Connection")):
		if containsFold(value, "close") {
			h.close = true
		}
		if containsFold(value, "keep-alive") {
			*keepAlive10 = true
		}
	case bytes.EqualFold(key, []byte(headers.Node)):
		h.node = u.intern(value)
	case bytes.EqualFold(key, []byte(headers.ServerTiming)):
		h.station = parseStationTiming(value)
	case bytes.EqualFold(key, []byte(headers.Session)):
		h.session = u.intern(value)
	case u.jar != nil && bytes.EqualFold(key, []byte("Set-Cookie")):
		h.cookies = append(h.cookies, string(value))
	}
	return nil
}

func lineError(err error) error {
	if err == bufio.ErrBufferFull {
		return fmt.Errorf("%w: a header line longer than %d bytes", errProtocol, h1BufSize)
	}
	return err
}

func trimCRLF(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// containsFold reports whether the ASCII word occurs in b, ignoring case.
func containsFold(b []byte, word string) bool {
	for i := 0; i+len(word) <= len(b); i++ {
		if bytes.EqualFold(b[i:i+len(word)], []byte(word)) {
			return true
		}
	}
	return false
}

// readN consumes n body bytes, keeping them for a body check when capture.
func readN(br *bufio.Reader, n int64, u *userState, capture bool) error {
	if capture {
		return keep(br, n, u)
	}
	for n > 0 {
		step := int(min(n, 1<<30))
		d, err := br.Discard(step)
		n -= int64(d)
		if err != nil {
			return err
		}
	}
	return nil
}

// keep reads n bytes into u.body, up to bodyCheckLimit, discarding the rest.
func keep(br *bufio.Reader, n int64, u *userState) error {
	for n > 0 {
		chunk, err := br.Peek(int(min(n, int64(br.Size()))))
		if len(chunk) == 0 && err != nil {
			return err
		}
		if room := bodyCheckLimit - len(u.body); room > 0 {
			u.body = append(u.body, chunk[:min(len(chunk), room)]...)
		}
		br.Discard(len(chunk))
		n -= int64(len(chunk))
		if err != nil && n > 0 {
			return err
		}
	}
	return nil
}

func readToEOF(br *bufio.Reader, u *userState, capture bool) error {
	for {
		chunk, err := br.Peek(br.Size())
		if capture {
			if room := bodyCheckLimit - len(u.body); room > 0 {
				u.body = append(u.body, chunk[:min(len(chunk), room)]...)
			}
		}
		br.Discard(len(chunk))
		if err == io.EOF {
			return nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
	}
}

// parseChunkSize parses a chunk-size line (CRLF included), ignoring chunk
// extensions.
func parseChunkSize(line []byte) (int64, error) {
	line = trimCRLF(line)
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions
	}
	line = bytes.TrimSpace(line)
	size, ok := parseHex(line)
	if !ok {
		return 0, fmt.Errorf("%w: chunk size %q", errProtocol, line)
	}
	return size, nil
}

// readChunked consumes a chunked body and its trailers.
func readChunked(br *bufio.Reader, u *userState, capture bool) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return lineError(err)
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			// Trailers, then the blank line.
			for {
				line, err = br.ReadSlice('\n')
				if err != nil {
					return lineError(err)
				}
				if len(trimCRLF(line)) == 0 {
					return nil
				}
			}
		}
		if err := readN(br, size, u, capture); err != nil {
			return err
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return lineError(err)
		}
		if len(trimCRLF(line)) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errProtocol)
		}
	}
}

func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// writeCookies adds the user's cookies for the target as one Cookie line.
func writeCookies(bw *bufio.Writer, target *url.URL, u *userState) {
	cookies := u.jar.Cookies(target)
	if len(cookies) == 0 {
		return
	}
	bw.WriteString("Cookie: ")
	for i, c := range cookies {
		if i > 0 {
			bw.WriteString("; ")
		}
		bw.WriteString(c.Name)
		bw.WriteByte('=')
		bw.WriteString(c.Value)
	}
	bw.WriteString("\r\n")
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
