package runner

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/http1"
)

// h1Rules are the lean client's rules for responses: internal/http1's
// lenient reading (a client measuring a target reads what a user agent
// may), no line (status, field, chunk framing) longer than h1BufSize.
var h1Rules = http1.Rules{MaxLine: h1BufSize, Lenient: true}

// respParser reads one HTTP/1.1 response from the bytes as they arrive:
// fed what was received, it says how much it consumed and whether the
// response is complete. It is the lean client's one reader: the event
// loop, which cannot block, feeds it what it received; a worker pumps it
// from the connection's buffered reader (readFrom).
type respParser struct {
	phase     parsePhase
	head      http1.Response
	body      http1.BodyReader
	resp      h1Response
	toHEAD    bool     // the request was HEAD: no body follows
	capture   bool     // keep the body's start for expect.body_contains
	touched   bool     // a byte of the response has arrived
	answered  bool     // a head, interim or final, has been read
	cookieURL *url.URL // where the response's cookies go (a user with a jar)
	u         *userState
	checks    *responseChecks // the request's checks, nil when none
}

type parsePhase uint8

const (
	phaseStatus  parsePhase = iota
	phaseHeaders            // past the status line
	phaseBody               // past the final head
	phaseDone
)

// h1Response is what the lean client keeps of a response.
type h1Response struct {
	status  int
	close   bool // the connection cannot carry another request
	node    string
	session string
	station stationTiming
	cookies []string
	fields  capturedFields // the headers the request's checks read
}

// reset prepares the parser for the response to r.
func (p *respParser) reset(r *request, u *userState) {
	*p = respParser{u: u, toHEAD: r.method == http.MethodHead, capture: r.readsBody(), checks: r.checks}
	p.head.Reset()
}

// feed consumes what it can of b (bytes received and not yet consumed);
// eof says the connection was closed after them. It returns the bytes
// consumed and whether the response ended; the caller keeps the rest (an
// unfinished line) and feeds it again with what arrives next. The error is
// io.EOF when the connection closed before a byte of the response,
// io.ErrUnexpectedEOF when it closed during the head, errTruncated during
// the body, an *http1.Error when the bytes are not an HTTP/1.1 response.
func (p *respParser) feed(b []byte, eof bool) (n int, done bool, err error) {
	if len(b) > 0 {
		p.touched = true
	}
	for p.phase < phaseBody {
		used, f, end, err := p.head.Feed(b[n:], h1Rules)
		if err != nil {
			return n, false, err
		}
		if used == 0 {
			return n, false, p.ended(eof)
		}
		n += used
		switch {
		case p.phase == phaseStatus:
			p.phase, p.resp = phaseHeaders, h1Response{}
		case end:
			p.endHead()
		default:
			p.field(f)
		}
	}
	for p.phase == phaseBody {
		used, data, err := p.body.Next(b[n:], eof)
		p.keep(data)
		n += used
		switch {
		case err == io.ErrUnexpectedEOF:
			return n, false, errTruncated
		case err != nil:
			return n, false, err
		case p.body.Done():
			p.phase = phaseDone
		case used == 0:
			return n, false, nil
		}
	}
	return n, true, nil
}

// readFrom reads the response to its end from br, a connection's buffered
// reader (whose size is h1BufSize).
func (p *respParser) readFrom(br *bufio.Reader) error {
	eof := false
	for {
		b, _ := br.Peek(br.Buffered())
		n, done, err := p.feed(b, eof)
		_, _ = br.Discard(n)
		if done || err != nil {
			return err
		}
		if eof {
			return io.ErrUnexpectedEOF // (feed ends every response at the end of its bytes)
		}
		// Wait for one byte more than the unfinished line or body kept.
		if _, err := br.Peek(len(b) - n + 1); err != nil {
			if err != io.EOF {
				return err
			}
			eof = true
		}
	}
}

// ended is the error for bytes that stop short of a whole head: none while
// the connection is open.
func (p *respParser) ended(eof bool) error {
	switch {
	case !eof:
		return nil
	case p.phase == phaseStatus && !p.touched:
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// field keeps what the client reads of a response's field.
func (p *respParser) field(f http1.Field) {
	switch {
	case named(f.Name, headers.Node):
		p.resp.node = p.u.intern(f.Value)
	case named(f.Name, headers.ServerTiming):
		p.resp.station = parseStationTiming(f.Value)
	case named(f.Name, headers.Session):
		p.resp.session = p.u.intern(f.Value)
	case p.u.jar != nil && named(f.Name, "Set-Cookie"):
		p.resp.cookies = append(p.resp.cookies, string(f.Value))
	case p.checks != nil && p.checks.wants(f.Name):
		p.resp.fields = append(p.resp.fields, capturedField{string(f.Name), string(f.Value)})
	}
}

// named reports whether a field's name is name, in any case; most names
// differ in length, told before a byte is compared.
func named(field []byte, name string) bool {
	return len(field) == len(name) && bytes.EqualFold(field, []byte(name))
}

// endHead takes the end of a head: after an interim response (100
// Continue, 103 Early Hints) another head follows; after the final one,
// its body as the head delimits it.
func (p *respParser) endHead() {
	p.answered = true
	if p.head.Interim() {
		p.head.Reset()
		p.phase = phaseStatus
		return
	}
	r := &p.resp
	r.status, r.close = p.head.Status, p.head.Close
	if p.cookieURL != nil && p.u.jar != nil && len(r.cookies) > 0 {
		setCookies(p.cookieURL, p.u, r.cookies)
	}
	if p.capture {
		p.u.body = p.u.body[:0]
	}
	framing := p.head.Body(p.toHEAD)
	if framing == http1.CloseBody {
		r.close = true
	}
	p.body.Reset(framing, p.head.ContentLength, h1Rules)
	p.phase = phaseBody
}

// keep holds body bytes for expect.body_contains, up to bodyCheckLimit.
func (p *respParser) keep(b []byte) {
	if !p.capture {
		return
	}
	if room := bodyCheckLimit - len(p.u.body); room > 0 {
		p.u.body = append(p.u.body, b[:min(len(b), room)]...)
	}
}

// outcome classifies the complete response for r.
func (p *respParser) outcome(r *request) outcome {
	var body []byte
	if p.capture {
		body = p.u.body
	}
	o := r.expect.classify(response{status: p.resp.status, body: body, session: p.resp.session})
	if o == outSuccess && r.checks != nil && !r.checks.pass(body, p.resp.fields.get, p.resp.cookies, p.u.data) {
		o = outUnexpectedBody
	}
	return o
}
