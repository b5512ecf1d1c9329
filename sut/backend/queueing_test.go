package backend

import (
	"context"
	"math"
	"math/rand"
	"net/http"
	"sync"
	"testing"
	"time"
)

// The tests in this file drive backends with seeded Poisson arrivals over
// real HTTP and compare the mean response time with queueing theory (M/M/1,
// and M/M/c through Erlang C) and with an exact FIFO c-server replay of the
// very same arrival and service sequences.

// station is one backend under an open-loop Poisson load.
type station struct {
	workers int
	rho     float64       // offered load per worker
	mean    time.Duration // mean service time (exponential)
	seed    int64

	arrivals []time.Duration // offsets of the scheduled sends
	services []time.Duration // the service draws, in slot order
	client   []time.Duration // response time seen by the client, from the scheduled send
	server   []time.Duration // queue + service reported by Server-Timing
	failed   int
}

func (s *station) lambda() float64 { return s.rho * float64(s.workers) / s.mean.Seconds() }

// plan draws the arrival instants for a run of length d and the service
// times the backend will draw (it uses the same seed and sampler).
func (s *station) plan(d time.Duration) {
	arr := rand.New(rand.NewSource(s.seed))
	var t time.Duration
	for {
		t += time.Duration(arr.ExpFloat64() / s.lambda() * 1e9)
		if t >= d {
			break
		}
		s.arrivals = append(s.arrivals, t)
	}
	svc := rand.New(rand.NewSource(s.seed + 1))
	s.services = make([]time.Duration, len(s.arrivals))
	for i := range s.services {
		s.services[i] = exponential(s.mean).Sample(svc)
	}
	s.client = make([]time.Duration, len(s.arrivals))
	s.server = make([]time.Duration, len(s.arrivals))
}

// run fires every arrival at its instant from t0, each in its own goroutine.
func (s *station) run(t *testing.T, c *http.Client, url string, t0 time.Time) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, at := range s.arrivals {
		sched := t0.Add(at)
		time.Sleep(time.Until(sched))
		wg.Go(func() {
			a := get(context.Background(), c, url)
			s.client[i] = time.Since(sched)
			s.server[i] = a.queue + a.service
			if a.err != nil || a.status != 200 {
				mu.Lock()
				if s.failed == 0 {
					t.Logf("first failure: status %d err %v", a.status, a.err)
				}
				s.failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// replay is the exact FIFO c-server recursion: each arrival takes the server
// that frees first, starting at max(arrival, that server's free time).
func replay(workers int, arrivals, services []time.Duration) []time.Duration {
	free := make([]time.Duration, workers)
	out := make([]time.Duration, len(arrivals))
	for i, a := range arrivals {
		k := 0
		for j := range free {
			if free[j] < free[k] {
				k = j
			}
		}
		start := max(a, free[k])
		free[k] = start + services[i]
		out[i] = free[k] - a
	}
	return out
}

// erlangC is the probability that an arrival waits in M/M/c with offered
// load a = λ/μ (a < c).
func erlangC(c int, a float64) float64 {
	term, sum := 1.0, 0.0 // term = a^k / k!
	for k := range c {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	last := term * a / float64(c) / (1 - a/float64(c))
	return last / (sum + last)
}

// mmcResponse is the M/M/c mean response time 1/μ + C(c, λ/μ) / (cμ − λ),
// in seconds; for c = 1 it is S / (1 − ρ).
func mmcResponse(c int, lambda, meanService float64) float64 {
	mu := 1 / meanService
	return meanService + erlangC(c, lambda/mu)/(float64(c)*mu-lambda)
}

func meanSeconds(ds ...[]time.Duration) float64 {
	var sum time.Duration
	n := 0
	for _, d := range ds {
		for _, v := range d {
			sum += v
		}
		n += len(d)
	}
	return sum.Seconds() / float64(n)
}

// queueConfig is one kind of station: c workers at offered load rho per
// worker, exponential service of mean 10 ms, run as several independent
// stations at once to gather samples.
type queueConfig struct {
	name     string
	workers  int
	rho      float64
	stations int
}

const (
	queueRun     = 20 * time.Second
	queueService = 10 * time.Millisecond
)

// checkQueueing drives every station of every configuration at once for
// queueRun and checks, per configuration:
//   - the mean response time is within 5% of the M/M/c formula evaluated at
//     the arrival rate and mean service time the seeded sequences realise
//     (the nominal figure is logged beside it);
//   - it is within 2% of an exact FIFO c-server replay of the very same
//     arrival and service sequences, which shows the station is a FIFO queue
//     with c servers;
//   - the responses reach the client no earlier than the station's modelled
//     completion and, on average, soon after it.
//
// The first two use the response time the station reports (Server-Timing,
// from the request's arrival to its modelled completion), which leaves out
// the HTTP transit and the Go timer's wake-up lateness; the third bounds
// what those add.
func checkQueueing(t *testing.T, configs []queueConfig) {
	if testing.Short() {
		t.Skip("statistical test: about 20 s of real traffic")
	}
	if raceEnabled {
		t.Skip("timing-sensitive statistical test: skipped under the race detector")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4096}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	groups := make([][]*station, len(configs))
	urls := map[*station]string{}
	for g, cfg := range configs {
		for k := range cfg.stations {
			s := &station{workers: cfg.workers, rho: cfg.rho, mean: queueService, seed: 1000 + 10*int64(k)}
			s.plan(queueRun)
			groups[g] = append(groups[g], s)
			b := start(t, Config{Name: "mm", Workers: cfg.workers, Queue: 1 << 20, ServiceTime: exponential(queueService), Seed: s.seed + 1})
			urls[s] = b.URL()
		}
	}
	t0 := time.Now().Add(200 * time.Millisecond)
	var wg sync.WaitGroup
	for _, group := range groups {
		for _, s := range group {
			wg.Go(func() { s.run(t, client, urls[s], t0) })
		}
	}
	wg.Wait()

	for g, cfg := range configs {
		var client, server, replayed [][]time.Duration
		var services []time.Duration
		n, failed := 0, 0
		for _, s := range groups[g] {
			client = append(client, s.client)
			server = append(server, s.server)
			replayed = append(replayed, replay(s.workers, s.arrivals, s.services))
			services = append(services, s.services...)
			n += len(s.arrivals)
			failed += s.failed
		}
		if failed > 0 {
			t.Errorf("%s: %d requests failed", cfg.name, failed)
			continue
		}
		lambdaHat := float64(n) / float64(len(groups[g])) / queueRun.Seconds()
		sHat := meanSeconds(services)
		nominal := mmcResponse(cfg.workers, groups[g][0].lambda(), queueService.Seconds())
		theory := mmcResponse(cfg.workers, lambdaHat, sHat)
		wClient := meanSeconds(client...)
		wServer := meanSeconds(server...)
		wReplay := meanSeconds(replayed...)
		t.Logf("%s: n=%d  W station %.3fms  theory %.3fms (%+.1f%%; realised rho=%.3f S=%.3fms; nominal %.3fms)  replay %.3fms (%+.2f%%)  client %.3fms (+%.2fms)",
			cfg.name, n, wServer*1e3, theory*1e3, (wServer/theory-1)*100,
			lambdaHat*sHat/float64(cfg.workers), sHat*1e3, nominal*1e3,
			wReplay*1e3, (wServer/wReplay-1)*100, wClient*1e3, (wClient-wServer)*1e3)
		if e := math.Abs(wServer/theory - 1); e > 0.05 {
			t.Errorf("%s: mean response %.3fms is %.1f%% from theory %.3fms (limit 5%%)", cfg.name, wServer*1e3, e*100, theory*1e3)
		}
		if e := math.Abs(wServer/wReplay - 1); e > 0.02 {
			t.Errorf("%s: mean response %.3fms is %.2f%% from the exact replay %.3fms (limit 2%%)", cfg.name, wServer*1e3, e*100, wReplay*1e3)
		}
		if wClient < wServer {
			t.Errorf("%s: clients saw %.3fms, less than the modelled %.3fms: responses left before their service ended", cfg.name, wClient*1e3, wServer*1e3)
		}
		if late := wClient - wServer; late > 0.005 {
			t.Errorf("%s: responses reached clients %.2fms after the modelled completion on average (limit 5ms)", cfg.name, late*1e3)
		}
	}
}

// TestMM1 checks a single-worker station against S/(1-rho).
func TestMM1(t *testing.T) {
	checkQueueing(t, []queueConfig{
		{"M/M/1 rho=0.5", 1, 0.5, 16},
		{"M/M/1 rho=0.8", 1, 0.8, 24},
	})
}

// TestMMc checks a four-worker station against Erlang C.
func TestMMc(t *testing.T) {
	checkQueueing(t, []queueConfig{
		{"M/M/4 rho=0.5", 4, 0.5, 2},
		{"M/M/4 rho=0.8", 4, 0.8, 6},
	})
}
