package backend

import (
	"math"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ilities/ilities/internal/stats"
)

// The tests in this file drive stations in-process with seeded Poisson
// arrivals and compare the mean response time on the station's own clock
// with queueing theory (M/M/1, and M/M/c through Erlang C) and with an
// exact FIFO c-server replay of the very same arrival and service
// sequences.
//
// Each arrival enters the station at the instant the test planned for it
// (Backend.visit), not when the host happened to wake the test up, and the
// station starts each service when the slot it takes freed on its own
// clock. The response times compared are therefore those of the planned
// arrivals and the seeded services alone: a busy machine makes the test
// take longer, never changes a figure, so the bounds can be tight.

// stationInflight bounds the requests a station's driver has in progress
// (a goroutine each): far above the queue lengths these loads reach
// (P(N > 64) < 1e-6 at rho = 0.8), so it only bounds a stalled host.
const stationInflight = 64

// station is one backend under an open-loop Poisson load.
type station struct {
	workers int
	rho     float64       // offered load per worker
	mean    time.Duration // mean service time (exponential)
	seed    int64

	arrivals []time.Duration // planned arrival instants, from t0
	services []time.Duration // the service draws, in slot order
	response []time.Duration // end − arrival on the station's clock, per arrival
	late     []time.Duration // how long after its modelled end each service was released
	failed   int
	firstErr error
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
	s.response = make([]time.Duration, len(s.arrivals))
	s.late = make([]time.Duration, len(s.arrivals))
}

// run enters every arrival into b at its planned instant from t0, in
// order, each served by a goroutine of a pool of stationInflight. When the
// host wakes the driver late, arrivals enter late but still at their
// planned station time.
func (s *station) run(b *Backend, t0 time.Time) {
	origin := int64(t0.Sub(b.epoch))
	slots := make(chan struct{}, stationInflight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, at := range s.arrivals {
		time.Sleep(time.Until(t0.Add(at)))
		slots <- struct{}{}
		arrive := origin + int64(at)
		finish := b.visit(arrive)
		wg.Go(func() {
			defer func() { <-slots }()
			_, end, err := finish()
			if err != nil {
				mu.Lock()
				if s.failed == 0 {
					s.firstErr = err
				}
				s.failed++
				mu.Unlock()
				return
			}
			s.late[i] = time.Duration(b.now() - end)
			s.response[i] = time.Duration(end - arrive)
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

// batchMeansError is the standard error of the mean of the response-time
// sequences, estimated by the method of batch means: each sequence (in
// arrival order) is cut into batches long enough for their means to be
// nearly independent, and the spread of those means measures how far a run
// of this length can land from the long-run mean by chance alone. Response
// times in a queue are strongly autocorrelated, so the naive s/sqrt(n)
// would understate it several times over.
func batchMeansError(ds ...[]time.Duration) float64 {
	const perSequence = 10
	var means []float64
	for _, d := range ds {
		size := len(d) / perSequence
		if size == 0 {
			continue
		}
		for b := range perSequence {
			means = append(means, meanSeconds(d[b*size:(b+1)*size]))
		}
	}
	if len(means) < 2 {
		return math.Inf(1)
	}
	var sum, sq float64
	for _, m := range means {
		sum += m
	}
	mean := sum / float64(len(means))
	for _, m := range means {
		sq += (m - mean) * (m - mean)
	}
	return math.Sqrt(sq/float64(len(means)-1)) / math.Sqrt(float64(len(means)))
}

// queueConfig is one kind of station: c workers at offered load rho per
// worker, exponential service of mean 10 ms, run as several independent
// stations at once to gather samples.
type queueConfig struct {
	name     string
	workers  int
	rho      float64
	stations int
	// cpuBurn serves by computing; service is the mean service time
	// (default queueService).
	cpuBurn bool
	service time.Duration
}

func (c queueConfig) mean() time.Duration {
	if c.service > 0 {
		return c.service
	}
	return queueService
}

const (
	queueRun     = 20 * time.Second
	queueService = 10 * time.Millisecond
)

// checkQueueing drives every station of every configuration at once for
// queueRun and checks, per configuration, on the station's own clock:
//   - every request's response time is the one an exact FIFO c-server
//     replay of the very same arrival and service sequences gives (to the
//     microsecond): the station is a FIFO queue with c servers, whatever
//     the host's scheduling;
//   - the mean response time is within 2% of the M/M/c formula evaluated
//     at the arrival rate and mean service time the seeded sequences
//     realise, or three batch-means standard errors of this run if wider
//     (the nominal figure is logged beside it);
//   - no service was released before its modelled end (how much later is
//     logged: the host's wake-up lateness, which changes no figure above).
func checkQueueing(t *testing.T, configs []queueConfig) {
	checkQueueingFor(t, queueRun, configs)
}

// checkQueueingFor is checkQueueing with the run's length as a parameter.
func checkQueueingFor(t *testing.T, queueRun time.Duration, configs []queueConfig) {
	if testing.Short() {
		t.Skip("statistical test: about 20 s of simulated traffic")
	}
	groups := make([][]*station, len(configs))
	backends := map[*station]*Backend{}
	for g, cfg := range configs {
		for k := range cfg.stations {
			s := &station{workers: cfg.workers, rho: cfg.rho, mean: cfg.mean(), seed: 1000 + 10*int64(k)}
			s.plan(queueRun)
			groups[g] = append(groups[g], s)
			b := New(Config{Name: "mm", Workers: cfg.workers, Queue: 1 << 20, ServiceTime: exponential(cfg.mean()),
				Seed: s.seed + 1, CPUBurn: cfg.cpuBurn})
			t.Cleanup(func() { _ = b.Close() })
			backends[s] = b
		}
	}
	t0 := time.Now().Add(200 * time.Millisecond)
	var wg sync.WaitGroup
	for _, group := range groups {
		for _, s := range group {
			wg.Go(func() { s.run(backends[s], t0) })
		}
	}
	wg.Wait()
	took := time.Since(t0)

	for g, cfg := range configs {
		var station, replayed [][]time.Duration
		var services, late []time.Duration
		n, failed, mismatched, early := 0, 0, 0, 0
		for _, s := range groups[g] {
			if s.failed > 0 {
				t.Logf("%s: first failure: %v", cfg.name, s.firstErr)
			}
			r := replay(s.workers, s.arrivals, s.services)
			for i := range r {
				if d := s.response[i] - r[i]; d < -time.Microsecond || d > time.Microsecond {
					if mismatched == 0 {
						t.Logf("%s: arrival %d at %v: station %v, replay %v", cfg.name, i, s.arrivals[i], s.response[i], r[i])
					}
					mismatched++
				}
			}
			for _, d := range s.late {
				if d < 0 {
					early++
				}
			}
			station = append(station, s.response)
			replayed = append(replayed, r)
			services = append(services, s.services...)
			late = append(late, s.late...)
			n += len(s.arrivals)
			failed += s.failed
		}
		if failed > 0 {
			t.Errorf("%s: %d requests failed", cfg.name, failed)
			continue
		}
		lambdaHat := float64(n) / float64(len(groups[g])) / queueRun.Seconds()
		sHat := meanSeconds(services)
		nominal := stats.MMcResponse(cfg.workers, groups[g][0].lambda(), cfg.mean().Seconds())
		theory := stats.MMcResponse(cfg.workers, lambdaHat, sHat)
		w := meanSeconds(station...)
		wReplay := meanSeconds(replayed...)
		se := batchMeansError(station...) / w
		slices.Sort(late)
		t.Logf("%s: n=%d  W station %.3fms  theory %.3fms (%+.2f%%, s.e. %.2f%%; realised rho=%.3f S=%.3fms; nominal %.3fms)  replay %.3fms  release after the modelled end: mean %.2fms p99 %.2fms max %.2fms (run took %v for %v)",
			cfg.name, n, w*1e3, theory*1e3, (w/theory-1)*100, se*100,
			lambdaHat*sHat/float64(cfg.workers), sHat*1e3, nominal*1e3, wReplay*1e3,
			meanSeconds(late)*1e3, late[len(late)*99/100].Seconds()*1e3, late[len(late)-1].Seconds()*1e3,
			took.Round(time.Millisecond), queueRun)
		if mismatched > 0 {
			t.Errorf("%s: %d of %d response times differ from the exact FIFO %d-server replay", cfg.name, mismatched, n, cfg.workers)
		}
		if limit := max(0.02, 3*se); math.Abs(w/theory-1) > limit {
			t.Errorf("%s: mean response %.3fms is %.2f%% from theory %.3fms (limit %.2f%%: 2%% or three standard errors)",
				cfg.name, w*1e3, (w/theory-1)*100, theory*1e3, limit*100)
		}
		if early > 0 {
			t.Errorf("%s: %d services were released before their modelled end", cfg.name, early)
		}
	}
}

// TestMM1 checks a single-worker station against S/(1-rho).
func TestMM1(t *testing.T) {
	checkQueueing(t, []queueConfig{
		{name: "M/M/1 rho=0.5", workers: 1, rho: 0.5, stations: 16},
		{name: "M/M/1 rho=0.8", workers: 1, rho: 0.8, stations: 24},
	})
}

// TestMMc checks a four-worker station against Erlang C.
func TestMMc(t *testing.T) {
	checkQueueing(t, []queueConfig{
		{name: "M/M/4 rho=0.5", workers: 4, rho: 0.5, stations: 2},
		{name: "M/M/4 rho=0.8", workers: 4, rho: 0.8, stations: 6},
	})
}

// The CPU-burn tests run the same checks on stations whose workers compute
// for their service time. Each worker busy at utilisation rho takes rho of
// a core, so only a few stations run at once (at most 1.6 cores in all) and
// the service time is short (5 ms) to gather samples. A computing worker
// preempted on a busy machine releases its slot late; the station's clock
// hands the slot on at the modelled end all the same.

// TestCPUBurnHalfLoad checks one and two computing workers at rho = 0.5.
func TestCPUBurnHalfLoad(t *testing.T) {
	checkQueueingFor(t, 15*time.Second, []queueConfig{
		{name: "M/M/1 cpu-burn rho=0.5", workers: 1, rho: 0.5, stations: 1, cpuBurn: true, service: 5 * time.Millisecond},
		{name: "M/M/2 cpu-burn rho=0.5", workers: 2, rho: 0.5, stations: 1, cpuBurn: true, service: 5 * time.Millisecond},
	})
}

// TestCPUBurnHighLoad checks two computing workers at rho = 0.8.
func TestCPUBurnHighLoad(t *testing.T) {
	checkQueueingFor(t, 15*time.Second, []queueConfig{
		{name: "M/M/2 cpu-burn rho=0.8", workers: 2, rho: 0.8, stations: 1, cpuBurn: true, service: 5 * time.Millisecond},
	})
}

// TestCPUBurnSingleHighLoad checks one computing worker at rho = 0.8.
func TestCPUBurnSingleHighLoad(t *testing.T) {
	checkQueueingFor(t, 15*time.Second, []queueConfig{
		{name: "M/M/1 cpu-burn rho=0.8", workers: 1, rho: 0.8, stations: 1, cpuBurn: true, service: 5 * time.Millisecond},
	})
}
