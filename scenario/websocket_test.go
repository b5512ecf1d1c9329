package scenario

import (
	"strings"
	"testing"
	"time"
)

func TestWebSocketRequestLoads(t *testing.T) {
	sc, err := Parse("ws.yaml", []byte(`
duration: 10s
target: {url: http://127.0.0.1:1}
workload:
  - name: chat
    rate: 2/s
    requests:
      - {name: room, path: /room, websocket: {messages: 50, size: 1KiB, interval: 20ms}}
      - {path: /quiet, websocket: {}}
requirements:
  - p99(latency) < 50ms for "room ws"
`))
	if err != nil {
		t.Fatal(err)
	}
	reqs := sc.Workload[0].Requests
	if ws := reqs[0].WebSocket; ws.Messages != 50 || ws.Size != 1024 || ws.Interval.D() != 20*time.Millisecond {
		t.Errorf("websocket %+v", ws)
	}
	if ws := reqs[1].WebSocket; ws.Messages != DefaultWebSocketMessages || ws.Size != DefaultWebSocketSize || ws.Interval != 0 {
		t.Errorf("defaults %+v", ws)
	}
	if got := strings.Join(sc.Workload[0].RequestNames(), ", "); got != "room, GET /quiet, room ws, GET /quiet ws" {
		t.Errorf("request names %s", got)
	}
}

// Each refusal names its place in the file.
func TestWebSocketRequestErrors(t *testing.T) {
	for _, tc := range []struct{ name, request, want string }{
		{"not a GET", "{method: POST, path: /, websocket: {}}", `ws.yaml:6:18: a websocket request's handshake is a GET, got "POST"`},
		{"a body", "{path: /, body: x, websocket: {}}", "ws.yaml:6:25: a websocket request sends its messages (websocket.size), not a body"},
		{"expect", "{path: /, expect: {status: [101]}, websocket: {}}", "takes no expect:"},
		{"templates", "{path: '/{{uuid}}', websocket: {}}", "take no {{...}} templates"},
		{"no messages", "{path: /, websocket: {messages: -1}}", "ws.yaml:6:41: messages must be at least 1, got -1"},
		{"too many messages", "{path: /, websocket: {messages: 100001}}", "expected messages at most 100000, got 100001"},
		{"too large", "{path: /, websocket: {size: 2MiB}}", "expected size at most 1MiB"},
		{"name clash", "{name: a, path: /, websocket: {}}\n      - {name: a ws, path: /b}", `recorded as "a ws", the name of workload[0].requests[1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("ws.yaml", []byte("duration: 1s\ntarget: {url: http://127.0.0.1:1}\nworkload:\n  - rate: 1/s\n    requests:\n      - "+tc.request+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
