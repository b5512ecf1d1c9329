package proxy

import (
	"bufio"
	"bytes"
	"io"
	"strconv"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/http1"
)

// The wire format is internal/http1's. Here are the proxy's rules for it:
// its limits, its answers to what fails to parse, the fields it sets or
// reads itself, and how it copies bodies.

// maxFields bounds the field lines of a head.
const maxFields = 128

// headRules are the rules heads (and chunked trailers) are read by: strict,
// limit bytes at most.
func headRules(limit int) http1.Rules {
	return http1.Rules{MaxHead: limit, MaxFields: maxFields}
}

// statusOf is the answer to a request that failed to parse with err.
func statusOf(err error) int {
	switch err {
	case http1.ErrHeadTooLarge, http1.ErrTooManyFields, http1.ErrLineTooLong:
		return 431
	case http1.ErrBodyTooLarge:
		return 413
	case http1.ErrVersion:
		return 505
	case http1.ErrExpectation:
		return 417
	}
	return 400
}

// reasonOf is the text of that answer.
func reasonOf(err error) string {
	switch err {
	case http1.ErrHeadTooLarge, http1.ErrTooManyFields, http1.ErrLineTooLong:
		return "request header too large"
	}
	return err.Error()
}

// isParseErr reports whether err is the request's fault rather than the
// connection's.
func isParseErr(err error) bool {
	_, ok := err.(*http1.Error)
	return ok
}

// readResponse reads an upstream's response head, past the interim (1xx)
// responses before it, seven at most.
func readResponse(resp *http1.Response, src http1.LineReader, limit int) error {
	for range 8 {
		if err := resp.Read(src, headRules(limit)); err != nil {
			return err
		}
		if !resp.Interim() {
			return nil
		}
	}
	return http1.ErrMalformedResponse
}

// newHead is a head with room for a usual message, so that reading one
// allocates nothing.
func newHead() http1.Head {
	return http1.Head{Bytes: make([]byte, 0, 1024), Fields: make([]http1.Field, 0, 32)}
}

// ownKind names the fields the proxy sets or reads itself.
type ownKind uint8

const (
	ownNone ownKind = iota
	ownXFF
	ownXFProto
	ownXFHost
	ownNode
	ownLoad
)

func ownKindOf(name []byte) ownKind {
	eq := func(s string) bool { return bytes.EqualFold(name, []byte(s)) }
	switch len(name) {
	case 14:
		if eq(headers.Load) {
			return ownLoad
		}
	case 15:
		if eq("x-forwarded-for") {
			return ownXFF
		}
	case 16:
		if eq("x-forwarded-host") {
			return ownXFHost
		}
	case 17:
		switch {
		case eq("x-forwarded-proto"):
			return ownXFProto
		case eq(headers.Node):
			return ownNode
		}
	}
	return ownNone
}

// hopByHop reports whether f is not forwarded: the fields of one
// connection, and the framing, which the proxy writes itself.
func hopByHop(h *http1.Head, f *http1.Field) bool {
	switch f.Kind {
	case http1.KindConnection, http1.KindHopByHop, http1.KindTransferEncoding, http1.KindContentLength:
		return true
	}
	return h.ConnectionOption(f.Name)
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

// copyChunked decodes a chunked body from br, within rules, and writes its
// data to w: re-chunked as it came (without extensions or trailers), or
// plain when rechunk is false.
func copyChunked(w *bufio.Writer, br *bufio.Reader, rechunk bool, rules http1.Rules) error {
	var d http1.BodyReader
	d.Reset(http1.ChunkedBody, 0, rules)
	for !d.Done() {
		data, err := d.NextFrom(br)
		if err != nil {
			return err
		}
		if size, begun := d.ChunkBegun(); rechunk && begun {
			b := strconv.AppendInt(w.AvailableBuffer(), size, 16)
			if _, err := w.Write(append(b, '\r', '\n')); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		if rechunk && len(data) > 0 && d.ChunkEnded() {
			if _, err := w.WriteString("\r\n"); err != nil {
				return err
			}
		}
	}
	if rechunk {
		_, err := w.WriteString("0\r\n\r\n")
		return err
	}
	return nil
}
