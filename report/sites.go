package report

import (
	"fmt"
	"slices"
	"time"

	"github.com/ilities/ilities/scenario"
)

// Site is one site of a scenario with several behind DNS, as the run saw
// it: the requests its clients sent it and how they ended, its share of
// all requests, and its nodes' utilisation.
type Site struct {
	Name      string `json:"name"`
	Requests  int64  `json:"requests"`
	Succeeded int64  `json:"succeeded"`
	Failed    int64  `json:"failed"`
	// Share is its part of every request sent to a site.
	Share float64 `json:"share"`
	// Availability is succeeded / requests.
	Availability float64 `json:"availability"`
	// Utilisation is its nodes' busy worker-time / (workers × time).
	Utilisation float64 `json:"utilisation"`
	// Regions counts its requests by the region of the clients that sent them.
	Regions map[string]int64 `json:"regions,omitempty"`
	// Nodes are the nodes its proxy balances (its routed pools' backends).
	Nodes []string `json:"nodes"`
}

// DNS is the balancer between the sites: its policy, the answers' TTL,
// its clients, how often it checks each site, the resolutions it
// answered, and each change of a site's place in its answers.
type DNS struct {
	Policy         string     `json:"policy"`
	TTLS           float64    `json:"ttl_s"`
	Clients        int        `json:"clients"`
	CheckIntervalS float64    `json:"check_interval_s"`
	Resolutions    int64      `json:"resolutions"`
	Events         []DNSEvent `json:"events,omitempty"`
}

// DNSEvent is a site leaving the DNS answers (Up false) or coming back,
// in seconds from the start of the run, with the rule's reason.
type DNSEvent struct {
	Site   string  `json:"site"`
	AtS    float64 `json:"at_s"`
	Up     bool    `json:"up"`
	Reason string  `json:"reason"`
}

// SitesFairness is the fairness of a run over several sites: the lowest of
// each site's, over the nodes its proxy routes to (site names each such
// node's site). The DNS, not the proxies, decides the sites' shares, so
// one index over every node would mix the two.
func SitesFairness(nodes []Node, site map[string]string) float64 {
	bySite := map[string][]Node{}
	totals := map[string]int64{}
	for _, n := range nodes {
		if s, ok := site[n.Name]; ok {
			bySite[s] = append(bySite[s], n)
			totals[s] += n.Requests
		}
	}
	lowest := 0.0
	for s, front := range bySite {
		if f := FinishNodes(front, totals[s]); f > 0 && (lowest == 0 || f < lowest) {
			lowest = f
		}
	}
	return lowest
}

// SiteOfNodes maps each node a site's proxy balances to its site.
func SiteOfNodes(sites []Site) map[string]string {
	out := map[string]string{}
	for _, s := range sites {
		for _, n := range s.Nodes {
			out[n] = s.Name
		}
	}
	return out
}

// mergeSites adds up the sites' figures of a run's segments (utilisation,
// which each part measured on its own, averaged), each site-down fault's
// requests lost, its failover the longest of the parts' (-1 when one did
// not fail over), and the DNS's resolutions; the fairness is each site's
// again.
func mergeSites(res *Result, parts []*Result) error {
	first := parts[0]
	if len(first.Sites) == 0 {
		return nil
	}
	for _, p := range parts {
		if len(p.Sites) != len(first.Sites) || len(p.Faults) != len(first.Faults) || p.DNS == nil {
			return fmt.Errorf("segment %s has other sites or faults than segment %s", p.Segment, first.Segment)
		}
	}
	var total int64
	for i, s := range first.Sites {
		m := Site{Name: s.Name, Nodes: s.Nodes}
		for _, p := range parts {
			ps := p.Sites[i]
			m.Requests += ps.Requests
			m.Succeeded += ps.Succeeded
			m.Failed += ps.Failed
			m.Utilisation += ps.Utilisation / float64(len(parts))
			m.Regions = addCounts(m.Regions, ps.Regions)
		}
		if m.Requests > 0 {
			m.Availability = float64(m.Succeeded) / float64(m.Requests)
		}
		total += m.Requests
		res.Sites = append(res.Sites, m)
	}
	for i := range res.Sites {
		if total > 0 {
			res.Sites[i].Share = float64(res.Sites[i].Requests) / float64(total)
		}
	}
	if first.DNS != nil {
		d := *first.DNS
		d.Resolutions = 0
		for _, p := range parts {
			d.Resolutions += p.DNS.Resolutions
		}
		res.DNS = &d
	}
	res.Faults = append([]Fault(nil), first.Faults...)
	for i, f := range res.Faults {
		if f.RequestsLost == nil {
			continue
		}
		lost, failover := int64(0), 0.0
		for _, p := range parts {
			pf := p.Faults[i]
			lost += *pf.RequestsLost
			if pf.FailoverTimeS != nil && (*pf.FailoverTimeS < 0 || failover >= 0 && *pf.FailoverTimeS > failover) {
				failover = *pf.FailoverTimeS
			}
		}
		res.Faults[i].RequestsLost = &lost
		if f.FailoverTimeS != nil {
			res.Faults[i].FailoverTimeS = &failover
		}
	}
	res.Fairness = SitesFairness(res.Nodes, SiteOfNodes(res.Sites))
	return nil
}

// SiteCount is what a run counted of one site, which AttachSites turns
// into its figures: the requests its clients sent it (by region, in the
// order of the regions named, and by window of their intended time) and
// how they ended; the nodes its proxy balances, and the workers of every
// node of the site (tiers too), which weigh its utilisation.
type SiteCount struct {
	Name                    string
	Sent, Succeeded, Failed int64
	ByRegion                []int64
	Windows                 []int64
	Nodes                   []string
	Workers                 map[string]int
	// Strategy is its proxy's.
	Strategy string
}

// AttachSites puts result.json's sites[], each window's sites and dns into
// res, from each site's counts, the regions' names and the DNS balancer;
// each site's utilisation from res.Nodes', the fairness of each site's
// proxy, the lowest (SitesFairness), and the strategy when every site's
// proxy has the same. A live run and a simulation both feed it.
func AttachSites(res *Result, counts []SiteCount, regions []string, dns DNS) {
	var total int64
	for _, c := range counts {
		total += c.Sent
	}
	util := map[string]float64{}
	for _, n := range res.Nodes {
		util[n.Name] = n.Utilisation
	}
	for _, c := range counts {
		site := Site{Name: c.Name, Requests: c.Sent, Succeeded: c.Succeeded, Failed: c.Failed, Regions: map[string]int64{}, Nodes: c.Nodes}
		if total > 0 {
			site.Share = float64(c.Sent) / float64(total)
		}
		if c.Sent > 0 {
			site.Availability = float64(c.Succeeded) / float64(c.Sent)
		}
		busy, workers := 0.0, 0
		for name, w := range c.Workers {
			busy += util[name] * float64(w)
			workers += w
		}
		if workers > 0 {
			site.Utilisation = busy / float64(workers)
		}
		for r, n := range c.ByRegion {
			if n > 0 {
				site.Regions[regions[r]] = n
			}
		}
		res.Sites = append(res.Sites, site)
		for w := range res.Windows {
			if w < len(c.Windows) && c.Windows[w] > 0 {
				if res.Windows[w].Sites == nil {
					res.Windows[w].Sites = map[string]int64{}
				}
				res.Windows[w].Sites[c.Name] = c.Windows[w]
			}
		}
	}
	res.Fairness = SitesFairness(res.Nodes, SiteOfNodes(res.Sites))
	res.DNS = &dns
	if len(counts) > 0 && !slices.ContainsFunc(counts, func(c SiteCount) bool { return c.Strategy != counts[0].Strategy }) {
		res.Strategy = counts[0].Strategy
	}
}

// Failover is what a site-down fault cost through DNS: the requests sent
// to the site while it was down that failed (Lost), and when, from the
// start of the run, the last of the clients that sent one could be served
// elsewhere (MovedAt, when AnyMoved): its answer naming the site expired,
// and the balancer had taken the site out of its answers by then. A
// client that could not before the fault's end makes it Incomplete.
type Failover struct {
	Lost       int64
	MovedAt    time.Duration
	AnyMoved   bool
	Incomplete bool
}

// ApplyFailover completes site-down fault f, on site (its name) from at to
// end (the fault's, or the run's when it lasted to the end): the requests
// lost and, through the DNS balancer (d, nil without sites), its detection (the
// first event taking the site out of the answers while it was down) and
// its failover time (-1 when a client could not fail over in time; 0 when
// none sent the site a request while it was down).
func ApplyFailover(f *Fault, site string, fo Failover, d *DNS, at, end time.Duration) {
	lost := fo.Lost
	f.Site, f.RequestsLost = site, &lost
	if d == nil {
		return
	}
	for _, e := range d.Events {
		if e.Site == site && !e.Up && e.AtS >= roundMS(at) && e.AtS <= end.Seconds() {
			f.DetectionTimeS, f.DetectedBy = roundMS(time.Duration(e.AtS*float64(time.Second))-at), "dns: "+e.Reason
			break
		}
	}
	failover := -1.0
	switch {
	case fo.Incomplete:
	case fo.AnyMoved:
		failover = roundMS(fo.MovedAt - at)
	default:
		failover = 0
	}
	f.FailoverTimeS = &failover
}

// SitesPools is every site's pools as one topology's (the calls between
// pools stay within a site), which the tiers' figures read; sut: itself
// without sites.
func SitesPools(sc *scenario.Scenario) *scenario.SUT {
	if !sc.HasSites() {
		return sc.SUT
	}
	all := &scenario.SUT{}
	for _, site := range sc.Sites {
		all.Pools = append(all.Pools, site.SUT.Pools...)
	}
	return all
}

// roundMS is a span in seconds, to the millisecond, as times are reported.
func roundMS(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }
