package report

import "fmt"

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
