package runner

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkOpenLoopRequestPath measures one worker's per-request work:
// build the request, exchange it over a kept-alive connection, read the
// body, classify and record the sample.
func BenchmarkOpenLoopRequestPath(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(NodeHeader, "a")
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	sc := newScenario(time.Second, openWorkload("bench", 1))
	w, err := newWorkloadRun(sc, 0, srv.URL, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer w.transport.CloseIdleConnections()
	col := newCollector(1, time.Second)
	rec := col.newRecorder(0)
	start := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sent := time.Since(start)
		o, node, responded := w.exchange(context.Background(), &w.requests[0])
		if o != outSuccess {
			b.Fatalf("outcome %q", o.class())
		}
		rec.add(sample{intended: sent, sent: sent, done: time.Since(start), node: node, outcome: o, responded: responded})
		if i%1000 == 999 {
			col.harvest()
		}
	}
}

// BenchmarkOpenLoopCollector measures merging one sample into the run's,
// the workload's and the window's figures.
func BenchmarkOpenLoopCollector(b *testing.B) {
	col := newCollector(1, time.Second)
	rec := col.newRecorder(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at := time.Duration(i) * time.Microsecond
		rec.add(sample{intended: at, sent: at, done: at + 300*time.Microsecond, node: "a", outcome: outSuccess, responded: true})
		if i%1000 == 999 {
			col.harvest()
		}
	}
}
