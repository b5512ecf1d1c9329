package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/ilities/ilities/sut/proxy"
)

// requestPaths are the proxy's two request paths, chosen by configuration
// alone: plain HTTP without an admission limit is served by the event loops
// (on Linux), an admission limit sends every connection to a goroutine.
var requestPaths = []struct {
	name string
	cfg  func(ups ...proxy.UpstreamConfig) proxy.Config
}{
	{"event loops", func(ups ...proxy.UpstreamConfig) proxy.Config {
		return proxy.Config{Pools: onePool(ups...)}
	}},
	{"goroutines", func(ups ...proxy.UpstreamConfig) proxy.Config {
		return proxy.Config{Pools: onePool(ups...), Admission: proxy.AdmissionConfig{MaxInflight: 1000}}
	}},
}

func TestStatsOnTheAdminListenerOnly(t *testing.T) {
	for _, path := range requestPaths {
		t.Run(path.name, func(t *testing.T) {
			up, seen := echoUpstream(t)
			p := startWith(t, path.cfg(proxy.UpstreamConfig{Name: "a", URL: up.URL}))
			c := newClient(t)
			if p.AdminAddr() == p.Addr() {
				t.Fatalf("admin listener on the public address %s", p.Addr())
			}
			if host, _, _ := net.SplitHostPort(p.AdminAddr()); !net.ParseIP(host).IsLoopback() {
				t.Fatalf("admin listener on %s, not loopback", p.AdminAddr())
			}
			// On the public port the path is routed like any other.
			a := get(t, c, p.URL()+proxy.StatsPath)
			if a.status != 200 || a.node != "a" || seen.Load() != 1 {
				t.Fatalf("public GET %s: %d from %q, upstream saw %d requests", proxy.StatsPath, a.status, a.node, seen.Load())
			}
			if s := adminStats(t, c, p); len(s.Upstreams) != 1 || s.Upstreams[0].Name != "a" || s.Upstreams[0].Requests != 1 {
				t.Fatalf("admin stats: %+v", s)
			}
			if a := get(t, c, p.AdminURL()+"/"); a.status != 404 {
				t.Fatalf("admin GET /: %d, want 404 (it serves the stats only)", a.status)
			}
		})
	}
}

// adminStats reads p's statistics from its admin listener.
func adminStats(t *testing.T, c *http.Client, p *proxy.Proxy) proxy.Stats {
	t.Helper()
	resp, err := c.Get(p.AdminURL() + proxy.StatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s proxy.Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("admin GET %s: %d, %s", proxy.StatsPath, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return s
}

func TestAdminAddressMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "localhost:0", "10.0.0.1:9901", "127.0.0.1"} {
		_, err := proxy.New(proxy.Config{Pools: onePool(proxy.UpstreamConfig{Name: "a", URL: "http://127.0.0.1:1"}), Admin: addr})
		if err == nil {
			t.Errorf("admin address %q accepted", addr)
		}
	}
}

// recorder keeps what a connection read, so that a TLS client's failed
// handshake still shows what the server answered.
type recorder struct {
	net.Conn
	got bytes.Buffer
}

func (r *recorder) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.got.Write(b[:n])
	return n, err
}

// answerWithin bounds each wait for the proxy's answer to a first flight
// that is not HTTP. The head timeout is set to 5 s (as in the finding this
// guards: a ClientHello held until then), so an answer inside 4 s can only
// be the proxy's own refusal; 4 s is ample on a noisy, shared host for what
// takes microseconds.
const answerWithin = 4 * time.Second

func TestNonHTTPFirstBytesAnswered400AtOnce(t *testing.T) {
	clientHello := func(t *testing.T, c *recorder) {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err == nil {
			t.Fatal("TLS handshake with a plain HTTP port succeeded")
		}
	}
	// send writes bytes with no line feed: without the first-byte rule the
	// proxy would wait for the end of a request line until the head timeout.
	send := func(b ...byte) func(*testing.T, *recorder) {
		return func(t *testing.T, c *recorder) {
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, path := range requestPaths {
		for _, tc := range []struct {
			name string
			send func(*testing.T, *recorder)
			body string
		}{
			{"TLS ClientHello", clientHello, "TLS handshake on a plain HTTP port\n"},
			{"TLS record head", send(0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00), "TLS handshake on a plain HTTP port\n"},
			{"binary", send(0x00, 0x01, 0x02, 0xff), "malformed request\n"},
		} {
			t.Run(path.name+"/"+tc.name, func(t *testing.T) {
				up, seen := echoUpstream(t)
				cfg := path.cfg(proxy.UpstreamConfig{Name: "a", URL: up.URL})
				cfg.Limits.ReadHeaderTimeout = 5 * time.Second
				p := startWith(t, cfg)
				conn, err := net.Dial("tcp", p.Addr())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(answerWithin))
				rc := &recorder{Conn: conn}
				tc.send(t, rc)
				// Read to the end: the proxy closes the connection after its
				// answer, so this ends (EOF, or a reset if the client's bytes
				// were left unread) rather than at the deadline.
				_, err = io.Copy(io.Discard, rc)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open after %v; it got %q", answerWithin, rc.got.Bytes())
				}
				resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(rc.got.Bytes())), nil)
				if err != nil {
					t.Fatalf("no HTTP answer: got %q (%v)", rc.got.Bytes(), err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 400 || !resp.Close || string(body) != tc.body {
					t.Fatalf("answer %d, close %v, body %q; want 400, close, %q", resp.StatusCode, resp.Close, body, tc.body)
				}
				if s := p.Stats(); s.BadRequests != 1 || seen.Load() != 0 {
					t.Fatalf("bad requests %d, upstream requests %d; want 1 and 0", s.BadRequests, seen.Load())
				}
			})
		}
	}
}
