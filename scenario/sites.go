package scenario

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sites: a service spread over several sites, each a topology of its own
// (what sut: is alone: a proxy in front of its pools), which clients reach
// through DNS. Clients come from regions, each with a round-trip time to
// every site; the DNS balancer answers each resolution with a site by its
// policy, among the sites its health checks find up, and a client keeps
// the answer for the TTL.
//
//	sites:
//	  - name: eu
//	    sut: {pools: [{backends: [{name: eu-1, workers: 8}]}]}
//	  - name: us
//	    sut: {pools: [{backends: [{name: us-1, workers: 8}]}]}
//	regions:
//	  - {name: europe, share: 60%, rtt: {eu: 10ms, us: 90ms}}
//	  - {name: america, share: 40%, rtt: {eu: 90ms, us: 10ms}}
//	dns: {policy: nearest, ttl: 30s, clients: 1000, health: {interval: 5s, fall: 2}}
//	faults:
//	  - {at: 20s, kind: site-down, site: eu, for: 60s}
//
// Pool and backend names are unique across the sites, as faults, nodes[]
// and the windows name them; a site's pools and backends left unnamed take
// the site's name ("eu", "eu-1").

// Site is one site: a topology of its own.
type Site struct {
	Name string `yaml:"name"`
	SUT  *SUT   `yaml:"sut"`
}

// Region is where a share of the clients are, with its round-trip time to
// each site.
type Region struct {
	Name string `yaml:"name"`
	// Share is the part of the clients in the region.
	Share Percent `yaml:"share"`
	// RTT is the round-trip time from the region to each site, by name.
	RTT map[string]Duration `yaml:"rtt"`
}

// DNS is the balancer between the sites: how it answers, for how long a
// client keeps an answer, and how it finds a site down.
type DNS struct {
	// Policy is how a resolution picks among the sites up: DNSPolicies.
	// Default nearest.
	Policy string `yaml:"policy"`
	// TTL is how long a client keeps an answer: nil is DefaultTTL, 0
	// resolves every request.
	TTL *Duration `yaml:"ttl"`
	// Clients is how many resolvers the load comes from, spread over the
	// regions by share: each arrival or virtual user is one client's.
	Clients int       `yaml:"clients"`
	Health  DNSHealth `yaml:"health"`
}

// DNSHealth is the DNS balancer's checks of each site: one every interval,
// fall failed in a row take the site out of the answers, rise passed in a
// row bring it back.
type DNSHealth struct {
	Interval Duration `yaml:"interval"`
	Fall     int      `yaml:"fall"`
	Rise     int      `yaml:"rise"`
}

// DNSPolicies are the DNS balancer's policies: the site nearest the
// client's region (lowest round-trip time), each site in turn, or the
// sites by the spare capacity they last reported (the Eddie paper's
// enhanced DNS).
var DNSPolicies = []string{"nearest", "round-robin", "load"}

// The DNS balancer's defaults.
const (
	DefaultDNSPolicy   = "nearest"
	DefaultTTL         = Duration(30 * time.Second)
	DefaultDNSClients  = 1000
	DefaultDNSInterval = Duration(5 * time.Second)
	DefaultDNSFall     = 2
	DefaultDNSRise     = 2
	// DefaultRegion names the one region of a scenario with sites and no
	// regions: every client, with no round-trip time to any site.
	DefaultRegion = "clients"
)

// TTLOf is the DNS answers' time to live.
func (d *DNS) TTLOf() time.Duration {
	if d.TTL == nil {
		return DefaultTTL.D()
	}
	return d.TTL.D()
}

// HasSites reports whether the scenario spreads its service over sites
// behind DNS (sites:), rather than one sut: or a target.
func (s *Scenario) HasSites() bool { return len(s.Sites) > 0 }

// AllSites returns the scenario's sites: those of sites:, or the one site
// a sut: is (its name ""); nil for an external target.
func (s *Scenario) AllSites() []Site {
	switch {
	case s.HasSites():
		return s.Sites
	case s.SUT != nil:
		return []Site{{SUT: s.SUT}}
	}
	return nil
}

// AtSite returns the scenario as site i alone is: its topology as sut:,
// with the faults acting on it, and no sites. The copy shares the rest;
// its errors are placed through SUTPath.
func (s *Scenario) AtSite(i int) *Scenario {
	if !s.HasSites() {
		return s
	}
	view := *s
	view.SUT, view.Sites, view.Regions, view.DNS = s.Sites[i].SUT, nil, nil, nil
	view.Faults = nil
	for _, f := range s.Faults {
		if s.SiteOfFault(f) == i {
			f.Site = ""
			view.Faults = append(view.Faults, f)
		}
	}
	return &view
}

// SUTPath is where a path written of a sut: ("sut.proxy.kind") is for site
// i: the same path with sut:, "sites[i].sut.proxy.kind" with sites.
func (s *Scenario) SUTPath(i int, path string) string {
	if !s.HasSites() || (path != "sut" && !strings.HasPrefix(path, "sut.")) {
		return path
	}
	return fmt.Sprintf("sites[%d].%s", i, path)
}

// SiteIndex is the index of the site called name, or -1.
func (s *Scenario) SiteIndex(name string) int {
	return slices.IndexFunc(s.AllSites(), func(st Site) bool { return st.Name == name })
}

// SiteOfFault is the site a fault acts on: its site:, the site of its
// node, or of the pool add-backend joins; -1 when none has it.
func (s *Scenario) SiteOfFault(f Fault) int {
	sites := s.AllSites()
	switch {
	case len(sites) == 1:
		return 0
	case f.Site != "":
		return s.SiteIndex(f.Site)
	case f.Kind == "add-backend":
		return slices.IndexFunc(sites, func(st Site) bool { return st.SUT != nil && st.SUT.PoolByName(f.Pool) != nil })
	}
	return slices.IndexFunc(sites, func(st Site) bool { return st.SUT != nil && st.SUT.hasBackend(f.Node) })
}

// hasBackend reports whether one of the pools holds a backend called name.
func (s *SUT) hasBackend(name string) bool {
	for _, p := range s.Pools {
		if slices.ContainsFunc(p.Backends, func(b Backend) bool { return b.Name == name }) {
			return true
		}
	}
	return false
}

// allPoolNames are the names of every site's pools.
func (s *Scenario) allPoolNames() []string {
	var names []string
	for _, site := range s.AllSites() {
		if site.SUT != nil {
			names = append(names, poolNames(site.SUT)...)
		}
	}
	return names
}

// ClientRegions are the regions of n clients, by the regions' shares and
// interleaved (smooth weighted round robin: each region's clients evenly
// spread among the others'), so that any run of consecutive clients holds
// the regions in their shares.
func (s *Scenario) ClientRegions(n int) []int32 {
	out := make([]int32, n)
	current := make([]float64, len(s.Regions))
	for c := range out {
		best := 0
		for i, r := range s.Regions {
			current[i] += float64(r.Share)
			if current[i] > current[best] {
				best = i
			}
		}
		current[best]--
		out[c] = int32(best)
	}
	return out
}

// applySiteDefaults fills the sites' topologies, a default region and the
// DNS balancer's defaults.
func (s *Scenario) applySiteDefaults() {
	if !s.HasSites() {
		return
	}
	for i := range s.Sites {
		if st := &s.Sites[i]; st.SUT != nil {
			st.SUT.applyDefaults(st.Name)
		}
	}
	if len(s.Regions) == 0 {
		rtt := map[string]Duration{}
		for _, st := range s.Sites {
			rtt[st.Name] = 0
		}
		s.Regions = []Region{{Name: DefaultRegion, Share: 1, RTT: rtt}}
	}
	if s.DNS == nil {
		s.DNS = &DNS{}
	}
	d := s.DNS
	d.Policy = cmp.Or(d.Policy, DefaultDNSPolicy)
	if d.TTL == nil {
		ttl := DefaultTTL
		d.TTL = &ttl
	}
	d.Clients = cmp.Or(d.Clients, DefaultDNSClients)
	d.Health.Interval = cmp.Or(d.Health.Interval, DefaultDNSInterval)
	d.Health.Fall = cmp.Or(d.Health.Fall, DefaultDNSFall)
	d.Health.Rise = cmp.Or(d.Health.Rise, DefaultDNSRise)
}

// Limits of sites, regions and DNS clients.
const (
	// MaxSites: each site is a proxy with its pools, and every DNS
	// resolution weighs them all.
	MaxSites = 16
	// MaxRegions: each region is a row of round-trip times.
	MaxRegions = 64
	// MaxDNSClients: each client keeps its answer and when it expires.
	MaxDNSClients = 1_000_000
)

var (
	limitSites      = Limit{"sites", MaxSites, "", "each is a proxy with its pools, and every DNS resolution weighs them all"}
	limitRegions    = Limit{"regions", MaxRegions, "", "each is a row of round-trip times to the sites"}
	limitDNSClients = Limit{"dns.clients", MaxDNSClients, "", "each client keeps its answer and when it expires"}
)

// sites checks the sites, each site's topology as sut: alone is checked
// (its errors placed under sites[i].sut), names unique across the sites,
// the regions and the DNS balancer.
func (v *validator) sites(s *Scenario) {
	if !s.HasSites() {
		if len(s.Regions) > 0 {
			v.add("regions", "regions: places the clients of several sites; it needs sites:")
		}
		if s.DNS != nil {
			v.add("dns", "dns: balances between several sites; it needs sites:")
		}
		return
	}
	if s.SUT != nil {
		v.add("sut", "sut: and sites: exclude each other; with sites:, each site holds its own sut:")
	}
	if s.Target != nil {
		v.add("target", "target: and sites: exclude each other; keep one")
	}
	v.atMost("sites", float64(len(s.Sites)), limitSites)
	names := map[string]int{}
	var siteNames []string
	pools, backends := map[string]string{}, map[string]string{} // name -> path of first use
	for i, st := range s.Sites {
		path := fmt.Sprintf("sites[%d]", i)
		switch _, dup := names[st.Name]; {
		case st.Name == "":
			v.add(path+".name", "a site needs a name, which regions' rtt: and site-down faults use")
		case dup:
			v.addf(path+".name", "site name %q is used twice; names must be unique", st.Name)
		default:
			names[st.Name] = i
			siteNames = append(siteNames, st.Name)
		}
		if st.SUT == nil {
			v.addf(path, "site %q needs sut: its topology (a proxy and its pools), as a scenario's sut:", st.Name)
			continue
		}
		sub := &validator{paths: v.paths}
		sub.sut(st.SUT)
		sub.topologyAvailability(st.SUT)
		for _, e := range sub.errs {
			e.Path = s.SUTPath(i, e.Path)
			v.errs = append(v.errs, e)
		}
		for j, p := range st.SUT.Pools {
			ppath := fmt.Sprintf("%s.sut.pools[%d]", path, j)
			v.uniqueAcrossSites(pools, "pool", p.Name, ppath+".name")
			for k, b := range p.Backends {
				v.uniqueAcrossSites(backends, "backend", b.Name, fmt.Sprintf("%s.backends[%d].name", ppath, k))
			}
		}
	}
	v.regions(s, siteNames)
	if s.DNS != nil {
		v.dns(s.DNS)
	}
}

// sitesLimits checks each site's topology against the limits, its errors
// placed under sites[i].sut, and the backends of every site and fault
// together.
func (v *validator) sitesLimits(s *Scenario) {
	backends := 0
	for i, st := range s.Sites {
		if st.SUT == nil {
			continue
		}
		sub := &validator{paths: v.paths}
		backends += sub.topologyLimits(st.SUT)
		for _, e := range sub.errs {
			e.Path = s.SUTPath(i, e.Path)
			v.errs = append(v.errs, e)
		}
	}
	v.backendsAtMost("sites", backends+v.faultLimits(s))
}

// uniqueAcrossSites reports a pool or backend name another site uses too.
func (v *validator) uniqueAcrossSites(seen map[string]string, what, name, path string) {
	first, dup := seen[name]
	if !dup {
		seen[name] = path
		return
	}
	if strings.HasPrefix(path, first[:strings.Index(first, "]")+1]) {
		return // the same site: its own checks say so
	}
	v.addf(path, "%s name %q is used at %s too; %s names are unique across the sites (faults and the results name them)", what, name, strings.TrimSuffix(first, ".name"), what)
}

// regions checks the regions: named once each, shares adding up to 100%,
// a round-trip time to every site and to no other.
func (v *validator) regions(s *Scenario, sites []string) {
	v.atMost("regions", float64(len(s.Regions)), limitRegions)
	names := map[string]bool{}
	total := 0.0
	for i, r := range s.Regions {
		path := fmt.Sprintf("regions[%d]", i)
		switch {
		case r.Name == "":
			v.add(path+".name", "a region needs a name")
		case names[r.Name]:
			v.addf(path+".name", "region name %q is used twice; names must be unique", r.Name)
		}
		names[r.Name] = true
		if r.Share <= 0 || r.Share > 1 {
			v.addf(path+".share", "share must be more than 0%% and at most 100%%, got %s", r.Share)
		}
		total += float64(r.Share)
		for _, site := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.RTT {
				if !yield(k) {
					return
				}
			}
		}) {
			if !contains(sites, site) {
				v.oneOf(path+".rtt."+site, "site", site, sites)
			}
		}
		for _, site := range sites {
			if _, ok := r.RTT[site]; !ok {
				v.addf(path+".rtt", "region %q needs its round-trip time to site %s, such as \"rtt: {%s: 20ms}\"", r.Name, site, site)
			}
		}
	}
	if len(s.Regions) > 0 && math.Abs(total-1) > 1e-9 {
		v.addf("regions", "the regions' shares add up to %s; they must add up to 100%%", strconv.FormatFloat(total*100, 'f', -1, 64)+"%")
	}
}

// dns checks the DNS balancer's settings.
func (v *validator) dns(d *DNS) {
	v.oneOf("dns.policy", "dns policy", d.Policy, DNSPolicies)
	if d.Clients < 1 {
		v.addf("dns.clients", "clients must be at least 1, got %d", d.Clients)
	}
	v.atMost("dns.clients", float64(d.Clients), limitDNSClients)
	if d.Health.Interval <= 0 {
		v.add("dns.health.interval", `the DNS balancer's checks need interval: a duration greater than 0, such as "5s"`)
	}
	if d.Health.Fall < 1 {
		v.addf("dns.health.fall", "fall must be at least 1, got %d", d.Health.Fall)
	}
	if d.Health.Rise < 1 {
		v.addf("dns.health.rise", "rise must be at least 1, got %d", d.Health.Rise)
	}
}

// siteRequirement checks a requirement on what a site-down fault costs
// (failover_time, requests_lost): the timeline has one, and a failover
// needs sites to fail over between. A scenario that cannot have the figure
// is refused here rather than failing after a run.
func (v *validator) siteRequirement(path string, s *Scenario, r Requirement) {
	if r.Metric != "failover_time" && r.Metric != "requests_lost" {
		return
	}
	switch {
	case !slices.ContainsFunc(s.Faults, func(f Fault) bool { return f.Kind == "site-down" }):
		v.addf(path, "%s is measured per site-down fault, and the timeline has none, such as \"{at: 20s, for: 60s, kind: site-down, site: eu}\"", r.Metric)
	case r.Metric == "failover_time" && len(s.Sites) < 2:
		v.add(path, "failover_time is the DNS failover from a site that is down to another, and this scenario has no two sites: (with one, nothing fails over)")
	}
}
