package backend

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServer serves h on a real listener and returns its address.
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(h, func(net.Conn, http.ConnState) {})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return ln.Addr().String()
}

// exchange writes raw to a new connection and reads what comes back until
// the server closes it or the deadline passes.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestServerWire: what the server answers on the wire, request by request.
func TestServerWire(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "sized")
		case "/abort":
			w.Header().Set("Content-Length", "10")
			_, _ = io.WriteString(w, "half.")
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		case "/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		default:
			_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(body))
		}
	})
	addr := startServer(t, h)
	for _, tc := range []struct {
		name, raw string
		want      []string // in order, in what comes back
		not       string
	}{
		{"keep-alive, unsized body sized", "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			[]string{"HTTP/1.1 200 OK\r\n", "Content-Length: 7\r\n", "GET /a ", "HTTP/1.1 200 OK\r\n", "Connection: close\r\n", "GET /b "}, ""},
		{"sized body streams", "GET /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			[]string{"Content-Length: 5\r\n", "\r\n\r\nsized"}, ""},
		{"HEAD gets no body", "HEAD /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			[]string{"HTTP/1.1 200 OK\r\n"}, "HEAD /h"},
		{"HTTP/1.0 closes", "GET /old HTTP/1.0\r\n\r\n",
			[]string{"HTTP/1.1 200 OK\r\n", "Connection: close\r\n", "GET /old "}, ""},
		{"request bodies, chunked and sized, in turn", "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nPOST /q HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nde",
			[]string{"POST /p abc", "POST /q de"}, ""},
		{"100 Continue before an awaited body", "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz",
			[]string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\n", "POST /e z"}, ""},
		{"handler's Connection: close", "GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n",
			[]string{"Connection: close\r\n", "bye"}, "/never"},
		{"aborted handler: the body cut short", "GET /abort HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n",
			[]string{"Content-Length: 10\r\n", "half."}, "/never"},
		{"malformed request", "NOT HTTP\r\n\r\n", []string{"HTTP/1.1 400 Bad Request\r\n"}, ""},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxHead) + "\r\n\r\n",
			[]string{"HTTP/1.1 431 "}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, addr, tc.raw)
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("no %q (in order) in\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			if tc.not != "" && strings.Contains(got, tc.not) {
				t.Errorf("%q in\n%s", tc.not, got)
			}
		})
	}
}

// TestServerClientGone: a request's context ends when its client goes
// away while the handler waits on it, and not when the client stays; a
// next request on the same connection is read whole after such a wait.
func TestServerClientGone(t *testing.T) {
	ended := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/wait":
			select {
			case <-r.Context().Done():
				ended <- r.Context().Err()
			case <-time.After(5 * time.Second):
				ended <- nil
			}
		case "/brief":
			select {
			case <-r.Context().Done():
				t.Error("context ended with the client still there")
			case <-time.After(20 * time.Millisecond):
			}
		}
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	})
	addr := startServer(t, h)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Errorf("context's error %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the context did not end when its client went away")
	}

	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	get := func(path string) {
		t.Helper()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	answered := func(path string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ok "+path {
			t.Errorf("body %q, want %q", b, "ok "+path)
		}
	}
	for _, path := range []string{"/brief", "/brief", "/plain"} {
		get(path)
		answered(path)
	}
	// The next request begins while the handler waits: the read watching
	// the client takes its first byte, which the next read hands back.
	get("/brief")
	time.Sleep(5 * time.Millisecond)
	get("/plain")
	answered("/brief")
	answered("/plain")
}

// TestServerHeadTimeout: a client that connects and sends nothing, or a
// head that never ends, is let go after the head timeout; one that idles
// between requests on a kept-alive connection is not.
func TestServerHeadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), func(net.Conn, http.ConnState) {})
	s.headTimeout = 300 * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	defer func() {
		_ = s.Close()
		<-done
	}()
	addr := ln.Addr().String()

	// closedWithin dials, writes raw, then reads until the server closes
	// the connection; it returns how long that took (or the 5 s bound).
	closedWithin := func(raw string) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if raw != "" {
			if _, err := io.WriteString(c, raw); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.ReadAll(c)
		return time.Since(start)
	}
	for _, c := range []struct{ name, raw string }{
		{"silent", ""},
		{"head never ends", "GET / HTTP/1.1\r\nHost: x\r\n"},
		{"second head never ends", "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n"},
	} {
		if took := closedWithin(c.raw); took >= 5*time.Second {
			t.Errorf("%s: still open after %v, want closed after the head timeout", c.name, took)
		} else if took < s.headTimeout {
			t.Errorf("%s: closed after %v, before the head timeout %v", c.name, took, s.headTimeout)
		}
	}

	// Idle between requests for longer than the timeout: still served.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * s.headTimeout)
		}
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d after an idle wait: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
