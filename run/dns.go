package run

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/ilities/ilities/internal/crash"
	"github.com/ilities/ilities/internal/hrtimer"
	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/runner"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/dns"
	"github.com/ilities/ilities/sut/health"
)

// liveDNS is the DNS balancer between the sites of a live run (sut/dns,
// the rules the simulation applies too) and the answers it gave the
// engine's clients (runner.Resolver). As in the simulation, the run
// begins in a service that has been running: each client holds an answer,
// its expiry drawn evenly over the TTL. The balancer checks each site
// every interval, live: a GET through each replica of the site's proxy,
// which passes when one answers below 500 (a replica up, a backend behind
// it); the load policy reads the site's utilisation since the last check.
// A site-down fault's requests lost and failover time are counted from
// the clients' answers as the simulation counts them (report.Failover).
type liveDNS struct {
	sites    siteTopologies
	policy   string
	names    []string
	regions  []string
	ttl      time.Duration
	interval time.Duration
	// rtt is each region's round trip to each site ([region][site]).
	rtt    [][]time.Duration
	client *http.Client
	start  time.Time
	done   sync.WaitGroup

	mu          sync.Mutex
	bal         *dns.Balancer
	clients     []dnsClient
	counts      []report.SiteCount
	resolutions int64
	events      []report.DNSEvent
	// outAt is when the balancer took each site out of its answers (from
	// the start of the run), -1 while it answers with it.
	outAt []time.Duration
	// downs are the site-down faults fired, in order; busy is each
	// site's nodes' busy seconds at its last check.
	downs []*siteDownRecord
	busy  []float64
}

// dnsClient is one DNS client: its region, its answer and when it expires
// (from the start of the run), the answer before it, and the site-down
// fault (its record's index + 1) of the site it sent a request to while
// that site was down, until it is answered with another site.
type dnsClient struct {
	region               int
	site, prevSite       int
	expires, prevExpires time.Duration
	stranded             int
}

// siteDownRecord is one site-down fault as the DNS sees it: its site,
// when it took effect and was lifted, and what it cost (report.Failover).
type siteDownRecord struct {
	site    int
	at, end time.Duration
	ended   bool
	cost    report.Failover
}

func newLiveDNS(sc *scenario.Scenario, sites siteTopologies) (*liveDNS, error) {
	d := sc.DNS
	l := &liveDNS{
		sites: sites, policy: d.Policy, ttl: d.TTLOf(), interval: d.Health.Interval.D(),
		client: &http.Client{Timeout: min(d.Health.Interval.D(), 2*time.Second), Transport: &http.Transport{DisableKeepAlives: true}},
		outAt:  make([]time.Duration, len(sc.Sites)), busy: make([]float64, len(sc.Sites)),
	}
	for i, st := range sc.Sites {
		l.names = append(l.names, st.Name)
		l.outAt[i] = -1
		c := report.SiteCount{Name: st.Name, ByRegion: make([]int64, len(sc.Regions)), Workers: map[string]int{}, Strategy: st.SUT.Proxy.Strategy}
		for _, p := range st.SUT.Pools {
			for _, b := range p.Backends {
				c.Workers[b.Name] = b.Workers
			}
		}
		for _, p := range st.SUT.Routed() {
			for _, b := range p.Backends {
				c.Nodes = append(c.Nodes, b.Name)
			}
		}
		l.counts = append(l.counts, c)
	}
	for _, r := range sc.Regions {
		l.regions = append(l.regions, r.Name)
		row := make([]time.Duration, len(l.names))
		for j, name := range l.names {
			row[j] = r.RTT[name].D()
		}
		l.rtt = append(l.rtt, row)
	}
	var err error
	if l.bal, err = dns.New(d.Policy, l.names, l.rtt, health.Rules{Rise: d.Health.Rise, Fall: d.Health.Fall}); err != nil {
		return nil, err
	}
	l.clients = make([]dnsClient, d.Clients)
	ages := rand.New(rand.NewSource(sc.Seed ^ 0xd25)) // the simulation's
	for c, region := range sc.ClientRegions(d.Clients) {
		cl := &l.clients[c]
		cl.region, cl.site, cl.prevSite = int(region), -1, -1
		if l.ttl > 0 {
			cl.site, cl.expires = l.bal.Resolve(int(region)), time.Duration(ages.Int63n(int64(l.ttl)))
		}
	}
	return l, nil
}

// begin starts the checks on the run's clock, the first of each site at
// an offset within the interval spread by the site's name (as the
// simulation and the proxy spread theirs); they stop when ctx ends.
func (l *liveDNS) begin(ctx context.Context, start time.Time) {
	l.start = start
	for i, name := range l.names {
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		first := time.Duration(h.Sum32()) % l.interval
		l.done.Go(func() {
			defer crash.Guard()
			for at := first; hrtimer.Sleep(time.Until(start.Add(at)), ctx.Done()); at += l.interval {
				l.check(i)
			}
		})
	}
}

func (l *liveDNS) finish() { l.done.Wait() }

func (l *liveDNS) since(t time.Time) time.Duration { return t.Sub(l.start) }

// check is the balancer's check of site i, now.
func (l *liveDNS) check(i int) {
	why := ""
	for _, u := range l.sites[i].URLs() {
		if why = l.probe(u); why == "" {
			break
		}
	}
	nodes := l.sites[i].Nodes()
	busy, workers := 0.0, 0
	for _, n := range nodes {
		busy, workers = busy+n.BusySeconds, workers+n.Workers
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if workers > 0 {
		// Utilisation since the last check; a reset of the counters (the
		// run's start) begins again from zero.
		spent := busy - l.busy[i]
		if spent < 0 {
			spent = busy
		}
		l.bal.Report(i, spent/(float64(workers)*l.interval.Seconds()))
		l.busy[i] = busy
	}
	if c, changed := l.bal.Check(i, why == "", why, now); changed {
		at := l.since(now)
		l.events = append(l.events, report.DNSEvent{Site: l.names[i], AtS: roundMS(at), Up: c.Available, Reason: c.Reason})
		l.outAt[i] = -1
		if !c.Available {
			l.outAt[i] = at
		}
	}
}

// probe is why a GET through the proxy replica at base fails ("" when it
// passes), in the simulation's words.
func (l *liveDNS) probe(base string) string {
	resp, err := l.client.Get(base + "/")
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "connection refused"
		}
		return err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return "status " + resp.Status
	}
	return ""
}

// Resolve answers client c at now: the answer it holds while it lasts
// (the one it began the run with), or a fresh one from the balancer, kept
// for the TTL. A client stranded on a site that is down and answered with
// another is served elsewhere (moved).
func (l *liveDNS) Resolve(c int, now time.Time) runner.SiteAnswer {
	at := l.since(now)
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := &l.clients[c]
	if cl.site < 0 || at >= cl.expires {
		cl.prevSite, cl.prevExpires = cl.site, cl.expires
		cl.site, cl.expires = l.bal.Resolve(cl.region), at+l.ttl
		l.resolutions++
		if cl.stranded != 0 {
			if r := l.downs[cl.stranded-1]; cl.site != r.site {
				l.moved(r, cl.prevExpires)
				cl.stranded = 0
			}
		}
	}
	return runner.SiteAnswer{Site: cl.site, RTT: l.rtt[cl.region][cl.site], Expires: l.start.Add(cl.expires)}
}

// Sent counts a request of client c to site, and as a lost request of the
// site-down fault on there when it was sent; the client is then stranded
// there until answered with another site.
func (l *liveDNS) Sent(c, site int, intended, sent time.Duration, succeeded bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := &l.clients[c]
	sc := &l.counts[site]
	sc.Sent++
	sc.ByRegion[cl.region]++
	if w := int(intended / time.Second); w >= 0 {
		for len(sc.Windows) <= w {
			sc.Windows = append(sc.Windows, 0)
		}
		sc.Windows[w]++
	}
	if succeeded {
		sc.Succeeded++
	} else {
		sc.Failed++
	}
	k := l.downAt(site, sent)
	if k < 0 {
		return
	}
	r := l.downs[k]
	if !succeeded {
		r.cost.Lost++
	}
	switch {
	case r.ended: // told after the lift: settled as the lift settles the others
		l.settle(r, cl, r.end)
	case cl.site == site:
		cl.stranded = k + 1
	default: // answered with another site meanwhile
		l.moved(r, cl.prevExpires)
	}
}

// downAt is the index of the site-down fault that had site down at
// instant at, or -1.
func (l *liveDNS) downAt(site int, at time.Duration) int {
	for k, r := range l.downs {
		if r.site == site && at >= r.at && (!r.ended || at < r.end) {
			return k
		}
	}
	return -1
}

// moved counts a client stranded by fault r, whose answer naming the site
// expired at expired, as served elsewhere from then, or from when the
// balancer took the site out of its answers, when later.
func (l *liveDNS) moved(r *siteDownRecord, expired time.Duration) {
	at := expired
	if out := l.outAt[r.site]; out >= 0 {
		at = max(at, out)
	}
	r.cost.MovedAt, r.cost.AnyMoved = max(r.cost.MovedAt, at), true
}

// settle releases client cl stranded by fault r when it ends at end: it
// moves when its answer expires (or the balancer takes the site out, when
// later), and one that would not by end leaves the failover incomplete.
func (l *liveDNS) settle(r *siteDownRecord, cl *dnsClient, end time.Duration) {
	cl.stranded = 0
	expires := cl.expires
	if cl.site != r.site {
		expires = cl.prevExpires
	}
	if out := l.outAt[r.site]; out < 0 || max(expires, out) > end {
		r.cost.Incomplete = true
		return
	}
	l.moved(r, expires)
}

// siteDown records site i going down now.
func (l *liveDNS) siteDown(i int) *siteDownRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := &siteDownRecord{site: i, at: l.since(time.Now())}
	l.downs = append(l.downs, r)
	return r
}

// siteUp records fault r lifted now, and settles its stranded clients.
func (l *liveDNS) siteUp(r *siteDownRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.end, r.ended = l.since(time.Now()), true
	l.settleAll(r, r.end)
}

func (l *liveDNS) settleAll(r *siteDownRecord, end time.Duration) {
	for k := range l.downs {
		if l.downs[k] != r {
			continue
		}
		for c := range l.clients {
			if cl := &l.clients[c]; cl.stranded == k+1 {
				l.settle(r, cl, end)
			}
		}
	}
}

// attach puts the sites' figures and the DNS's into the result
// (report.AttachSites).
func (l *liveDNS) attach(res *report.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	report.AttachSites(res, l.counts, l.regions, report.DNS{
		Policy: l.policy, TTLS: l.ttl.Seconds(), Clients: len(l.clients),
		CheckIntervalS: l.interval.Seconds(), Resolutions: l.resolutions, Events: l.events,
	})
}

// failovers completes the results of site i's site-down faults, in their
// order (report.ApplyFailover); a fault still on settles at runEnd.
func (l *liveDNS) failovers(i int, results []report.Fault, runEnd time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := 0
	for j := range results {
		f := &results[j]
		if f.Kind != "site-down" {
			continue
		}
		for k < len(l.downs) && l.downs[k].site != i {
			k++
		}
		if k == len(l.downs) || f.Error != "" {
			continue
		}
		r := l.downs[k]
		k++
		end := runEnd
		if r.ended {
			end = r.end
		} else {
			l.settleAll(r, runEnd)
		}
		report.ApplyFailover(f, l.names[i], r.cost, &report.DNS{Events: l.events}, r.at, end)
	}
}
