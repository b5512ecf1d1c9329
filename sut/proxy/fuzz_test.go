package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// requestSeeds are well-formed, malformed and smuggling-shaped request
// streams; the fuzzers start from them (and from testdata/fuzz).
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /a?b=c HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Tok\r\nX-Tok: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /cart HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: v\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
	"GET / HTTP/1.1\nHost: x\n\n",
	"GET http://example.test:80/p HTTP/1.1\r\nHost: other\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
	"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
}

// errKnown reports whether err is one of the parser's own rejections or an
// end of input: anything else escaping the parser is a bug.
func errKnown(err error) bool {
	switch err {
	case errBadRequest, errConflictFrame, errHeaderTooLarge, errBodyTooLarge, errBadVersion, errBadExpect, errTLSHandshake,
		io.EOF, io.ErrUnexpectedEOF:
		return true
	}
	return false
}

// FuzzReadRequest feeds arbitrary bytes to the request parser as a
// pipelined stream, consuming each body as the proxy does. No input may
// panic; every rejection is one of the parser's errors; every accepted head
// satisfies the invariants the rest of the proxy relies on.
func FuzzReadRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		var m message
		buf := make([]byte, 512)
		out := bufio.NewWriter(io.Discard)
		for range 16 {
			err := m.readRequest(br, limit)
			if err != nil {
				if !errKnown(err) {
					t.Fatalf("unexpected error %T %v", err, err)
				}
				_ = statusOf(err) // every rejection maps to an answer
				return
			}
			checkRequestInvariants(t, &m, limit)
			switch {
			case m.chunked:
				_, err = copyChunked(out, br, true, 1<<20, buf, limit)
			case m.contentLength > 0:
				_, err = copyN(out, br, m.contentLength, buf)
			}
			if err != nil {
				if !errKnown(err) {
					t.Fatalf("unexpected body error %T %v", err, err)
				}
				return
			}
		}
	})
}

func checkRequestInvariants(t *testing.T, m *message, limit int) {
	t.Helper()
	if len(m.head) > limit {
		t.Fatalf("head of %d bytes accepted over the %d limit", len(m.head), limit)
	}
	if !isToken(m.method) {
		t.Fatalf("method %q accepted", m.method)
	}
	if len(m.target) == 0 || (m.target[0] != '/' && string(m.target) != "*") {
		t.Fatalf("target %q accepted", m.target)
	}
	if !bytes.HasPrefix(m.target, m.path) || bytes.IndexByte(m.path, '?') >= 0 {
		t.Fatalf("path %q of target %q", m.path, m.target)
	}
	if m.chunked && m.contentLength >= 0 {
		t.Fatal("both chunked and Content-Length accepted (smuggling)")
	}
	if m.minor == 0 && m.chunked {
		t.Fatal("chunked HTTP/1.0 request accepted")
	}
	if !validHost(m.host) {
		t.Fatalf("host %q accepted", m.host)
	}
	for _, h := range m.headers {
		if !isToken(h.name) || !validValue(h.value) {
			t.Fatalf("header %q: %q accepted", h.name, h.value)
		}
	}
}

// FuzzReadResponse feeds arbitrary bytes to the upstream response parser.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 500\r\n\r\n",
		"HTTP/1.1 99 X\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m message
		err := m.readResponse(bufio.NewReader(bytes.NewReader(data)), 4096)
		if err != nil {
			if err != errBadResponse && err != errHeaderTooLarge && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error %T %v", err, err)
			}
			return
		}
		if m.status < 100 || m.status > 999 || (m.minor != 0 && m.minor != 1) {
			t.Fatalf("status %d minor %d accepted", m.status, m.minor)
		}
		if m.chunked && m.contentLength >= 0 {
			t.Fatal("chunked response kept its Content-Length")
		}
	})
}

// connFuzzProxy is one proxy in front of an echo upstream, shared by the
// iterations of FuzzProxyConn.
var connFuzzProxy = sync.OnceValues(func() (*Proxy, error) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Body", string(rune('0'+n%10)))
		_, _ = io.WriteString(w, "ok")
	}))
	p, err := New(Config{
		Pools:   []PoolConfig{{Name: "app", PathPrefix: "/", Upstreams: []UpstreamConfig{{Name: "a", URL: up.URL}}}},
		Timeout: 2 * time.Second,
		Limits:  Limits{MaxHeaderBytes: 4096, MaxBodyBytes: 1 << 20, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second},
	})
	if err != nil {
		return nil, err
	}
	return p, p.Start("127.0.0.1:0")
})

// FuzzProxyConn sends arbitrary bytes to a running proxy over a real
// connection and half-closes it. The proxy must answer only with
// well-formed HTTP/1.1 responses, close the connection in bounded time,
// and keep serving others.
func FuzzProxyConn(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := connFuzzProxy()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(data) // the proxy may close early on garbage
		_ = c.(*net.TCPConn).CloseWrite()
		br := bufio.NewReader(c)
		for {
			if _, err := br.Peek(1); err != nil {
				if isTimeoutErr(err) {
					t.Fatal("the proxy neither answered nor closed the connection in 10s")
				}
				break // closed (EOF, or a reset after unread input)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) {
					break
				}
				t.Fatalf("malformed response: %v", err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil && isTimeoutErr(err) {
				t.Fatal("response body never ended")
			}
		}
		// The proxy still serves a well-formed request.
		c2, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c2, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("the proxy no longer serves: %v %v", resp, err)
		}
	})
}
