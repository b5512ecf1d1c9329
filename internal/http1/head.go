package http1

import "bytes"

// Kind names the header fields the wire format itself reads.
type Kind uint8

const (
	KindOther Kind = iota
	KindHost
	KindContentLength
	KindTransferEncoding
	KindConnection
	KindExpect
	// KindHopByHop: Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
	// Proxy-Authorization, Proxy-Authenticate: fields of one connection,
	// which a proxy does not forward (RFC 9110 §7.6.1).
	KindHopByHop
)

func kindOf(name []byte) Kind {
	eq := func(s string) bool { return bytes.EqualFold(name, []byte(s)) }
	switch len(name) {
	case 2:
		if eq("te") {
			return KindHopByHop
		}
	case 4:
		if eq("host") {
			return KindHost
		}
	case 6:
		if eq("expect") {
			return KindExpect
		}
	case 7:
		if eq("trailer") || eq("upgrade") {
			return KindHopByHop
		}
	case 10:
		switch {
		case eq("connection"):
			return KindConnection
		case eq("keep-alive"):
			return KindHopByHop
		}
	case 14:
		if eq("content-length") {
			return KindContentLength
		}
	case 16:
		if eq("proxy-connection") {
			return KindHopByHop
		}
	case 17:
		if eq("transfer-encoding") {
			return KindTransferEncoding
		}
	case 18:
		if eq("proxy-authenticate") {
			return KindHopByHop
		}
	case 19:
		if eq("proxy-authorization") {
			return KindHopByHop
		}
	}
	return KindOther
}

// Field is one header field line.
type Field struct {
	Name, Value []byte
	Kind        Kind
}

// Head is what requests and responses share: the field lines, the
// version, and what the fields say of the body's framing and of the
// connection. Byte slices point into Bytes, the head as read, reused from
// message to message (or, for Response.Feed, into the caller's bytes).
type Head struct {
	Bytes  []byte
	Fields []Field // kept by Read, not by Feed

	Minor         int    // HTTP/1.Minor
	ContentLength int64  // -1: none
	Chunked       bool   // Transfer-Encoding: chunked (over any Content-Length)
	Close         bool   // the connection ends after this message: Connection: close, or HTTP/1.0 without keep-alive
	KeepAlive     bool   // Connection: keep-alive
	Host          []byte // Host, or the authority of a request's absolute-form target (strict rules)

	connTokens  [8][]byte // other options listed in Connection (strict rules)
	nConnTokens int
	closeToken  bool
	teSeen      bool
	hosts       int
	nFields     int
	started     bool // the start line has been read
}

func (h *Head) reset() {
	*h = Head{Bytes: h.Bytes[:0], Fields: h.Fields[:0], Minor: 1, ContentLength: -1}
}

// Get returns the first value of the named field ("" if absent).
func (h *Head) Get(name string) string {
	for i := range h.Fields {
		if bytes.EqualFold(h.Fields[i].Name, []byte(name)) {
			return string(h.Fields[i].Value)
		}
	}
	return ""
}

// ConnectionOption reports whether Connection listed the named field, as
// one that belongs to this connection only.
func (h *Head) ConnectionOption(name []byte) bool {
	for _, t := range h.connTokens[:h.nConnTokens] {
		if bytes.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// field parses one field line, its end removed, and applies to h what the
// wire format reads of it.
func (h *Head) field(line []byte, rules Rules) (Field, error) {
	if rules.MaxFields > 0 && h.nFields >= rules.MaxFields {
		return Field{}, ErrTooManyFields
	}
	h.nFields++
	var f Field
	if rules.Lenient {
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return Field{}, errMalformed
		}
		f.Name, f.Value = line[:colon], bytes.TrimSpace(line[colon+1:])
	} else {
		if line[0] == ' ' || line[0] == '\t' {
			return Field{}, errMalformed // obs-fold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return Field{}, errMalformed
		}
		f.Name, f.Value = line[:colon], TrimOWS(line[colon+1:])
		if !validValue(f.Value) {
			return Field{}, errMalformed
		}
	}
	f.Kind = kindOf(f.Name)
	switch f.Kind {
	case KindHost:
		if !rules.Lenient {
			h.hosts++
			if !validHost(f.Value) {
				return Field{}, errMalformed
			}
			h.Host = f.Value
		}
	case KindContentLength:
		n, ok := parseContentLength(f.Value)
		if !ok || (!rules.Lenient && h.ContentLength >= 0 && n != h.ContentLength) {
			return Field{}, errMalformed
		}
		h.ContentLength = n
	case KindTransferEncoding:
		if rules.Lenient {
			h.Chunked = containsFold(f.Value, "chunked")
			break
		}
		// Only a single "chunked" is understood; anything else could be
		// framed differently by the next hop.
		if h.teSeen || !bytes.EqualFold(f.Value, []byte("chunked")) {
			return Field{}, errMalformed
		}
		h.teSeen, h.Chunked = true, true
	case KindConnection:
		if rules.Lenient {
			h.closeToken = h.closeToken || containsFold(f.Value, "close")
			h.KeepAlive = h.KeepAlive || containsFold(f.Value, "keep-alive")
			break
		}
		if err := h.connectionTokens(f.Value); err != nil {
			return Field{}, err
		}
	}
	return f, nil
}

func (h *Head) connectionTokens(v []byte) error {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = TrimOWS(v[:i]), v[i+1:]
		} else {
			tok, v = TrimOWS(v), nil
		}
		switch {
		case len(tok) == 0:
		case bytes.EqualFold(tok, []byte("close")):
			h.closeToken = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
			h.KeepAlive = true
		default:
			if !isToken(tok) || h.nConnTokens == len(h.connTokens) {
				return errMalformed
			}
			h.connTokens[h.nConnTokens] = tok
			h.nConnTokens++
		}
	}
	return nil
}

// finish settles, at the end of the head, the framing and the connection.
func (h *Head) finish(request bool) error {
	if h.Chunked && h.ContentLength >= 0 {
		if request {
			return ErrConflictFraming
		}
		h.ContentLength = -1 // RFC 9112 §6.3: chunked wins in a response
	}
	h.Close = h.closeToken || (h.Minor == 0 && !h.KeepAlive)
	return nil
}

// Request is a request head.
type Request struct {
	Head
	Method, Target []byte
	Path           []byte // Target up to its query
	Expect100      bool
}

// tlsHandshakeRecord is the first byte of a TLS record carrying a handshake
// (a ClientHello: 0x16, then the version's 0x03).
const tlsHandshakeRecord = 0x16

// checkStart judges the first byte of a request: a request line begins with
// a method (a token), or with the empty lines tolerated before it. Anything
// else, such as a TLS ClientHello sent to a plain port, is refused at once
// instead of waiting for a line end that binary input need never send.
func checkStart(b byte) error {
	switch {
	case tokenTable[b] || b == '\r' || b == '\n':
		return nil
	case b == tlsHandshakeRecord:
		return ErrTLSHandshake
	}
	return ErrMalformedRequest
}

// Read reads a request head from src, as a server must (Rules.Lenient is
// not heeded). On io.EOF or io.ErrUnexpectedEOF the head is not complete:
// a SliceReader's caller reads it again, from its start, with more bytes.
func (r *Request) Read(src LineReader, rules Rules) error {
	rules.Lenient = false
	r.Head.reset()
	r.Method, r.Target, r.Path, r.Expect100 = nil, nil, nil, false
	first, err := src.Peek(1)
	if err != nil {
		return err
	}
	if err := checkStart(first[0]); err != nil {
		return err
	}
	var line []byte
	for range 4 { // tolerate a few empty lines before the request line
		if line, err = r.readLine(src, rules); err != nil {
			return err
		}
		if len(line) > 0 {
			break
		}
	}
	if len(line) == 0 {
		return ErrMalformedRequest
	}
	absHost, err := r.requestLine(line)
	if err != nil {
		return err
	}
	r.started = true
	for {
		line, err := r.readLine(src, rules)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			break
		}
		f, err := r.field(line, rules)
		if err == errMalformed {
			return ErrMalformedRequest
		}
		if err != nil {
			return err
		}
		if f.Kind == KindExpect {
			if !bytes.EqualFold(f.Value, []byte("100-continue")) {
				return ErrExpectation
			}
			r.Expect100 = true
		}
		r.Fields = append(r.Fields, f)
	}
	if err := r.finish(true); err != nil {
		return err
	}
	if r.Chunked && r.Minor == 0 {
		return ErrMalformedRequest
	}
	if r.hosts > 1 || (r.hosts == 0 && r.Minor == 1) {
		return ErrMalformedRequest
	}
	if absHost != nil {
		r.Host = absHost
	}
	return nil
}

// readLine reads the next line of a request head, its end removed.
func (r *Request) readLine(src LineReader, rules Rules) ([]byte, error) {
	line, err := readLine(src, &r.Bytes, rules)
	if err != nil {
		return nil, err
	}
	line, ok := endLine(line, false)
	if !ok {
		return nil, ErrMalformedRequest
	}
	return line, nil
}

// requestLine parses "method target HTTP/1.x". A target in absolute form
// is reduced to its path, its authority returned to replace Host.
func (r *Request) requestLine(line []byte) (absHost []byte, err error) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return nil, ErrMalformedRequest
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return nil, ErrMalformedRequest
	}
	r.Method, r.Target = line[:sp1], line[sp1+1:sp1+1+sp2]
	version := line[sp1+sp2+2:]
	if !isToken(r.Method) || !validTarget(r.Target) {
		return nil, ErrMalformedRequest
	}
	switch string(version) {
	case "HTTP/1.1":
		r.Minor = 1
	case "HTTP/1.0":
		r.Minor = 0
	default:
		if len(version) < 5 || string(version[:5]) != "HTTP/" {
			return nil, ErrMalformedRequest
		}
		return nil, ErrVersion
	}
	switch {
	case r.Target[0] == '/':
	case len(r.Target) == 1 && r.Target[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return nil, ErrMalformedRequest
		}
	default:
		rest, ok := bytes.CutPrefix(r.Target, []byte("http://"))
		if !ok {
			if rest, ok = bytes.CutPrefix(r.Target, []byte("https://")); !ok {
				return nil, ErrMalformedRequest
			}
		}
		slash := bytes.IndexByte(rest, '/')
		if slash < 0 {
			absHost, r.Target = rest, []byte("/")
		} else {
			absHost, r.Target = rest[:slash], rest[slash:]
		}
		if !validHost(absHost) || len(absHost) == 0 {
			return nil, ErrMalformedRequest
		}
	}
	r.Path = r.Target
	if q := bytes.IndexByte(r.Target, '?'); q >= 0 {
		r.Path = r.Target[:q]
	}
	return absHost, nil
}

// Response is a response head.
type Response struct {
	Head
	Status int
	Reason []byte
}

// Reset readies r for a new head, for Line and Feed.
func (r *Response) Reset() {
	r.Head.reset()
	r.Status, r.Reason = 0, nil
}

// Interim reports whether r is a 1xx response other than 101 Switching
// Protocols: the final response follows it on the connection.
func (r *Response) Interim() bool { return r.Status < 200 && r.Status != 101 }

// Read reads one response head from src (an interim one too: see Interim),
// keeping its bytes and fields.
func (r *Response) Read(src LineReader, rules Rules) error {
	r.Reset()
	for {
		line, err := readLine(src, &r.Bytes, rules)
		if err != nil {
			return err
		}
		f, done, err := r.Line(line, rules)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if f.Name != nil {
			r.Fields = append(r.Fields, f)
		}
	}
}

// Feed takes the next line of a response head from b, bytes received and
// not yet consumed, as an event loop holds them: n is its length, 0 while b
// holds no whole line (the caller keeps b and feeds it again with more).
// The line's field, if it holds one, is f, pointing into b (r does not
// keep it); done: the line ended the head.
func (r *Response) Feed(b []byte, rules Rules) (n int, f Field, done bool, err error) {
	line, err := nextLine(b, rules.MaxLine)
	if line == nil || err != nil {
		return 0, Field{}, false, err
	}
	f, done, err = r.Line(line, rules)
	return len(line), f, done, err
}

// Line takes the next line of a response head, its end included: the
// status line, a field line (returned as f) or the empty line that ends the
// head (done).
func (r *Response) Line(line []byte, rules Rules) (f Field, done bool, err error) {
	line, ok := endLine(line, rules.Lenient)
	if !ok {
		return Field{}, false, ErrMalformedResponse
	}
	if !r.started {
		r.started = true
		return Field{}, false, r.statusLine(line, rules.Lenient)
	}
	if len(line) == 0 {
		return Field{}, true, r.finish(false)
	}
	f, err = r.field(line, rules)
	if err == errMalformed {
		err = ErrMalformedResponse
	}
	return f, false, err
}

// statusLine parses "HTTP/1.x nnn reason".
func (r *Response) statusLine(line []byte, lenient bool) error {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return ErrMalformedResponse
	}
	if lenient {
		r.Minor = 1
		if line[7] == '0' {
			r.Minor = 0
		}
	} else {
		if len(line) > 12 && line[12] != ' ' {
			return ErrMalformedResponse
		}
		r.Minor = int(line[7] - '0')
		if r.Minor != 0 && r.Minor != 1 {
			return ErrMalformedResponse
		}
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ErrMalformedResponse
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 && !lenient {
		return ErrMalformedResponse
	}
	r.Status = code
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	return nil
}
