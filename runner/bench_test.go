package runner

import (
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
)

// BenchmarkRequestPath measures one worker's per-request work on each
// client path: write the request over a kept-alive connection, read the
// response to its end, classify and record the sample. The server answers
// with canned bytes, so the allocations reported are the client's.
func BenchmarkRequestPath(b *testing.B) {
	url := rawServer(b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"+headers.Node+": a\r\n\r\nok")
	b.Run("lean", func(b *testing.B) { benchRequestPath(b, url, Options{}) })
	b.Run("net-http", func(b *testing.B) { benchRequestPath(b, url, Options{forceStd: true}) })
}

func benchRequestPath(b *testing.B, url string, opts Options) {
	sc := newScenario(time.Second, openWorkload("bench", 1))
	w, err := newWorkloadRun(sc, 0, []string{url}, time.Second, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer w.client.close()
	col := newCollector([]int{1}, time.Second, 0)
	rec := col.newRecorder(0)
	st := newUserState(0, false)
	start := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sent := time.Since(start)
		ex := w.client.do(w.requests[0], st)
		if ex.outcome != outSuccess {
			b.Fatalf("outcome %q", ex.outcome.class())
		}
		rec.add(sample{intended: sent, sent: sent, done: time.Since(start), node: ex.node, outcome: ex.outcome, responded: ex.responded})
		if i%1000 == 999 {
			col.harvest()
		}
	}
}

// BenchmarkOpenLoopCollector measures merging one sample into the run's,
// the workload's and the window's figures.
func BenchmarkOpenLoopCollector(b *testing.B) {
	col := newCollector([]int{1}, time.Second, 0)
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
