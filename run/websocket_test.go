package run

import (
	"context"
	"testing"

	"github.com/ilities/ilities/report"
)

// WebSocket sessions against the built-in SUT: each handshake goes
// through the proxy to a backend (round-robin over two) and gets 101, and
// every message of every session comes back echoed, open loop and closed
// loop alike; the messages are their own scope, which a requirement names.
func TestWebSocketSessionsAgainstTheBuiltInSUT(t *testing.T) {
	sc := mustParse(t, "websocket.yaml", `
name: websocket
seed: 3
duration: 2s
sut:
  proxy: {strategy: round-robin}
  pools:
    - name: app
      backends:
        - {name: a, workers: 2}
        - {name: b, workers: 2}
workload:
  - name: arrivals
    rate: 5/s
    requests:
      - {name: chat, path: /chat, websocket: {messages: 20, size: 100B, interval: 1ms}}
  - name: users
    model: closed
    users: 2
    think_time: {dist: constant, value: 100ms}
    session:
      - {method: GET, path: /}
      - {name: feed, path: /feed, websocket: {messages: 5, size: 2KiB}}
requirements:
  - error_rate == 0% for "chat ws"
  - p99(latency) < 1s for "feed ws"
`)
	res, err := Execute(context.Background(), sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]report.RequestResult{}
	for _, r := range res.Requests {
		byName[r.Name] = r
	}
	chat, msgs := byName["chat"], byName["chat ws"]
	if chat.Totals.Scheduled != 10 || chat.Totals.Succeeded != 10 || chat.StatusCodes[101] != 10 {
		t.Errorf("chat handshakes: %d scheduled, %d succeeded, statuses %v; want 10 answered 101", chat.Totals.Scheduled, chat.Totals.Succeeded, chat.StatusCodes)
	}
	// No message is sent after the run's end: a session still going then
	// (the last, on a slow host) sends fewer.
	if msgs.Totals.Succeeded < 10*20-19 || msgs.Totals.Succeeded > 10*20 || msgs.Totals.Failed != 0 {
		t.Errorf("chat messages: %d echoed, %d failed; want 200 (the last session's cut at the end) and none", msgs.Totals.Succeeded, msgs.Totals.Failed)
	}
	feed, feedMsgs := byName["feed"], byName["feed ws"]
	// Each user's last session may be cut by the run's end.
	if feed.Totals.Succeeded < 4 || feed.Totals.Failed != 0 || feedMsgs.Totals.Succeeded < 5*(feed.Totals.Succeeded-2) || feedMsgs.Totals.Failed != 0 {
		t.Errorf("feed: %d handshakes (%d failed), %d messages (%d failed)", feed.Totals.Succeeded, feed.Totals.Failed, feedMsgs.Totals.Succeeded, feedMsgs.Totals.Failed)
	}
	nodes := nodeCounts(res)
	if nodes["a"] == 0 || nodes["b"] == 0 {
		t.Errorf("sessions reached %v, want both backends", nodes)
	}
	for _, r := range res.Requirements {
		if r.Status == "fail" || r.Note != "" {
			t.Errorf("requirement %q: %s, observed %v %s %s", r.Text, r.Status, r.Observed, r.Unit, r.Note)
		}
	}
}
