package report

// A minimal Chrome DevTools Protocol client over a hand-rolled WebSocket
// (RFC 6455), enough to drive headless Chromium from a test without
// dependencies: start the browser, open a page, listen to its console,
// network and log events, evaluate expressions and take screenshots.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// findChromium returns the browser to test with: $ILITIES_CHROMIUM, or
// chromium (Debian), chromium-browser or google-chrome on PATH.
func findChromium() (string, error) {
	if p := os.Getenv("ILITIES_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH")
}

// browser is a headless Chromium process and a DevTools connection to it.
type browser struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	ws     *wsConn

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	events  []cdpMessage
	changed chan struct{} // closed and replaced whenever an event arrives
	readErr error
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *cdpError       `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

type cdpError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// startBrowser starts headless Chromium with everything that could reach
// the network switched off, and connects to its DevTools endpoint.
func startBrowser(t *testing.T, ctx context.Context, path string) *browser {
	t.Helper()
	profile := t.TempDir()
	b := &browser{stderr: &bytes.Buffer{}, pending: map[int]chan cdpMessage{}, changed: make(chan struct{})}
	b.cmd = exec.Command(path,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-default-apps", "--disable-domain-reliability",
		"--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
		"--user-data-dir="+profile, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"about:blank")
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		if b.ws != nil {
			b.ws.Close()
		}
		b.cmd.Process.Kill()
		b.cmd.Wait()
	})
	// Chromium writes its port and browser endpoint here once it listens.
	portFile := filepath.Join(profile, "DevToolsActivePort")
	var endpoint string
	for endpoint == "" {
		if data, err := os.ReadFile(portFile); err == nil {
			if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) == 2 {
				endpoint = "ws://127.0.0.1:" + lines[0] + lines[1]
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("chromium did not open its DevTools port: %v\n%s", ctx.Err(), b.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	ws, err := dialWebSocket(ctx, endpoint)
	if err != nil {
		t.Fatalf("connecting to %s: %v\n%s", endpoint, err, b.stderr)
	}
	b.ws = ws
	go b.readLoop()
	return b
}

func (b *browser) readLoop() {
	for {
		data, err := b.ws.ReadMessage()
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
			return
		}
		var msg cdpMessage
		if json.Unmarshal(data, &msg) != nil {
			continue
		}
		b.mu.Lock()
		if msg.ID != 0 {
			if ch, ok := b.pending[msg.ID]; ok {
				ch <- msg
				delete(b.pending, msg.ID)
			}
		} else {
			b.events = append(b.events, msg)
			close(b.changed)
			b.changed = make(chan struct{})
		}
		b.mu.Unlock()
	}
}

// call sends a command (to a page when session is set) and decodes its
// result into out (when not nil).
func (b *browser) call(ctx context.Context, session, method string, params, out any) error {
	if params == nil {
		params = struct{}{}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ch := make(chan cdpMessage, 1)
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return b.readErr
	}
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	b.mu.Unlock()
	msg, _ := json.Marshal(cdpMessage{ID: id, Method: method, Params: raw, SessionID: session})
	if err := b.ws.WriteText(msg); err != nil {
		return err
	}
	select {
	case reply, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection closed: %v", method, b.readErr)
		}
		if reply.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, reply.Error.Message, reply.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(reply.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// waitEvent waits for an event of a session, returning it.
func (b *browser) waitEvent(ctx context.Context, session, method string) (cdpMessage, error) {
	for {
		b.mu.Lock()
		for _, e := range b.events {
			if e.Method == method && e.SessionID == session {
				b.mu.Unlock()
				return e, nil
			}
		}
		changed, readErr := b.changed, b.readErr
		b.mu.Unlock()
		if readErr != nil {
			return cdpMessage{}, readErr
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return cdpMessage{}, fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		}
	}
}

// sessionEvents returns the events of a session received so far.
func (b *browser) sessionEvents(session string) []cdpMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []cdpMessage
	for _, e := range b.events {
		if e.SessionID == session {
			out = append(out, e)
		}
	}
	return out
}

// openPage opens a new tab with a fixed viewport, with the console,
// network and log domains listening, and loads url in it. It returns the
// page's session once the load event has fired.
func (b *browser) openPage(ctx context.Context, pageURL string, width, height int) (string, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return "", err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return "", err
	}
	s := attached.SessionID
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable", "Network.enable"} {
		if err := b.call(ctx, s, m, nil, nil); err != nil {
			return "", err
		}
	}
	if err := b.call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false,
	}, nil); err != nil {
		return "", err
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, s, "Page.navigate", map[string]any{"url": pageURL}, &nav); err != nil {
		return "", err
	}
	if nav.ErrorText != "" {
		return "", fmt.Errorf("navigating to %s: %s", pageURL, nav.ErrorText)
	}
	if _, err := b.waitEvent(ctx, s, "Page.loadEventFired"); err != nil {
		return "", err
	}
	return s, nil
}

// evaluate runs a JavaScript expression in the page (from DevTools, not
// as page script: the page's CSP still forbids scripts of its own) and
// decodes its JSON-able value into out.
func (b *browser) evaluate(ctx context.Context, session, expr string, out any) error {
	var reply struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &reply); err != nil {
		return err
	}
	if reply.ExceptionDetails != nil {
		return fmt.Errorf("evaluating %q: %s", expr, reply.ExceptionDetails.Text)
	}
	return json.Unmarshal(reply.Result.Value, out)
}

// screenshot captures the viewport as PNG.
func (b *browser) screenshot(ctx context.Context, session string) ([]byte, error) {
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.call(ctx, session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(shot.Data)
}

// wsConn is the client side of a WebSocket: text messages out (masked, as
// the protocol requires of clients), whole messages in.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader
	wmu  sync.Mutex
}

func dialWebSocket(ctx context.Context, endpoint string) (*wsConn, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	keyBytes := make([]byte, 16)
	rand.Read(keyBytes)
	key := base64.StdEncoding.EncodeToString(keyBytes)
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 1<<16)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s", resp.Status)
	}
	return &wsConn{conn: conn, br: br}, nil
}

func (c *wsConn) Close() error { return c.conn.Close() }

// WriteText sends one text message in a single masked frame.
func (c *wsConn) WriteText(payload []byte) error {
	return c.writeFrame(0x1, payload)
}

func (c *wsConn) writeFrame(opcode byte, payload []byte) error {
	header := []byte{0x80 | opcode}
	n := len(payload)
	switch {
	case n < 126:
		header = append(header, 0x80|byte(n))
	case n <= 0xffff:
		header = append(header, 0x80|126, byte(n>>8), byte(n))
	default:
		header = append(header, 0x80|127)
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	header = append(header, mask...)
	masked := make([]byte, n)
	for i := range payload {
		masked[i] = payload[i] ^ mask[i%4]
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(append(header, masked...))
	return err
}

// ReadMessage returns the next whole data message, answering pings and
// joining continuation frames.
func (c *wsConn) ReadMessage() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0f
		masked, n := h[1]&0x80 != 0, uint64(h[1]&0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(c.br, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.br, payload); err != nil {
			return nil, err
		}
		if masked {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8: // close
			return nil, io.EOF
		case 0x9: // ping
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA: // pong
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}
