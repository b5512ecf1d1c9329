package runner

import (
	"math/rand/v2"
	"net/http"

	"github.com/ilities/ilities/scenario"
)

// Mix picks the request of each arrival of a workload by weight, from the
// workload's own seeded stream. Every arrival draws once, sent or not, so
// the k-th arrival's request depends only on the seed: a simulation of a
// run that picks with it offers the run's requests in the run's order.
type Mix struct {
	cumWeight []int
	rng       *rand.Rand
}

// NewMix returns the mix of the scenario's workload with the given index,
// drawing as Run draws for it.
func NewMix(sc *scenario.Scenario, workload int) *Mix {
	return &Mix{cumWeight: mixWeights(sc.Workload[workload]), rng: streamRNG(sc.Seed, workload, streamMix)}
}

// Next is the index of the next arrival's request in the workload's mix.
func (m *Mix) Next() int {
	if len(m.cumWeight) == 1 {
		return 0
	}
	return m.at(m.rng.IntN(m.total()))
}

// PickWith is the index of a virtual user's next request in the mix,
// chosen with the user's own source (UserRNG), as Run's users choose.
func (m *Mix) PickWith(rng interface{ Intn(int) int }) int {
	if len(m.cumWeight) == 1 {
		return 0
	}
	return m.at(rng.Intn(m.total()))
}

func (m *Mix) at(n int) int {
	for i, c := range m.cumWeight {
		if n < c {
			return i
		}
	}
	return len(m.cumWeight) - 1
}

// total is the sum of the weights; 0 when they add up to nothing.
func (m *Mix) total() int { return m.cumWeight[len(m.cumWeight)-1] }

// mixRequests are what a workload sends: its session's steps in order
// (session is true), or its request mix, or one GET / when it names none.
func mixRequests(spec scenario.Workload) (reqs []scenario.Request, session bool) {
	switch {
	case len(spec.Session) > 0:
		return spec.Session, true
	case len(spec.Requests) > 0:
		return spec.Requests, false
	}
	return []scenario.Request{{Method: http.MethodGet, Path: "/", Weight: 1}}, false
}

// mixWeights are the running sums of the weights of a workload's requests;
// a session's steps count one each.
func mixWeights(spec scenario.Workload) []int {
	reqs, session := mixRequests(spec)
	cum := make([]int, len(reqs))
	total := 0
	for i, r := range reqs {
		total += max(r.Weight, 0)
		if session {
			total = i + 1
		}
		cum[i] = total
	}
	return cum
}
