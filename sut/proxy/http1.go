package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"

	"github.com/ilities/ilities/internal/headers"
)

// Parsing errors. Each maps to the status the client gets (statusOf).
var (
	errBadRequest     = errors.New("malformed request")
	errConflictFrame  = errors.New("both Content-Length and Transfer-Encoding")
	errHeaderTooLarge = errors.New("request header too large")
	errBodyTooLarge   = errors.New("request body too large")
	errBadVersion     = errors.New("unsupported HTTP version")
	errBadExpect      = errors.New("unsupported expectation")
	errTLSHandshake   = errors.New("TLS handshake on a plain HTTP port")
	errBadResponse    = errors.New("malformed upstream response")
)

// tlsHandshakeRecord is the first byte of a TLS record carrying a handshake
// (a ClientHello: 0x16, then the version's 0x03).
const tlsHandshakeRecord = 0x16

// checkStart judges the first byte of a request: a request line begins with
// a method (a token), or with the empty lines tolerated before it. Anything
// else, such as a TLS ClientHello sent to a plain port, is refused at once
// (400, as HAProxy does) instead of waiting for a line end that binary
// input need never send, until the head timeout.
func checkStart(b byte) error {
	switch {
	case tokenTable[b] || b == '\r' || b == '\n':
		return nil
	case b == tlsHandshakeRecord:
		return errTLSHandshake
	}
	return errBadRequest
}

// statusOf is the answer to a request that failed to parse with err.
func statusOf(err error) int {
	switch err {
	case errHeaderTooLarge:
		return 431
	case errBodyTooLarge:
		return 413
	case errBadVersion:
		return 505
	case errBadExpect:
		return 417
	}
	return 400
}

// maxHeaders bounds the number of header lines of a message.
const maxHeaders = 128

// hkind classifies the header names the proxy treats specially.
type hkind uint8

const (
	hOther hkind = iota
	hHost
	hContentLength
	hTransferEncoding
	hConnection
	hHopByHop // Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Proxy-Authorization
	hExpect
	hXFF
	hXFProto
	hXFHost
	hCookie
	hNode
	hLoad
)

func classify(name []byte) hkind {
	eq := func(s string) bool { return bytes.EqualFold(name, []byte(s)) }
	switch len(name) {
	case 2:
		if eq("te") {
			return hHopByHop
		}
	case 4:
		if eq("host") {
			return hHost
		}
	case 6:
		switch {
		case eq("cookie"):
			return hCookie
		case eq("expect"):
			return hExpect
		}
	case 7:
		if eq("trailer") || eq("upgrade") {
			return hHopByHop
		}
	case 10:
		switch {
		case eq("connection"):
			return hConnection
		case eq("keep-alive"):
			return hHopByHop
		}
	case 14:
		if eq("content-length") {
			return hContentLength
		}
		if eq(headers.Load) {
			return hLoad
		}
	case 15:
		if eq("x-forwarded-for") {
			return hXFF
		}
	case 16:
		switch {
		case eq("proxy-connection"):
			return hHopByHop
		case eq("x-forwarded-host"):
			return hXFHost
		}
	case 17:
		switch {
		case eq("transfer-encoding"):
			return hTransferEncoding
		case eq("x-forwarded-proto"):
			return hXFProto
		case eq(headers.Node):
			return hNode
		}
	case 19:
		if eq("proxy-authorization") || eq("proxy-authenticate") {
			return hHopByHop
		}
	}
	return hOther
}

type header struct {
	name, value []byte
	kind        hkind
}

// message is the parsed head of a request or response, with framing.
// Byte slices point into head, which is reused from message to message.
type message struct {
	head    []byte
	headers []header

	// request line
	method, target, path []byte
	minor                int // HTTP/1.minor
	host                 []byte
	// status line
	status int
	reason []byte

	contentLength int64 // -1: none
	chunked       bool
	closeConn     bool // Connection: close (or HTTP/1.0 without keep-alive)
	keepAlive     bool // Connection: keep-alive
	expect100     bool
	connTokens    [8][]byte // other names listed in Connection
	nConnTokens   int
}

func (m *message) reset() {
	m.head = m.head[:0]
	m.headers = m.headers[:0]
	m.method, m.target, m.path, m.host, m.reason = nil, nil, nil, nil, nil
	m.minor, m.status = 1, 0
	m.contentLength = -1
	m.chunked, m.closeConn, m.keepAlive, m.expect100 = false, false, false, false
	m.nConnTokens = 0
}

// Get returns the first value of the named header ("" if absent); it makes
// a request usable as balancer.Headers.
func (m *message) Get(name string) string {
	for i := range m.headers {
		if bytes.EqualFold(m.headers[i].name, []byte(name)) {
			return string(m.headers[i].value)
		}
	}
	return ""
}

// connListed reports whether Connection named the header.
func (m *message) connListed(name []byte) bool {
	for _, t := range m.connTokens[:m.nConnTokens] {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// hopByHop reports whether h must not be forwarded.
func (m *message) hopByHop(h *header) bool {
	switch h.kind {
	case hConnection, hHopByHop, hTransferEncoding, hContentLength:
		return true
	}
	return m.nConnTokens > 0 && m.connListed(h.name)
}

// lineReader is where heads are read from: a *bufio.Reader on a connection,
// or a sliceReader over bytes an event loop has already received.
type lineReader interface {
	ReadSlice(delim byte) ([]byte, error)
	Peek(n int) ([]byte, error)
}

// sliceReader reads lines from b; past its end it returns io.EOF, which the
// parser reports as io.ErrUnexpectedEOF: the head is not complete yet.
type sliceReader struct {
	b   []byte
	off int
}

func (r *sliceReader) Peek(n int) ([]byte, error) {
	rest := r.b[r.off:]
	if len(rest) < n {
		return rest, io.EOF
	}
	return rest[:n], nil
}

func (r *sliceReader) ReadSlice(delim byte) ([]byte, error) {
	rest := r.b[r.off:]
	i := bytes.IndexByte(rest, delim)
	if i < 0 {
		r.off = len(r.b)
		return rest, io.EOF
	}
	r.off += i + 1
	return rest[:i+1], nil
}

// readLine reads one CRLF-terminated line into m.head and returns it without
// the CRLF. The head may not exceed limit bytes in total.
func (m *message) readLine(br lineReader, limit int) ([]byte, error) {
	start := len(m.head)
	for {
		frag, err := br.ReadSlice('\n')
		if len(m.head)+len(frag) > limit {
			return nil, errHeaderTooLarge
		}
		m.head = append(m.head, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(m.head) > start {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		break
	}
	line := m.head[start:]
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errBadRequest // bare LF
	}
	line = line[:len(line)-2]
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, errBadRequest
	}
	return line, nil
}

// readRequest reads and checks a request head from br.
func (m *message) readRequest(br lineReader, limit int) error {
	m.reset()
	first, err := br.Peek(1)
	if err != nil {
		return err
	}
	if err := checkStart(first[0]); err != nil {
		return err
	}
	var line []byte
	for range 4 { // tolerate a few empty lines before the request line
		if line, err = m.readLine(br, limit); err != nil {
			return err
		}
		if len(line) > 0 {
			break
		}
	}
	if len(line) == 0 {
		return errBadRequest
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequest
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return errBadRequest
	}
	m.method, m.target = line[:sp1], line[sp1+1:sp1+1+sp2]
	version := line[sp1+sp2+2:]
	if !isToken(m.method) || !validTarget(m.target) {
		return errBadRequest
	}
	switch string(version) {
	case "HTTP/1.1":
		m.minor = 1
	case "HTTP/1.0":
		m.minor = 0
		m.closeConn = true
	default:
		if len(version) < 5 || string(version[:5]) != "HTTP/" {
			return errBadRequest
		}
		return errBadVersion
	}
	var absHost []byte
	switch {
	case m.target[0] == '/':
	case len(m.target) == 1 && m.target[0] == '*':
		if string(m.method) != "OPTIONS" {
			return errBadRequest
		}
	default:
		// absolute-form: its authority replaces Host.
		rest, ok := bytes.CutPrefix(m.target, []byte("http://"))
		if !ok {
			if rest, ok = bytes.CutPrefix(m.target, []byte("https://")); !ok {
				return errBadRequest
			}
		}
		slash := bytes.IndexByte(rest, '/')
		if slash < 0 {
			absHost, m.target = rest, []byte("/")
		} else {
			absHost, m.target = rest[:slash], rest[slash:]
		}
		if !validHost(absHost) || len(absHost) == 0 {
			return errBadRequest
		}
	}
	m.path = m.target
	if q := bytes.IndexByte(m.target, '?'); q >= 0 {
		m.path = m.target[:q]
	}
	hosts, err := m.readHeaders(br, limit, true)
	if err != nil {
		return err
	}
	if m.chunked && m.minor == 0 {
		return errBadRequest
	}
	if hosts > 1 || (hosts == 0 && m.minor == 1) {
		return errBadRequest
	}
	if absHost != nil {
		m.host = absHost
	}
	if m.minor == 0 && m.keepAlive {
		m.closeConn = false
	}
	return nil
}

// readHeaders reads header lines up to the empty line, checking each and
// the framing headers. It returns the number of Host headers.
func (m *message) readHeaders(br lineReader, limit int, isRequest bool) (hosts int, err error) {
	teSeen := false
	for {
		line, err := m.readLine(br, limit)
		if err != nil {
			return 0, err
		}
		if len(line) == 0 {
			break
		}
		if len(m.headers) >= maxHeaders {
			return 0, errHeaderTooLarge
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, errBadRequest // obs-fold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return 0, errBadRequest
		}
		h := header{name: line[:colon], value: trimOWS(line[colon+1:])}
		if !validValue(h.value) {
			return 0, errBadRequest
		}
		h.kind = classify(h.name)
		switch h.kind {
		case hHost:
			hosts++
			if !validHost(h.value) {
				return 0, errBadRequest
			}
			m.host = h.value
		case hContentLength:
			n, ok := parseLength(h.value)
			if !ok || (m.contentLength >= 0 && n != m.contentLength) {
				return 0, errBadRequest
			}
			m.contentLength = n
		case hTransferEncoding:
			// Only a single "chunked" is understood; anything else could
			// be framed differently by the next hop.
			if teSeen || !bytes.EqualFold(h.value, []byte("chunked")) {
				return 0, errBadRequest
			}
			teSeen, m.chunked = true, true
		case hConnection:
			if err := m.connectionTokens(h.value); err != nil {
				return 0, err
			}
		case hExpect:
			if isRequest {
				if !bytes.EqualFold(h.value, []byte("100-continue")) {
					return 0, errBadExpect
				}
				m.expect100 = true
			}
		}
		m.headers = append(m.headers, h)
	}
	if m.chunked && m.contentLength >= 0 {
		if isRequest {
			return 0, errConflictFrame
		}
		m.contentLength = -1 // RFC 9112 6.3: chunked wins in a response
	}
	return hosts, nil
}

func (m *message) connectionTokens(v []byte) error {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = trimOWS(v[:i]), v[i+1:]
		} else {
			tok, v = trimOWS(v), nil
		}
		switch {
		case len(tok) == 0:
		case bytes.EqualFold(tok, []byte("close")):
			m.closeConn = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
			m.keepAlive = true
		default:
			if !isToken(tok) || m.nConnTokens == len(m.connTokens) {
				return errBadRequest
			}
			m.connTokens[m.nConnTokens] = tok
			m.nConnTokens++
		}
	}
	return nil
}

// readResponse reads an upstream's response head. 1xx responses are skipped.
func (m *message) readResponse(br lineReader, limit int) error {
	for range 8 {
		m.reset()
		line, err := m.readLine(br, limit)
		if err != nil {
			if err == errBadRequest {
				return errBadResponse
			}
			return err
		}
		if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return errBadResponse
		}
		m.minor = int(line[7] - '0')
		if m.minor != 0 && m.minor != 1 {
			return errBadResponse
		}
		code := 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return errBadResponse
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 {
			return errBadResponse
		}
		m.status = code
		if len(line) > 13 {
			m.reason = line[13:]
		}
		if m.minor == 0 {
			m.closeConn = true
		}
		if _, err := m.readHeaders(br, limit, false); err != nil {
			if err == errBadRequest || err == errConflictFrame {
				return errBadResponse
			}
			return err
		}
		if m.minor == 0 && m.keepAlive {
			m.closeConn = false
		}
		if code >= 200 || code == 101 {
			return nil
		}
	}
	return errBadResponse
}

// bodyless reports whether a response to method with this status has no
// body whatever its headers say.
func (m *message) bodyless(head bool) bool {
	return head || m.status == 204 || m.status == 304 || (m.status >= 100 && m.status < 200)
}

var tokenTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenTable[c] {
			return false
		}
	}
	return true
}

// validTarget accepts visible ASCII and obs-text: no controls, no spaces.
func validTarget(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validValue rejects control characters other than horizontal tab.
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

var hostTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~%!$&'()*+,;=:[]") {
		t[c] = true
	}
	return
}()

func validHost(b []byte) bool {
	for _, c := range b {
		if !hostTable[c] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength parses a Content-Length value: digits only, at most 18.
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

// readChunkSize reads a chunk-size line (hex size, optional extensions)
// into scratch and returns the size.
func readChunkSize(br *bufio.Reader) (int64, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return 0, errBadRequest
		}
		return 0, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, errBadRequest
	}
	line = line[:len(line)-2]
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		if !validValue(line[i:]) {
			return 0, errBadRequest
		}
		line = line[:i]
	}
	line = trimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, errBadRequest
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, errBadRequest
		}
	}
	return n, nil
}

// expectCRLF consumes the CRLF that ends a chunk's data.
func expectCRLF(br *bufio.Reader) error {
	b, err := br.Peek(2)
	if err != nil {
		return err
	}
	if b[0] != '\r' || b[1] != '\n' {
		return errBadRequest
	}
	_, _ = br.Discard(2)
	return nil
}

// skipTrailers reads the trailer section after the last chunk.
func skipTrailers(br *bufio.Reader, limit int) error {
	total := 0
	for {
		line, err := br.ReadSlice('\n')
		total += len(line)
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errHeaderTooLarge
			}
			return err
		}
		if total > limit {
			return errHeaderTooLarge
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return errBadRequest
		}
		if len(line) == 2 {
			return nil
		}
	}
}

// copyN copies exactly n bytes from br to w through buf.
func copyN(w io.Writer, br *bufio.Reader, n int64, buf []byte) (int64, error) {
	var done int64
	for done < n {
		chunk := buf
		if rem := n - done; rem < int64(len(chunk)) {
			chunk = chunk[:rem]
		}
		r, err := br.Read(chunk)
		if r > 0 {
			if _, werr := w.Write(chunk[:r]); werr != nil {
				return done, werr
			}
			done += int64(r)
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
	}
	return done, nil
}

// copyChunked decodes a chunked body from br and writes it to w re-chunked
// (or plain when rechunk is false), up to max bytes of data. It returns the
// data bytes copied.
func copyChunked(w *bufio.Writer, br *bufio.Reader, rechunk bool, max int64, buf []byte, trailerLimit int) (int64, error) {
	var total int64
	for {
		size, err := readChunkSize(br)
		if err != nil {
			return total, err
		}
		if size == 0 {
			if err := skipTrailers(br, trailerLimit); err != nil {
				return total, err
			}
			if rechunk {
				_, err = w.WriteString("0\r\n\r\n")
			}
			return total, err
		}
		if total+size > max {
			return total, errBodyTooLarge
		}
		if rechunk {
			b := w.AvailableBuffer()
			b = strconv.AppendInt(b, size, 16)
			b = append(b, '\r', '\n')
			if _, err := w.Write(b); err != nil {
				return total, err
			}
		}
		n, err := copyN(w, br, size, buf)
		total += n
		if err != nil {
			return total, err
		}
		if err := expectCRLF(br); err != nil {
			return total, err
		}
		if rechunk {
			if _, err := w.WriteString("\r\n"); err != nil {
				return total, err
			}
		}
	}
}
