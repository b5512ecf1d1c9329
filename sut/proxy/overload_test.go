package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/hiccup"
	"github.com/ilities/ilities/sut/proxy"
)

// overloadDelayTolerated is the host's wake-up delay (p99) up to which the
// overload checks hold: an exchange waits for about five wake-ups (sender,
// proxy, queue, backend, answer), and the latency bound leaves 100 ms of
// slack over the queue timeout and service; a host later than this also
// takes the 800/s sender off its schedule.
const overloadDelayTolerated = 20 * time.Millisecond

type sample struct {
	at      time.Duration // intended send, from the start
	latency time.Duration // completion − intended send
	status  int
	known   bool
}

// openLoop sends rate requests per second for d at p, each at its
// scheduled instant whatever the answers do; requests for which known
// returns true carry a session cookie.
func openLoop(t *testing.T, url string, rate int, d time.Duration, known func(i int) bool) []sample {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 4096, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	n := int(d.Seconds() * float64(rate))
	out := make([]sample, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := time.Duration(i) * time.Second / time.Duration(rate)
		time.Sleep(time.Until(start.Add(at)))
		known := known != nil && known(i)
		wg.Go(func() {
			req, _ := http.NewRequest("GET", url, nil)
			if known {
				req.Header.Set("Cookie", fmt.Sprintf("ilities_session=user%d", i%50))
			}
			status := 0
			resp, err := c.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			out[i] = sample{at: at, latency: time.Since(start.Add(at)), status: status, known: known}
		})
	}
	wg.Wait()
	return out
}

type summary struct {
	ok, rejected, other int
	goodput             float64 // successes completed within the run, per second
	p99                 time.Duration
	p99First, p99Last   time.Duration // of successes in the first and last second
}

func summarise(s []sample, d time.Duration, keep func(sample) bool) summary {
	var r summary
	var lat, first, last []time.Duration
	for _, x := range s {
		if keep != nil && !keep(x) {
			continue
		}
		switch {
		case x.status == 200:
			r.ok++
			if x.at+x.latency <= d {
				r.goodput++
			}
			lat = append(lat, x.latency)
			if x.at < time.Second {
				first = append(first, x.latency)
			}
			if x.at >= d-time.Second {
				last = append(last, x.latency)
			}
		case x.status == 503:
			r.rejected++
		default:
			r.other++
		}
	}
	p99 := func(v []time.Duration) time.Duration {
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[min(len(v)-1, len(v)*99/100)]
	}
	r.goodput /= d.Seconds()
	r.p99, r.p99First, r.p99Last = p99(lat), p99(first), p99(last)
	return r
}

// At twice the capacity (4 workers × 10 ms = 400/s, offered 800/s), with
// admission control the admitted requests keep their latency within the
// queue timeout plus service and goodput stays at capacity; without it the
// backlog and the latency grow for as long as the overload lasts.
func TestOverloadWithAndWithoutAdmissionControl(t *testing.T) {
	if testing.Short() {
		t.Skip("overload test")
	}
	const (
		capacity = 400.0
		rate     = 800
		d        = 3 * time.Second
		qTimeout = 100 * time.Millisecond
	)
	run := func(adm proxy.AdmissionConfig) summary {
		be := startBackend(t, "app", 4, 10*time.Millisecond)
		p := startWith(t, proxy.Config{Admission: adm, Pools: onePool(proxy.UpstreamConfig{Name: "app", URL: be.URL()})})
		return summarise(openLoop(t, p.URL(), rate, d, nil), d, nil)
	}
	meter := hiccup.Start()
	with := run(proxy.AdmissionConfig{MaxInflight: 4, Queue: 16, QueueTimeout: qTimeout})
	without := run(proxy.AdmissionConfig{})
	host := meter.Stop()
	t.Logf("%v", host)
	t.Logf("with admission:    goodput %.0f/s (capacity %.0f), admitted p99 %v (first s %v, last s %v), rejected %d, other %d",
		with.goodput, capacity, with.p99, with.p99First, with.p99Last, with.rejected, with.other)
	t.Logf("without admission: goodput %.0f/s, p99 %v (first s %v, last s %v), rejected %d, other %d",
		without.goodput, without.p99, without.p99First, without.p99Last, without.rejected, without.other)
	bound := qTimeout + 100*time.Millisecond // queue timeout + service + slack for a shared machine
	if with.p99 > bound {
		failOrSkip(t, host, host.P99, overloadDelayTolerated, "admitted p99 %v exceeds the bound %v", with.p99, bound)
	}
	if with.goodput < 0.9*capacity {
		failOrSkip(t, host, host.P99, overloadDelayTolerated, "goodput %.0f/s below 90%% of capacity %.0f", with.goodput, capacity)
	}
	if without.p99Last < 2*without.p99First || without.p99Last < time.Second {
		failOrSkip(t, host, host.P99, overloadDelayTolerated, "without admission latency did not grow: first second p99 %v, last %v", without.p99First, without.p99Last)
	}
}

// Session-aware admission: requests of known sessions (300/s) are admitted
// ahead of new ones (500/s) at 2× capacity; new sessions absorb the
// rejections.
func TestSessionAwareAdmissionFavoursKnownSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("overload test")
	}
	const d = 3 * time.Second
	be := startBackend(t, "app", 4, 10*time.Millisecond)
	p := startWith(t, proxy.Config{
		Admission: proxy.AdmissionConfig{MaxInflight: 4, Queue: 8, QueueTimeout: 100 * time.Millisecond, SessionAware: true},
		Pools:     onePool(proxy.UpstreamConfig{Name: "app", URL: be.URL()}),
	})
	// 3 of every 8 requests belong to known sessions: 300/s of 800/s.
	meter := hiccup.Start()
	s := openLoop(t, p.URL(), 800, d, func(i int) bool { return i%8 == 0 || i%8 == 3 || i%8 == 6 })
	host := meter.Stop()
	known := summarise(s, d, func(x sample) bool { return x.known })
	fresh := summarise(s, d, func(x sample) bool { return !x.known })
	kRej := float64(known.rejected) / float64(known.ok+known.rejected+known.other)
	fRej := float64(fresh.rejected) / float64(fresh.ok+fresh.rejected+fresh.other)
	t.Logf("known sessions: %d ok, rejected %.1f%%, p99 %v; new sessions: %d ok, rejected %.1f%%, p99 %v; %v",
		known.ok, 100*kRej, known.p99, fresh.ok, 100*fRej, fresh.p99, host)
	if kRej > 0.05 || fRej < 0.4 {
		failOrSkip(t, host, host.P99, overloadDelayTolerated, "known sessions rejected %.1f%%, new %.1f%%: want known ≲ 5%% and new absorbing the overload", 100*kRej, 100*fRej)
	}
}
