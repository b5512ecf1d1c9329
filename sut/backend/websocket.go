package backend

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// wsReadLimit bounds one WebSocket message the echo endpoint takes, above
// the largest a scenario may send (scenario.LimitWebSocketSize).
const wsReadLimit = 16 << 20

// isWebSocket reports whether r is a WebSocket handshake (RFC 6455 §4.1).
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// echo accepts a WebSocket handshake on any path and sends each message
// back as it came (text or binary), until the client closes, the
// connection fails, or the backend crashes or closes (life ends). The
// session is not a request of the station: it holds no worker.
func (b *Backend) echo(w http.ResponseWriter, r *http.Request, life context.Context) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	c.SetReadLimit(wsReadLimit)
	for {
		typ, rd, err := c.Reader(life)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				_ = c.Close(websocket.StatusNormalClosure, "")
			}
			return
		}
		wr, err := c.Writer(life, typ)
		if err != nil {
			return
		}
		if _, err := io.Copy(wr, rd); err != nil && !errors.Is(err, io.EOF) {
			return
		}
		if wr.Close() != nil {
			return
		}
	}
}
