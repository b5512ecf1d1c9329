package http1

import (
	"bufio"
	"bytes"
	"io"
)

// Body is how a message's body is delimited (RFC 9112 §6).
type Body uint8

const (
	NoBody      Body = iota // none, whatever the head says
	LengthBody              // Content-Length bytes
	ChunkedBody             // the chunked transfer coding
	CloseBody               // the bytes up to the end of the connection
)

// Body decides how the body of r, the answer to a request whose method was
// HEAD or not, is delimited (RFC 9112 §6.3): none after HEAD and for 1xx,
// 204 and 304; else chunked, Content-Length, or up to the connection's end.
func (r *Response) Body(toHEAD bool) Body {
	switch {
	case toHEAD || r.Status < 200 || r.Status == 204 || r.Status == 304:
		return NoBody
	case r.Chunked:
		return ChunkedBody
	case r.ContentLength >= 0:
		return LengthBody
	}
	return CloseBody
}

// parseContentLength parses a Content-Length value: digits only, at most
// 18 of them (no overflow, no sign, no list).
func parseContentLength(b []byte) (int64, bool) {
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

// BodyReader decodes a body from bytes as they arrive: an event loop
// feeds Next what it received, a blocking reader calls NextFrom. Its zero
// value is a body already read.
type BodyReader struct {
	rules    Rules
	phase    bodyPhase
	left     int64 // bytes left of the body (LengthBody) or of the current chunk
	size     int64 // the current chunk's size
	total    int64 // chunk data so far, against rules.MaxBody
	trailers int   // trailer section bytes so far, against rules.MaxHead
}

type bodyPhase uint8

const (
	bodyDone bodyPhase = iota
	bodyLength
	bodyToClose
	chunkSize     // a chunk-size line
	chunkData     // the current chunk's data
	chunkEnd      // the line end after a chunk's data
	chunkTrailers // trailer lines up to the empty line
)

// Reset readies d for a body delimited as kind; length is a LengthBody's
// Content-Length. The rules that count are MaxLine (chunk-size and trailer
// lines), MaxHead (the trailer section), MaxBody (chunk data) and Lenient.
func (d *BodyReader) Reset(kind Body, length int64, rules Rules) {
	*d = BodyReader{rules: rules}
	switch kind {
	case LengthBody:
		if length > 0 {
			d.phase, d.left = bodyLength, length
		}
	case ChunkedBody:
		d.phase = chunkSize
	case CloseBody:
		d.phase = bodyToClose
	}
}

// Done reports whether the body has been read to its end.
func (d *BodyReader) Done() bool { return d.phase == bodyDone }

// Next consumes the next piece of the body from b, the bytes received and
// not yet consumed: body bytes (returned as data, a part of b) or a line of
// the chunked framing. eof says the connection ended after b. n is 0 while
// b holds no whole piece: the caller keeps b and calls again with more. A
// connection that ends before the body does is io.ErrUnexpectedEOF.
func (d *BodyReader) Next(b []byte, eof bool) (n int, data []byte, err error) {
	switch d.phase {
	case bodyDone:
		return 0, nil, nil
	case bodyLength, chunkData:
		n = int(min(d.left, int64(len(b))))
		if n == 0 {
			if eof {
				return 0, nil, io.ErrUnexpectedEOF
			}
			return 0, nil, nil
		}
		d.left -= int64(n)
		if d.left == 0 && d.phase == bodyLength {
			d.phase = bodyDone
		} else if d.left == 0 {
			d.phase = chunkEnd
		}
		return n, b[:n], nil
	case bodyToClose:
		if eof {
			d.phase = bodyDone
		}
		return len(b), b, nil
	}
	line, err := nextLine(b, d.rules.MaxLine)
	if err != nil {
		return 0, nil, err
	}
	if line == nil {
		if eof {
			return 0, nil, io.ErrUnexpectedEOF
		}
		return 0, nil, nil
	}
	return len(line), nil, d.line(line)
}

// line takes one line of the chunked framing, its end included.
func (d *BodyReader) line(line []byte) error {
	lenient := d.rules.Lenient
	switch d.phase {
	case chunkSize:
		size, err := parseChunkSize(line, lenient)
		if err != nil {
			return err
		}
		if size == 0 {
			d.phase = chunkTrailers
			return nil
		}
		if d.rules.MaxBody > 0 && d.total+size > d.rules.MaxBody {
			return ErrBodyTooLarge
		}
		d.total += size
		d.phase, d.left, d.size = chunkData, size, size
	case chunkEnd:
		if rest, ok := endLine(line, lenient); !ok || len(rest) != 0 {
			return ErrMalformedChunk
		}
		d.phase = chunkSize
	case chunkTrailers:
		d.trailers += len(line)
		if d.rules.MaxHead > 0 && d.trailers > d.rules.MaxHead {
			return ErrHeadTooLarge
		}
		if lenient {
			if len(trimCRLF(line)) == 0 {
				d.phase = bodyDone
			}
			return nil
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return ErrMalformedChunk
		}
		if len(line) == 2 {
			d.phase = bodyDone
		}
	}
	return nil
}

// ChunkBegun reports the size of the chunk whose size line was the last
// piece: where a re-encoder writes a size line of its own.
func (d *BodyReader) ChunkBegun() (int64, bool) {
	return d.size, d.phase == chunkData && d.left == d.size
}

// ChunkEnded reports whether the last piece ended a chunk's data.
func (d *BodyReader) ChunkEnded() bool { return d.phase == chunkEnd }

// NextFrom is Next on a connection's buffered reader: it reads until br
// holds a whole piece. data is br's buffer, valid until br is read again.
// A line longer than br's buffer is ErrLineTooLong.
func (d *BodyReader) NextFrom(br *bufio.Reader) ([]byte, error) {
	eof := false
	for {
		b, _ := br.Peek(br.Buffered())
		n, data, err := d.Next(b, eof)
		if n > 0 || err != nil || d.phase == bodyDone {
			_, _ = br.Discard(n)
			return data, err
		}
		if len(b) == br.Size() {
			return nil, ErrLineTooLong
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			if err != io.EOF {
				return nil, err
			}
			eof = true
		}
	}
}

// parseChunkSize parses a chunk-size line, its end included: hexadecimal
// digits (at most 15), then extensions, which are not read.
func parseChunkSize(line []byte, lenient bool) (int64, error) {
	if lenient {
		line = trimCRLF(line)
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
	} else {
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return 0, ErrMalformedChunk
		}
		line = line[:len(line)-2]
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			if !validValue(line[i:]) {
				return 0, ErrMalformedChunk
			}
			line = line[:i]
		}
		line = TrimOWS(line)
	}
	if len(line) == 0 || len(line) > 15 {
		return 0, ErrMalformedChunk
	}
	var n int64
	for _, c := range line {
		var digit byte
		switch {
		case c >= '0' && c <= '9':
			digit = c - '0'
		case c >= 'a' && c <= 'f':
			digit = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			digit = c - 'A' + 10
		default:
			return 0, ErrMalformedChunk
		}
		n = n<<4 | int64(digit)
	}
	return n, nil
}
