package scenario

import (
	"fmt"
	"net/http"
)

// WebSocket makes a request a WebSocket session: the request is the
// handshake (GET with Upgrade: websocket), then Messages messages of Size
// bytes are sent one at a time, Interval apart, each awaiting its echo.
// The handshake is recorded under the request's name, each message's round
// trip under WebSocketLabel.
//
//	requests:
//	  - {name: chat, path: /chat, websocket: {messages: 100, size: 256B, interval: 10ms}}
type WebSocket struct {
	// Messages sent in the session. Default 10.
	Messages int `yaml:"messages"`
	// Size of each message. Default 64B.
	Size Size `yaml:"size"`
	// Interval is the pause between an echo and the next message. Default 0.
	Interval Duration `yaml:"interval"`
}

// WebSocket defaults.
const (
	DefaultWebSocketMessages = 10
	DefaultWebSocketSize     = Size(64)
)

// WebSocket bounds (the limits table).
const (
	// MaxWebSocketMessages per session: a session holds its connection
	// and its user (or in-flight slot) until its last echo.
	MaxWebSocketMessages = 100_000
	// MaxWebSocketSize of one message, held in memory twice per session.
	MaxWebSocketSize = 1 << 20
)

var (
	limitWSMessages = Limit{"websocket.messages", MaxWebSocketMessages, "", "a session holds its connection and its user or in-flight slot until its last echo"}
	limitWSSize     = Limit{"websocket.size", MaxWebSocketSize, "bytes", "each session holds a message and its echo in memory"}
)

// WebSocketLabel is the name the messages of a WebSocket request are
// recorded under: its own name and " ws".
func (r Request) WebSocketLabel() string { return r.Label() + " ws" }

func (ws *WebSocket) applyDefaults() {
	if ws.Messages == 0 {
		ws.Messages = DefaultWebSocketMessages
	}
	if ws.Size == 0 {
		ws.Size = DefaultWebSocketSize
	}
}

// webSocketDefaults fills the defaults of a workload's WebSocket requests.
func (w *Workload) webSocketDefaults() {
	for _, reqs := range [][]Request{w.Requests, w.Session} {
		for i := range reqs {
			if ws := reqs[i].WebSocket; ws != nil {
				ws.applyDefaults()
			}
		}
	}
}

// HasWebSocket reports whether any request the workload sends is a
// WebSocket session.
func (w Workload) HasWebSocket() bool {
	for _, r := range w.Sent() {
		if r.WebSocket != nil {
			return true
		}
	}
	return false
}

// webSockets checks the WebSocket requests of every workload (after the
// templates are compiled): a handshake is a plain GET, the messages are
// bounded, and what a session does not do is refused at its place.
func (v *validator) webSockets(s *Scenario) {
	for i := range s.Workload {
		w := &s.Workload[i]
		field := ".requests"
		if len(w.Session) > 0 {
			field = ".session"
		}
		for j, r := range w.Sent() {
			ws := r.WebSocket
			if ws == nil {
				continue
			}
			path := fmt.Sprintf("workload[%d]%s[%d]", i, field, j)
			if r.Method != http.MethodGet {
				v.addf(path+".method", "a websocket request's handshake is a GET, got %q", r.Method)
			}
			if r.Body != "" || r.BodyFile != "" {
				v.add(path+".body", "a websocket request sends its messages (websocket.size), not a body")
			}
			if r.Expect != nil {
				v.add(path+".expect", "a websocket request expects 101 Switching Protocols and each message echoed; it takes no expect:")
			}
			if len(r.Extract) > 0 {
				v.add(path+".extract", "a websocket request has no response body to extract from")
			}
			if r.Templates != nil {
				v.add(path, "a websocket request's path and headers take no {{...}} templates")
			}
			if len(s.Sites) > 0 {
				v.add(path+".websocket", "websocket requests are not run against sites behind DNS")
			}
			if ws.Messages < 1 {
				v.addf(path+".websocket.messages", "messages must be at least 1, got %d", ws.Messages)
			} else {
				v.atMost(path+".websocket.messages", float64(ws.Messages), limitWSMessages)
			}
			if ws.Size < 1 {
				v.addf(path+".websocket.size", "size must be at least 1B, got %s", ws.Size)
			} else {
				v.atMost(path+".websocket.size", float64(ws.Size), limitWSSize)
			}
		}
	}
}
