package runner

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// respParser reads one HTTP/1.1 response from the bytes as they arrive,
// for the event loop, which cannot block on a reader: feed it what was
// received and it says how much it consumed and whether the response is
// complete. It accepts what the lean client's reader accepts (exchange),
// with the same limits and the same errors.
type respParser struct {
	phase     parsePhase
	resp      h1Response
	http10    bool
	keepAlive bool // HTTP/1.0 "Connection: keep-alive"
	remaining int64
	head      bool // the request was HEAD: no body follows
	capture   bool // keep the body's start for expect.body_contains
	touched   bool // a byte of the response has arrived
	u         *userState
}

type parsePhase uint8

const (
	phaseStatus parsePhase = iota
	phaseHeaders
	phaseLength     // remaining body bytes of a Content-Length body
	phaseChunkSize  // a chunk-size line
	phaseChunkData  // remaining bytes of a chunk
	phaseChunkEnd   // the CRLF after a chunk
	phaseTrailers   // trailer lines up to the blank line
	phaseUntilClose // a body without length: it ends with the connection
	phaseDone
)

// reset prepares the parser for the response to r.
func (p *respParser) reset(r *request, u *userState) {
	*p = respParser{u: u, head: r.method == http.MethodHead, capture: r.expect.body != nil}
}

// feed consumes what it can of b (bytes received and not yet consumed);
// eof says the connection was closed after them. It returns the bytes
// consumed and whether the response ended; the caller keeps the rest (an
// unfinished line) and feeds it again with what arrives next. The error is
// io.EOF when the connection closed before a byte of the response,
// errTruncated when it closed during the body, errProtocol when the bytes
// are not an HTTP/1.1 response.
func (p *respParser) feed(b []byte, eof bool) (n int, done bool, err error) {
	if len(b) > 0 {
		p.touched = true
	}
	for p.phase != phaseDone {
		switch p.phase {
		case phaseStatus, phaseHeaders, phaseChunkSize, phaseChunkEnd, phaseTrailers:
			i := bytes.IndexByte(b[n:], '\n')
			if i < 0 {
				if len(b)-n >= h1BufSize {
					return n, false, fmt.Errorf("%w: a header line longer than %d bytes", errProtocol, h1BufSize)
				}
				return n, false, p.ended(eof)
			}
			if i+1 > h1BufSize {
				return n, false, fmt.Errorf("%w: a header line longer than %d bytes", errProtocol, h1BufSize)
			}
			line := b[n : n+i+1]
			n += i + 1
			if err := p.line(line); err != nil {
				return n, false, err
			}
		case phaseLength, phaseChunkData:
			step := int(min(p.remaining, int64(len(b)-n)))
			p.keep(b[n : n+step])
			n += step
			p.remaining -= int64(step)
			if p.remaining > 0 {
				return n, false, p.ended(eof)
			}
			if p.phase == phaseLength {
				p.phase = phaseDone
			} else {
				p.phase = phaseChunkEnd
			}
		case phaseUntilClose:
			p.keep(b[n:])
			n = len(b)
			if !eof {
				return n, false, nil
			}
			p.phase = phaseDone
		}
	}
	return n, true, nil
}

// ended is the error for bytes that stop short of a whole response: none
// while the connection is open.
func (p *respParser) ended(eof bool) error {
	switch {
	case !eof:
		return nil
	case p.phase == phaseStatus && !p.touched:
		return io.EOF
	case p.phase == phaseStatus || p.phase == phaseHeaders:
		return io.ErrUnexpectedEOF
	}
	return errTruncated
}

// line takes one whole line of the head or of the chunked framing.
func (p *respParser) line(line []byte) error {
	switch p.phase {
	case phaseStatus:
		http10, err := p.resp.parseStatusLine(line)
		if err != nil {
			return err
		}
		p.http10, p.keepAlive = http10, false
		p.phase = phaseHeaders
	case phaseHeaders:
		line = trimCRLF(line)
		if len(line) > 0 {
			return p.resp.parseHeaderLine(line, p.u, &p.keepAlive)
		}
		p.endHead()
	case phaseChunkSize:
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			p.phase = phaseTrailers
		} else {
			p.phase, p.remaining = phaseChunkData, size
		}
	case phaseChunkEnd:
		if len(trimCRLF(line)) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errProtocol)
		}
		p.phase = phaseChunkSize
	case phaseTrailers:
		if len(trimCRLF(line)) == 0 {
			p.phase = phaseDone
		}
	}
	return nil
}

// endHead decides, at the blank line, how the body is framed.
func (p *respParser) endHead() {
	r := &p.resp
	if p.http10 && !p.keepAlive {
		r.close = true
	}
	// 1xx responses before the final one (100 Continue, 103 Early Hints).
	if r.status < 200 && r.status != http.StatusSwitchingProtocols {
		p.phase = phaseStatus
		return
	}
	if p.capture {
		p.u.body = p.u.body[:0]
	}
	switch {
	case p.head || r.status == http.StatusNoContent || r.status == http.StatusNotModified || r.status < 200:
		p.phase = phaseDone
	case r.chunked:
		p.phase = phaseChunkSize
	case r.length == 0:
		p.phase = phaseDone
	case r.length > 0:
		p.phase, p.remaining = phaseLength, r.length
	default:
		p.phase = phaseUntilClose
		r.close = true
	}
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
	return r.expect.classify(response{status: p.resp.status, body: body, session: p.resp.session})
}
