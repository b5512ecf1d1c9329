package runner

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ilities/ilities/scenario"
)

// Pacer yields the intended send times of one workload's arrivals, in order.
type Pacer interface {
	// Next returns the offset from the start of the run at which the next
	// arrival is due, and false once no arrival is left before the end.
	Next() (time.Duration, bool)
}

// NewPacer returns the pacer of the workload with the given index for a run
// of the given length. The sequence of arrivals depends only on the workload,
// the duration, the seed and the index.
func NewPacer(w scenario.Workload, duration time.Duration, seed int64, index int) (Pacer, error) {
	p := newRateProfile(w, duration)
	switch w.Arrival {
	case "", "uniform":
		return &uniformPacer{profile: p}, nil
	case "poisson":
		return &poissonPacer{profile: p, rng: streamRNG(seed, index, streamArrivals)}, nil
	}
	return nil, fmt.Errorf("runner: workload %q: unknown arrival %q (want uniform or poisson)", w.Name, w.Arrival)
}

// uniformPacer spaces arrivals evenly along the rate profile: arrival k
// (from 0) is due when the integral of the rate reaches k + ½, the middle of
// its unit of area. A run therefore holds round(Λ(duration)) arrivals, each
// second holds its share of the integral to within one arrival, and no
// arrival falls where the rate is zero.
type uniformPacer struct {
	profile rateProfile
	k       float64
	cursor  int
}

func (u *uniformPacer) Next() (time.Duration, bool) {
	y := u.k + 0.5
	if y >= u.profile.total {
		return 0, false
	}
	u.k++
	return seconds(u.profile.inverse(y, &u.cursor)), true
}

// poissonPacer draws a non-homogeneous Poisson process by time rescaling:
// the unit-rate process S_k = Σ Exp(1) mapped through Λ⁻¹. It is exact for
// ramps (no thinning, no rate frozen between arrivals) and deterministic
// given its random source.
type poissonPacer struct {
	profile rateProfile
	rng     *rand.Rand
	sum     float64
	cursor  int
}

func (p *poissonPacer) Next() (time.Duration, bool) {
	p.sum += p.rng.ExpFloat64()
	if p.sum >= p.profile.total {
		p.sum = p.profile.total // stay exhausted
		return 0, false
	}
	return seconds(p.profile.inverse(p.sum, &p.cursor)), true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Independent random streams of one workload.
const (
	streamArrivals = 1
	streamMix      = 2
)

// streamRNG returns the random source of one stream of one workload,
// derived from the scenario's seed: the same inputs give the same sequence.
func streamRNG(seed int64, workload int, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), splitmix64(uint64(workload)<<8|stream)))
}

// splitmix64 scatters small inputs over the whole 64-bit space.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
