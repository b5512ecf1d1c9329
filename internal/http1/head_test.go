package http1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

// requestRules are a server's: strict, 4 KiB heads, 128 fields.
var requestRules = Rules{MaxHead: 4096, MaxFields: 128}

// Requests as a server reads them: the framing, the target's forms, and
// every shape of request a next hop could frame differently refused.
func TestReadRequest(t *testing.T) {
	type want struct {
		method, target, path, host string
		minor                      int
		length                     int64
		chunked, close, expect100  bool
	}
	cases := []struct {
		name string
		in   string
		want want
		err  error
	}{
		{name: "GET", in: "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n",
			want: want{method: "GET", target: "/a?b=c", path: "/a", host: "x", minor: 1, length: -1}},
		{name: "Content-Length", in: "POST /cart HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
			want: want{method: "POST", target: "/cart", path: "/cart", host: "x", minor: 1, length: 3}},
		{name: "chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			want: want{method: "POST", target: "/", path: "/", host: "x", minor: 1, length: -1, chunked: true}},
		{name: "empty lines before the request line", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
			want: want{method: "GET", target: "/", path: "/", host: "x", minor: 1, length: -1}},
		{name: "absolute form: its authority is the host", in: "GET http://example.test:80/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
			want: want{method: "GET", target: "/p?q", path: "/p", host: "example.test:80", minor: 1, length: -1}},
		{name: "absolute form without a path", in: "GET https://h.example:443 HTTP/1.1\r\nHost: other\r\n\r\n",
			want: want{method: "GET", target: "/", path: "/", host: "h.example:443", minor: 1, length: -1}},
		{name: "OPTIONS *", in: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
			want: want{method: "OPTIONS", target: "*", path: "*", host: "x", minor: 1, length: -1}},
		{name: "HTTP/1.0 closes by default", in: "GET / HTTP/1.0\r\n\r\n",
			want: want{method: "GET", target: "/", path: "/", minor: 0, length: -1, close: true}},
		{name: "HTTP/1.0 with keep-alive", in: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			want: want{method: "GET", target: "/", path: "/", minor: 0, length: -1}},
		{name: "close wins over keep-alive", in: "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
			want: want{method: "GET", target: "/", path: "/", minor: 0, length: -1, close: true}},
		{name: "Connection: close", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			want: want{method: "GET", target: "/", path: "/", host: "x", minor: 1, length: -1, close: true}},
		{name: "Expect: 100-continue", in: "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok",
			want: want{method: "POST", target: "/", path: "/", host: "x", minor: 1, length: 2, expect100: true}},
		{name: "equal Content-Lengths", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
			want: want{method: "POST", target: "/", path: "/", host: "x", minor: 1, length: 2}},

		{name: "CL and TE", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrConflictFraming},
		{name: "TE and CL", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", err: ErrConflictFraming},
		{name: "differing Content-Lengths", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", err: ErrMalformedRequest},
		{name: "Content-Length list", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd", err: ErrMalformedRequest},
		{name: "negative Content-Length", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", err: ErrMalformedRequest},
		{name: "TE chunked twice", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrMalformedRequest},
		{name: "TE list", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", err: ErrMalformedRequest},
		{name: "TE lookalike", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", err: ErrMalformedRequest},
		{name: "TE in HTTP/1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrMalformedRequest},
		{name: "space before colon", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", err: ErrMalformedRequest},
		{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", err: ErrMalformedRequest},
		{name: "bare LF", in: "GET / HTTP/1.1\nHost: x\n\n", err: ErrMalformedRequest},
		{name: "CR inside a line", in: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", err: ErrMalformedRequest},
		{name: "control character in a value", in: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", err: ErrMalformedRequest},
		{name: "no Host in HTTP/1.1", in: "GET / HTTP/1.1\r\n\r\n", err: ErrMalformedRequest},
		{name: "two Hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: ErrMalformedRequest},
		{name: "bad Host", in: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", err: ErrMalformedRequest},
		{name: "* for a method other than OPTIONS", in: "GET * HTTP/1.1\r\nHost: x\r\n\r\n", err: ErrMalformedRequest},
		{name: "relative target", in: "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", err: ErrMalformedRequest},
		{name: "space in the target", in: "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", err: ErrMalformedRequest},
		{name: "HTTP/2 preface", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", err: ErrVersion},
		{name: "not HTTP", in: "GET / FTP/1.0\r\n\r\n", err: ErrMalformedRequest},
		{name: "other expectation", in: "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", err: ErrExpectation},
		{name: "TLS ClientHello", in: "\x16\x03\x01\x00\xa5\x01\x00\x00", err: ErrTLSHandshake},
		{name: "binary", in: "\x00\x01\x02", err: ErrMalformedRequest},
		{name: "too many empty lines first", in: "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", err: ErrMalformedRequest},
		{name: "too many Connection options", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: a, b, c, d, e, f, g, h, i\r\n\r\n", err: ErrMalformedRequest},
		{name: "head too large", in: "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 4096) + "\r\n\r\n", err: ErrHeadTooLarge},
		{name: "too many fields", in: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 128) + "\r\n", err: ErrTooManyFields},
		{name: "unfinished head", in: "GET / HTTP/1.1\r\nHost: x\r\n", err: io.EOF},
		{name: "unfinished line", in: "GET / HTTP/1.1\r\nHo", err: io.ErrUnexpectedEOF},
		{name: "nothing", in: "", err: io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			var src SliceReader
			src.Reset([]byte(tc.in))
			err := r.Read(&src, requestRules)
			if err != tc.err {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got := want{string(r.Method), string(r.Target), string(r.Path), string(r.Host), r.Minor, r.ContentLength, r.Chunked, r.Close, r.Expect100}
			if got != tc.want {
				t.Errorf("read %+v\nwant %+v", got, tc.want)
			}
			// The head ends at its empty line and is kept whole.
			if n := src.Consumed(); string(r.Bytes) != tc.in[:n] || !strings.HasSuffix(tc.in[:n], "\r\n\r\n") {
				t.Errorf("consumed %q, kept %q", tc.in[:n], r.Bytes)
			}
		})
	}
}

// A head that has not arrived whole is reported as such at every byte, and
// read from its start once it has: the event loop's way of reading.
func TestReadRequestInPieces(t *testing.T) {
	in := "POST /x HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Tok\r\nX-Tok: 1\r\nContent-Length: 2\r\n\r\nok"
	var r Request
	var src SliceReader
	head := strings.Index(in, "\r\n\r\n") + 4
	for end := range head {
		src.Reset([]byte(in[:end]))
		if err := r.Read(&src, requestRules); err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Fatalf("with %d of %d head bytes: %v, want the end of the input", end, head, err)
		}
	}
	src.Reset([]byte(in))
	if err := r.Read(&src, requestRules); err != nil || src.Consumed() != head {
		t.Fatalf("whole: %v, consumed %d of %d", err, src.Consumed(), head)
	}
	if !r.ConnectionOption([]byte("x-tok")) || r.ConnectionOption([]byte("host")) || r.Get("x-tok") != "1" || r.Get("missing") != "" {
		t.Errorf("Connection options or fields not as sent: %q", r.Fields)
	}
	kinds := map[string]Kind{"Host": KindHost, "Connection": KindConnection, "X-Tok": KindOther, "Content-Length": KindContentLength}
	for _, f := range r.Fields {
		if kinds[string(f.Name)] != f.Kind {
			t.Errorf("%s: kind %d, want %d", f.Name, f.Kind, kinds[string(f.Name)])
		}
	}
}

// The field names the wire format reads, whatever their case.
func TestKindOf(t *testing.T) {
	cases := map[string]Kind{
		"host": KindHost, "HOST": KindHost, "Content-Length": KindContentLength,
		"transfer-encoding": KindTransferEncoding, "Connection": KindConnection, "Expect": KindExpect,
		"TE": KindHopByHop, "Trailer": KindHopByHop, "Upgrade": KindHopByHop, "Keep-Alive": KindHopByHop,
		"Proxy-Connection": KindHopByHop, "Proxy-Authorization": KindHopByHop, "Proxy-Authenticate": KindHopByHop,
		"Content-Type": KindOther, "X-Host": KindOther, "Hosts": KindOther, "": KindOther,
	}
	for name, want := range cases {
		if got := kindOf([]byte(name)); got != want {
			t.Errorf("%q: %d, want %d", name, got, want)
		}
	}
}

// result is what a reader made of a response: its final status, framing
// and connection, its body, and where it ended.
type result struct {
	status int
	body   Body
	close  bool
	data   string
	end    int
	err    error
}

// strictRules are an intermediary's; lenientRules a user agent's.
var (
	strictRules  = Rules{MaxHead: 4096, MaxFields: 128}
	lenientRules = Rules{MaxLine: 1024, Lenient: true}
)

// readStrict reads a response from in as the proxy does: heads by Read
// (past seven interim ones at most), the body by NextFrom. r is the final
// head.
func readStrict(in []byte, toHEAD bool) (res result, r *Response) {
	src := bytes.NewReader(in)
	br := bufio.NewReaderSize(src, 4096)
	r = new(Response)
	for i := 0; ; i++ {
		if i == 8 {
			return result{err: ErrMalformedResponse}, r
		}
		if err := r.Read(br, strictRules); err != nil {
			return result{err: err}, r
		}
		if !r.Interim() {
			break
		}
	}
	res = result{status: r.Status, body: r.Body(toHEAD), close: r.Close}
	var d BodyReader
	d.Reset(res.body, r.ContentLength, strictRules)
	var data []byte
	for !d.Done() {
		piece, err := d.NextFrom(br)
		if err != nil {
			return result{err: err}, r
		}
		data = append(data, piece...)
	}
	res.data = string(data)
	res.end = len(in) - src.Len() - br.Buffered()
	return res, r
}

// feedLenient reads a response from in as the generator's event loop does,
// by rules: the bytes arrive step at a time, the connection ends after the
// last, and whatever is not consumed is kept for the next arrival.
func feedLenient(in []byte, toHEAD bool, step int, rules Rules) (res result) {
	var r Response
	r.Reset()
	var d BodyReader
	inBody := false
	var buf, data []byte
	consumed := 0
	for at := 0; ; {
		end := min(at+step, len(in))
		buf = append(buf, in[at:end]...)
		at = end
		eof := at == len(in)
		for {
			if !inBody {
				n, _, done, err := r.Feed(buf, rules)
				if err != nil {
					return result{err: err}
				}
				if n == 0 {
					if eof {
						return result{err: io.ErrUnexpectedEOF}
					}
					break
				}
				buf, consumed = buf[n:], consumed+n
				switch {
				case done && r.Interim():
					r.Reset()
				case done:
					inBody = true
					d.Reset(r.Body(toHEAD), r.ContentLength, rules)
				}
				continue
			}
			n, piece, err := d.Next(buf, eof)
			data = append(data, piece...)
			buf, consumed = buf[n:], consumed+n
			if err != nil {
				return result{err: err}
			}
			if d.Done() {
				return result{status: r.Status, body: r.Body(toHEAD), close: r.Close, data: string(data), end: consumed}
			}
			if n == 0 {
				break
			}
		}
	}
}

// Responses as the proxy (strict) and the generator (lenient, fed any
// number of bytes at a time) read them: the same framing and the same last
// byte whenever both accept a response, and what each accepts.
func TestReadResponse(t *testing.T) {
	cases := []struct {
		name    string
		head    bool   // the answer to a HEAD request
		in      string // the response
		after   string // what follows it on the connection
		strict  result // end: len(in) when err is nil
		lenient *result
	}{
		{name: "Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", after: "HTTP/1.1",
			strict: result{status: 200, body: LengthBody, data: "hello"}},
		{name: "Content-Length: 0", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", after: "HTTP/1.1",
			strict: result{status: 200, body: LengthBody}},
		{name: "chunked, extensions and trailers", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n", after: "HTTP/1.1",
			strict: result{status: 200, body: ChunkedBody, data: "hello world"}},
		{name: "chunked wins over Content-Length", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			strict: result{status: 200, body: ChunkedBody, data: "ok"}},
		{name: "no length: to the end of the connection", in: "HTTP/1.1 200 OK\r\n\r\nuntil close",
			strict: result{status: 200, body: CloseBody, data: "until close"}},
		{name: "Connection: close", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
			strict: result{status: 200, body: LengthBody, close: true, data: "ok"}},
		{name: "HTTP/1.0 closes by default", in: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			strict: result{status: 200, body: LengthBody, close: true, data: "ok"}},
		{name: "HTTP/1.0 with keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
			strict: result{status: 200, body: LengthBody, data: "ok"}},
		{name: "close wins over keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok",
			strict: result{status: 200, body: LengthBody, close: true, data: "ok"}},
		{name: "100 Continue and 103 Early Hints first", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			strict: result{status: 201, body: LengthBody}},
		{name: "101 is final and has no body", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", after: "frames",
			strict: result{status: 101, body: NoBody}},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\n", after: "body",
			strict: result{status: 204, body: NoBody}},
		{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n",
			strict: result{status: 304, body: NoBody}},
		{name: "HEAD has no body", head: true, in: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
			strict: result{status: 200, body: NoBody}},
		{name: "503", in: "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
			strict: result{status: 503, body: LengthBody, data: "busy"}},

		{name: "malformed status line", in: "HTTP/1.1 2x0 OK\r\n\r\n", strict: result{err: ErrMalformedResponse}},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", strict: result{err: ErrMalformedResponse}},
		{name: "negative Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", strict: result{err: ErrMalformedResponse}},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", strict: result{err: io.ErrUnexpectedEOF}},
		{name: "truncated chunked body", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort", strict: result{err: io.ErrUnexpectedEOF}},
		{name: "truncated head", in: "HTTP/1.1 200 OK\r\nContent-Len", strict: result{err: io.ErrUnexpectedEOF}},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", strict: result{err: ErrMalformedChunk}},
		{name: "chunk size overflow", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", strict: result{err: ErrMalformedChunk}},
		{name: "chunk data longer than its size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokk\r\n0\r\n\r\n", strict: result{err: ErrMalformedChunk}},

		// What the generator reads and the proxy refuses.
		{name: "bare LF", in: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: LengthBody, data: "ok"}},
		{name: "bare LF in chunk framing", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n",
			strict: result{err: ErrMalformedChunk}, lenient: &result{status: 200, body: ChunkedBody, data: "ok"}},
		{name: "differing Content-Lengths: the last counts", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: LengthBody, data: "abc"}},
		{name: "a coding list ending in chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: ChunkedBody, data: "ok"}},
		{name: "no space after the status code", in: "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: LengthBody}},
		{name: "HTTP/1.2", in: "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: LengthBody}},
		{name: "space before colon: not Content-Length", in: "HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nokay",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: CloseBody, data: "okay"}},
		{name: "eight interim responses", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 8) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			strict: result{err: ErrMalformedResponse}, lenient: &result{status: 200, body: LengthBody}},
		{name: "too many fields", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: 1\r\n", 129) + "Content-Length: 0\r\n\r\n",
			strict: result{err: ErrTooManyFields}, lenient: &result{status: 200, body: LengthBody}},
		{name: "a long field line", in: "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 2000) + "\r\nContent-Length: 0\r\n\r\n",
			strict: result{status: 200, body: LengthBody}, lenient: &result{err: ErrLineTooLong}},
		{name: "head too large", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 5) + "\r\n",
			strict: result{err: ErrHeadTooLarge}, lenient: &result{status: 200, body: CloseBody}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in + tc.after)
			fix := func(r result) result {
				if r.err == nil {
					r.end = len(tc.in)
				}
				return r
			}
			want := fix(tc.strict)
			if got, _ := readStrict(in, tc.head); got != want {
				t.Errorf("strict: %+v\nwant    %+v", got, want)
			}
			if tc.lenient != nil {
				want = fix(*tc.lenient)
			}
			for _, step := range []int{1, 2, 3, 7, 64, len(in)} {
				if got := feedLenient(in, tc.head, step, lenientRules); got != want {
					t.Errorf("lenient, %d bytes at a time: %+v\nwant %+v", step, got, want)
				}
			}
		})
	}
}

// An unfinished line is kept by the caller and fed again: Feed consumes
// nothing of it, and refuses it once it cannot be a line any more.
func TestFeedKeepsAnUnfinishedLine(t *testing.T) {
	var r Response
	r.Reset()
	rules := Rules{MaxLine: 20, Lenient: true}
	if n, _, _, err := r.Feed([]byte("HTTP/1.1 200"), rules); n != 0 || err != nil {
		t.Fatalf("unfinished status line: consumed %d, %v", n, err)
	}
	if n, _, _, err := r.Feed([]byte("HTTP/1.1 200 OK\r\nX"), rules); n != 17 || err != nil || r.Status != 200 {
		t.Fatalf("status line: consumed %d, status %d, %v", n, r.Status, err)
	}
	if n, _, _, err := r.Feed([]byte("X-Long: 0123456789a"), rules); n != 0 || err != nil {
		t.Fatalf("an unfinished line that may still end within the limit: consumed %d, %v", n, err)
	}
	if _, _, _, err := r.Feed([]byte("X-Long: 0123456789ab"), rules); err != ErrLineTooLong {
		t.Fatalf("a line past the limit without its end: %v", err)
	}
	if _, _, _, err := r.Feed([]byte("X-Long: 0123456789a\r\n"), rules); err != ErrLineTooLong {
		t.Fatalf("a line past the limit: %v", err)
	}
	n, f, done, err := r.Feed([]byte("X-Ok: 1\r\n\r\n"), rules)
	if n != 9 || done || err != nil || string(f.Name) != "X-Ok" || string(f.Value) != "1" {
		t.Fatalf("field line: consumed %d, field %q: %q, done %v, %v", n, f.Name, f.Value, done, err)
	}
	if n, _, done, err := r.Feed([]byte("\r\n"), rules); n != 2 || !done || err != nil {
		t.Fatalf("end of the head: consumed %d, done %v, %v", n, done, err)
	}
}
