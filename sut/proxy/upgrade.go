package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/http1"
)

// Upgrade passthrough (RFC 9110 §7.8): a request that asks to switch
// protocols (Connection: Upgrade and an Upgrade field; a WebSocket
// handshake, an h2c upgrade...) is forwarded with those two fields, which
// are otherwise hop-by-hop and dropped. It is routed, balanced, admitted
// and health-checked as any request: the handshake is a request. When the
// upstream answers 101 Switching Protocols the proxy relays the 101 and
// then carries bytes both ways, unread, until both sides have closed
// (each side's end of stream passed on as a half-close), either fails,
// or neither sent anything for Limits.UpgradeIdleTimeout. Any other answer
// is relayed as a normal response and the connection goes on as HTTP.
//
// The tunnel is served by two blocking copies, one a goroutine, on the
// goroutine path: an event loop hands an upgrade request over with its
// connection before forwarding it (as it does a chunked body). Interleaving
// tunnels with the loop's HTTP state machine would add states, buffers and
// back-pressure rules for connections that, once upgraded, need none of
// the proxy's HTTP handling; a blocking copy gets flow control from the
// sockets themselves and half-closes for free.
//
// An upgraded connection holds its upstream's admission slot (and counts
// in its in-flight gauge, which least-connections reads) until it ends, as
// a long request would.

// upgradeRequest reports whether req asks to switch protocols: HTTP/1.1,
// Connection naming upgrade, an Upgrade field, and no body (a body would
// have to be relayed before the switch; such a request is forwarded as a
// plain one, its upgrade dropped).
func upgradeRequest(req *http1.Request) bool {
	return req.Minor == 1 && !req.Chunked && req.ContentLength <= 0 &&
		req.ConnectionOption([]byte("upgrade")) && upgradeValue(&req.Head) != nil
}

// upgradeValue is the value of h's Upgrade field, nil without one.
func upgradeValue(h *http1.Head) []byte {
	for i := range h.Fields {
		if f := &h.Fields[i]; f.Kind == http1.KindHopByHop && bytes.EqualFold(f.Name, []byte("upgrade")) {
			return f.Value
		}
	}
	return nil
}

// appendUpgrade appends the two fields of a protocol switch.
func appendUpgrade(b, value []byte) []byte {
	b = append(b, "Connection: Upgrade\r\n"...)
	if len(value) > 0 {
		b = append(b, "Upgrade: "...)
		b = append(b, value...)
		b = append(b, '\r', '\n')
	}
	return b
}

// upgradeCounters count the upgraded connections and their bytes.
type upgradeCounters struct {
	open, total, bytesToUpstream, bytesToClient atomic.Int64
}

// tunnel relays a 101 answer (its head read into cs.resp) and then carries
// bytes between the client and the upstream until the tunnel ends. The
// client connection carries no further request.
func (p *Proxy) tunnel(cs *clientConn, pl *pool, up *upstream, uc *upConn) outcome {
	req, resp := &cs.req, &cs.resp
	defer uc.c.Close()
	plan := relayPlan{body: http1.NoBody, bodyless: true, upgrade: upgradeValue(&resp.Head)}
	if plan.upgrade == nil {
		plan.upgrade = []byte{} // still a switch, if one that names no protocol
	}
	bw := cs.bw
	bw.Write(appendResponseHead(bw.AvailableBuffer(), req, resp, pl, up, &plan))
	u := &p.stats.upgrades
	u.total.Add(1)
	u.open.Add(1)
	defer u.open.Add(-1)
	up.counts.upgrades.Add(1)
	// What either side sent past its head is already buffered: it goes
	// first, then the sockets are copied directly.
	if n, err := drain(bw, uc.br); err != nil || bw.Flush() != nil {
		return outcome{done: true}
	} else {
		u.bytesToClient.Add(n)
	}
	if n, err := drain(uc.bw, cs.br); err != nil || uc.bw.Flush() != nil {
		return outcome{done: true}
	} else {
		u.bytesToUpstream.Add(n)
	}
	_ = cs.c.SetDeadline(time.Time{})
	_ = uc.c.SetDeadline(time.Time{})
	t := &pipe{idle: p.cfg.Limits.UpgradeIdleTimeout, a: cs.c, b: uc.c}
	t.last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer crash.Guard()
		defer close(done)
		t.copy(uc.c, cs.c, &u.bytesToUpstream)
	}()
	t.copy(cs.c, uc.c, &u.bytesToClient)
	<-done
	return outcome{done: true}
}

// drain writes what br holds to w, reading nothing more.
func drain(w io.Writer, br *bufio.Reader) (int64, error) {
	n := br.Buffered()
	if n == 0 {
		return 0, nil
	}
	b, _ := br.Peek(n)
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	_, _ = br.Discard(n)
	return int64(n), nil
}

// pipe is an upgraded connection's two sockets.
type pipe struct {
	idle time.Duration
	a, b net.Conn
	// last is when bytes last went either way (Unix nanoseconds).
	last atomic.Int64
}

// copy carries bytes from src to dst. At src's end of stream it shuts
// dst's writing side (the other direction goes on); on a failure, or when
// neither direction carried anything for p.idle, it closes both sockets,
// which ends the other direction too.
func (p *pipe) copy(dst, src net.Conn, count *atomic.Int64) {
	buf := make([]byte, 32<<10)
	_ = src.SetReadDeadline(time.Now().Add(p.idle))
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.last.Store(time.Now().UnixNano())
			count.Add(int64(n))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.abort()
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			if closeWrite(dst) != nil {
				p.abort()
			}
			return
		case isTimeoutErr(err):
			// The deadline is renewed from the last bytes either way, so
			// only a tunnel idle in both directions ends here.
			until := time.Unix(0, p.last.Load()).Add(p.idle)
			if !time.Now().Before(until) {
				p.abort()
				return
			}
			_ = src.SetReadDeadline(until)
		default:
			p.abort()
			return
		}
	}
}

func (p *pipe) abort() {
	_ = p.a.Close()
	_ = p.b.Close()
}

// closeWrite shuts c's writing side: its peer reads the end of stream.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// CloseWrite shuts the connection's writing side, as its own does.
func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }
