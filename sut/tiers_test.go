package sut_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut"
	"github.com/ilities/ilities/sut/external"
)

// startTiers starts the SUT of a scenario whose sut: is pools, closed at
// the test's end.
func startTiers(t *testing.T, pools string) *sut.Topology {
	t.Helper()
	s, err := scenario.Parse("tiers.yaml", []byte(`name: tiers
seed: 42
duration: 1s
workload: [{name: w, rate: 1/s}]
sut:
  listen: 127.0.0.1:0
  pools:
`+pools))
	if err != nil {
		t.Fatal(err)
	}
	topo, err := sut.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = topo.Close() })
	return topo
}

// reply is one answer through the proxy.
type reply struct {
	status     int
	failedTier string
}

func call(t *testing.T, c *http.Client, url string) reply {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return reply{resp.StatusCode, resp.Header.Get(headers.FailedTier)}
}

func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func nodesByName(topo *sut.Topology) map[string]sut.NodeStats {
	out := map[string]sut.NodeStats{}
	for _, n := range topo.Nodes() {
		out[n.Name] = n
	}
	return out
}

// The proxy routes to web alone; web calls app, whose caller balances over
// its two nodes; app calls the cache, whose misses call the database.
func TestTiersBehindTheProxy(t *testing.T) {
	before := runtime.NumGoroutine()
	topo := startTiers(t, `
    - name: web
      backends: [{name: web-1, workers: 8}]
      calls: [{pool: app}]
    - name: app
      backends: [{name: app-1, workers: 4}, {name: app-2, workers: 4}]
      calls: [{pool: cache, times: 2}]
    - name: cache
      cache: {hit_ratio: 60%}
      backends: [{name: cache-1, workers: 4}]
      calls: [{pool: db}]
    - name: db
      backends: [{name: db-1, workers: 4}]
`)
	const requests = 60
	c := client(t)
	for range requests {
		if r := call(t, c, topo.URL()+"/"); r.status != 200 {
			t.Fatalf("status %d (failed tier %q)", r.status, r.failedTier)
		}
	}
	n := nodesByName(topo)
	checks := []struct {
		node             string
		served, requests int64
	}{
		{"web-1", requests, requests},
		// One caller, round-robin: the app nodes take turns.
		{"app-1", requests / 2, requests / 2},
		{"app-2", requests / 2, requests / 2},
		{"cache-1", 2 * requests, 2 * requests},
		{"db-1", n["cache-1"].Misses, n["cache-1"].Misses},
	}
	for _, ch := range checks {
		if got := n[ch.node]; got.Served != ch.served || got.Requests != ch.requests || got.Failures != 0 {
			t.Errorf("%s: served %d, sent %d, failed %d; want %d served and sent, none failed", ch.node, got.Served, got.Requests, got.Failures, ch.served)
		}
	}
	if cache := n["cache-1"]; cache.Hits+cache.Misses != 2*requests || cache.Hits == 0 || cache.Misses == 0 {
		t.Errorf("cache: %d hits, %d misses of %d", cache.Hits, cache.Misses, 2*requests)
	}
	var routed []string
	for _, u := range topo.ProxyStats().Upstreams {
		routed = append(routed, u.Name)
	}
	if fmt.Sprint(routed) != "[web-1]" {
		t.Errorf("the proxy balances over %v, want web's node alone", routed)
	}
	c.CloseIdleConnections()
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before) // the callers' connections between tiers too
}

// A fault on a tier's node, by its name: the calling request answers 502
// naming the tier where the failure started.
func TestFaultsOnTierNodes(t *testing.T) {
	cases := []struct {
		fault scenario.Fault
		want  reply
	}{
		{scenario.Fault{Kind: "crash", Node: "db-1"}, reply{502, "db"}},
		{scenario.Fault{Kind: "errors", Node: "db-1", Percent: 1, Status: 503}, reply{502, "db"}},
		{scenario.Fault{Kind: "hang", Node: "db-1"}, reply{502, "db"}},
		{scenario.Fault{Kind: "crash", Node: "app-1"}, reply{502, "app"}},
		{scenario.Fault{Kind: "slow", Node: "db-1", Latency: scenario.Distribution{Dist: "constant", Value: scenario.Duration(time.Millisecond)}}, reply{200, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.fault.Kind+" "+tc.fault.Node, func(t *testing.T) {
			topo := startTiers(t, `
    - name: web
      backends: [{name: web-1, workers: 8}]
      calls: [{pool: app}]
    - name: app
      backends: [{name: app-1, workers: 4}]
      calls: [{pool: db, timeout: 100ms}]
    - name: db
      backends: [{name: db-1, workers: 4}]
`)
			c := client(t)
			if r := call(t, c, topo.URL()+"/"); r.status != 200 {
				t.Fatalf("before the fault: %+v", r)
			}
			lift, err := topo.Inject(tc.fault)
			if err != nil {
				t.Fatal(err)
			}
			defer lift()
			if got := call(t, c, topo.URL()+"/"); got != tc.want {
				t.Errorf("under the fault: %+v, want %+v", got, tc.want)
			}
			if err := lift(); err != nil {
				t.Fatal(err)
			}
			if r := call(t, c, topo.URL()+"/"); r.status != 200 {
				t.Errorf("after the fault: %+v", r)
			}
		})
	}
}

// A database: writes to the primary, reads to the replicas. When the
// primary crashes, writes fail (502 naming the database) until a replica
// is promoted, after the promotion time, and reads never do; with
// promotion 0, writes fail until the primary is back.
func TestDatabasePrimaryAndPromotion(t *testing.T) {
	const loop = 10 * time.Millisecond
	cases := []struct {
		name      string
		promotion time.Duration
	}{
		{"promoted", 300 * time.Millisecond},
		{"no promotable replica", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topo := startTiers(t, fmt.Sprintf(`
    - name: reader
      match: {path_prefix: /r}
      backends: [{name: reader-1, workers: 8}]
      calls: [{pool: db}]
    - name: writer
      match: {path_prefix: /w}
      backends: [{name: writer-1, workers: 8}]
      calls: [{pool: db, writes: 100%%}]
    - name: db
      database: {promotion: %s}
      backends: [{name: db-1, workers: 4}, {name: db-2, workers: 4}, {name: db-3, workers: 4}]
`, scenario.Duration(tc.promotion)))
			c := client(t)
			for range 10 {
				if w, r := call(t, c, topo.URL()+"/w"), call(t, c, topo.URL()+"/r"); w.status != 200 || r.status != 200 {
					t.Fatalf("before the crash: write %+v, read %+v", w, r)
				}
			}
			n := nodesByName(topo)
			if n["db-1"].Writes != 10 || n["db-1"].Reads != 0 || n["db-2"].Reads+n["db-3"].Reads != 10 || n["db-2"].Writes+n["db-3"].Writes != 0 || !n["db-1"].Primary {
				t.Fatalf("writes to the primary, reads to the replicas: %+v", n)
			}

			meter := hiccup.Start()
			crashed := time.Now()
			restart, err := topo.Inject(scenario.Fault{Kind: "crash", Node: "db-1"})
			if err != nil {
				t.Fatal(err)
			}
			defer restart()
			span := tc.promotion + 500*time.Millisecond
			var firstWrite time.Duration = -1
			for time.Since(crashed) < span {
				w := call(t, c, topo.URL()+"/w")
				at := time.Since(crashed)
				switch {
				case w.status == 200 && firstWrite < 0:
					firstWrite = at
				case w.status != 200 && (w.status != 502 || w.failedTier != "db"):
					t.Fatalf("a write at %v: %+v, want 502 naming db", at, w)
				case w.status != 200 && firstWrite >= 0:
					t.Fatalf("a write failed at %v, after one succeeded at %v", at, firstWrite)
				}
				if r := call(t, c, topo.URL()+"/r"); r.status != 200 {
					t.Fatalf("a read at %v: %+v; reads do not need the primary", at, r)
				}
				time.Sleep(loop)
			}
			figures := meter.Stop()
			n = nodesByName(topo)
			if tc.promotion == 0 {
				if firstWrite >= 0 || n["db-2"].Primary || n["db-3"].Primary || n["db-1"].WritesFailed == 0 {
					t.Fatalf("a write succeeded at %v with no promotable replica: %+v", firstWrite, n)
				}
				if err := restart(); err != nil {
					t.Fatal(err)
				}
				if w := call(t, c, topo.URL()+"/w"); w.status != 200 {
					t.Fatalf("a write once the primary is back: %+v", w)
				}
				if n := nodesByName(topo); !n["db-1"].Primary || n["db-1"].Promotions+n["db-2"].Promotions+n["db-3"].Promotions != 0 {
					t.Errorf("the primary back is the primary: %+v", n)
				}
				return
			}
			// A promotion never comes early; late by the host's delays at most.
			if allowed := figures.Allow(tc.promotion + 2*loop); firstWrite < tc.promotion || firstWrite > allowed {
				t.Fatalf("the first write after the crash succeeded at %v, want from %v to %v (%s)", firstWrite, tc.promotion, allowed, figures)
			}
			if !n["db-2"].Primary || n["db-2"].Promotions != 1 || n["db-1"].WritesFailed == 0 || n["db-2"].Writes == 0 {
				t.Fatalf("db-2 promoted, taking the writes: %+v", n)
			}
			if err := restart(); err != nil {
				t.Fatal(err)
			}
			before := nodesByName(topo)["db-2"].Writes
			if w := call(t, c, topo.URL()+"/w"); w.status != 200 {
				t.Fatalf("a write after the old primary restarted: %+v", w)
			}
			if n := nodesByName(topo); n["db-1"].Primary || n["db-2"].Writes != before+1 {
				t.Errorf("no failback: the old primary is a replica, the writes stay on db-2: %+v", n)
			}
		})
	}
}

// add-backend and remove-backend on a tier: its callers pick the new node
// at once and stop picking the removed one, whose calls in progress drain.
func TestTierMembershipChanges(t *testing.T) {
	topo := startTiers(t, `
    - name: app
      backends: [{name: app-1, workers: 4}]
      calls: [{pool: db}]
    - name: db
      backends: [{name: db-1, workers: 4}, {name: db-2, workers: 4}]
`)
	c := client(t)
	send := func(k int) {
		for range k {
			if r := call(t, c, topo.URL()+"/"); r.status != 200 {
				t.Fatalf("status %+v", r)
			}
		}
	}
	send(4)
	if _, err := topo.Inject(scenario.Fault{Kind: "add-backend", Pool: "db", Backend: &scenario.Backend{Name: "db-3", Workers: 4}}); err != nil {
		t.Fatal(err)
	}
	send(6)
	if got := nodesByName(topo)["db-3"].Served; got != 2 {
		t.Errorf("db-3 served %d of 6 calls in turn over three nodes, want 2", got)
	}
	lift, err := topo.Inject(scenario.Fault{Kind: "remove-backend", Node: "db-1", Drain: scenario.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	before := nodesByName(topo)["db-1"].Requests
	send(6)
	n := nodesByName(topo)
	if n["db-1"].Requests != before || n["db-1"].Served+n["db-2"].Served+n["db-3"].Served != 16 {
		t.Errorf("db-1 removed got %d more calls; %+v", n["db-1"].Requests-before, n)
	}
	if err := lift(); err != nil {
		t.Error(err)
	}
}

// A real proxy in front of tiers: its configuration names the routed pool's
// backends alone, and the calls behind it go on as with the built-in one.
func TestRealProxyRoutesToTheRoutedPoolsAlone(t *testing.T) {
	for _, kind := range []string{scenario.ProxyNginx, scenario.ProxyHAProxy} {
		t.Run(kind, func(t *testing.T) {
			if _, err := external.Binary(kind); err != nil {
				t.Skipf("skipped: %v", err)
			}
			s, err := scenario.Parse("tiers.yaml", []byte(`name: tiers
duration: 1s
workload: [{rate: 1/s}]
sut:
  proxy: {kind: `+kind+`}
  pools:
    - {name: web, backends: [{name: web-1, workers: 4}], calls: [{pool: db}]}
    - {name: db, backends: [{name: db-1, workers: 4}]}
`))
			if err != nil {
				t.Fatal(err)
			}
			topo, err := sut.Start(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			defer topo.Close()
			c := client(t)
			for range 5 {
				if r := call(t, c, topo.URL()+"/"); r.status != 200 {
					t.Fatalf("status %+v", r)
				}
			}
			n := nodesByName(topo)
			if n["db-1"].Served != 5 {
				t.Errorf("db-1 served %d calls, want 5", n["db-1"].Served)
			}
			files, _ := filepath.Glob(filepath.Join(topo.External().Dir(), "*.c*"))
			for _, f := range files {
				text, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				web, db := strings.TrimPrefix(n["web-1"].URL, "http://"), strings.TrimPrefix(n["db-1"].URL, "http://")
				if !strings.Contains(string(text), web) || strings.Contains(string(text), db) {
					t.Errorf("%s names web-1 %v, db-1 %v; want web-1's address alone:\n%s", f, strings.Contains(string(text), web), strings.Contains(string(text), db), text)
				}
			}
			if len(files) == 0 {
				t.Error("no configuration file in the proxy's directory")
			}
		})
	}
}

// A tier's connections bound each caller's calls in progress: calls past
// it wait, holding their worker. Four requests at once through one
// connection to a 20 ms tier take four calls' time one after the other.
func TestTierConnectionsBoundTheCalls(t *testing.T) {
	topo := startTiers(t, `
    - name: app
      backends: [{name: app-1, workers: 4}]
      calls: [{pool: db}]
    - name: db
      connections: 1
      backends: [{name: db-1, workers: 8, service_time: {dist: constant, value: 20ms}}]
`)
	c := client(t)
	began := time.Now()
	done := make(chan reply, 4)
	for range 4 {
		go func() {
			resp, err := c.Get(topo.URL() + "/")
			if err != nil {
				done <- reply{}
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- reply{status: resp.StatusCode}
		}()
	}
	for range 4 {
		if r := <-done; r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if took := time.Since(began); took < 80*time.Millisecond {
		t.Errorf("four calls through one connection took %v, less than four 20 ms calls one after the other", took)
	}
}
