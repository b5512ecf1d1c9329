package scenario

import (
	"math"
	"math/rand"
	"time"
)

// z99 is the standard normal quantile at 0.99: a lognormal with median m and
// 99th percentile p has sigma = ln(p/m) / z99.
const z99 = 2.3263478740408408

// Sample draws one duration from the distribution using r. A zero
// Distribution samples 0. Negative draws are clamped to 0.
func (d Distribution) Sample(r *rand.Rand) time.Duration {
	var v float64
	switch d.Dist {
	case "constant":
		v = float64(d.Value)
	case "uniform":
		v = float64(d.Min) + r.Float64()*float64(d.Max-d.Min)
	case "exponential":
		v = r.ExpFloat64() * float64(d.Mean)
	case "lognormal":
		mu, sigma := d.lognormalParams()
		v = math.Exp(mu + sigma*r.NormFloat64())
	}
	if v < 0 || math.IsNaN(v) {
		return 0
	}
	return time.Duration(v)
}

// MeanDuration is the distribution's expected value.
func (d Distribution) MeanDuration() time.Duration {
	switch d.Dist {
	case "constant":
		return d.Value.D()
	case "uniform":
		return (d.Min.D() + d.Max.D()) / 2
	case "exponential":
		return d.Mean.D()
	case "lognormal":
		mu, sigma := d.lognormalParams()
		return time.Duration(math.Exp(mu + sigma*sigma/2))
	}
	return 0
}

func (d Distribution) lognormalParams() (mu, sigma float64) {
	mu = math.Log(float64(d.Median))
	if d.P99 > d.Median {
		sigma = math.Log(float64(d.P99)/float64(d.Median)) / z99
	}
	return mu, sigma
}
