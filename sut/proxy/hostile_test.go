package proxy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/sut/proxy"
)

// footprint is what a leak would grow: goroutines and open descriptors.
type footprint struct{ goroutines, fds int }

func measureFootprint() footprint {
	entries, _ := os.ReadDir("/proc/self/fd")
	return footprint{runtime.NumGoroutine(), len(entries)}
}

// settle waits until the footprint is back at or under base (plus slack
// goroutines for the runtime's and the test framework's own), or gives up
// after limit and returns what it last saw. limit is asked again at each
// look, so that a bound stretched by the host's measured delay covers the
// delays during the wait too.
func settle(base footprint, slack int, limit func() time.Duration) (footprint, bool) {
	start := time.Now()
	for {
		now := measureFootprint()
		if now.goroutines <= base.goroutines+slack && now.fds <= base.fds {
			return now, true
		}
		if time.Since(start) > limit() {
			return now, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hostileUpstream serves quickly, slowly (/slow) or a large body (/big),
// and never keeps a connection alive, so the proxy pools none and a quiet
// proxy holds exactly its listener.
func hostileUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/big":
			chunk := strings.Repeat("x", 64<<10)
			for range 64 { // 4 MiB: more than the socket buffers hold
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	s.Config.SetKeepAlivesEnabled(false)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// TestHostileClientsLeaveNoLeak attacks one proxy with many hostile
// clients at once — slowloris, oversized heads, malformed request lines,
// smuggling attempts, clients vanishing mid-head, mid-body, while waiting
// and mid-response — checks each is answered or closed as it should be,
// then that the proxy still serves and holds no more goroutines or file
// descriptors than before the attack.
func TestHostileClientsLeaveNoLeak(t *testing.T) {
	up := hostileUpstream(t)
	const headTimeout = 300 * time.Millisecond
	p := startWith(t, proxy.Config{
		Pools:   onePool(proxy.UpstreamConfig{Name: "a", URL: up.URL}),
		Timeout: 2 * time.Second,
		Limits:  proxy.Limits{MaxHeaderBytes: 4096, ReadHeaderTimeout: headTimeout, IdleTimeout: 2 * time.Second},
	})
	addr := p.Addr()
	meter := hiccup.Start()
	defer meter.Stop()
	if status, _ := raw(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); status != 200 {
		t.Fatalf("warm-up: %d", status)
	}
	base, ok := settle(measureFootprint(), 0, func() time.Duration { return time.Second })
	_ = ok
	t.Logf("before: %d goroutines, %d fds", base.goroutines, base.fds)

	dial := func() (net.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		}
		return c, err
	}
	// send writes req on a connection just dialled and says how long after
	// the dial its last byte went: the proxy's head timeout runs from its
	// accept, so a client this process delayed loses that time.
	send := func(c net.Conn, req string) (time.Duration, error) {
		start := time.Now()
		_, err := io.WriteString(c, req)
		return time.Since(start), err
	}
	// answered sends req and expects status then a close.
	answered := func(req string, status int) func() error {
		return func() error {
			c, err := dial()
			if err != nil {
				return err
			}
			defer c.Close()
			late, err := send(c, req)
			if err != nil {
				return err
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return unanswered{fmt.Sprintf("no answer: %v", err), late}
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != status {
				return wrongStatus{resp.StatusCode, status}
			}
			if _, err := br.ReadByte(); err == nil || isTimeout(err) {
				return fmt.Errorf("connection left open after %d", status)
			}
			return nil
		}
	}
	// vanishes sends the bytes, optionally reads a little, and resets the
	// connection.
	vanishes := func(req string, readBytes int) func() error {
		return func() error {
			c, err := dial()
			if err != nil {
				return err
			}
			late, err := send(c, req)
			if err != nil {
				return err
			}
			if readBytes > 0 {
				if n, err := io.ReadFull(c, make([]byte, readBytes)); n == 0 && err != nil {
					// Closed before a byte of answer: the head timeout, if the
					// host stalled the proxy or this client for long enough
					// (judged below).
					return unanswered{fmt.Sprintf("reading the start of the response: no answer: %v", err), late}
				} else if err != nil {
					return fmt.Errorf("reading the start of the response, after %d bytes: %v", n, err)
				}
			}
			_ = c.(*net.TCPConn).SetLinger(0) // RST rather than FIN
			return c.Close()
		}
	}
	slowloris := func() error {
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		start := time.Now()
		head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
		for i := 0; ; i++ {
			if _, err := c.Write([]byte{head[i%len(head)]}); err != nil {
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				break
			}
			if time.Since(start) > meter.Figures().Allow(headTimeout+5*time.Second) {
				return fmt.Errorf("slow client still connected after %v", time.Since(start))
			}
		}
		return nil
	}
	big := strings.Repeat("a", 5000)
	kinds := []struct {
		name string
		run  func() error
	}{
		{"slowloris", slowloris},
		{"oversized header line", answered("GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n", 431)},
		{"too many headers", answered("GET / HTTP/1.1\r\nHost: x\r\n"+strings.Repeat("X-A: b\r\n", 200)+"\r\n", 431)},
		{"oversized request line", answered("GET /"+big+" HTTP/1.1\r\nHost: x\r\n\r\n", 431)},
		{"no target", answered("GET HTTP/1.1\r\nHost: x\r\n\r\n", 400)},
		{"garbage line", answered("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400)},
		{"space in target", answered("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400)},
		{"bad version", answered("GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505)},
		{"CL.TE smuggling", answered("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400)},
		{"TE obfuscated", answered("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: x\r\n\r\n0\r\n\r\n", 400)},
		{"CL twice", answered("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400)},
		{"chunk size overflow", answered("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400)},
		{"vanish mid-head", vanishes("GET / HTTP/1.1\r\nHost: x\r\nX-Par", 0)},
		{"vanish mid-body", vanishes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial", 0)},
		{"vanish mid-chunked-body", vanishes("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", 0)},
		{"vanish while waiting", vanishes("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 0)},
		{"vanish mid-response", vanishes("GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 1000)},
	}
	const each = 15
	var wg sync.WaitGroup
	type failure struct {
		kind string
		err  error
	}
	errs := make(chan failure, len(kinds)*each)
	for _, k := range kinds {
		for range each {
			wg.Go(func() {
				if err := k.run(); err != nil {
					errs <- failure{k.name, err}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	// A request sent whole at connect is read within the 300 ms head
	// timeout unless the host stalls the proxy, which serves the 255
	// connections at once, for a good part of it: a third, say, or delays
	// the client itself between its connect and its request's last byte as
	// long. Past that, a closed connection without an answer may be the
	// host's doing.
	const stallTolerated = headTimeout / 3
	host := meter.Figures()
	// A request whose body is streamed (chunked) is forwarded as it is
	// read: the upstream is dialled first, and a dial that the host kept
	// from completing within the proxy's 1 s makes a 502 before the
	// body's fault is read.
	var dialFailures int64
	for _, u := range p.Stats().Upstreams {
		dialFailures += u.ConnectFailures
	}
	var excused []string
	for f := range errs {
		var u unanswered
		var w wrongStatus
		switch {
		case errors.As(f.err, &u) && (host.Max > stallTolerated || u.late > stallTolerated):
			excused = append(excused, fmt.Sprintf("%s: %v (its request's last byte %v after connect)", f.kind, u.msg, u.late.Round(time.Millisecond)))
		case errors.As(f.err, &w) && w.got == 502 && dialFailures > 0 && host.Max > stallTolerated:
			excused = append(excused, fmt.Sprintf("%s: %v (%d upstream dials failed)", f.kind, w, dialFailures))
		default:
			t.Error(f.kind + ": " + f.err.Error())
		}
	}
	// The proxy still serves. A request it closed unanswered within its
	// head timeout is the host's doing when the host stalled this process
	// past the tolerance: it is asked again, twice at most.
	for try := 1; ; try++ {
		status, err := statusOf(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if status == 200 {
			break
		}
		if host := meter.Figures(); err == nil || host.Max <= stallTolerated || try == 3 {
			t.Fatalf("after the attack: status %d, %v (try %d; host %v)", status, err, try, host)
		}
	}
	// Everything the attack opened goes away: the exchanges to /slow finish
	// within 300 ms and the head timeout is 300 ms, so a few seconds is
	// plenty; what stays is a leak.
	after, ok := settle(base, 2, func() time.Duration { return meter.Figures().Allow(5 * time.Second) })
	t.Logf("after:  %d goroutines, %d fds; proxy connections %d", after.goroutines, after.fds, p.Stats().Connections)
	if !ok {
		buf := make([]byte, 1<<20)
		t.Fatalf("leak: %d goroutines, %d fds after the attack (before: %d, %d)\n%s",
			after.goroutines, after.fds, base.goroutines, base.fds, buf[:runtime.Stack(buf, true)])
	}
	if n := p.Stats().Connections; n != 0 {
		t.Fatalf("the proxy still counts %d client connections", n)
	}
	// Every other check ran; these requests' answers cannot be judged.
	if len(excused) > 0 {
		t.Skipf("%d hostile requests closed without an answer or answered 502 (e.g. %s): the host delayed this process by up to %v or a client past the %v this check tolerates (%v)",
			len(excused), excused[0], host.Max, stallTolerated, host)
	}
}

// unanswered is a hostile request closed before a byte of answer; late is
// how long after its connect the client sent its last byte.
type unanswered struct {
	msg  string
	late time.Duration
}

func (u unanswered) Error() string { return u.msg }

// wrongStatus is a hostile request answered, but not as expected.
type wrongStatus struct{ got, want int }

func (w wrongStatus) Error() string { return fmt.Sprintf("status %d, want %d", w.got, w.want) }

// statusOf sends req on a connection of its own and returns the answer's
// status, or why none came.
func statusOf(addr, req string) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
