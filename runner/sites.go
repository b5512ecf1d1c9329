package runner

import (
	"math/rand"
	"sync"
	"time"

	"github.com/ilities/ilities/internal/hrtimer"
)

// Sites is a service spread over several sites that clients reach through
// DNS: each site's addresses (its proxy's replicas), the DNS clients the
// load comes from, and the resolver that answers them. Each open-loop
// arrival is a client's drawn at random (the workload's own seeded
// source, for every arrival, so a segment's are the whole run's), each
// virtual user one client's (its index round the clients), as the
// simulation has them. A client keeps its answer until it expires, and
// sends to the answered site alone: its replicas in turn, failing over
// between them as a client of several URLs does.
type Sites struct {
	URLs     [][]string
	Clients  int
	Resolver Resolver
}

// Resolver answers the DNS clients and hears where their requests went.
// Both are called from the engine's workers and users at once.
type Resolver interface {
	// Resolve answers client c at now, its last answer expired (or it has
	// none yet).
	Resolve(c int, now time.Time) SiteAnswer
	// Sent tells of one request of client c to site, sent at sent (from the
	// run's start) and intended at intended, that succeeded or not.
	Sent(c, site int, intended, sent time.Duration, succeeded bool)
}

// SiteAnswer is a resolution: the site to send to until the answer
// expires, and the round trip from the client's region to it.
type SiteAnswer struct {
	Site    int
	RTT     time.Duration
	Expires time.Time
}

// ArrivalClientSeed seeds the source drawing workload w's arrivals' DNS
// clients; the simulation draws them alike.
func ArrivalClientSeed(seed int64, w int) int64 { return seed ^ int64(w+1)*0x5e1e5 }

// siteRoutes is the DNS clients' answers, kept for their TTL, and which
// targets (a range of the client's) each site is.
type siteRoutes struct {
	resolver Resolver
	first    []int // site i's targets are first[i] up to first[i+1]
	mu       sync.Mutex
	answers  []SiteAnswer
	known    []bool
}

func newSiteRoutes(s *Sites) *siteRoutes {
	r := &siteRoutes{resolver: s.Resolver, answers: make([]SiteAnswer, s.Clients), known: make([]bool, s.Clients)}
	n := 0
	for _, urls := range s.URLs {
		r.first = append(r.first, n)
		n += len(urls)
	}
	r.first = append(r.first, n)
	return r
}

// answer is client c's answer now: the one it holds, or a fresh one when
// that expired.
func (r *siteRoutes) answer(c int) SiteAnswer {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.known[c] || !now.Before(r.answers[c].Expires) {
		r.answers[c], r.known[c] = r.resolver.Resolve(c, now), true
	}
	return r.answers[c]
}

// flatten is every site's addresses in site order: the client's targets.
func (s *Sites) flatten() []string {
	var out []string
	for _, urls := range s.URLs {
		out = append(out, urls...)
	}
	return out
}

// siteDo sends r for DNS client c to the site its answer names, after the
// round trip from the client's region to it: the wait stands for the
// request's and the response's ways over the distance, so it holds the
// in-flight slot as they would and counts in the latency (from the
// intended time), not in the send lag (sent is taken before it).
func (e *engine) siteDo(w *workloadRun, r *request, u *userState, c int, intended, sent time.Duration) exchange {
	a := e.sites.answer(c)
	// Not cut short by a stop: the request is on its way, and is awaited
	// as any in flight.
	hrtimer.Sleep(a.RTT, nil)
	ex := w.client.doWithin(r, u, e.sites.first[a.Site], e.sites.first[a.Site+1])
	e.sites.resolver.Sent(c, a.Site, intended, sent, ex.outcome == outSuccess)
	return ex
}

// arrivalClients draws each arrival's DNS client for workload w, nil
// without sites.
func arrivalClients(s *Sites, seed int64, w int) *rand.Rand {
	if s == nil {
		return nil
	}
	return rand.New(rand.NewSource(ArrivalClientSeed(seed, w)))
}
