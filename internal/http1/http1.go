// Package http1 is the HTTP/1.1 wire format (RFC 9112) shared by the
// built-in proxy and the load generator: request and response heads, how a
// body is delimited, Content-Length, the chunked coding, and the limits a
// reader keeps. It does no I/O and holds no policy: heads are read from a
// LineReader (a *bufio.Reader, or a SliceReader over bytes an event loop
// already has) or line by line as bytes arrive (Response.Feed), bodies are
// decoded from bytes as they arrive (BodyReader), so one set of rules
// serves blocking readers and event loops alike. What to answer, forward or
// count is the caller's.
package http1

import (
	"bufio"
	"bytes"
	"io"
)

// Rules are what a reader accepts: its limits (0: no bound) and how
// strictly it reads.
type Rules struct {
	MaxLine   int   // bytes in one line, its end included
	MaxHead   int   // bytes in a head, and in a chunked body's trailer section
	MaxFields int   // field lines in a head
	MaxBody   int64 // data bytes in a chunked body

	// Lenient reads a response as a user agent may: a bare LF ends a line
	// (RFC 9112 §2.2), the status line and fields are taken as they come,
	// the last Content-Length counts, a Transfer-Encoding naming chunked
	// is chunked, and Connection is searched for close and keep-alive.
	// A strict reader, which an intermediary must be, refuses whatever a
	// next hop could frame differently. Requests are always read strictly.
	Lenient bool
}

// Error is input that breaks the wire format or a reader's limits: one of
// the values below. Anything else a reader returns came from its source
// (io.EOF, a timeout, a reset).
type Error struct{ text string }

func (e *Error) Error() string { return e.text }

var (
	ErrMalformedRequest  = &Error{"malformed request"}
	ErrMalformedResponse = &Error{"malformed response"}
	ErrMalformedChunk    = &Error{"malformed chunked body"}
	ErrConflictFraming   = &Error{"both Content-Length and Transfer-Encoding"}
	ErrVersion           = &Error{"unsupported HTTP version"}
	ErrExpectation       = &Error{"unsupported expectation"}
	ErrTLSHandshake      = &Error{"TLS handshake on a plain HTTP port"}

	// The limits of Rules.
	ErrLineTooLong   = &Error{"line too long"}
	ErrHeadTooLarge  = &Error{"header section too large"}
	ErrTooManyFields = &Error{"too many header fields"}
	ErrBodyTooLarge  = &Error{"body too large"}
)

// errMalformed is a field line's syntax error, which the head's reader
// reports as ErrMalformedRequest or ErrMalformedResponse.
var errMalformed = &Error{"malformed"}

// LineReader is where heads are read from: a *bufio.Reader on a
// connection, or a SliceReader over bytes already received.
type LineReader interface {
	ReadSlice(delim byte) ([]byte, error)
	Peek(n int) ([]byte, error)
}

// SliceReader reads lines from bytes already received. Past their end it
// returns io.EOF, which a head reader reports as io.EOF or
// io.ErrUnexpectedEOF: the head is not complete yet.
type SliceReader struct {
	b   []byte
	off int
}

// Reset makes r read b from its start.
func (r *SliceReader) Reset(b []byte) { r.b, r.off = b, 0 }

// Consumed is how many bytes of b have been read.
func (r *SliceReader) Consumed() int { return r.off }

func (r *SliceReader) Peek(n int) ([]byte, error) {
	rest := r.b[r.off:]
	if len(rest) < n {
		return rest, io.EOF
	}
	return rest[:n], nil
}

func (r *SliceReader) ReadSlice(delim byte) ([]byte, error) {
	rest := r.b[r.off:]
	i := bytes.IndexByte(rest, delim)
	if i < 0 {
		r.off = len(r.b)
		return rest, io.EOF
	}
	r.off += i + 1
	return rest[:i+1], nil
}

// nextLine returns the line b begins with, its end included: nil while b
// holds no whole line, ErrLineTooLong past max bytes (0: no bound).
func nextLine(b []byte, max int) ([]byte, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if max > 0 && len(b) >= max {
			return nil, ErrLineTooLong
		}
		return nil, nil
	}
	if max > 0 && i+1 > max {
		return nil, ErrLineTooLong
	}
	return b[:i+1], nil
}

// endLine returns line without its end. A strict reader wants CRLF and no
// other CR; a lenient one takes a LF with or without its CR.
func endLine(line []byte, lenient bool) ([]byte, bool) {
	if lenient {
		return trimCRLF(line), true
	}
	if len(line) < 2 || line[len(line)-2] != '\r' || line[len(line)-1] != '\n' {
		return nil, false // a bare LF
	}
	line = line[:len(line)-2]
	return line, bytes.IndexByte(line, '\r') < 0
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

// readLine reads one line, its end included, appending it to *buf: a line
// longer than src's buffer is gathered in parts. *buf may not grow past
// rules.MaxHead bytes, nor the line past rules.MaxLine.
func readLine(src LineReader, buf *[]byte, rules Rules) ([]byte, error) {
	start := len(*buf)
	for {
		frag, err := src.ReadSlice('\n')
		if rules.MaxHead > 0 && len(*buf)+len(frag) > rules.MaxHead {
			return nil, ErrHeadTooLarge
		}
		*buf = append(*buf, frag...)
		if rules.MaxLine > 0 && len(*buf)-start > rules.MaxLine {
			return nil, ErrLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(*buf) > start {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return (*buf)[start:], nil
	}
}

// byteSet marks ASCII letters, digits and the bytes of extra.
func byteSet(extra string) (set [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		set[c], set[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		set[c] = true
	}
	for _, c := range []byte(extra) {
		set[c] = true
	}
	return set
}

// tokenTable: the bytes of a token; hostTable: of an authority.
var (
	tokenTable = byteSet("!#$%&'*+-.^_`|~")
	hostTable  = byteSet("-._~%!$&'()*+,;=:[]")
)

// isToken reports whether b is a token (RFC 9110 §5.6.2): a method, a
// field name.
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

// validValue reports whether b may be a field value: no control character
// other than horizontal tab.
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether b may be a Host value (an authority).
func validHost(b []byte) bool {
	for _, c := range b {
		if !hostTable[c] {
			return false
		}
	}
	return true
}

// TrimOWS removes the optional whitespace (spaces and tabs) around b.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
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
