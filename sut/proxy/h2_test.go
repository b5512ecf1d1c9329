package proxy_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/sut/proxy"
)

// h2Echo answers each request with its method, path, protocol and
// the length of the body it read, and counts what it served and the most
// it served at once.
type h2Echo struct {
	*httptest.Server
	served, inflight, peak atomic.Int64
	delay                  time.Duration
}

func startEcho(t *testing.T, delay time.Duration) *h2Echo {
	e := &h2Echo{delay: delay}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := e.inflight.Add(1)
		defer e.inflight.Add(-1)
		for peak := e.peak.Load(); now > peak && !e.peak.CompareAndSwap(peak, now); peak = e.peak.Load() {
		}
		n, _ := io.Copy(io.Discard, r.Body)
		time.Sleep(e.delay)
		e.served.Add(1)
		fmt.Fprintf(w, "%s %s %s %d", r.Method, r.URL.Path, r.Proto, n)
	}))
	t.Cleanup(e.Close)
	return e
}

func startH2Proxy(t *testing.T, cfg proxy.Config, ups ...*h2Echo) *proxy.Proxy {
	t.Helper()
	var members []proxy.UpstreamConfig
	for i, u := range ups {
		members = append(members, up(fmt.Sprintf("u%d", i+1), u.URL, 1))
	}
	cfg.Strategy = "round-robin"
	cfg.Pools = onePool(members...)
	return startWith(t, cfg)
}

// h2Client speaks HTTP/2 only, over one connection: h2c with prior
// knowledge, or h2 by ALPN on TLS.
func h2Client(t *testing.T, tlsOn bool) *http.Client {
	var protocols http.Protocols
	if tlsOn {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	tr := &http.Transport{Protocols: &protocols, MaxConnsPerHost: 1,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the proxy's certificate is self-signed
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestHTTP2Front: h2c with prior knowledge (on the event loop and on the
// goroutine path) and h2 by ALPN on TLS; many concurrent streams on one
// connection, each balanced on its own (round-robin over two upstreams
// shares them exactly), reaching the upstreams as HTTP/1.1 with their
// bodies, whether the stream gave the length or not; counted in stats.
func TestHTTP2Front(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  proxy.Config
		tls  bool
	}{
		{"h2c prior knowledge", proxy.Config{}, false},
		{"h2c prior knowledge, goroutine path", proxy.Config{Admission: proxy.AdmissionConfig{MaxInflight: 1000}}, false},
		{"h2 by ALPN on TLS", proxy.Config{TLS: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := startEcho(t, 0), startEcho(t, 0)
			p := startH2Proxy(t, tc.cfg, a, b)
			c := h2Client(t, tc.tls)
			const streams = 40
			var wg sync.WaitGroup
			errs := make(chan error, streams)
			nodes := make(chan string, streams)
			for i := range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var body io.Reader = strings.NewReader(strings.Repeat("x", 1000*i))
					if i%2 == 1 {
						body = io.MultiReader(body) // no length: the stream's DATA frames end it
					}
					resp, err := c.Post(fmt.Sprintf("%s/s/%d", p.URL(), i), "text/plain", body)
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					got, _ := io.ReadAll(resp.Body)
					if want := fmt.Sprintf("POST /s/%d HTTP/1.1 %d", i, 1000*i); resp.StatusCode != 200 || resp.ProtoMajor != 2 || string(got) != want {
						errs <- fmt.Errorf("stream %d: %s %d %q, want HTTP/2 200 %q", i, resp.Proto, resp.StatusCode, got, want)
						return
					}
					nodes <- resp.Header.Get(headers.Node)
				}()
			}
			wg.Wait()
			close(errs)
			close(nodes)
			for err := range errs {
				t.Error(err)
			}
			per := map[string]int{}
			for n := range nodes {
				per[n]++
			}
			if per["u1"] != streams/2 || per["u2"] != streams/2 {
				t.Errorf("streams per upstream %v, want %d each (round-robin per stream)", per, streams/2)
			}
			st := p.Stats()
			if st.H2Connections != 1 || st.H2Streams != streams || st.Requests != streams {
				t.Errorf("stats: %d h2 connections, %d streams, %d requests; want 1, %d, %d", st.H2Connections, st.H2Streams, st.Requests, streams, streams)
			}
		})
	}
}

// TestHTTP2Off: with HTTP/2 disabled TLS offers http/1.1 alone and a
// cleartext preface is refused as a request of an unknown version (505).
func TestHTTP2Off(t *testing.T) {
	u := startEcho(t, 0)
	for _, tlsOn := range []bool{false, true} {
		p := startH2Proxy(t, proxy.Config{TLS: tlsOn, HTTP2: proxy.HTTP2Config{Off: true}}, u)
		if !tlsOn {
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL(), "http://"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(conn, http2.ClientPreface)
			line := make([]byte, 12)
			_, err = io.ReadFull(conn, line)
			conn.Close()
			if err != nil || string(line) != "HTTP/1.1 505" {
				t.Errorf("the preface with HTTP/2 off: %q, %v; want HTTP/1.1 505", line, err)
			}
		}
		_, err := h2Client(t, tlsOn).Get(p.URL() + "/")
		if err == nil {
			t.Errorf("tls %v: an HTTP/2-only client was served with HTTP/2 disabled", tlsOn)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		resp, err := (&http.Client{Transport: tr}).Get(p.URL() + "/")
		if err != nil {
			t.Fatalf("tls %v: HTTP/1.1: %v", tlsOn, err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
			t.Errorf("tls %v: %s %d, want HTTP/1.1 200", tlsOn, resp.Proto, resp.StatusCode)
		}
		tr.CloseIdleConnections()
	}
}

// rawH2 opens a cleartext HTTP/2 connection by hand and reads the
// server's first SETTINGS.
func rawH2(t *testing.T, addr string) (net.Conn, *http2.Framer, map[http2.SettingID]uint32) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	settings := map[http2.SettingID]uint32{}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			_ = sf.ForeachSetting(func(s http2.Setting) error { settings[s.ID] = s.Val; return nil })
			return conn, fr, settings
		}
	}
}

func getHeaders(host, path string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", host}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return b.Bytes()
}

// TestHTTP2Hardening: SETTINGS announce max_concurrent_streams; a flood of
// streams opened and reset at once (rapid reset) never has more than that
// many requests at the upstream, the proxy goes on serving another client
// meanwhile, and once the flood's connection is gone its goroutines are
// gone too.
func TestHTTP2Hardening(t *testing.T) {
	const limit = 8
	u := startEcho(t, 20*time.Millisecond)
	p := startH2Proxy(t, proxy.Config{HTTP2: proxy.HTTP2Config{MaxConcurrentStreams: limit}}, u)
	addr := strings.TrimPrefix(p.URL(), "http://")
	before := runtime.NumGoroutine()

	conn, fr, settings := rawH2(t, addr)
	if got := settings[http2.SettingMaxConcurrentStreams]; got != limit {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want %d", got, limit)
	}
	block := getHeaders(addr, "/flood")
	const flood = 5000
	written := 0
	for id := uint32(1); written < flood; id += 2 {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
			break // the server closed the connection: enough
		}
		if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			break
		}
		written++
	}
	// Another client is served meanwhile.
	c := h2Client(t, false)
	resp, err := c.Get(p.URL() + "/other")
	if err != nil {
		t.Fatalf("another client during the flood: %v", err)
	}
	resp.Body.Close()
	_ = conn.Close()

	if peak := u.peak.Load(); peak > limit+1 { // +1: the other client's request
		t.Errorf("%d requests at the upstream at once during a flood of %d reset streams, want at most %d", peak, written, limit+1)
	}
	if served := u.served.Load(); served >= flood {
		t.Errorf("the upstream served %d of %d reset streams", served, written)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Errorf("%d goroutines 10 s after the flood's connection closed, %d before it", n, before)
	}
	t.Logf("flood: %d streams opened and reset; upstream served %d, at most %d at once", written, u.served.Load(), u.peak.Load())
}
