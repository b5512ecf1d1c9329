package sim

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/ilities/ilities/report"
)

// serviceMean is the stations' mean service time in the queueing tests:
// short, so that a simulated second holds thousands of requests, and long
// beside the microsecond the latencies are recorded in.
const serviceMean = 200 * time.Microsecond

// mmc is an M/M/c station at utilisation rho with Poisson arrivals, alone
// behind the proxy, for the given number of simulated seconds, seeded. Its room is
// large enough that no request is turned away, its timeouts long enough
// that none times out.
func mmc(c int, rho float64, seconds int, seed int64) string {
	rate := rho * float64(c) / serviceMean.Seconds()
	return fmt.Sprintf(`name: mmc
seed: %d
duration: %ds
sut:
  proxy: {timeout: 1h}
  pools:
    - name: app
      backends: [{name: s, workers: %d, queue: 100000, service_time: {dist: exponential, mean: %s}}]
workload:
  - arrival: poisson
    rate: %g/s
    timeout: 1h
    requests: [{path: /}]
`, seed, seconds, c, serviceMean, rate)
}

// erlangW is the mean response time of an M/M/c queue with arrival rate
// lambda and service rate mu: the wait, Erlang C's probability of waiting
// over the rate at which the queue drains, plus the service.
func erlangW(c int, lambda, mu float64) float64 {
	a := lambda / mu
	term, sum := 1.0, 0.0 // a^k/k!, and its sum for k < c
	for k := range c {
		sum += term
		term *= a / float64(k+1)
	}
	top := term * float64(c) / (float64(c) - a)
	return top/(sum+top)/(float64(c)*mu-lambda) + 1/mu
}

// batchSE is the relative standard error of the run's mean latency by
// batch means, each one-second window a batch: at these rates a window
// holds thousands of requests and is far longer than the queue's memory,
// so the batches are nearly independent.
func batchSE(t *testing.T, res *report.Result) float64 {
	t.Helper()
	var sums, counts []float64
	var sum, n float64
	for _, w := range res.Windows {
		h, err := report.DecodeHistogram(w.Histogram)
		if err != nil {
			t.Fatal(err)
		}
		c := float64(h.TotalCount())
		sums, counts = append(sums, h.Mean()*c), append(counts, c)
		sum, n = sum+h.Mean()*c, n+c
	}
	mean, v := sum/n, 0.0
	for i := range sums {
		d := sums[i] - mean*counts[i]
		v += d * d
	}
	return math.Sqrt(v) / n / mean
}

// An M/M/c station's mean response time is Erlang C's W, to 1%, with the
// proxy's cost and the network's delay set to 0; an M/M/1 station's
// response time (FIFO) is Exp(μ − λ), its p50, p90 and p99 to 1% too.
//
// Each run is long enough (one to ten million requests) that the standard
// error of its mean, measured by batch means and checked below, is at most
// 0.3%: the 1% bound is over three of them, which a correct model misses
// about once in a thousand seeds, and a model wrong by more than 1% cannot
// pass. The quantiles' errors are smaller still. Latencies are recorded in
// whole microseconds, cut down: the recorded mean is W less half a
// microsecond, and the smallest quantile is within 0.4% of its floor.
func TestMMcIsErlangC(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test: about 27 million simulated requests")
	}
	mu := 1 / serviceMean.Seconds()
	for i, tc := range []struct {
		c       int
		rho     float64
		seconds int
	}{
		{1, 0.5, 450},
		{2, 0.5, 200},
		{4, 0.5, 100},
		{1, 0.8, 2500},
		{2, 0.8, 1000},
		{4, 0.8, 350},
	} {
		t.Run(fmt.Sprintf("c=%d,rho=%g", tc.c, tc.rho), func(t *testing.T) {
			res := simulate(t, parse(t, mmc(tc.c, tc.rho, tc.seconds, int64(i+1))), Options{})
			if res.Totals.Succeeded != res.Totals.Scheduled {
				t.Fatalf("%d of %d requests succeeded: the queue must turn none away", res.Totals.Succeeded, res.Totals.Scheduled)
			}
			lambda := tc.rho * float64(tc.c) * mu
			w := erlangW(tc.c, lambda, mu)*1000 - 0.0005 // ms
			got, se := res.LatencyMS.Mean, batchSE(t, res)
			t.Logf("%d requests: mean %.4fms, Erlang C %.4fms (%+.2f%%), standard error %.2f%%",
				res.Totals.Succeeded, got, w, 100*(got-w)/w, 100*se)
			if se > 0.003 {
				t.Errorf("standard error %.2f%%: the run is too short to judge 1%%", 100*se)
			}
			if math.Abs(got-w) > 0.01*w {
				t.Errorf("mean response time %.4fms, Erlang C says %.4fms: off by more than 1%%", got, w)
			}
			if tc.c != 1 {
				return
			}
			for _, q := range []struct {
				p   float64
				got float64
			}{{0.50, res.LatencyMS.P50}, {0.90, res.LatencyMS.P90}, {0.99, res.LatencyMS.P99}} {
				want := -math.Log(1-q.p) / (mu - lambda) * 1000
				t.Logf("p%g %.4fms, Exp(μ−λ) %.4fms (%+.2f%%)", 100*q.p, q.got, want, 100*(q.got-want)/want)
				if math.Abs(q.got-want) > 0.01*want {
					t.Errorf("p%g %.4fms, Exp(μ−λ) says %.4fms: off by more than 1%%", 100*q.p, q.got, want)
				}
			}
		})
	}
}

// The proxy's cost and the network's delay add to every request exactly:
// the station sees the same arrivals, shifted, and serves the same
// sequence, so each latency is the station's plus the cost and four hops
// (to the proxy, to the backend, and back).
func TestCostsAddExactlyToTheResponseTime(t *testing.T) {
	sc := parse(t, mmc(1, 0.5, 60, 1))
	bare := simulate(t, sc, Options{})
	opts := Options{ProxyCost: 32 * time.Microsecond, NetworkDelay: 16 * time.Microsecond}
	costly := simulate(t, sc, opts)
	added := (opts.ProxyCost + 4*opts.NetworkDelay).Seconds() * 1000
	for _, q := range []struct {
		name            string
		bare, withCosts float64
	}{{"p50", bare.LatencyMS.P50, costly.LatencyMS.P50}, {"p75", bare.LatencyMS.P75, costly.LatencyMS.P75}} {
		if got := q.withCosts - q.bare; math.Abs(got-added) > 1e-12 {
			t.Errorf("%s grew by %.6fms, want exactly %.6fms", q.name, got, added)
		}
	}
	// The mean is read from the histogram, whose buckets are 2µs wide
	// past 2.048ms: a latency shifted past it is counted at its bucket's
	// middle, which moves the mean by thousandths of a microsecond.
	if got := costly.LatencyMS.Mean - bare.LatencyMS.Mean; math.Abs(got-added) > 1e-5 {
		t.Errorf("the mean grew by %.6fms, want %.6fms", got, added)
	}
	if bare.Station == nil || costly.Station == nil || costly.Station.SojournMS != bare.Station.SojournMS {
		t.Errorf("the station's own account changed with the costs: %+v, then %+v", bare.Station, costly.Station)
	}
	if costly.Totals != bare.Totals {
		t.Errorf("totals %+v, then %+v", bare.Totals, costly.Totals)
	}
}
