package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/headers"
	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/sut/proxy"
)

func TestStickyCookieThroughTheProxy(t *testing.T) {
	var ups []proxy.UpstreamConfig
	for _, n := range []string{"a", "b", "c"} {
		ups = append(ups, proxy.UpstreamConfig{Name: n, URL: startBackend(t, n, 1, 0).URL()})
	}
	p := startWith(t, proxy.Config{Strategy: "cookie", Pools: onePool(ups...)})
	c := newClient(t)
	do := func(cookie string) (node, setCookie string) {
		req, _ := http.NewRequest("GET", p.URL(), nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get(headers.Node), resp.Header.Get("Set-Cookie")
	}
	node, set := do("")
	if !strings.HasPrefix(set, "ilities_node="+node+";") {
		t.Fatalf("first answer from %s set %q", node, set)
	}
	cookie := "ilities_node=" + node
	for range 10 {
		if n, s := do(cookie); n != node || s != "" {
			t.Fatalf("sticky request went to %s (Set-Cookie %q), want %s", n, s, node)
		}
	}
	p.SetHealthy(node, false)
	moved, set := do(cookie)
	if moved == node || !strings.HasPrefix(set, "ilities_node="+moved+";") {
		t.Fatalf("with %s down: answered by %s, Set-Cookie %q", node, moved, set)
	}
}

// closedLoop runs users sequential clients against url for d and counts
// answers per node.
func closedLoop(t *testing.T, url string, users int, d time.Duration) map[string]int {
	c := newClient(t)
	var mu sync.Mutex
	count := map[string]int{}
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range users {
		wg.Go(func() {
			for time.Now().Before(end) {
				resp, err := c.Get(url)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				count[resp.Header.Get(headers.Node)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return count
}

// Backends of 8 and 2 workers report their load; without weights the
// resource-aware strategy gives the big one about 80% of a saturating load.
func TestResourceAwareLearnsUnequalBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	big := startBackend(t, "big", 8, 20*time.Millisecond)
	small := startBackend(t, "small", 2, 20*time.Millisecond)
	p := startWith(t, proxy.Config{Strategy: "resource-aware", Pools: onePool(
		proxy.UpstreamConfig{Name: "big", URL: big.URL()}, proxy.UpstreamConfig{Name: "small", URL: small.URL()})})
	count := closedLoop(t, p.URL(), 12, 1500*time.Millisecond)
	share := float64(count["big"]) / float64(count["big"]+count["small"])
	t.Logf("answers %v: big's share %.2f (capacity share 0.80)", count, share)
	if share < 0.68 || share > 0.9 {
		t.Errorf("big's share %.2f, want ≈ 0.8", share)
	}
	for _, u := range p.Stats().Upstreams {
		if u.ReportedWorkers <= 0 {
			t.Errorf("%s reported no load: %+v", u.Name, u)
		}
	}
}

// A node 20× slower than the others loses nearly all its traffic under
// least-response-time.
func TestLeastResponseTimeAvoidsASlowNode(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	var ups []proxy.UpstreamConfig
	for _, n := range []string{"a", "b"} {
		ups = append(ups, proxy.UpstreamConfig{Name: n, URL: startBackend(t, n, 8, 2*time.Millisecond).URL()})
	}
	ups = append(ups, proxy.UpstreamConfig{Name: "slow", URL: startBackend(t, "slow", 8, 40*time.Millisecond).URL()})
	p := startWith(t, proxy.Config{Strategy: "least-response-time", Pools: onePool(ups...)})
	meter := hiccup.Start()
	count := closedLoop(t, p.URL(), 4, time.Second)
	host := meter.Stop()
	total := count["a"] + count["b"] + count["slow"]
	share := float64(count["slow"]) / float64(total)
	t.Logf("answers %v: slow's share %.3f; %v", count, share, host)
	// The estimate jumps to any slower sample: one exchange of a fast node
	// delayed by the host as long as the 38 ms between the nodes makes it
	// look as slow as the slow one.
	const tolerated = 38 * time.Millisecond
	if share > 0.05 {
		failOrSkip(t, host, host.Max, tolerated, "slow node got %.3f of the traffic", share)
	}
}
