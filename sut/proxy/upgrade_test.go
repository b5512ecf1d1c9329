package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/sut/proxy"
)

// wsClient is an HTTP client for WebSocket handshakes through the proxy.
func wsClient(t *testing.T) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// wsURL is the proxy's URL with a WebSocket scheme.
func wsURL(p *proxy.Proxy, path string) string {
	u := p.URL() + path
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	return "ws://" + strings.TrimPrefix(u, "http://")
}

// waitStats polls the proxy's statistics until ok holds, or fails.
func waitStats(t *testing.T, p *proxy.Proxy, what string, ok func(proxy.Stats) bool) proxy.Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := p.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: stats %+v", what, s.Upgrades)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A WebSocket echo through the proxy: handshakes balanced round-robin over
// three backends (each answers 101 naming itself), 10,000 messages echoed
// intact on one of them, and the upgraded connections counted, on each of
// the proxy's request paths.
func TestWebSocketThroughTheProxy(t *testing.T) {
	const messages = 10000
	for _, tc := range []struct {
		name string
		cfg  proxy.Config
	}{
		{"event loops", proxy.Config{}},
		{"goroutines (admission)", proxy.Config{Admission: proxy.AdmissionConfig{MaxInflight: 100}}},
		{"tls", proxy.Config{TLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, c := startBackend(t, "a", 1, 0), startBackend(t, "b", 1, 0), startBackend(t, "c", 1, 0)
			cfg := tc.cfg
			cfg.Strategy = "round-robin"
			cfg.Pools = onePool(up("a", a.URL(), 1), up("b", b.URL(), 1), up("c", c.URL(), 1))
			p := startWith(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			hc := wsClient(t)

			var conns []*websocket.Conn
			nodes := map[string]bool{}
			for i := range 3 {
				conn, resp, err := websocket.Dial(ctx, wsURL(p, "/chat"), &websocket.DialOptions{HTTPClient: hc})
				if err != nil {
					t.Fatalf("handshake %d: %v", i, err)
				}
				defer conn.CloseNow()
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("handshake %d: status %d, want 101", i, resp.StatusCode)
				}
				nodes[resp.Header.Get(headers.Node)] = true
				conns = append(conns, conn)
			}
			if len(nodes) != 3 {
				t.Errorf("three handshakes reached backends %v, want a, b and c (round-robin)", nodes)
			}
			s := waitStats(t, p, "three open", func(s proxy.Stats) bool { return s.Upgrades.Open == 3 })
			if s.Upgrades.Total != 3 {
				t.Errorf("upgrades total %d, want 3", s.Upgrades.Total)
			}
			for _, us := range s.Upstreams {
				if us.Upgrades != 1 {
					t.Errorf("upstream %s: %d upgrades, want 1", us.Name, us.Upgrades)
				}
			}

			var sent int64
			conn := conns[0]
			for i := range messages {
				msg := fmt.Appendf(nil, "message %d %s", i, bytes.Repeat([]byte{'x'}, i%300))
				typ := websocket.MessageText
				if i%2 == 1 {
					typ = websocket.MessageBinary
				}
				if err := conn.Write(ctx, typ, msg); err != nil {
					t.Fatalf("message %d: write: %v", i, err)
				}
				gotTyp, got, err := conn.Read(ctx)
				if err != nil {
					t.Fatalf("message %d: read: %v", i, err)
				}
				if gotTyp != typ || !bytes.Equal(got, msg) {
					t.Fatalf("message %d: echoed %v %q, want %v %q", i, gotTyp, got, typ, msg)
				}
				sent += int64(len(msg))
			}
			for _, conn := range conns {
				if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
					t.Errorf("close: %v", err)
				}
			}
			s = waitStats(t, p, "all closed", func(s proxy.Stats) bool { return s.Upgrades.Open == 0 })
			// Frames add a header to each message, and the client masks
			// its own: each way carried at least the messages' bytes.
			if s.Upgrades.BytesToUpstream < sent || s.Upgrades.BytesToClient < sent {
				t.Errorf("tunnelled %d bytes up and %d down, want at least %d each way",
					s.Upgrades.BytesToUpstream, s.Upgrades.BytesToClient, sent)
			}
		})
	}
}

// rawUpgradeUpstream answers each connection's first request with status
// (101 with an Upgrade field), then, when it is 101, echoes what it reads
// until the end of stream, writes "bye" and closes. Other statuses get an
// empty body and the connection stays open for the next request.
func rawUpgradeUpstream(t *testing.T, status int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if status != 101 {
						fmt.Fprintf(c, "HTTP/1.1 %d Other\r\nContent-Length: 0\r\nX-Saw-Upgrade: %s\r\n\r\n", status, req.Header.Get("Upgrade"))
						continue
					}
					fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", req.Header.Get("Upgrade"))
					_, _ = io.Copy(c, br)
					_, _ = c.Write([]byte("bye"))
					return
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A raw upgrade to a protocol the proxy knows nothing of: the client's
// end of stream reaches the upstream as one (half-close), and what the
// upstream sends after it still reaches the client.
func TestUpgradeTunnelHalfClose(t *testing.T) {
	p := startWith(t, proxy.Config{Pools: onePool(up("a", rawUpgradeUpstream(t, 101), 1))})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// The first tunnelled bytes come with the handshake.
	fmt.Fprintf(c, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: toy/1\r\n\r\nhello ")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "toy/1" || resp.Header.Get(headers.Node) != "a" {
		t.Fatalf("answer %d, Upgrade %q, node %q", resp.StatusCode, resp.Header.Get("Upgrade"), resp.Header.Get(headers.Node))
	}
	_, _ = c.Write([]byte("world"))
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "hello worldbye" {
		t.Errorf("after the half-close the client read %q, want %q", rest, "hello worldbye")
	}
	s := waitStats(t, p, "closed", func(s proxy.Stats) bool { return s.Upgrades.Open == 0 })
	if s.Upgrades.Total != 1 || s.Upgrades.BytesToUpstream != int64(len("hello world")) || s.Upgrades.BytesToClient != int64(len("hello worldbye")) {
		t.Errorf("upgrade stats %+v", s.Upgrades)
	}
}

// A tunnel with nothing going either way ends after the idle timeout.
// The traffic comes every tenth of the timeout: a test thread the host
// delays past the timeout between two echoes lets the tunnel idle, and
// says so with the gap instead of failing.
func TestUpgradeTunnelIdleTimeout(t *testing.T) {
	const idle = time.Second
	p := startWith(t, proxy.Config{
		Pools:  onePool(up("a", rawUpgradeUpstream(t, 101), 1)),
		Limits: proxy.Limits{UpgradeIdleTimeout: idle},
	})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: toy/1\r\n\r\n")
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v", err)
	}
	// Traffic keeps it open past the timeout...
	last := time.Now()
	for range 12 {
		time.Sleep(idle / 10)
		gap := time.Since(last)
		_, _ = c.Write([]byte("."))
		if b, err := br.ReadByte(); err != nil || b != '.' {
			if gap >= idle*8/10 {
				t.Skipf("the host held the test %v between two echoes, near the idle timeout %v: the tunnel may idle", gap, idle)
			}
			t.Fatalf("echo while active (%v since the last): %q %v", gap, b, err)
		}
		last = time.Now()
	}
	// ...silence ends it.
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle tunnel: read %v, want the end of stream", err)
	}
	if waited := time.Since(start); waited < idle*3/4 {
		t.Errorf("closed after %v idle, want about %v", waited, idle)
	}
	waitStats(t, p, "closed", func(s proxy.Stats) bool { return s.Upgrades.Open == 0 })
}

// An upgrade the upstream declines is a normal exchange: its answer is
// relayed and the connection goes on as HTTP. The upstream saw the
// upgrade asked for.
func TestUpgradeDeclinedIsANormalResponse(t *testing.T) {
	p := startWith(t, proxy.Config{Pools: onePool(up("a", rawUpgradeUpstream(t, 426), 1))})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := range 2 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 426 || resp.Header.Get("X-Saw-Upgrade") != "websocket" {
			t.Errorf("request %d: status %d, upstream saw Upgrade %q", i, resp.StatusCode, resp.Header.Get("X-Saw-Upgrade"))
		}
	}
	if s := p.Stats(); s.Upgrades.Total != 0 {
		t.Errorf("declined upgrades counted: %+v", s.Upgrades)
	}
}

// Admission applies at the handshake, and an open WebSocket holds its
// backend's slot: with one slot and no queue, a second handshake to the
// same backend is refused 503 until the first session ends.
func TestWebSocketHoldsItsAdmissionSlot(t *testing.T) {
	a := startBackend(t, "a", 1, 0)
	p := startWith(t, proxy.Config{
		Pools:     onePool(up("a", a.URL(), 1)),
		Admission: proxy.AdmissionConfig{MaxInflight: 1, QueueTimeout: 50 * time.Millisecond},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := wsClient(t)
	first, _, err := websocket.Dial(ctx, wsURL(p, "/"), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	_, resp, err := websocket.Dial(ctx, wsURL(p, "/"), &websocket.DialOptions{HTTPClient: hc})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second handshake with the slot taken: %v, %+v", err, resp)
	}
	_ = first.Close(websocket.StatusNormalClosure, "")
	waitStats(t, p, "first closed", func(s proxy.Stats) bool { return s.Upgrades.Open == 0 })
	again, resp, err := websocket.Dial(ctx, wsURL(p, "/"), &websocket.DialOptions{HTTPClient: hc})
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake after the first closed: %v", err)
	}
	_ = again.Close(websocket.StatusNormalClosure, "")
}
