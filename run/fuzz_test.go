package run

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ilities/ilities/scenario"
)

// fuzzRun is how long FuzzRunScenario runs each valid scenario, and
// fuzzGrace what it allows past that: the stop (requests in flight get
// abortGrace once the context ends), the SUT's start and stop.
const (
	fuzzRun   = 100 * time.Millisecond
	fuzzGrace = 30 * time.Second
)

// FuzzRunScenario feeds whole scenarios to the loader and runs every one
// it accepts for fuzzRun: the built-in SUT on loopback ports, or a target
// rewritten to a local server. No input may panic (a panic on any
// goroutine ends the process, see internal/crash), a run ends within
// fuzzRun and a grace, and the heap stays bounded. Seeds: the scenarios
// in the examples and the scenario package's testdata.
func FuzzRunScenario(f *testing.F) {
	for _, glob := range []string{"../examples/*.yaml", "../scenario/testdata/*.yaml", "../scenario/testdata/fuzz/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}))
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := scenario.Parse("fuzz.yaml", data)
		if err != nil {
			return // FuzzParse checks rejections
		}
		if !localise(sc, srv.URL) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzRun)
		defer cancel()
		start := time.Now()
		res, _ := Execute(ctx, sc, Options{})
		if d := time.Since(start); d > fuzzRun+fuzzGrace {
			t.Fatalf("a %v run took %v", fuzzRun, d)
		}
		if res != nil {
			tot := res.Totals
			if tot.Scheduled != tot.Succeeded+tot.Failed+tot.Dropped+tot.CutAtEnd+tot.Exhausted {
				t.Fatalf("accounting %+v", tot)
			}
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > 1<<30 {
			t.Fatalf("heap in use %d MiB after a %v run", m.HeapInuse>>20, fuzzRun)
		}
	})
}

// localise makes sc run here and briefly: fuzzRun long, without warm-up,
// faults or a real proxy (nginx, HAProxy), every address on loopback, and
// a target replaced by url. It reports false for a scenario that is then
// no longer valid.
func localise(sc *scenario.Scenario, url string) bool {
	sc.Duration = scenario.Duration(fuzzRun)
	sc.Warmup = 0
	sc.Faults = nil
	for i := range sc.Workload {
		sc.Workload[i].Stages = nil
		if sc.Workload[i].Closed() && sc.Workload[i].Users == 0 {
			sc.Workload[i].Users = 1
		}
		if !sc.Workload[i].Closed() && sc.Workload[i].Rate == 0 {
			sc.Workload[i].Rate = 100
		}
	}
	if sc.Target != nil {
		sc.Target = &scenario.Target{URL: url}
		for i := range sc.Workload {
			sc.Workload[i].Client.HTTP = scenario.HTTP1
		}
	}
	if s := sc.SUT; s != nil {
		s.Listen = scenario.DefaultListen
		s.Proxy.Kind = scenario.ProxyBuiltin
		for i := range s.Pools {
			for j := range s.Pools[i].Backends {
				s.Pools[i].Backends[j].Listen = scenario.DefaultListen
			}
		}
	}
	return sc.Validate() == nil
}
