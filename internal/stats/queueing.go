package stats

// ErlangC is the probability that an arrival waits in an M/M/c queue with
// offered load a = λ/μ (a < c).
func ErlangC(c int, a float64) float64 {
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

// MMcResponse is the mean response time of an M/M/c queue, in the unit of
// meanService: 1/μ + C(c, λ/μ) / (cμ − λ); for c = 1 it is S / (1 − ρ).
func MMcResponse(c int, lambda, meanService float64) float64 {
	mu := 1 / meanService
	return meanService + ErlangC(c, lambda/mu)/(float64(c)*mu-lambda)
}
