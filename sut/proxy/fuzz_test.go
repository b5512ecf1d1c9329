package proxy

import (
	"bufio"
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
// streams; FuzzProxyConn starts from them (and from testdata/fuzz). The
// parser alone is fuzzed in internal/http1.
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
// well-formed HTTP/1.1 responses (HTTP/2 frames after HTTP/2's preface,
// a SETTINGS frame first when anything comes), close the
// connection in bounded time, and keep serving others.
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
		if maybe, whole := isH2Preface(data); maybe {
			head := make([]byte, 9)
			if _, err := io.ReadFull(br, head); err == nil && whole && head[3] != 0x4 {
				t.Fatalf("HTTP/2's preface answered with a frame of type %d, want SETTINGS (4)", head[3])
			}
			if _, err := io.Copy(io.Discard, br); isTimeoutErr(err) {
				t.Fatal("the proxy did not close an HTTP/2 connection half-closed by its client in 10s")
			}
			return
		}
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
