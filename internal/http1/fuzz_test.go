package http1

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// known reports whether err is one of the readers' own rejections or an end
// of input: anything else escaping them is a bug.
func known(err error) bool {
	_, ours := err.(*Error)
	return ours || err == io.EOF || err == io.ErrUnexpectedEOF
}

// FuzzReadRequest feeds arbitrary bytes to the request reader as a
// pipelined stream, consuming each body as the proxy does. No input may
// panic; every rejection is one of the package's errors; every accepted
// head satisfies the invariants the proxy relies on. Seeds: testdata/fuzz.
func FuzzReadRequest(f *testing.F) {
	const limit = 4096
	rules := Rules{MaxHead: limit, MaxFields: 128, MaxBody: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		var r Request
		for range 16 {
			err := r.Read(br, rules)
			if err != nil {
				if !known(err) {
					t.Fatalf("unexpected error %T %v", err, err)
				}
				return
			}
			checkRequest(t, &r, limit)
			switch {
			case r.Chunked:
				var d BodyReader
				d.Reset(ChunkedBody, 0, rules)
				for !d.Done() && err == nil {
					_, err = d.NextFrom(br)
				}
			case r.ContentLength > 0:
				_, err = br.Discard(int(min(r.ContentLength, 1<<30)))
			}
			if err != nil {
				if !known(err) {
					t.Fatalf("unexpected body error %T %v", err, err)
				}
				return
			}
		}
	})
}

func checkRequest(t *testing.T, r *Request, limit int) {
	t.Helper()
	if len(r.Bytes) > limit {
		t.Fatalf("head of %d bytes accepted over the %d limit", len(r.Bytes), limit)
	}
	if !isToken(r.Method) {
		t.Fatalf("method %q accepted", r.Method)
	}
	if len(r.Target) == 0 || (r.Target[0] != '/' && string(r.Target) != "*") {
		t.Fatalf("target %q accepted", r.Target)
	}
	if !bytes.HasPrefix(r.Target, r.Path) || bytes.IndexByte(r.Path, '?') >= 0 {
		t.Fatalf("path %q of target %q", r.Path, r.Target)
	}
	if r.Chunked && r.ContentLength >= 0 {
		t.Fatal("both chunked and Content-Length accepted (smuggling)")
	}
	if r.Minor == 0 && r.Chunked {
		t.Fatal("chunked HTTP/1.0 request accepted")
	}
	if !validHost(r.Host) {
		t.Fatalf("host %q accepted", r.Host)
	}
	for _, f := range r.Fields {
		if !isToken(f.Name) || !validValue(f.Value) || f.Kind != kindOf(f.Name) {
			t.Fatalf("field %q: %q (kind %d) accepted", f.Name, f.Value, f.Kind)
		}
	}
}

// responseSeeds are responses of every framing, some malformed, some only a
// lenient reader takes.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
	"HTTP/1.1 500\r\n\r\n",
	"HTTP/1.1 99 X\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\nok\n0\n\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
}

// FuzzReadResponse feeds arbitrary bytes to the response reader as the
// proxy reads an upstream (strict; heads, then the body by NextFrom). No
// input may panic; every rejection is one of the package's errors; every
// accepted response satisfies the invariants the proxy relies on.
func FuzzReadResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		res, r := readStrict(in, false)
		if res.err != nil {
			if !known(res.err) {
				t.Fatalf("unexpected error %T %v", res.err, res.err)
			}
			return
		}
		if r.Status < 100 || r.Status > 999 || (r.Minor != 0 && r.Minor != 1) {
			t.Fatalf("status %d minor %d accepted", r.Status, r.Minor)
		}
		if r.Chunked && r.ContentLength >= 0 {
			t.Fatal("chunked response kept its Content-Length")
		}
		if len(r.Bytes) > strictRules.MaxHead || len(r.Fields) > strictRules.MaxFields {
			t.Fatalf("head of %d bytes, %d fields accepted", len(r.Bytes), len(r.Fields))
		}
		if res.body == LengthBody && int64(len(res.data)) != r.ContentLength {
			t.Fatalf("%d body bytes read for a Content-Length of %d", len(res.data), r.ContentLength)
		}
		if res.end > len(in) {
			t.Fatalf("the response ended at byte %d of %d", res.end, len(in))
		}
	})
}

// FuzzFeedResponse feeds arbitrary bytes to the response reader as the
// generator's event loop does (lenient, bytes as they arrive). However the
// bytes are cut, it reads the same response to the same last byte; and
// whatever the strict reader accepts it reads alike (status, framing, body
// and last byte), so the proxy and the generator never disagree on where a
// response ends.
func FuzzFeedResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s))
	}
	// As long a line as the strict reader's buffer and head hold.
	rules := Rules{MaxLine: 4096, Lenient: true}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, toHEAD := range []bool{false, true} {
			whole := feedLenient(in, toHEAD, max(len(in), 1), rules)
			if whole.err != nil && !known(whole.err) {
				t.Fatalf("unexpected error %T %v", whole.err, whole.err)
			}
			for _, step := range []int{1, 3, 1 + len(in)/2} {
				if got := feedLenient(in, toHEAD, step, rules); got != whole {
					t.Fatalf("HEAD %v, %d bytes at a time: %+v\nat once: %+v", toHEAD, step, got, whole)
				}
			}
			strict, _ := readStrict(in, toHEAD)
			if strict.err != nil {
				continue
			}
			// Connection options are read apart (close and keep-alive
			// tokens against the words anywhere): framing is not.
			whole.close = strict.close
			if whole != strict {
				t.Fatalf("HEAD %v: lenient %+v\nstrict %+v", toHEAD, whole, strict)
			}
		}
	})
}
