// Package dns is the DNS balancer between a service's sites: it answers
// each resolution with one site by its policy, among the sites its health
// checks find up, as a global server load balancer does. A client keeps
// the answer for the TTL, which is the caller's business.
//
// The site's health follows the proxy's active-check rules (sut/health:
// fall failed checks in a row take a site out, rise passed ones bring it
// back), and the policies that need one are the proxy's (sut/balancer:
// round-robin, and weighted-round-robin over the sites' spare capacity for
// load). Pure: no goroutines, no I/O, no clock (a check takes its time),
// deterministic; one caller at a time.
package dns

import (
	"fmt"
	"slices"
	"time"

	"github.com/ilities/ilities/sut/balancer"
	"github.com/ilities/ilities/sut/health"
)

// The policies: the site nearest the client's region, each site in turn,
// or the sites in proportion to the spare capacity they last reported (the
// Eddie paper's enhanced DNS).
const (
	Nearest    = "nearest"
	RoundRobin = "round-robin"
	Load       = "load"
)

// Balancer is the DNS balancer of one service's sites.
type Balancer struct {
	// sites are the sites as the policies see them, available while their
	// checks pass, in the order given; members points at each.
	sites   []balancer.Upstream
	members []*balancer.Upstream
	health  []*health.Upstream
	// policy picks among the sites up (nil: nearest); rtt is each region's
	// round-trip time to each site, which nearest reads.
	policy balancer.Policy
	rtt    [][]time.Duration
	// nearest breaks ties between equally near sites in turn.
	tied []*balancer.Upstream
	turn uint64
	req  balancer.Request
}

// New returns the balancer of the sites named, answering by policy, each
// region's round-trip time to each site in rtt ([region][site]), the sites
// checked by the rise and fall of rules. Every site starts up.
func New(policy string, sites []string, rtt [][]time.Duration, rules health.Rules) (*Balancer, error) {
	if len(sites) == 0 {
		return nil, fmt.Errorf("dns: no site to balance")
	}
	for i, row := range rtt {
		if len(row) != len(sites) {
			return nil, fmt.Errorf("dns: region %d has %d round-trip times for %d sites", i, len(row), len(sites))
		}
	}
	b := &Balancer{rtt: rtt, sites: make([]balancer.Upstream, len(sites))}
	switch policy {
	case Nearest:
	case RoundRobin:
		b.policy = &balancer.RoundRobin{}
	case Load:
		b.policy = balancer.NewWeightedRoundRobin()
	default:
		return nil, fmt.Errorf("dns: unknown policy %q (want %s, %s or %s)", policy, Nearest, RoundRobin, Load)
	}
	for i, name := range sites {
		b.sites[i] = balancer.Upstream{Name: name, Weight: 1}
		b.members = append(b.members, &b.sites[i])
		h := health.NewUpstream(rules)
		h.Publish(health.ReasonStart, time.Time{}) // up, so that the first check that passes changes nothing
		b.health = append(b.health, h)
	}
	b.tied = make([]*balancer.Upstream, 0, len(sites))
	return b, nil
}

// Resolve is the site the balancer answers a client of region with. With
// no site up it answers as if every site were, as a balancer that has
// nothing better to say rather than no answer: the clients' requests then
// fail where they go.
func (b *Balancer) Resolve(region int) int {
	up := slices.ContainsFunc(b.members, (*balancer.Upstream).Available)
	if !up {
		for i := range b.sites {
			b.sites[i].SetHealthy(true)
		}
		defer b.restoreHealth()
	}
	if b.policy != nil {
		return b.index(b.policy.Select(b.members, &b.req))
	}
	return b.nearest(region)
}

// restoreHealth sets each site's availability back to its checks' view.
func (b *Balancer) restoreHealth() {
	for i, h := range b.health {
		b.sites[i].SetHealthy(!h.ActiveDown())
	}
}

// nearest is the available site with the lowest round-trip time from
// region, equally near ones in turn.
func (b *Balancer) nearest(region int) int {
	row := b.rtt[region]
	b.tied = b.tied[:0]
	best := time.Duration(-1)
	for i := range b.sites {
		if !b.sites[i].Available() {
			continue
		}
		switch d := row[i]; {
		case best < 0 || d < best:
			best, b.tied = d, append(b.tied[:0], &b.sites[i])
		case d == best:
			b.tied = append(b.tied, &b.sites[i])
		}
	}
	pick := b.tied[b.turn%uint64(len(b.tied))]
	b.turn++
	return b.index(pick)
}

// index is the site of node u, one of the balancer's.
func (b *Balancer) index(u *balancer.Upstream) int {
	return slices.IndexFunc(b.members, func(m *balancer.Upstream) bool { return m == u })
}

// Check counts the result of one check of site i at now (why: what
// failed), and returns the change of the site's availability it made.
func (b *Balancer) Check(i int, passed bool, why string, now time.Time) (health.Change, bool) {
	c, changed := b.health[i].Check(passed, why, now)
	if changed {
		b.sites[i].SetHealthy(c.Available)
	}
	return c, changed
}

// Up reports whether the balancer answers with site i.
func (b *Balancer) Up(i int) bool { return b.sites[i].Available() }

// Report is the load site i reported: the share of its capacity in use,
// from 0 (idle) to 1 (full) or more. The load policy answers with each
// site in proportion to its spare capacity, 1 − load, a full one still
// with a thousandth of the answers.
func (b *Balancer) Report(i int, load float64) {
	spare := 1 - min(max(load, 0), 1)
	b.sites[i].SetWeightScale(int(spare*1000 + 0.5))
}
