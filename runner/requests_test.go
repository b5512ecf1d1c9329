package runner

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
)

// TestEachRequestHasItsFigures runs a mix and a session against a server
// that answers each path its own way, and checks each request's figures
// against what the server saw and sent.
func TestEachRequestHasItsFigures(t *testing.T) {
	for _, path := range clientPaths {
		t.Run(path.name, func(t *testing.T) {
			var mu sync.Mutex
			sent := map[string]map[int]int64{} // path -> status -> responses
			srv := okServerFunc(t, func(w http.ResponseWriter, r *http.Request) {
				status := http.StatusOK
				switch r.URL.Path {
				case "/cart":
					status = http.StatusServiceUnavailable
				case "/missing":
					status = http.StatusNotFound
				}
				mu.Lock()
				if sent[r.URL.Path] == nil {
					sent[r.URL.Path] = map[int]int64{}
				}
				sent[r.URL.Path][status]++
				mu.Unlock()
				w.WriteHeader(status)
			})
			mix := openWorkload("shop", 100)
			mix.Requests = []scenario.Request{
				{Method: http.MethodGet, Path: "/products", Weight: 3},
				{Method: http.MethodPost, Path: "/cart", Weight: 1, Name: "add to cart"},
			}
			session := closedWorkload("buyers", 2)
			session.Session = []scenario.Request{
				{Method: http.MethodGet, Path: "/missing"},
				{Method: http.MethodGet, Path: "/never"}, // after a failed step
			}
			opts := path.opts
			opts.URL = srv.URL
			res := run(t, newScenario(time.Second, mix, session), opts)
			checkAccounting(t, res)

			want := []struct{ name, workload, path string }{
				{"GET /products", "shop", "/products"},
				{"add to cart", "shop", "/cart"},
				{"GET /missing", "buyers", "/missing"},
				{"GET /never", "buyers", "/never"},
			}
			if len(res.Requests) != len(want) {
				t.Fatalf("%d requests in the result, want %d", len(res.Requests), len(want))
			}
			for i, w := range want {
				r := res.Requests[i]
				if r.Name != w.name || r.Workload != w.workload {
					t.Errorf("request %d is %q of %q, want %q of %q", i, r.Name, r.Workload, w.name, w.workload)
				}
				var served int64
				for status, n := range sent[w.path] {
					served += n
					if r.StatusCodes[status] != n {
						t.Errorf("%s: %d responses with status %d counted, the server sent %d", w.name, r.StatusCodes[status], status, n)
					}
				}
				if len(r.StatusCodes) != len(sent[w.path]) {
					t.Errorf("%s: status codes %v, the server sent %v", w.name, r.StatusCodes, sent[w.path])
				}
				if got := r.Totals.Succeeded + r.Totals.Failed; got != served {
					t.Errorf("%s: %d sent, the server answered %d", w.name, got, served)
				}
				if r.LatencyMS.Count != served || (served > 0) != (r.Histograms.Latency != "") {
					t.Errorf("%s: latency of %d requests (histogram %v), want %d", w.name, r.LatencyMS.Count, r.Histograms.Latency != "", served)
				}
				var windows int64
				for _, c := range r.WindowCounts {
					windows += c[0]
				}
				if windows != r.Totals.Offered() {
					t.Errorf("%s: windows count %d arrivals, totals %d", w.name, windows, r.Totals.Offered())
				}
			}
			if cart := res.Requests[1]; cart.Errors[Class5xx] == 0 || cart.Errors[Class5xx] != cart.Totals.Failed {
				t.Errorf("add to cart: errors %v of %d failed, want every failure 5xx", cart.Errors, cart.Totals.Failed)
			} else if s := cart.ErrorSamples[Class5xx]; len(s) == 0 || s[0].Message != "status 503 Service Unavailable, not an expected status" {
				t.Errorf("add to cart: 5xx samples %+v", s)
			}
			if never := res.Requests[3]; never.Totals.Scheduled != 0 {
				t.Errorf("a step after a failed one was sent: %+v", never.Totals)
			}
			if res.StatusCodes[http.StatusOK] != sent["/products"][http.StatusOK] {
				t.Errorf("run: %d responses 200, the server sent %d", res.StatusCodes[http.StatusOK], sent["/products"][http.StatusOK])
			}
		})
	}
}

// TestUntrustedCertificateIsQuoted sends to a TLS server whose certificate
// the client does not trust: not a single response, and the error and the
// samples name the certificate problem, not just the class.
func TestUntrustedCertificateIsQuoted(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // its side of each failed handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("listening on %s, want loopback", srv.Listener.Addr())
	}
	res, err := Run(context.Background(), newScenario(time.Second, openWorkload("w", 20)), Options{URL: srv.URL})
	const cause = "x509: certificate signed by unknown authority"
	if !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), cause) {
		t.Fatalf("err = %v, want ErrNoResponse naming %q", err, cause)
	}
	checkAccounting(t, res)
	t.Logf("%v", err)
	failed := res.Errors[ClassOther]
	samples := res.ErrorSamples[ClassOther]
	if failed < 5 || len(samples) != report.ErrorSamplesFirst+1 {
		t.Fatalf("%d failed as other, %d samples; want at least 5, and the first %d and the last", failed, len(samples), report.ErrorSamplesFirst)
	}
	// A request sent before the end may fail up to its timeout after it.
	latest := res.MeasuredS + openWorkload("w", 20).Timeout.D().Seconds()
	for i, s := range samples {
		if !strings.Contains(s.Message, cause) || s.AtS <= 0 || s.AtS > latest {
			t.Errorf("sample %d %+v: want %q at a time within the run", i, s, cause)
		}
		if i > 0 && s.AtS < samples[i-1].AtS {
			t.Errorf("samples out of order: %+v", samples)
		}
	}
	if w := res.Requests[0].ErrorSamples[ClassOther]; len(w) != len(samples) || w[0] != samples[0] {
		t.Errorf("the request's samples %+v, the run's %+v", w, samples)
	}
}

func TestErrorSamplesAreBounded(t *testing.T) {
	long := errors.New(strings.Repeat("é", report.ErrorSampleMaxLen))
	cases := []struct {
		name     string
		failures []sample
		want     []report.ErrorSample
	}{
		{
			name:     "two failures, both kept",
			failures: []sample{{done: time.Second, outcome: outTimeout}, {done: 2 * time.Second, outcome: outTimeout, status: 200}},
			want: []report.ErrorSample{
				{AtS: 1, Message: "no response within the timeout"},
				{AtS: 2, Message: "status 200 OK, then no complete response within the timeout"},
			},
		},
		{
			name: "six failures: the first three and the last",
			failures: []sample{
				{done: 1 * time.Second, outcome: out5xx, status: 500}, {done: 2 * time.Second, outcome: out5xx, status: 502},
				{done: 3 * time.Second, outcome: out5xx, status: 503}, {done: 4 * time.Second, outcome: out5xx, status: 504},
				{done: 5 * time.Second, outcome: out5xx, status: 505}, {done: 6 * time.Second, outcome: out5xx, status: 599},
			},
			want: []report.ErrorSample{
				{AtS: 1, Message: "status 500 Internal Server Error, not an expected status"},
				{AtS: 2, Message: "status 502 Bad Gateway, not an expected status"},
				{AtS: 3, Message: "status 503 Service Unavailable, not an expected status"},
				{AtS: 6, Message: "status 599, not an expected status"},
			},
		},
		{
			name: "out of time order: the earliest three and the latest",
			failures: []sample{
				{done: 5 * time.Second, outcome: outReset}, {done: 1 * time.Second, outcome: outReset},
				{done: 6 * time.Second, outcome: outReset}, {done: 2 * time.Second, outcome: outReset},
				{done: 3 * time.Second, outcome: outReset, err: errors.New("read: connection reset by peer")},
			},
			want: []report.ErrorSample{{AtS: 1, Message: "reset"}, {AtS: 2, Message: "reset"}, {AtS: 3, Message: "read: connection reset by peer"}, {AtS: 6, Message: "reset"}},
		},
		{
			name:     "a long message is cut on a character",
			failures: []sample{{done: time.Second, outcome: outOther, err: long}},
			want:     []report.ErrorSample{{AtS: 1, Message: strings.Repeat("é", (report.ErrorSampleMaxLen-len("…"))/2) + "…"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e errorSamples
			for i := range tc.failures {
				e.add(&tc.failures[i])
			}
			got := e.report()
			if len(got) != 1 {
				t.Fatalf("classes %v, want one", got)
			}
			for _, samples := range got {
				if len(samples) != len(tc.want) {
					t.Fatalf("samples %+v, want %+v", samples, tc.want)
				}
				for i := range samples {
					if samples[i] != tc.want[i] {
						t.Errorf("sample %d %+v, want %+v", i, samples[i], tc.want[i])
					}
				}
			}
		})
	}
}
