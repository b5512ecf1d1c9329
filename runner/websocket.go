package runner

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/scenario"
)

// WebSocket sessions: a request with websocket: is a handshake (a GET
// asking to upgrade), then messages sent one at a time, each awaiting its
// echo, then a normal close. The handshake is one sample of the request's
// own scope, successful on 101 Switching Protocols alone; each message's
// round trip is a sample of the request's message scope (named
// scenario.Request.WebSocketLabel), a closed-loop sample (sent when the
// session was ready for it). A failed handshake or message ends the
// session; the messages not sent then, or after the run's end, are not
// counted. A session holds its worker (open loop) or its user (closed
// loop) until it ends, so max_inflight and users bound the sessions open.
// They run on the workers, never on the event loop, through
// github.com/coder/websocket on a net/http transport of their own.

// wsRequest is what a WebSocket request adds to a request.
type wsRequest struct {
	messages int
	size     int
	interval time.Duration
	// scope is the index of the messages' scope in the workload, after
	// its requests.
	scope uint16
	// label names the message scope (scenario.Request.WebSocketLabel).
	label string
	// urls are the handshake's URL at each target.
	urls []string
}

func newWSRequest(r scenario.Request) *wsRequest {
	ws := r.WebSocket
	return &wsRequest{messages: ws.Messages, size: int(ws.Size), interval: ws.Interval.D(), label: r.WebSocketLabel()}
}

// wsClient is a workload's dialer of WebSocket sessions.
type wsClient struct {
	http   *http.Client
	ctx    context.Context // cancelled when the run is aborted
	cancel context.CancelFunc
}

func newWSClient(spec scenario.Client) *wsClient {
	tr := &http.Transport{DisableKeepAlives: true}
	if spec.Insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &wsClient{http: &http.Client{Transport: tr}, ctx: ctx, cancel: cancel}
}

// webSocketScopes numbers the message scopes of a workload's WebSocket
// requests after its requests, and builds their URLs; it returns the
// workload's scope count.
func webSocketScopes(reqs []*request, targets []*target) int {
	n := len(reqs)
	for _, r := range reqs {
		if r.ws == nil {
			continue
		}
		r.ws.scope = uint16(n)
		n++
		r.ws.urls = make([]string, len(targets))
		for i, t := range targets {
			r.ws.urls[i] = strings.TrimRight(t.base.String(), "/") + r.path
		}
	}
	return n
}

// wsStart is where a session starts: its arrival (or step) and its place
// among the workload's requests.
type wsStart struct {
	intended, sent time.Duration
	req            int
	held, closed   bool
	// stopAt: no message is sent from then on.
	stopAt time.Duration
}

// webSocket runs one WebSocket session of request r and records its
// samples; it returns the first failure's outcome, or success.
func (e *engine) webSocket(w *workloadRun, r *request, u *userState, rec *recorder, at wsStart) outcome {
	c, ws := w.client, w.client.ws
	ti := nextUp(c.targets, u.next, time.Now().UnixNano())
	u.next++
	hs := sample{intended: at.intended, sent: at.sent, req: uint16(at.req), held: at.held, closed: at.closed}
	ctx, cancel := context.WithTimeout(ws.ctx, w.timeout)
	conn, resp, err := websocket.Dial(ctx, r.ws.urls[ti], &websocket.DialOptions{HTTPClient: ws.http, HTTPHeader: r.header, Host: r.host})
	hs.done = e.since()
	if resp != nil {
		hs.responded, hs.status = true, uint16(resp.StatusCode)
		if v := resp.Header[headers.Node]; len(v) > 0 {
			hs.node = u.intern([]byte(v[0]))
		}
	}
	switch {
	case err == nil:
		hs.outcome = outSuccess
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		hs.outcome = wsHandshake.classifyStatus(resp.StatusCode)
		hs.err = fmt.Errorf("websocket handshake answered %d, not 101 Switching Protocols", resp.StatusCode)
	default:
		hs.outcome, hs.err = classifyError(ctx.Err(), err), err
	}
	cancel()
	rec.add(hs)
	if err != nil {
		if conn != nil {
			_ = conn.CloseNow()
		}
		return hs.outcome
	}
	defer conn.CloseNow()
	conn.SetReadLimit(int64(r.ws.size) + 1)
	msg := wsMessage(r.ws.size)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for i := range r.ws.messages {
		if i > 0 && !e.wait(r.ws.interval, timer) {
			break
		}
		sent := e.since()
		if e.stopped() || sent >= at.stopAt {
			break
		}
		if len(msg) >= 8 {
			binary.BigEndian.PutUint64(msg, uint64(i)) // each message its own
		}
		ms := e.wsRoundTrip(conn, ws.ctx, w.timeout, msg)
		ms.intended, ms.sent, ms.req, ms.node, ms.closed = sent, sent, r.ws.scope, hs.node, true
		rec.add(ms)
		if ms.outcome != outSuccess {
			return ms.outcome
		}
	}
	ctx, cancel = context.WithTimeout(ws.ctx, w.timeout)
	defer cancel()
	go func() { // Close waits for the peer's close frame: bounded by ctx
		<-ctx.Done()
		_ = conn.CloseNow()
	}()
	_ = conn.Close(websocket.StatusNormalClosure, "")
	return outSuccess
}

// wsHandshake judges a handshake's answer: only 101 succeeds.
var wsHandshake = newExpectation([]int{http.StatusSwitchingProtocols}, "")

// wsRoundTrip sends msg and reads its echo, within timeout.
func (e *engine) wsRoundTrip(conn *websocket.Conn, parent context.Context, timeout time.Duration, msg []byte) sample {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	err := conn.Write(ctx, websocket.MessageBinary, msg)
	var got []byte
	if err == nil {
		_, got, err = conn.Read(ctx)
	}
	s := sample{done: e.since()}
	switch {
	case err != nil:
		s.outcome, s.err = classifyError(ctx.Err(), err), err
	case !bytes.Equal(got, msg):
		s.responded = true
		s.outcome = outUnexpectedBody
		s.err = fmt.Errorf("websocket echo of %d bytes differs from the %d bytes sent", len(got), len(msg))
	default:
		s.responded = true
	}
	return s
}

// wsMessage is a session's message of size bytes: printable, its first
// eight bytes the message's number once sent.
func wsMessage(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}
