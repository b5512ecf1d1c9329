package runner

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// wsServer answers WebSocket handshakes with echo, which turns each
// message into its answer; nil echo refuses the upgrade with status.
func wsServer(t *testing.T, status int, echo func([]byte) []byte) string {
	srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
		if echo == nil {
			w.WriteHeader(status)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, rd, err := c.Reader(r.Context())
			if err != nil {
				return
			}
			b, _ := io.ReadAll(rd)
			if c.Write(r.Context(), typ, echo(b)) != nil {
				return
			}
		}
	})
	return srv.URL
}

// A WebSocket request: the handshake is the request's sample, each
// message's round trip one of its message scope ("NAME ws"); a refused
// handshake or a wrong echo is a failure of its class, with what it was,
// and ends the session.
func TestWebSocketSessions(t *testing.T) {
	same := func(b []byte) []byte { return b }
	for _, tc := range []struct {
		name      string
		status    int
		echo      func([]byte) []byte
		handshake report.Totals // succeeded, failed
		messages  report.Totals
		class     string
		says      string
	}{
		{"echoed", 0, same, report.Totals{Succeeded: 4}, report.Totals{Succeeded: 4 * 3}, "", ""},
		{"upgrade refused", 200, nil, report.Totals{Failed: 4}, report.Totals{}, ClassOther, "answered 200, not 101"},
		{"server error", 503, nil, report.Totals{Failed: 4}, report.Totals{}, Class5xx, "answered 503"},
		{"wrong echo", 0, func(b []byte) []byte { return slices.Concat(b, []byte("!")) }, report.Totals{Succeeded: 4}, report.Totals{Failed: 4}, ClassUnexpectedBody, "differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := openWorkload("chat", 4)
			w.Requests = []scenario.Request{{Name: "chat", Method: http.MethodGet, Path: "/chat", Weight: 1,
				WebSocket: &scenario.WebSocket{Messages: 3, Size: 100, Interval: scenario.Duration(time.Millisecond)}}}
			sc := newScenario(time.Second, w)
			res := run(t, sc, Options{URL: wsServer(t, tc.status, tc.echo)})
			checkAccounting(t, res)
			if len(res.Requests) != 2 || res.Requests[0].Name != "chat" || res.Requests[1].Name != "chat ws" {
				t.Fatalf("request scopes %v, want chat and chat ws", res.Requests)
			}
			for i, want := range []report.Totals{tc.handshake, tc.messages} {
				got := res.Requests[i].Totals
				if got.Succeeded != want.Succeeded || got.Failed != want.Failed {
					t.Errorf("%s: %d succeeded, %d failed; want %d and %d", res.Requests[i].Name, got.Succeeded, got.Failed, want.Succeeded, want.Failed)
				}
			}
			if tc.class == "" {
				if res.Requests[0].StatusCodes[101] != 4 {
					t.Errorf("handshake statuses %v, want 101 four times", res.Requests[0].StatusCodes)
				}
				return
			}
			samples := res.ErrorSamples[tc.class]
			if len(samples) == 0 || !strings.Contains(samples[0].Message, tc.says) {
				t.Errorf("%s samples %+v, want one saying %q", tc.class, samples, tc.says)
			}
		})
	}
}

// A session is not left hanging by an aborted run.
func TestWebSocketSessionEndsWithTheRun(t *testing.T) {
	w := openWorkload("chat", 1)
	w.Requests = []scenario.Request{{Name: "chat", Method: http.MethodGet, Path: "/", Weight: 1,
		WebSocket: &scenario.WebSocket{Messages: 1000, Size: 10, Interval: scenario.Duration(time.Second)}}}
	sc := newScenario(10*time.Second, w)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, sc, Options{URL: wsServer(t, 0, func(b []byte) []byte { return b })})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("an interrupted run with a session open took %v", took)
	}
	if !res.Incomplete || res.Requests[1].Totals.Succeeded < 1 {
		t.Errorf("incomplete %v, messages %+v", res.Incomplete, res.Requests[1].Totals)
	}
}
