package sim

import (
	"cmp"
	"hash/fnv"
	"math/rand"
	"time"

	"github.com/ilities/ilities/report"
	"github.com/ilities/ilities/scenario"
	"github.com/ilities/ilities/sut/dns"
	"github.com/ilities/ilities/sut/health"
)

// Sites behind DNS: each site is a proxy with its pools (sim.proxies), and
// the clients reach one through the DNS balancer (sut/dns, the rules a
// live balancer applies: its policy, and its checks' rise and fall). Each
// open-loop arrival is a DNS client's drawn at random (a workload's own
// seeded source, for every arrival, so that a segment's are the whole
// run's), each virtual user one client's (its index round the clients);
// the clients are the regions' by their shares, interleaved. The run
// begins in a service that has been running: each client holds the
// balancer's answer, its expiry drawn evenly over the TTL, so that the
// clients do not all resolve at once, again every TTL. A client resolves
// when its answer's TTL is over, and keeps the answer meanwhile: while its
// site is down, its requests go there and are refused, the requests the
// failover loses. Every hop between the
// client and the site's proxy takes the region's one-way time to the site
// (half its round trip) besides the network's hop. The balancer checks
// each site every interval: a check passes while a replica of the site's
// proxy and a backend behind it are up, and reads the site's load (the
// share of its workers busy) for the load policy. A check of a site that
// is down is refused at once, so the model takes it as answered at its
// instant.

// dnsModel is the DNS balancer and its clients.
type dnsModel struct {
	bal      *dns.Balancer
	ttl      int64
	interval time.Duration
	clients  []resolver
	// path is each region's one-way time to each site ([region][site]).
	path [][]int64
	// events are the balancer's changes of a site's availability.
	events      []report.DNSEvent
	resolutions int64
	policy      string
	regions     []string
}

// resolver is one DNS client: its region, its answer and when it
// expires; stranded is the site-down fault (its index + 1) on the site it
// sent a request to while that site was down, until the client is
// answered with another site or the fault is lifted.
type resolver struct {
	region   int32
	resolved bool
	site     int32
	expires  int64
	stranded int32
}

// siteCounts are one site's figures: the requests the clients sent it
// (by region, and by window of their intended time) and how they ended.
type siteCounts struct {
	sent, succeeded, failed int64
	byRegion                []int64
	windows                 []int64
}

// siteFailover is what a site-down fault cost through DNS: the requests
// sent to the site while it was down that failed (lost), and when the
// last of the clients that sent one could be served elsewhere (movedAt):
// its answer naming the site expired, and the balancer had taken the site
// out of its answers by then (its detection). A client stranded still
// when the fault was lifted, or whose answer outlived it, makes the
// failover incomplete.
type siteFailover struct {
	lost       int64
	movedAt    int64
	anyMoved   bool
	incomplete bool
	ended      bool
}

// buildDNS lays out the DNS balancer, its clients by region and each
// site's counters; nothing without sites:.
func (s *sim) buildDNS(sc *scenario.Scenario) error {
	s.sites = make([]siteCounts, len(s.proxies))
	for i := range s.sites {
		s.sites[i].byRegion = make([]int64, max(len(sc.Regions), 1))
	}
	if !sc.HasSites() {
		return nil
	}
	d := sc.DNS
	names := make([]string, len(sc.Sites))
	for i, st := range sc.Sites {
		names[i] = st.Name
	}
	m := &dnsModel{ttl: int64(d.TTLOf()), interval: d.Health.Interval.D(), policy: d.Policy}
	rtt := make([][]time.Duration, len(sc.Regions))
	for i, r := range sc.Regions {
		m.regions = append(m.regions, r.Name)
		rtt[i] = make([]time.Duration, len(names))
		m.path = append(m.path, make([]int64, len(names)))
		for j, name := range names {
			rtt[i][j] = r.RTT[name].D()
			m.path[i][j] = int64(r.RTT[name].D() / 2)
		}
	}
	var err error
	if m.bal, err = dns.New(d.Policy, names, rtt, health.Rules{Rise: d.Health.Rise, Fall: d.Health.Fall}); err != nil {
		return err
	}
	m.clients = make([]resolver, d.Clients)
	ages := rand.New(rand.NewSource(sc.Seed ^ 0xd25))
	for c, region := range sc.ClientRegions(d.Clients) {
		cl := &m.clients[c]
		cl.region = region
		if m.ttl > 0 {
			cl.site, cl.expires, cl.resolved = int32(m.bal.Resolve(int(region))), ages.Int63n(m.ttl), true
		}
	}
	s.dns = m
	for i, name := range names {
		// The first check at an offset within the interval spread by the
		// site's name, as the proxy spreads its upstreams' checks.
		h := fnv.New32a()
		_, _ = h.Write([]byte(name))
		s.cal.at(int64(time.Duration(h.Sum32())%m.interval), event{dnsCheck, int32(i)})
	}
	return nil
}

// userClient is the DNS client of virtual user u.
func (s *sim) userClient(u int) int32 {
	if s.dns == nil {
		return -1
	}
	return int32(u % len(s.dns.clients))
}

// arrivalClient draws the DNS client of workload w's next arrival.
func (s *sim) arrivalClient(w *workload) int32 {
	if s.dns == nil {
		return -1
	}
	return int32(w.clients.Intn(len(s.dns.clients)))
}

// site answers which site request f of DNS client c goes to now (the only
// one without sites:), resolving when c's answer expired, and counts the
// request as the site's.
func (s *sim) site(f *flight, c int32) int32 {
	site := int32(0)
	if d := s.dns; d != nil {
		cl := &d.clients[c]
		if !cl.resolved || s.cal.now >= cl.expires {
			s.resolve(cl)
		}
		site = cl.site
		f.resolver, f.path = c, d.path[cl.region][site]
		s.sites[site].byRegion[cl.region]++
	}
	sc := &s.sites[site]
	sc.sent++
	if w := int(f.intended / int64(time.Second)); w >= 0 {
		for len(sc.windows) <= w {
			sc.windows = append(sc.windows, 0)
		}
		sc.windows[w]++
	}
	if fault := s.proxies[site].downFault; fault >= 0 {
		f.siteFault = fault
		if cl := s.resolverOf(f); cl != nil {
			cl.stranded = fault + 1
		}
	}
	return site
}

// resolverOf is request f's DNS client, nil without sites:.
func (s *sim) resolverOf(f *flight) *resolver {
	if f.resolver < 0 {
		return nil
	}
	return &s.dns.clients[f.resolver]
}

// resolve answers client cl now: a site by the balancer's policy, kept
// for the TTL. A client stranded on a site that is down and answered with
// another is served elsewhere (moved).
func (s *sim) resolve(cl *resolver) {
	d := s.dns
	expired := cl.expires
	cl.site, cl.expires, cl.resolved = int32(d.bal.Resolve(int(cl.region))), s.cal.now+d.ttl, true
	d.resolutions++
	if cl.stranded == 0 {
		return
	}
	if fr := &s.faults[cl.stranded-1]; cl.site != fr.site {
		s.moved(fr, expired)
		cl.stranded = 0
	}
}

// moved counts a client stranded by site-down fault fr, whose answer
// naming the site expired at expired, as served elsewhere from then, or
// from when the balancer took the site out of its answers, when later
// (before, the client would have been answered with the site again).
func (s *sim) moved(fr *faultRun, expired int64) {
	fo := &fr.failover
	at := expired
	if out := s.proxies[fr.site].outAt; out >= 0 {
		at = max(at, out)
	}
	fo.movedAt, fo.anyMoved = max(fo.movedAt, at), true
}

// siteRecorded counts how request f ended at its site, and as a lost
// request of the site-down fault on there when it was sent.
func (s *sim) siteRecorded(f *flight, succeeded bool) {
	sc := &s.sites[s.replicas[f.replica].p.site]
	if succeeded {
		sc.succeeded++
		return
	}
	sc.failed++
	if f.siteFault >= 0 {
		s.faults[f.siteFault].failover.lost++
	}
}

// dnsCheck is the balancer's check of site i: it passes while a replica
// of the site's proxy and a backend behind it are up. It reads the site's
// load for the load policy, and has the next check come an interval later,
// until the run is over.
func (s *sim) dnsCheck(i int32) {
	if s.over() {
		return
	}
	d := s.dns
	p := s.proxies[i]
	replicaUp, backendUp := false, false
	for _, r := range p.replicas {
		replicaUp = replicaUp || !r.down
	}
	busy, workers := 0, 0
	for k, st := range s.stations {
		if st.site != i || st.closed {
			continue
		}
		busy, workers = busy+st.busy, workers+st.workers
		backendUp = backendUp || p.member[k] >= 0 && !st.isDown()
	}
	if workers > 0 {
		d.bal.Report(int(i), float64(busy)/float64(workers))
	}
	why := ""
	switch {
	case !replicaUp:
		why = checkRefused
	case !backendUp:
		why = "status 503 Service Unavailable"
	}
	if c, changed := d.bal.Check(int(i), why == "", why, wall(s.cal.now)); changed {
		d.events = append(d.events, report.DNSEvent{Site: p.name, AtS: roundMS(s.cal.now), Up: c.Available, Reason: c.Reason})
		p.outAt = -1
		if !c.Available {
			p.outAt = s.cal.now
		}
	}
	s.cal.after(d.interval, event{dnsCheck, i})
}

// siteDown takes fault fr's site down: every backend of the site crashes
// and every replica of its proxy stops, and the requests sent there count
// as the fault's until it is lifted.
func (s *sim) siteDown(fr *faultRun) {
	p := s.proxies[fr.site]
	p.downFault = s.faultIndex(fr)
	for k, st := range s.stations {
		if st.site == fr.site && !st.down && !st.closed {
			s.crash(st)
			fr.down = append(fr.down, int32(k))
			s.databaseSees(int32(k))
		}
	}
	for _, r := range p.replicas {
		if !r.down {
			s.crashReplica(r)
			fr.stopped = append(fr.stopped, r)
		}
	}
}

// siteUp lifts fault fr: what it took down restarts (the backends after
// their start-up delay, the replicas with fresh state), and the clients
// still stranded on the site are counted and released.
func (s *sim) siteUp(fr *faultRun) error {
	s.proxies[fr.site].downFault = -1
	for _, k := range fr.down {
		s.stations[k].restart(s.cal.now)
		s.databaseSees(k)
	}
	var err error
	for _, r := range fr.stopped {
		err = cmp.Or(err, s.startReplica(r))
	}
	s.endFailover(fr)
	return err
}

// endFailover settles fault fr's failover once it is lifted or the run
// ends: each client still stranded on its site moves when its answer
// expires (or the balancer takes the site out, when later), and one that
// would not before now leaves the failover incomplete; the clients are
// released.
func (s *sim) endFailover(fr *faultRun) {
	fo := &fr.failover
	if fo.ended || s.dns == nil {
		return
	}
	fo.ended = true
	i := s.faultIndex(fr) + 1
	out := s.proxies[fr.site].outAt
	for c := range s.dns.clients {
		cl := &s.dns.clients[c]
		if cl.stranded != i {
			continue
		}
		cl.stranded = 0
		if out < 0 || max(cl.expires, out) > s.cal.now {
			fo.incomplete = true
			continue
		}
		s.moved(fr, cl.expires)
	}
}

// siteFaultResult completes the result of site-down fault fr among
// results: its site, its detection by the DNS balancer (the first event
// taking the site out of the answers while it was down), the failover time
// (until the last client that sent the site a request while it was down
// could be served elsewhere: siteFailover; -1 when one could not before
// the fault's end, or the run's) and the requests lost. Without sites:
// there is no DNS and nowhere to fail over to: requests lost alone.
func (s *sim) siteFaultResult(fr *faultRun, results []report.Fault, runEnd time.Duration) {
	var rf *report.Fault
	for i := range results {
		if r := &results[i]; r.Kind == fr.spec.Kind && r.PlannedAtS == fr.spec.At.D().Seconds() && r.RequestsLost == nil {
			rf = r
			break
		}
	}
	if rf == nil || rf.Error != "" {
		return
	}
	s.endFailover(fr)
	fo := fr.failover
	site, end := fr.spec.Site, runEnd
	if fr.ended {
		end = time.Duration(fr.end)
	}
	var d *report.DNS
	if s.dns != nil {
		site, d = s.proxies[fr.site].name, &report.DNS{Events: s.dns.events}
	}
	report.ApplyFailover(rf, site, report.Failover{
		Lost: fo.lost, MovedAt: time.Duration(fo.movedAt), AnyMoved: fo.anyMoved, Incomplete: fo.incomplete,
	}, d, time.Duration(fr.at), end)
}

// siteResults are result.json's sites[] and dns, nil without sites:
// (report.AttachSites, the nodes' utilisation from res.Nodes, each
// station's).
func (s *sim) siteResults(res *report.Result) {
	if s.dns == nil {
		return
	}
	counts := make([]report.SiteCount, len(s.proxies))
	for i, p := range s.proxies {
		sc := &s.sites[i]
		c := report.SiteCount{Name: p.name, Sent: sc.sent, Succeeded: sc.succeeded, Failed: sc.failed,
			ByRegion: sc.byRegion, Windows: sc.windows, Workers: map[string]int{}, Strategy: p.cfg.Strategy}
		for _, st := range s.stations {
			if st.site != int32(i) || st.closed && st.totalNS == 0 {
				continue
			}
			c.Workers[st.name] += st.workers
			if !s.specs[st.pool].tier {
				c.Nodes = append(c.Nodes, st.name)
			}
		}
		counts[i] = c
	}
	d := s.dns
	report.AttachSites(res, counts, d.regions, report.DNS{
		Policy: d.policy, TTLS: time.Duration(d.ttl).Seconds(), Clients: len(d.clients),
		CheckIntervalS: d.interval.Seconds(), Resolutions: d.resolutions, Events: d.events,
	})
}

// roundMS is a virtual time or a span in seconds, to the millisecond.
func roundMS[T int64 | time.Duration](t T) float64 {
	return time.Duration(t).Round(time.Millisecond).Seconds()
}
